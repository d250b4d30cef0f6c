"""The task tools (get_task, wait_for_task, cancel_task, download_task_output, list_tasks) and runway://tasks."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import CallToolResult, ContentBlock, ImageContent, ResourceLink, TextContent
from pydantic import Field

from runway_mcp.errors import DownloadError, NotFoundError, RunwayMCPError, bounded
from runway_mcp.models import CancelResult, DownloadResult, SavedFile, Task, TaskList, TaskStatus, TaskSummary
from runway_mcp.store.attempts import AttemptRow
from runway_mcp.store.records import TaskRecord
from runway_mcp.tools.annotations import DESTRUCTIVE_UPSTREAM, READS_LOCAL_RECORD, READS_UPSTREAM, WRITES_LOCAL_FILES
from runway_mcp.tools.context import AppContext, app_of, owner_of, tool_errors
from runway_mcp.tools.params import TaskId
from runway_mcp.tools.registry import ToolRegistry

logger = logging.getLogger("runway_mcp.tools.tasks")

# Each preview is a JPEG of at most 300 KB in the answer; a task with more outputs gets the first few.
MAX_PREVIEWS = 4


def register_task_tools(tools: ToolRegistry) -> None:
    """get_task, wait_for_task, cancel_task, download_task_output and list_tasks."""
    tools.tool(title="Get a Runway task's status and results", annotations=READS_UPSTREAM)(get_task)
    tools.tool(title="Wait for a Runway task to finish", annotations=READS_UPSTREAM)(wait_for_task)
    tools.tool(title="Cancel or delete a Runway task", annotations=DESTRUCTIVE_UPSTREAM)(cancel_task)
    tools.tool(title="Download a Runway task's outputs to local files", annotations=WRITES_LOCAL_FILES)(
        download_task_output
    )
    tools.tool(title="List recent Runway tasks", annotations=READS_LOCAL_RECORD)(list_tasks)


async def get_task(ctx: Context, task_id: TaskId) -> Task:
    """A task's status, progress, output URLs (valid 24-48 h; ask again for new ones) or failure. Free."""
    with tool_errors():
        return await app_of(ctx).service.get(task_id, owner_of(ctx))


async def list_tasks(
    ctx: Context,
    status: Annotated[
        TaskStatus | None,
        Field(description="Only tasks last seen in this status."),
    ] = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 20,
) -> TaskList:
    """Tasks this server created, newest first, as last seen (unknown outcomes too). Free."""
    with tool_errors():
        return await task_listing(app_of(ctx), status, limit, owner_of(ctx))


async def wait_for_task(
    ctx: Context,
    task_id: TaskId,
    timeout_seconds: Annotated[
        float | None,
        Field(
            ge=0,
            le=3600,
            description="Seconds (default about 50).",
        ),
    ] = None,
) -> Task:
    """Wait for a task to end, with progress (call again if time runs out). Free."""
    app = app_of(ctx)
    with tool_errors():
        timeout = app.settings.wait_default_seconds if timeout_seconds is None else timeout_seconds
        return await wait_and_report(ctx, app, task_id, timeout)


async def cancel_task(ctx: Context, task_id: TaskId) -> CancelResult:
    """Stop a running task, or delete a finished one and its outputs (Runway direct only)."""
    with tool_errors():
        return await app_of(ctx).service.cancel(task_id, owner_of(ctx))


async def download_task_output(
    ctx: Context,
    task_id: TaskId,
    directory: Annotated[
        str | None,
        Field(
            max_length=4096,
            description="Absolute folder to save into (default: the server's output folder).",
        ),
    ] = None,
) -> Annotated[CallToolResult, DownloadResult]:
    """Save a SUCCEEDED task's outputs to new local files; returns their paths and previews to look at. Free."""
    app = app_of(ctx)
    with tool_errors():
        if not app.settings.allow_local_downloads:
            raise DownloadError(
                "Downloading to the server's disk is turned off on this server (it is serving over HTTP). "
                "Give the user the output URLs from get_task instead."
            )
        target = Path(directory) if directory else None
        saved = await app.service.download(task_id, target, owner_of(ctx))
    saved, images = await previews_of(saved, app.previews)
    result = DownloadResult(
        task_id=task_id,
        directory=str(Path(saved[0].path).parent) if saved else str(target or app.settings.output_directory()),
        files=saved,
    )
    links: list[ContentBlock] = [
        ResourceLink(
            name=Path(f.path).name,
            uri=f.uri,
            mime_type=f.media_type,
            size=f.bytes,
            description=f"Output {f.output_index} of task {task_id}",
        )
        for f in saved
    ]
    return CallToolResult(
        content=[TextContent(text=result.model_dump_json(indent=2)), *images, *links],
        structured_content=result.model_dump(mode="json"),
    )


