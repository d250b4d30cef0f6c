"""What every tool shares: the lifespan's state, error mapping, caller identity, and the create flow."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, cast

from mcp.server.elicitation import AcceptedElicitation, ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit
from mcp.types import ToolAnnotations
from pydantic import Field

from runway_mcp.catalog import DEFAULT_MODELS, Endpoint, get_model
from runway_mcp.config import Settings
from runway_mcp.errors import InputError, RunwayMCPError, UnavailableError, bounded
from runway_mcp.media.inputs import MediaPolicy
from runway_mcp.models import CreatedTask, Task
from runway_mcp.pricing import Schema, estimate
from runway_mcp.remote.caller import caller_owner
from runway_mcp.service.requests import build_request

if TYPE_CHECKING:
    from runway_mcp.service.task_service import TaskService
    from runway_mcp.store.ledger import Ledger
    from runway_mcp.upstream.client import HttpClients

logger = logging.getLogger("runway_mcp.tools")


@dataclass
class AppContext:
    """What the tools share for the server's lifetime; built in the lifespan, never a module global.

    The task service is imported and built on first use: with httpx and the upstream client behind
    it, importing it was a third of what a cold start added to the SDK's own start, and nothing a
    client asks before its first tool call needs it.
    """

    settings: Settings
    ledger: Ledger
    media_policy: MediaPolicy
    _service: TaskService | None = field(default=None, init=False, repr=False)
    _clients: HttpClients | None = field(default=None, init=False, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)

    @property
    def service(self) -> TaskService:
        if self._service is None:
            if self._closed:
                raise UnavailableError("The server is shutting down; try again once it has restarted.")
            from runway_mcp.service.task_service import TaskService
            from runway_mcp.upstream.client import HttpClients, RunwayClient

            self._clients = HttpClients(self.settings)
            client = RunwayClient(self.settings, self._clients.api)
            self._service = TaskService(client, self.ledger, self._clients.downloads)
        return self._service

    async def aclose(self) -> None:
        """Close the HTTP clients, if any call opened them (the lifespan closes the ledger)."""
        self._closed = True
        if self._clients is not None:
            await self._clients.aclose()


def app_of(ctx: Context) -> AppContext:
    return cast(AppContext, ctx.request_context.lifespan_context)


def owner_of(ctx: Context | None) -> str | None:
    """The caller's opaque id on a shared server; None when the server has a single user (stdio).

    Only bring-your-own-key callers have one (a hash of their key, see `runway_mcp.remote.auth`): in
    shared-key mode every caller spends the same key, so they share one view of the tasks.
    """
    return caller_owner()


@contextmanager
def tool_errors() -> Iterator[None]:
    """The one place where the server's own errors become tool errors the model can read."""
    try:
        yield
    except RunwayMCPError as exc:
        logger.info("tool error: %s", type(exc).__name__)
        raise ToolError(bounded(exc.message)) from None


# Tool annotations, stated once: what each kind of tool does to the world.
CREATES_PAID_TASK = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
READS_UPSTREAM = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
)
DESTRUCTIVE_UPSTREAM = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=True
)
WRITES_LOCAL_FILES = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
READS_LOCAL_RECORD = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)


TaskId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The task_id a create tool returned, e.g. 12a01a5e-ab55-4aa7-b002-7b873546cf76.",
    ),
]
WaitSeconds = Annotated[
    float,
    Field(
        ge=0,
        le=3600,
        description=(
            "Seconds to wait for the task after submitting it (default 0: return at once). Up to about 50 "
            "fits inside common client time limits; the server caps it at RUNWAY_MCP_MAX_WAIT_SECONDS (300 s). "
            "The task keeps running either way."
        ),
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=200,
        description=(
            "Optional key that makes retrying safe: calling again with the same key and the same parameters "
            "returns the original task instead of paying for a new one (also after a server restart). Use a "
            "new key for each distinct request, e.g. 'restyle-beach-clip-1'."
        ),
    ),
]
DryRun = Annotated[
    bool,
    Field(
        description=(
            "true: check everything and return the exact request that would be sent, with its estimated cost, "
            "without sending it (free). Use it to show the user what a create will do and cost."
        )
    ),
]


class SpendConfirmation(Schema):
    """The user's answer when the server asks before spending credits."""

    confirm: bool = Field(description="Spend the credits and create the task?")


UNSUPPORTED_CONFIRMATION = "unsupported"


def confirm_spend_resolver(endpoint: Endpoint) -> Any:
    """A resolver asking the user to confirm a paid create (RUNWAY_MCP_CONFIRM_SPEND=1).

    It runs before the tool body. Where no confirmation is needed it answers yes by itself; for a
    client that cannot show a form (no elicitation capability) it answers `unsupported`, which the
    tool turns into a clear refusal.
    """

    async def confirm_spend(ctx: Context, model: str | None, dry_run: bool) -> Any:
        app = app_of(ctx)
        if not app.settings.confirm_spend or dry_run:
            return SpendConfirmation(confirm=True)
        capabilities = ctx.client_capabilities
        elicitation = capabilities.elicitation if capabilities is not None else None
        if elicitation is None or (elicitation.form is None and elicitation.url is not None):
            return UNSUPPORTED_CONFIRMATION
        name = model or DEFAULT_MODELS[endpoint]
        spec = get_model(endpoint, name)
        cost = estimate(spec).basis if spec else "unknown"
        return Elicit(
            f"Create a paid Runway {endpoint.value} task with {name}? "
            f"Cost: {cost} (Runway list price; CometAPI bills its own).",
            SpendConfirmation,
        )

    confirm_spend.__name__ = f"confirm_spend_{endpoint.value}"
    return confirm_spend


def _check_confirmation(outcome: Any) -> None:
    if isinstance(outcome, AcceptedElicitation):
        data = outcome.data
        if data == UNSUPPORTED_CONFIRMATION:
            raise InputError(
                [
                    "This server asks the user to confirm every paid create (RUNWAY_MCP_CONFIRM_SPEND=1), but "
                    "this MCP client cannot show confirmation prompts (it lacks MCP elicitation). Use a client "
                    "that supports elicitation, or ask the server's owner to turn confirmation off."
                ]
            )
        if isinstance(data, SpendConfirmation) and data.confirm:
            return
    raise InputError(["The user did not confirm spending credits on this task, so nothing was created."])


async def run_create(
    ctx: Context,
    endpoint: Endpoint,
    arguments: Mapping[str, Any],
    *,
    wait_seconds: float,
    idempotency_key: str | None,
    dry_run: bool,
    confirmation: ElicitationResult[Any],
) -> CreatedTask:
    """Validate, estimate, then either preview (dry run) or create once and optionally wait."""
    app = app_of(ctx)
    with tool_errors():
        request = build_request(endpoint, arguments, app.media_policy)
        cost = estimate(request.spec, duration_seconds=arguments.get("duration"), ratio=arguments.get("ratio"))
        if dry_run:
            return await app.service.preview(request, cost)
        _check_confirmation(confirmation)
        created = await app.service.create(request, idempotency_key=idempotency_key, owner=owner_of(ctx))
        created = created.model_copy(update={"estimated_cost": cost})
        if wait_seconds <= 0:
            return created
        task = await wait_and_report(ctx, app, created.task_id or "", wait_seconds)
        return created.model_copy(update=task.model_dump())


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
