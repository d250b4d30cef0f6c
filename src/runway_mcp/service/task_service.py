"""The task service: create, look up, wait for, cancel and download tasks. No MCP in here.

Tools in `runway_mcp.tools` validate their arguments, call one method here and shape the answer.
`owner` keeps callers of a shared server apart (an opaque id, never a key); None on stdio.
The policies around the upstream calls are separate units, composed here: whether a create may be
sent (`admission`: idempotency keys and the daily cap, through the create journal), fresh and
deleted tasks (`freshness`), poll pacing (`pacing`) and owner scoping (`ownership`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx

from runway_mcp.errors import (
    AmbiguousCreateError,
    DownloadError,
    InputError,
    NotFoundError,
    NotSupportedError,
    RunwayMCPError,
    quoted,
)
from runway_mcp.media.body import StreamingJsonBody, materialize
from runway_mcp.media.checks import MediaError
from runway_mcp.media.inputs import verify_remote_asset
from runway_mcp.models import CancelResult, CostEstimate, CreatedTask, SavedFile, Task, TaskStatus
from runway_mcp.service.admission import Admission, Replay, Send
from runway_mcp.service.freshness import DELETED, FreshTasks
from runway_mcp.service.ownership import OwnerScope
from runway_mcp.service.pacing import PollPacing
from runway_mcp.service.requests import PreparedRequest
from runway_mcp.service.waiting import OnPoll, wait_for
from runway_mcp.store.attempts import Attempt, State
from runway_mcp.store.journal import Journal
from runway_mcp.store.ledger import Ledger
from runway_mcp.store.records import TaskRecord, canonical_request_hash, sanitize_params
from runway_mcp.upstream.client import RunwayClient
from runway_mcp.upstream.downloads import DownloadPolicy, download_all
from runway_mcp.upstream.task_shapes import build_task
from runway_mcp.upstream.uploads import upload_local_media

logger = logging.getLogger("runway_mcp.service.task_service")

__all__ = ["DELETED", "TaskService", "WaitResult"]

# How long cancel_task keeps trying to reach a task that was created moments ago and is not visible yet.
FRESH_DELETE_PATIENCE_SECONDS = 20.0


@dataclass(frozen=True)
class WaitResult:
    task: Task
    finished: bool


def replace_value(body: Any, old: object, new: object) -> None:
    """Swap every occurrence of the object `old` (by identity) in a nested body for `new`."""
    items = body.items() if isinstance(body, dict) else enumerate(body) if isinstance(body, list) else ()
    for key, value in list(items):
        if value is old:
            body[key] = new
        else:
            replace_value(value, old, new)


def outcome_of(failure: BaseException) -> State:
    """What a failed create means for its journal entry: certainly not created, or in doubt.

    The upstream client raises AmbiguousCreateError whenever the request may have reached the upstream;
    its other errors, ours, and a local file failing mid-stream are certain refusals. Anything else
    (an unforeseen error) is in doubt: only a certain refusal frees an idempotency key.
    """
    if isinstance(failure, AmbiguousCreateError):
        return "in_doubt"
    if isinstance(failure, RunwayMCPError | MediaError):
        return "not_created"
    return "in_doubt"


def _detail(failure: BaseException) -> str:
    message = getattr(failure, "message", None) or str(failure) or type(failure).__name__
    return message[:500]


def _describe_request(request: PreparedRequest) -> tuple[dict[str, Any], str]:
    """The body with local files described (never their bytes), and its canonical hash."""
    described = materialize(request.body)
    return described, canonical_request_hash(request.endpoint.value, described)


class TaskService:
    """Everything the tools do, over one upstream client and the ledger."""

    def __init__(
        self,
        client: RunwayClient,
        ledger: Ledger,
        download_http: httpx.AsyncClient | Callable[[], httpx.AsyncClient],
        journal: Journal,
    ) -> None:
        self.client = client
        self.ledger = ledger
        self.settings = client.settings
        self._download_http = download_http
        self.journal = journal
        self.admission = Admission(
            journal,
            ledger,
            cap=self.settings.max_tasks_per_day,
            cap_per_owner=self.settings.byo_key,
            wait_seconds=journal.lease_seconds,
        )
        self.fresh = FreshTasks(self.settings.fresh_task_grace_seconds, ledger)
        self.pacing = PollPacing(self.settings.effective_poll_interval)
        self.owners = OwnerScope(ledger)

    def _downloads(self) -> httpx.AsyncClient:
        """The client for output downloads, uploads and URL checks (never sends the API key)."""
        http = self._download_http
        return http if isinstance(http, httpx.AsyncClient) else http()

    # Creating -----------------------------------------------------------------------------------

    async def create(
        self, request: PreparedRequest, *, idempotency_key: str | None = None, owner: str | None = None
    ) -> CreatedTask:
        """Submit a validated request once and report the new task (or the original, for a repeated key)."""
        try:
            if self.settings.verify_urls:
                await self.verify_remote_media(request)
            # Hashing a 16 MB input takes a moment: keep it off the event loop.
            described, request_hash = await anyio.to_thread.run_sync(_describe_request, request)
            attempt = Attempt(
                owner=owner,
                idempotency_key=idempotency_key,
                endpoint=request.endpoint.value,
                model=request.model,
                prompt=request.prompt,
                params=sanitize_params(described),
                request_hash=request_hash,
            )
            admitted = await self.admission.admit(attempt)
            if isinstance(admitted, Replay):
                logger.info("idempotent replay of task %s", admitted.task_id)
                return self._created(admitted.task_id, request, replayed=True)
            return await self._submit(request, attempt, admitted)
        finally:
            request.close()

    async def verify_remote_media(self, request: PreparedRequest) -> None:
        """HEAD every HTTPS input first (RUNWAY_MCP_VERIFY_URLS), so a URL the upstream would refuse costs nothing."""
        problems: list[str] = []
        for value in request.media:
            if value.is_https:
                problems += await verify_remote_asset(self._downloads(), value)
        if problems:
            raise InputError(problems)

    async def preview(self, request: PreparedRequest, cost: CostEstimate) -> CreatedTask:
        """A dry run: the request that would be sent, with media shortened, and its cost. Nothing is sent."""
        try:
            described, _ = await anyio.to_thread.run_sync(_describe_request, request)
        finally:
            request.close()
        headers = {
            "Authorization": "Bearer <your key>",
            "Content-Type": "application/json",
            "X-Runway-Version": self.settings.runway_version,
        }
        return CreatedTask(
            model=request.model,
            endpoint=request.endpoint.value,
            dry_run=True,
            request_preview={
                "method": "POST",
                "url": self.client.url(request.endpoint.value),
                "headers": headers,
                "body": sanitize_params(described),
            },
            estimated_cost=cost,
            next_step="Nothing was sent and nothing was spent. Call the same tool without dry_run to create the task.",
        )

    async def _upload_large_media(self, request: PreparedRequest) -> None:
        """Put each local file too large for a data URI through the provider's uploads, in place."""
        for value in request.media:
            if not value.needs_upload:
                continue
            local = value.body_value
            uri = await upload_local_media(
                self.client,
                self._downloads(),
                local,
                insecure_hosts=self.settings.effective_insecure_download_hosts,
            )
            replace_value(request.body, local, uri)
            value.body_value = uri
            local.close()

    async def _submit(self, request: PreparedRequest, attempt: Attempt, admitted: Send) -> CreatedTask:
        """Send the create once. Shielded: once it may leave, it runs to its end and its outcome is recorded,
        even if the tool call is cancelled or the client goes away (bounded by the HTTP timeouts)."""
        with anyio.CancelScope(shield=True):
            try:
                await self._upload_large_media(request)
                body = StreamingJsonBody(request.body) if request.media_is_local else request.body
                task_id = await self.client.create_task(request.endpoint.value, body)
            except BaseException as exc:
                if admitted.attempt_id is not None:
                    await self.journal.finish(admitted.attempt_id, outcome_of(exc), detail=_detail(exc))
                raise
            created_at = time.time()
            if admitted.attempt_id is not None:
                await self.journal.finish(admitted.attempt_id, "created", task_id=task_id)
            self.fresh.created(task_id, created_at)
            logger.info("created task %s (%s, %s)", task_id, request.endpoint.value, request.model)
            await self.ledger.record_created(
                TaskRecord(
                    task_id=task_id,
                    endpoint=attempt.endpoint,
                    model=attempt.model,
                    prompt=attempt.prompt,
                    params=attempt.params,
                    created_at=created_at,
                    status=TaskStatus.PENDING.value,
                    idempotency_key=attempt.idempotency_key,
                    request_hash=attempt.request_hash,
                    owner=attempt.owner,
                )
            )
        created = self._created(task_id, request, replayed=False)
        if admitted.attempt_id is None:
            note = " This server's create journal is unavailable, so this task is not recorded here: keep its task_id."
            created = created.model_copy(update={"next_step": created.next_step + note})
        return created

    @staticmethod
    def _created(task_id: str, request: PreparedRequest, *, replayed: bool) -> CreatedTask:
        task = build_task(task_id=task_id, status=TaskStatus.PENDING)
        return CreatedTask(
            **task.model_dump(),
            model=request.model,
            endpoint=request.endpoint.value,
            idempotent_replay=replayed,
        )

    # Reading ------------------------------------------------------------------------------------

    async def get(self, task_id: str, owner: str | None = None) -> Task:
        """The task as the upstream reports it now, in one normalised shape; the ledger is updated."""
        await self.owners.check(task_id, owner)
        try:
            task = await self.client.get_task(task_id)
        except NotFoundError:
            if await self.fresh.is_fresh(task_id):
                return build_task(task_id=task_id, status=TaskStatus.PENDING, not_visible_yet=True)
            if self.fresh.was_deleted(task_id):
                raise NotFoundError(
                    f"Task {task_id} was deleted with cancel_task after it finished; it no longer exists upstream."
                ) from None
            raise
        await self.ledger.update_status(
            task_id,
            status=task.status.value,
            progress=task.progress,
            outputs=task.output or None,
            failure=task.failure,
            failure_code=task.failure_code,
        )
        return task

    async def wait(self, task_id: str, timeout_seconds: float, on_poll: OnPoll, owner: str | None = None) -> WaitResult:
        """Poll until the task is terminal or `timeout_seconds` pass (capped by the settings)."""
        started = time.monotonic()
        timeout = min(max(timeout_seconds, 0.0), self.settings.wait_max_seconds)
        interval = self.settings.effective_poll_interval
        # A wait that follows another (the agent calling again) must not look sooner than one interval
        # after the previous look, or back-to-back calls would poll faster than Runway asks.
        pause = self.pacing.delay(task_id)
        if pause > 0:
            await anyio.sleep(min(pause, timeout))
        # The pause counts against the caller's timeout: a 50 s wait must end by 50 s.
        timeout = max(timeout - (time.monotonic() - started), 0.0)

        async def look() -> Task:
            try:
                return await self.get(task_id, owner)
            finally:
                self.pacing.polled(task_id)

        task, finished = await wait_for(look, timeout_seconds=timeout, interval=interval, on_poll=on_poll)
        if task.terminal:
            self.pacing.forget(task_id)
        return WaitResult(task, finished)

    # Changing -----------------------------------------------------------------------------------

    async def cancel(self, task_id: str, owner: str | None = None) -> CancelResult:
        """Cancel an unfinished task, or delete a finished one (DELETE tasks/{id})."""
        before = await self.get(task_id, owner)
        try:
            await self._delete_when_visible(task_id)
        except NotSupportedError:
            raise NotSupportedError(
                f"Cancelling is not supported by the provider {self.settings.provider!r}: it does not offer "
                "DELETE tasks/{id}. The task keeps running and will be billed; it was not changed."
            ) from None
        outcome = "deleted" if before.terminal else "cancelled"
        if before.terminal:
            self.fresh.deleted(task_id)
        status = DELETED if before.terminal else TaskStatus.CANCELLED.value
        await self.ledger.update_status(
            task_id, status=status, progress=None, outputs=None, failure=None, failure_code=None
        )
        return CancelResult(
            task_id=task_id,
            outcome=outcome,
            previous_status=before.status,
            message=(
                f"The task was {before.status.value} and has been cancelled; it will not be billed further."
                if outcome == "cancelled"
                else f"The task had already finished ({before.status.value}); it has been deleted upstream and "
                "its output links no longer work."
            ),
        )

    async def _delete_when_visible(self, task_id: str) -> None:
        """DELETE the task; a task created seconds ago may not be visible yet, so retry that (DELETE is idempotent)."""
        deadline = time.monotonic() + FRESH_DELETE_PATIENCE_SECONDS
        while True:
            try:
                await self.client.delete_task(task_id)
                return
            except NotFoundError:
                if not await self.fresh.is_fresh(task_id) or time.monotonic() >= deadline:
                    raise
            await anyio.sleep(self.settings.effective_poll_interval)

    async def download(self, task_id: str, directory: Path | None, owner: str | None = None) -> list[SavedFile]:
        """Save a succeeded task's outputs into `directory` (default: the configured output directory)."""
        # The argument is checked before anything is fetched: a bad directory costs no upstream call.
        if directory is not None and "\x00" in str(directory):
            raise InputError(["directory: contains a NUL character; give a plain absolute path."])
        target = (directory or self.settings.output_directory()).expanduser()
        if not target.is_absolute():
            raise InputError([f"directory: must be an absolute path (got {quoted(str(directory))})."])
        task = await self.get(task_id, owner)
        if task.status is not TaskStatus.SUCCEEDED or not task.output:
            raise DownloadError(
                f"Task {task_id} is {task.status.value}, so there is nothing to download yet. "
                + ("Call wait_for_task first." if not task.terminal else "Only SUCCEEDED tasks have outputs.")
            )

        async def refresh() -> list[str]:
            return (await self.get(task_id, owner)).output

        policy = DownloadPolicy(
            max_bytes=int(self.settings.max_download_mb * 1024 * 1024),
            timeout_seconds=self.settings.download_timeout_seconds,
            insecure_hosts=self.settings.effective_insecure_download_hosts,
        )
        try:
            saved = await download_all(
                self._downloads(), task.output, refresh, directory=target, task_id=task_id, policy=policy
            )
        except TimeoutError:
            raise DownloadError(
                f"The download took longer than {policy.timeout_seconds:.0f} s and was stopped; nothing partial "
                "was kept. Try again, or raise RUNWAY_MCP_DOWNLOAD_TIMEOUT."
            ) from None
        except OSError as exc:
            raise DownloadError(f"Could not write to {target}: {exc.strerror or exc}.") from None
        except httpx.HTTPError as exc:
            raise DownloadError(f"The download failed ({type(exc).__name__}); try again.") from None
        await self.ledger.add_downloads(task_id, [f.path for f in saved])
        return saved
