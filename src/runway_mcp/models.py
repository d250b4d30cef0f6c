"""Pydantic models for what tools take and return. Field descriptions are written for the model."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from runway_mcp.catalog import Endpoint, choices_for, models_for
from runway_mcp.pricing import CostEstimate, Schema


class TaskStatus(StrEnum):
    """Runway's task statuses; the gateway's own vocabulary is mapped onto these."""

    PENDING = "PENDING"
    THROTTLED = "THROTTLED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)

    @property
    def rank(self) -> int:
        """How far along a task is: a later status never goes back to an earlier one."""
        return _RANKS[self]


_RANKS = {
    TaskStatus.PENDING: 0,
    TaskStatus.THROTTLED: 1,
    TaskStatus.RUNNING: 2,
    TaskStatus.SUCCEEDED: 3,
    TaskStatus.FAILED: 3,
    TaskStatus.CANCELLED: 3,
}


_IMAGE_URI_DESCRIPTION = (
    "The image: an HTTPS URL on a domain name (not an IP), at most 2048 characters, serving JPEG, PNG or "
    "WebP up to 16 MB; a data URI `data:image/png;base64,...` up to 5 MB; or an absolute local file path."
)


class Reference(Schema):
    """A reference image that guides the style or content of the output."""

    type: Literal["image"] = Field(default="image", description='Always "image".')
    uri: str = Field(description=_IMAGE_URI_DESCRIPTION, min_length=1)


class ReferenceImage(Schema):
    """A reference image for text_to_image, optionally tagged so the prompt can name it as @tag."""

    uri: str = Field(description=_IMAGE_URI_DESCRIPTION, min_length=1)
    tag: str | None = Field(
        default=None,
        min_length=3,
        max_length=16,
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="A name for this image (3-16 letters, digits, _), used in the prompt as @name.",
    )


class Keyframe(Schema):
    """An image that the edited video should match at one moment (aleph2)."""

    uri: str = Field(description=_IMAGE_URI_DESCRIPTION, min_length=1)
    seconds: float | None = Field(default=None, ge=0, description="When, in seconds from the start of the input.")
    at: float | None = Field(default=None, ge=0, le=1, description="When, as a fraction 0..1 of the input's length.")


class Task(Schema):
    """A Runway task as this server reports it, whichever shape the upstream answered in."""

    task_id: str = Field(description="The task's id (a UUID).")
    status: TaskStatus = Field(
        description=(
            "PENDING (queued), THROTTLED (queued behind your account's concurrency limit), RUNNING, "
            "SUCCEEDED (see output), FAILED (see failure), CANCELLED."
        )
    )
    terminal: bool = Field(description="True once the task will not change any more.")
    progress: float | None = Field(
        default=None, ge=0, le=1, description="Fraction done while RUNNING (0..1), else null."
    )
    output: list[str] = Field(
        default_factory=list,
        description="URLs of the results when SUCCEEDED. They expire within 24-48 hours; fetch the task again for fresh ones.",
    )
    failure: str | None = Field(default=None, description="Why the task failed, in the upstream's words.")
    failure_code: str | None = Field(default=None, description="Machine-readable failure code, e.g. SAFETY.INPUT.TEXT.")
    retryable: bool | None = Field(
        default=None,
        description=(
            "For a FAILED task: true if the same request may succeed when submitted again (an internal "
            "or third-party fault), false if the input must change first (safety or invalid asset); "
            "null when unknown or not failed."
        ),
    )
    created_at: str | None = Field(default=None, description="When the upstream created the task (ISO 8601).")
    poll_after_seconds: float | None = Field(
        default=None, description="For an unfinished task: wait at least this long before asking again."
    )
    next_step: str = Field(description="What to do next, in one or two sentences.")


class CreatedTask(Task):
    """The answer to a create tool: the task as last seen, plus what was requested and what it costs.

    For a dry run nothing is created: task_id and status are null and request_preview shows the
    request that would have been sent.
    """

    task_id: str | None = Field(  # type: ignore[assignment]
        default=None, description="The new task's id (null for a dry run). Pass it to wait_for_task or get_task."
    )
    status: TaskStatus | None = Field(  # type: ignore[assignment]
        default=None, description="The task's status as last seen (PENDING right after creation; null for a dry run)."
    )
    terminal: bool = Field(default=False, description="True once the task will not change any more.")
    model: str = Field(description="The model that was requested.")
    endpoint: str = Field(description="The upstream route, e.g. video_to_video.")
    idempotent_replay: bool = Field(
        default=False,
        description="True when this idempotency_key was used before: this is the original task, nothing new was spent.",
    )
    dry_run: bool = Field(default=False, description="True when nothing was sent (dry_run: true).")
    request_preview: dict[str, Any] | None = Field(
        default=None,
        description="For a dry run: the exact JSON body that would be sent, with media data shortened to type, size and hash.",
    )
    estimated_cost: CostEstimate | None = Field(default=None, description="What this request is expected to cost.")


class CancelResult(Schema):
    """What cancel_task did."""

    task_id: str
    outcome: Literal["cancelled", "deleted"] = Field(
        description="cancelled: an unfinished task was stopped. deleted: a finished task was removed upstream."
    )
    previous_status: TaskStatus = Field(description="The task's status just before the call.")
    message: str


class TaskSummary(Schema):
    """A task from this server's local record (the ledger); status is as last seen, not live."""

    task_id: str
    endpoint: str
    model: str
    prompt: str | None = None
    status: str = Field(description="Status when this server last looked; call get_task for the live one.")
    created_at: str = Field(description="When this server created it (ISO 8601, UTC).")
    outputs: list[str] = Field(default_factory=list)
    downloads: list[str] = Field(default_factory=list, description="Local files saved by download_task_output.")
    failure: str | None = None


