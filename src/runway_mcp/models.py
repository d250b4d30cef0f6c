"""Pydantic models for what tools take and return. Field descriptions are written for the model.

Every limit a description states (sizes, lengths, media types) is read from the catalog.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from runway_mcp.catalog import (
    ACCEPTED_MEDIA_TYPES,
    DATA_URI_LIMIT_BYTES,
    MAX_URL_LENGTH,
    MB,
    URL_ASSET_LIMIT_BYTES,
    MediaKind,
    Param,
)

BILLING_NOTE = "At Runway's list prices ($0.01 a credit); CometAPI bills its own (see its dashboard)."


# What a task id may look like, wherever one comes from (a tool's argument, a resource URI): it becomes
# a path segment of an upstream URL, so nothing that could end, escape or extend that segment gets through.
TASK_ID_PATTERN: Final = r"^[A-Za-z0-9_-]+$"
TASK_ID_MAX_LENGTH: Final = 128
_TASK_ID: Final = re.compile(TASK_ID_PATTERN)


def task_id_problem(task_id: str) -> str | None:
    """Why `task_id` is not a task id (for an error message), or None when it is one."""
    if _TASK_ID.fullmatch(task_id) and len(task_id) <= TASK_ID_MAX_LENGTH:
        return None
    shown = repr(task_id) if len(task_id) <= 60 else f"{task_id[:40]!r}... ({len(task_id)} characters)"
    return (
        f"task_id: {shown} is not a task id. A task id is 1-{TASK_ID_MAX_LENGTH} letters, digits, '-' or '_', "
        "exactly as a create tool returned it, e.g. 12a01a5e-ab55-4aa7-b002-7b873546cf76."
    )


class Schema(BaseModel):
    """Base of every model a tool returns: its validator is built on first use, not at import (faster starts)."""

    model_config = ConfigDict(defer_build=True)


def media_input_text(kind: MediaKind | None) -> str:
    """What a media field accepts, with the catalog's limits: for `kind`, or for either kind when None."""
    kinds: tuple[MediaKind, ...] = (kind,) if kind else ("image", "video")
    types = "/".join(_TYPE_NAMES.get(t, t.split("/")[1].upper()) for k in kinds for t in ACCEPTED_MEDIA_TYPES[k])
    url_mb = " (images) or ".join(f"{URL_ASSET_LIMIT_BYTES[k] // MB} MB" for k in kinds)
    data_mb = " (images) or ".join(f"{DATA_URI_LIMIT_BYTES[k] // MB} MB" for k in kinds)
    suffix = " (videos)" if kind is None else ""
    return (
        f"an HTTPS URL on a domain name (not an IP address; at most {MAX_URL_LENGTH} characters; {types} up to "
        f"{url_mb}{suffix}, served with a real Content-Type and no redirect), a data URI "
        f"(data:{ACCEPTED_MEDIA_TYPES[kinds[-1]][0]};base64,..., up to {data_mb}{suffix}) or an absolute local "
        "path or file:// URI inside the directories this server may read."
    )


_TYPE_NAMES: Final = {"video/quicktime": "MOV", "video/webm": "WebM", "image/webp": "WebP"}


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


# What a media parameter's description says; the limits are in list_models and in the error for a wrong input.
MEDIA_TEXT: Final = "HTTPS URL, data URI or local path."
_IMAGE_URI_DESCRIPTION = MEDIA_TEXT


class Reference(Schema):
    """A reference image that guides the style or content of the output."""

    type: Literal["image"] = "image"
    uri: str = Field(description=_IMAGE_URI_DESCRIPTION, min_length=1)


class ReferenceImage(Schema):
    """A reference image for text_to_image, optionally tagged so the prompt can name it as @tag."""

    uri: str = Field(description=_IMAGE_URI_DESCRIPTION, min_length=1)
    tag: str | None = Field(
        default=None,
        min_length=3,
        max_length=16,
        pattern=r"^[A-Za-z][A-Za-z0-9_]*$",
        description="Name for the prompt's @name.",
    )


class Keyframe(Schema):
    """An image that the edited video should match at one moment (aleph2)."""

    uri: str = Field(description=_IMAGE_URI_DESCRIPTION, min_length=1)
    seconds: float | None = Field(default=None, ge=0, description="When, in seconds.")
    at: float | None = Field(default=None, ge=0, le=1, description="Or as a fraction of the length.")


def item_model(param: Param) -> type[Schema]:
    """The item type of a list parameter, by the keys the catalog gives its items."""
    if param.item_keys == ("seconds", "at"):
        return Keyframe
    if param.item_keys == ("tag",):
        return ReferenceImage
    if not param.item_keys:
        return Reference
    raise ValueError(f"no item model for the keys {param.item_keys} of {param.name}; add one to runway_mcp.models")


class CostEstimate(Schema):
    """What a request is expected to cost, as far as the catalog knows."""

    model: str
    endpoint: str
    credits: float | None = Field(description="Estimated Runway credits, or null when it cannot be estimated.")
    usd_at_runway_prices: float | None = Field(description="The same in US dollars at Runway's direct price.")
    basis: str = Field(description="How the estimate was made, e.g. '15 credits/s x 10 s'.")
    note: str = Field(default=BILLING_NOTE)


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
    """A task from this server's local record (the ledger); status is as last seen, not live.

    A create whose outcome is unknown is listed too, with status IN_DOUBT, no task_id and the request
    that was sent: it may or may not have been created and billed (check the provider's dashboard).
    """

    task_id: str | None = Field(description="The task's id; null for a create in doubt (status IN_DOUBT).")
    endpoint: str
    model: str
    prompt: str | None = None
    status: str = Field(
        description=(
            "Status when this server last looked; call get_task for the live one. IN_DOUBT: a create whose "
            "answer was lost, which may or may not have created (and billed) a task."
        )
    )
    request: dict[str, Any] | None = Field(
        default=None, description="For IN_DOUBT: the request that was sent, media shortened to type, size and hash."
    )
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
    preview: str | None = Field(
        default=None,
        description="What the preview image attached to this answer shows (video frames or a thumbnail), or why "
        "there is none.",
    )


class DownloadResult(Schema):
    task_id: str
    directory: str
    files: list[SavedFile]


class ParamInfo(Schema):
    name: str
    required: bool
    kind: str
    choices: list[str | int] | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_characters: int | None = Field(default=None, description="Maximum length in UTF-16 code units.")
    in_options: bool | None = Field(default=None, description="Given inside the create tool's `options` object.")
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
    media_inputs: str = Field(
        default_factory=lambda: "Media parameters take " + media_input_text(None),
        description="What a media parameter accepts, with its limits.",
    )


class CreditBalance(Schema):
    """The Runway organization's credits and today's usage (GET /v1/organization, Runway direct)."""

    credit_balance: float = Field(description="Credits left.")
    usd_at_runway_prices: float = Field(description="The same in US dollars ($0.01 a credit).")
    max_monthly_credit_spend: float | None = Field(default=None, description="The tier's monthly credit cap.")
    daily_generations: dict[str, int] = Field(
        default_factory=dict, description="Tasks created today, by model (Runway's own count)."
    )