async def previews_of(
    saved: list[SavedFile], limiter: anyio.CapacityLimiter | None = None
) -> tuple[list[SavedFile], list[ImageContent]]:
    """Each saved file with a word on its preview, and the preview images (JPEG) to attach to the answer.

    The download has succeeded whatever happens here: a file without a preview says why in `preview`.
    """
    from runway_mcp.media.preview import NoPreview, preview_in_thread  # loaded on first use: start-up is measured

    files: list[SavedFile] = []
    images: list[ImageContent] = []
    for index, file in enumerate(saved):
        if index >= MAX_PREVIEWS:
            files.append(
                file.model_copy(update={"preview": f"No preview: only the first {MAX_PREVIEWS} outputs get one."})
            )
            continue
        try:
            made = await preview_in_thread(Path(file.path), file.media_type, limiter=limiter)
        except Exception as exc:  # a preview must never cost the user the download
            logger.warning("no preview of %s: %s", file.path, type(exc).__name__, exc_info=True)
            made = NoPreview(f"making it failed ({type(exc).__name__})")
        if isinstance(made, NoPreview):
            note = f"No preview: {made.reason}. The file itself was saved."
        else:
            note = f"{made.summary} Attached as a {made.width}x{made.height} JPEG."
            images.append(ImageContent(data=base64.b64encode(made.jpeg).decode("ascii"), mime_type=made.mime_type))
        files.append(file.model_copy(update={"preview": note}))
    return files, images


def register_task_resources(mcp: MCPServer[AppContext], running: list[AppContext]) -> None:
    """runway://tasks and runway://tasks/{task_id}."""

    @mcp.resource(
        "runway://tasks",
        name="recent_tasks",
        title="Recent Runway tasks",
        description="The 50 most recent tasks this server created, newest first (statuses as last seen).",
        mime_type="application/json",
    )
    async def recent_tasks_resource() -> str:
        if not running:
            raise ResourceError("The server is still starting; try again in a moment.")
        listing = await task_listing(running[-1], None, 50, owner_of(None))
        return listing.model_dump_json(indent=2)

    @mcp.resource(
        "runway://tasks/{task_id}",
        name="task",
        title="A Runway task",
        description="One task, refreshed from the upstream: status, progress, outputs, failure.",
        mime_type="application/json",
    )
    async def task_resource(task_id: str, ctx: Context) -> str:
        app = app_of(ctx)
        try:
            task = await app.service.get(task_id, owner_of(ctx))
        except NotFoundError as exc:
            raise ResourceNotFoundError(bounded(exc.message)) from None
        except RunwayMCPError as exc:
            raise ResourceError(bounded(exc.message)) from None
        return task.model_dump_json(indent=2)


async def task_listing(app: AppContext, status: TaskStatus | None, limit: int, owner: str | None) -> TaskList:
    """The newest tasks from the ledger, with the journal's creates in doubt and those another host made."""
    records = await app.ledger.list_recent(status=status.value if status else None, limit=limit, owner=owner)
    summaries = [summary_of(r) for r in records]
    if status is None:
        known = {r.task_id for r in records}
        attempts = await app.journal.attempts(owner=owner, states=("in_doubt", "created"), limit=limit)
        summaries += [attempt_summary(a) for a in attempts if a.task_id not in known]
        summaries.sort(key=lambda s: s.created_at, reverse=True)
    return TaskList(tasks=summaries[:limit], ledger_enabled=app.ledger.enabled)


def attempt_summary(row: AttemptRow) -> TaskSummary:
    """A journal entry as a listed task: created elsewhere (PENDING when made), or in doubt."""
    in_doubt = row.state == "in_doubt"
    return TaskSummary(
        task_id=row.task_id,
        endpoint=row.endpoint,
        model=row.model,
        prompt=row.prompt,
        status="IN_DOUBT" if in_doubt else TaskStatus.PENDING.value,
        request=row.params if in_doubt else None,
        created_at=datetime.fromtimestamp(row.started_at, UTC).isoformat(timespec="seconds"),
        failure=row.detail if in_doubt else None,
    )


def summary_of(record: TaskRecord) -> TaskSummary:
    return TaskSummary(
        task_id=record.task_id,
        endpoint=record.endpoint,
        model=record.model,
        prompt=record.prompt,
        status=record.status,
        created_at=datetime.fromtimestamp(record.created_at, UTC).isoformat(timespec="seconds"),
        outputs=list(record.outputs),
        downloads=list(record.downloads),
        failure=record.failure,
    )


async def wait_and_report(ctx: Context, app: AppContext, task_id: str, timeout_seconds: float) -> Task:
    """Wait for a task, sending a progress notification on every poll."""

    async def on_poll(_task: Task, value: float, message: str) -> None:
        await ctx.report_progress(value, 1.0, message)

    outcome = await app.service.wait(task_id, timeout_seconds, on_poll, owner_of(ctx))
    if outcome.finished:
        return outcome.task
    hint = (
        f"Still {outcome.task.status.value} after waiting {timeout_seconds:.0f} s; this is normal for video. "
        f"Call wait_for_task(task_id={task_id!r}) again to keep waiting."
    )
    return outcome.task.model_copy(update={"next_step": hint})