class TaskList(Schema):
    tasks: list[TaskSummary]
    ledger_enabled: bool = Field(description="False when the local record is unavailable (the list is then empty).")


class SavedFile(Schema):
    """One output saved to a local file."""

    path: str = Field(description="Absolute path of the saved file.")
    uri: str = Field(description="The same file as a file:// URI.")
    bytes: int = Field(description="File size in bytes.")
    media_type: str | None = Field(default=None, description="The media type the server sent, e.g. video/mp4.")
    sha256: str = Field(description="SHA-256 of the file's content.")
    output_index: int = Field(description="Which of the task's outputs this is (0-based).")


class DownloadResult(Schema):
    task_id: str
    directory: str
    files: list[SavedFile]


# Enumerations the model sees in tool schemas, built from the catalog so they cannot drift from it.
def _literal(values: tuple[str | int, ...]) -> Any:
    return Literal[values]  # a Literal built at run time from the catalog


if TYPE_CHECKING:
    VideoToVideoModel = str
    VideoToVideoRatio = str
    AspectRatio = str
    ImageToVideoModel = str
    ImageToVideoRatio = str
    TextToImageModel = str
    ImageRatio = str
    UpscaleModel = str
    CharacterModel = str
    CharacterRatio = str
else:

    def _models(endpoint: Endpoint) -> Any:
        return _literal(tuple(m.name for m in models_for(endpoint)))

    VideoToVideoModel = _models(Endpoint.VIDEO_TO_VIDEO)
    VideoToVideoRatio = _literal(choices_for(Endpoint.VIDEO_TO_VIDEO, "ratio"))
    AspectRatio = _literal(choices_for(Endpoint.VIDEO_TO_VIDEO, "target_aspect_ratio"))
    ImageToVideoModel = _models(Endpoint.IMAGE_TO_VIDEO)
    ImageToVideoRatio = _literal(choices_for(Endpoint.IMAGE_TO_VIDEO, "ratio"))
    TextToImageModel = _models(Endpoint.TEXT_TO_IMAGE)
    ImageRatio = _literal(choices_for(Endpoint.TEXT_TO_IMAGE, "ratio"))
    UpscaleModel = _models(Endpoint.VIDEO_UPSCALE)
    CharacterModel = _models(Endpoint.CHARACTER_PERFORMANCE)
    CharacterRatio = _literal(choices_for(Endpoint.CHARACTER_PERFORMANCE, "ratio"))

PublicFigureThreshold = Literal["auto", "low"]


class ParamInfo(Schema):
    name: str
    required: bool
    kind: str
    choices: list[str | int] | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_characters: int | None = Field(default=None, description="Maximum length in UTF-16 code units.")
    max_items: int | None = None
    min_items: int | None = None
    media: str | None = None


class ModelInfo(Schema):
    """One model, as the catalog knows it."""

    name: str
    endpoint: str
    tool: str = Field(description="The tool that uses this model.")
    summary: str
    default: bool = Field(description="True for the tool's default model.")
    providers: list[str] = Field(description="Providers known to accept it (cometapi, runway).")
    credits_per_second: float | None = None
    credits_per_image: float | None = None
    parameters: list[ParamInfo]
    notes: str = ""


class ModelList(Schema):
    provider: str | None = Field(default=None, description="The provider this server is configured for.")
    models: list[ModelInfo]
