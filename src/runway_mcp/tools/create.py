"""The create tools, one per upstream route, built from the catalog.

Each tool's signature, schema bounds and parameter texts are read from the catalog's models and
parameters (`tools/signature.py` turns one catalog parameter into one tool parameter); adding a
model or a parameter to the catalog changes the tools with no edit here. Every create tool also
takes idempotency_key and dry_run, and asks the user before spending when the
server is configured to (`tools/confirmation.py`).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final

from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.resolve import Resolve
from mcp.types import CallToolResult

from runway_mcp.catalog import Endpoint
from runway_mcp.models import CreatedTask
from runway_mcp.service.costs import request_cost
from runway_mcp.service.requests import build_request
from runway_mcp.tools.annotations import CREATES_PAID_TASK
from runway_mcp.tools.catalog import tool_for
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
from runway_mcp.tools.signature import catalog_parameters

TOOL_FOR: dict[Endpoint, str] = {endpoint: tool_for(endpoint) for endpoint in Endpoint}


@dataclass(frozen=True)
class RouteText:
    """One route as its create tool presents it: its title, what it does, and how long it takes.

    A tool parameter is required when every model of the route requires it, and also when it is
    named in `always_required`: the parameter the tool is about, even where a newer model could do
    without it (a video edit is described by its prompt).
    """

    endpoint: Endpoint
    title: str
    summary: str
    when: str
    always_required: tuple[str, ...] = ()


ROUTES: Final[tuple[RouteText, ...]] = (
    RouteText(
        Endpoint.VIDEO_TO_VIDEO,
        "Edit a video with Runway (video-to-video)",
        "Edit or restyle a video clip from a text prompt (1-5 min).",
        "",
        always_required=("prompt_text",),
    ),
    RouteText(
        Endpoint.IMAGE_TO_VIDEO,
        "Animate an image into a video with Runway",
        "Animate a still image into a short video (1-3 min).",
        "",
    ),
    RouteText(
        Endpoint.TEXT_TO_IMAGE,
        "Generate an image with Runway (text-to-image)",
        "Make an image from a prompt and reference images (under a minute).",
        "",
    ),
    RouteText(
        Endpoint.VIDEO_UPSCALE,
        "Upscale a video 4x with Runway",
        "Upscale a video 4x, up to 4096 px a side.",
        "",
    ),
    RouteText(
        Endpoint.CHARACTER_PERFORMANCE,
        "Drive a character with a performance video (Runway Act-Two)",
        "Make a character (image or video) act out a performance video.",
        "",
    ),
)

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
    return " ".join(part for part in (route.summary, route.when, COST_NOTE, WORKFLOW_NOTE) if part)


def create_tool(route: RouteText) -> ToolSpec:
    """The create tool of one route: its parameters from the catalog, then the shared ones."""
    endpoint = route.endpoint

    async def create(
        ctx: Context,
        confirmation: ElicitationResult[Any],
        idempotency_key: str | None,
        dry_run: bool,
        **arguments: Any,
    ) -> CreatedTask | CallToolResult:
        return await run_create(
            ctx,
            endpoint,
            arguments,
            idempotency_key=idempotency_key,
            dry_run=dry_run,
            confirmation=confirmation,
        )

    confirm = Annotated[ElicitationResult[SpendConfirmation], Resolve(confirm_spend_resolver(endpoint))]
    parameters = [
        inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context),
        inspect.Parameter("confirmation", inspect.Parameter.KEYWORD_ONLY, annotation=confirm),
        *catalog_parameters(endpoint, required=route.always_required),
        *SHARED_PARAMETERS,
    ]
    # The SDK reads a tool's parameters from its signature and type hints: give it the catalog's.
    create.__signature__ = inspect.Signature(parameters, return_annotation=CreatedTask)  # type: ignore[attr-defined]
    create.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": CreatedTask}
    create.__name__ = create.__qualname__ = TOOL_FOR[endpoint]
    return ToolSpec(
        fn=create,
        title=route.title,
        annotations=CREATES_PAID_TASK,
        description=create_description(route),
        refuses_unknown=True,
    )


def register_create_tools(tools: ToolRegistry) -> None:
    """Add one create tool per route in the catalog."""
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
        request = build_request(endpoint, arguments, app.media_policy)
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
