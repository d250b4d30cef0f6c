"""The create tools, one per kind of output (`tools/routes.py`), built from the catalog.

Each tool's signature, schema bounds and parameter texts are read from the catalog's models and
parameters (`tools/signature.py` turns one catalog parameter into one tool parameter); adding a
model or a parameter to the catalog changes the tools with no edit here. Every create tool also
takes idempotency_key and dry_run, and asks the user before spending when the
server is configured to (`tools/confirmation.py`).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Annotated, Any, cast

from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Resolve
from mcp.types import CallToolResult
from pydantic import Field

from runway_mcp.catalog import Endpoint
from runway_mcp.models import CreatedTask
from runway_mcp.service.costs import request_cost
from runway_mcp.service.requests import build_request
from runway_mcp.tools.annotations import CREATES_PAID_TASK
from runway_mcp.tools.confirmation import (
    SpendConfirmation,
    check_confirmation,
    confirm_spend_resolver,
    confirms_in_player,
)
from runway_mcp.tools.context import app_of, owner_of, tool_errors
from runway_mcp.tools.params import DryRun, IdempotencyKey
from runway_mcp.tools.player import ask_in_player
from runway_mcp.tools.registry import ToolRegistry, ToolSpec
from runway_mcp.tools.routes import ROUTES, TOOL_FOR, RouteText, pick_endpoint, route_arguments
from runway_mcp.tools.signature import advanced_names, catalog_parameters, literal

__all__ = ["ROUTES", "TOOL_FOR", "RouteText", "create_tool", "register_create_tools", "run_create"]

# After each create tool's own text: what it returns, what next, what it costs.
WORKFLOW_NOTE = "Returns a task_id for wait_for_task."
COST_NOTE = "Costs credits (dry_run: free)."
# What every create tool takes besides the catalog's parameters, after them.
SHARED_PARAMETERS = (
    inspect.Parameter("idempotency_key", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=IdempotencyKey),
    inspect.Parameter("dry_run", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=DryRun),
)


def create_description(route: RouteText) -> str:
    """A create tool's description: what it does, how long it takes, then the shared workflow and cost notes."""
    return " ".join(part for part in (route.summary, COST_NOTE, WORKFLOW_NOTE) if part)


def create_tool(route: RouteText) -> ToolSpec:
    """The create tool of one route or kind of output: its parameters from the catalog, then the shared ones."""
    settings = advanced_names(route.endpoints)

    async def create(
        ctx: Context,
        confirmation: ElicitationResult[Any],
        idempotency_key: str | None,
        dry_run: bool,
        **arguments: Any,
    ) -> CreatedTask | CallToolResult:
        with tool_errors():
            endpoint = pick_endpoint(route, arguments)
            chosen = route_arguments(route, endpoint, arguments, settings)
        return await run_create(
            ctx,
            endpoint,
            chosen,
            idempotency_key=idempotency_key,
            dry_run=dry_run,
            confirmation=confirmation,
        )

    confirm = Annotated[ElicitationResult[SpendConfirmation], Resolve(confirm_spend_resolver(route.endpoints))]
    parameters = [
        inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context),
        inspect.Parameter("confirmation", inspect.Parameter.KEYWORD_ONLY, annotation=confirm),
        *catalog_parameters(route.endpoints, required=route.always_required),
        *switch_parameters(route),
        *SHARED_PARAMETERS,
    ]
    # The SDK reads a tool's parameters from its signature and type hints: give it the catalog's.
    create.__signature__ = inspect.Signature(parameters, return_annotation=CreatedTask)  # type: ignore[attr-defined]
    create.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": CreatedTask}
    create.__name__ = create.__qualname__ = route.tool
    return ToolSpec(
        fn=create,
        title=route.title,
        annotations=CREATES_PAID_TASK,
        description=create_description(route),
        refuses_unknown=True,
    )


def switch_parameters(route: RouteText) -> list[inspect.Parameter]:
    """The tool's switch between its routes (create_audio's `kind`), when it has one."""
    if route.switch is None:
        return []
    values: Any = literal(b.value for b in route.branches if b.value is not None)
    annotation = cast(Any, Annotated)[values | None, Field(description=route.switch_about or None)]
    return [inspect.Parameter(route.switch, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)]


def register_create_tools(tools: ToolRegistry) -> None:
    """Add one create tool per kind of output."""
    for route in ROUTES:
        tools.add(create_tool(route))


async def run_create(
    ctx: Context,
    endpoint: Endpoint,
    arguments: Mapping[str, Any],
    *,
    idempotency_key: str | None,
    dry_run: bool,
    confirmation: ElicitationResult[Any],
) -> CreatedTask | CallToolResult:
    """Validate, estimate, then preview (dry run), leave it to the user's click in the player, or create once."""
    app = app_of(ctx)
    with tool_errors():
        request = build_request(endpoint, arguments, app.media_policy, provider=app.settings.provider)
        try:
            cost = await request_cost(request)
        except BaseException:
            request.close()
            raise
        if dry_run:
            return await app.service.preview(request, cost)
        if confirms_in_player(confirmation):
            return await ask_in_player(ctx, request, cost, arguments, idempotency_key)
        check_confirmation(confirmation)
        created = await app.service.create(request, idempotency_key=idempotency_key, owner=owner_of(ctx))
        return created.model_copy(update={"estimated_cost": cost})
