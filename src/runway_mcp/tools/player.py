"""The MCP Apps player: a `ui://` page that follows a task and plays its result, and asks before spending.

The page (`player.html`, shipped in the package) is bound to the create tools and to get_task,
wait_for_task and download_task_output (`_meta.ui.resourceUri`). A host that renders MCP Apps shows
it with each of their results: it follows the task through the host (`tools/call get_task`),
shows status and progress, then plays the video (or shows the image, or plays the audio) with
"Save to this computer" (`tools/call download_task_output`) and "Open link" (`ui/open-link`).

With RUNWAY_MCP_CONFIRM_SPEND on, a client that renders apps but cannot show forms (no elicitation)
gets the price in the player instead: the create tool sends nothing and returns a confirmation token
in its result's `_meta`; the player's Confirm button presents it to `confirm_paid_create`, a tool
visible to the app only, which sends the create (`service/confirmations.py` says what binds a token).

Clients without MCP Apps see today's surface: the app-only tool, the `ui://` resource and the
tools' `_meta.ui` are left out of their lists (`hide_apps_from_other_clients`), and every answer is
the text and structured content it always was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

import anyio
from mcp.server.apps import Apps, ResourceCsp, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from runway_mcp.catalog import Endpoint
from runway_mcp.config import Settings
from runway_mcp.errors import InputError
from runway_mcp.media.body import materialize
from runway_mcp.models import CostEstimate, CreatedTask
from runway_mcp.service.requests import PreparedRequest, build_request
from runway_mcp.store.records import canonical_request_hash
from runway_mcp.tools.annotations import CREATES_PAID_TASK
from runway_mcp.tools.context import app_of, owner_of, tool_errors
from runway_mcp.tools.registry import ToolRegistry
from runway_mcp.tools.routes import tool_for

PLAYER_URI: Final = "ui://runway/player.html"
PLAYER_FILE: Final = "player.html"
CONFIRM_TOOL: Final = "confirm_paid_create"
CONFIRMATION_META: Final = "io.github.cometapi.runway-mcp/confirmation"
# The tools whose results the player shows: every create tool, and the task tools that carry a task.
PLAYER_TOOLS: Final = frozenset(
    {*(tool_for(endpoint) for endpoint in Endpoint), "get_task", "wait_for_task", "download_task_output"}
)
# Where Runway's output files are served from (as Runway's own MCP server declares them), and CometAPI.
OUTPUT_MEDIA_DOMAINS: Final = (
    "https://*.cloudfront.net",
    "https://*.runwayml.com",
    "https://*.amazonaws.com",
    "https://*.cometapi.com",
)
WAITING_FOR_CLICK: Final = (
    "Nothing was sent and nothing was spent yet: this server asks the user to confirm each paid create, and the "
    "player shown with this answer displays the price with a Confirm button. Ask the user to confirm there (or "
    "not). Only their click creates the task; calling this tool again does not. Once they have confirmed, the "
    "player follows the task; list_tasks shows its task_id."
)


def player_html() -> str:
    """The player page, from the package's data."""
    return files(__package__).joinpath(PLAYER_FILE).read_text(encoding="utf-8")


def media_domains(settings: Settings) -> list[str]:
    """The origins the player may load output media from: Runway's and CometAPI's, and the upstream's own."""
    parts = urlsplit(settings.base_url)
    upstream = f"{parts.scheme}://{parts.netloc}"
    return [*OUTPUT_MEDIA_DOMAINS, *([] if upstream in OUTPUT_MEDIA_DOMAINS else [upstream])]


def player_extension(settings: Settings) -> Apps:
    """The MCP Apps extension: the player page. (The app-only tool behind its Confirm button is registered
    with the others, `register_player_tools`, so that its schemas come from the schema cache too.)"""
    apps = Apps()
    apps.add_html_resource(
        PLAYER_URI,
        player_html(),
        name="runway_player",
        title="Runway player",
        description="Follows a Runway task and plays its result, with Save and Open link buttons.",
        csp=ResourceCsp(resource_domains=media_domains(settings)),
        prefers_border=True,
    )
    return apps


def register_player_tools(tools: ToolRegistry) -> None:
    """The app-only tool behind the player's Confirm button (`bind_player` marks it visible to the app only)."""
    tools.tool(title="Create the task the user confirmed in the player", annotations=CREATES_PAID_TASK)(
        confirm_paid_create
    )


def bind_player(tools: Sequence[Tool]) -> list[Tool]:
    """The tools, those whose results the player shows marked with `_meta.ui.resourceUri` (as `Apps.tool` would)."""
    for tool in tools:
        if tool.name == CONFIRM_TOOL:
            tool.meta = {**(tool.meta or {}), "ui": {"resourceUri": PLAYER_URI, "visibility": ["app"]}}
        elif tool.name in PLAYER_TOOLS:
            tool.meta = {**(tool.meta or {}), "ui": {"resourceUri": PLAYER_URI}}
    return list(tools)


async def hide_apps_from_other_clients(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Server middleware: a client without MCP Apps lists the tools and resources it always did.

    The app-only tool would be of no use to its model, and `_meta.ui` and the `ui://` page of none
    to it. A host with Apps lists them all: it needs the app-only tool to let the player call it,
    and it keeps that tool out of its model's list itself (the Apps spec requires it to).
    """
    result = await call_next(ctx)
    if ctx.method not in ("tools/list", "resources/list") or client_supports_apps(ctx):
        return result
    # The SDK hands middleware the result already serialized, as its wire dictionary.
    listing = (
        result.model_dump(mode="json", by_alias=True, exclude_none=True) if isinstance(result, BaseModel) else result
    )
    if not isinstance(listing, dict):
        return result
    if isinstance(listing.get("tools"), list):
        listing["tools"] = [_without_ui(tool) for tool in listing["tools"] if _for_the_model(tool)]
    if isinstance(listing.get("resources"), list):
        listing["resources"] = [r for r in listing["resources"] if not str(r.get("uri", "")).startswith("ui://")]
    return listing


def _for_the_model(tool: Mapping[str, Any]) -> bool:
    visibility = ((tool.get("_meta") or {}).get("ui") or {}).get("visibility", ["model"])
    return "model" in visibility


def _without_ui(tool: dict[str, Any]) -> dict[str, Any]:
    meta = {key: value for key, value in (tool.get("_meta") or {}).items() if key != "ui"}
    plain = {key: value for key, value in tool.items() if key != "_meta"}
    return plain | {"_meta": meta} if meta else plain


def request_hash(request: PreparedRequest) -> str:
    """The canonical hash of the request as it would be sent (reads local inputs: call it off the event loop)."""
    return canonical_request_hash(request.endpoint.value, materialize(request.body))


async def ask_in_player(
    ctx: Context,
    request: PreparedRequest,
    cost: CostEstimate,
    arguments: Mapping[str, Any],
    idempotency_key: str | None,
) -> CallToolResult:
    """Send nothing; answer with the price, and a token for the player's Confirm button in `_meta`.

    The model reads that nothing was sent and that the user decides in the player; the token rides
    in the result's `_meta`, which hosts hand to the app and keep out of the model's context.
    """
    app = app_of(ctx)
    try:
        digest = await anyio.to_thread.run_sync(request_hash, request)
    finally:
        request.close()
    pending = app.confirmations
    token = pending.issue(
        request.endpoint,
        arguments,
        idempotency_key=idempotency_key,
        owner=owner_of(ctx),
        request_hash=digest,
        cost=cost,
    )
    answer = CreatedTask(
        model=request.model, endpoint=request.endpoint.value, estimated_cost=cost, next_step=WAITING_FOR_CLICK
    )
    confirmation = {"token": token, "tool": CONFIRM_TOOL, "expires_in_seconds": pending.ttl_seconds}
    return CallToolResult(
        content=[TextContent(text=answer.model_dump_json(indent=2))],
        structured_content=answer.model_dump(mode="json"),
        _meta={CONFIRMATION_META: confirmation},
    )


async def confirm_paid_create(
    ctx: Context,
    confirmation_token: Annotated[
        str,
        Field(
            min_length=16,
            max_length=256,
            description="The token the player received with the price it showed the user.",
        ),
    ],
) -> CreatedTask:
    """Create the paid task the user has just confirmed in the player. Called by the player's Confirm button.

    The request is the one whose price the user was shown; the token is single-use, expires, and is
    bound to the caller it was issued to. Returns the new task, as a create tool does.
    """
    app = app_of(ctx)
    owner = owner_of(ctx)
    with tool_errors():
        if not client_supports_apps(ctx):
            raise InputError(["Only the Runway player (an MCP App) can confirm a create; nothing was sent."])
        pending = app.confirmations.claim(confirmation_token, owner)
        request = build_request(pending.endpoint, pending.arguments, app.media_policy, provider=app.settings.provider)
        try:
            digest = await anyio.to_thread.run_sync(request_hash, request)
        except BaseException:
            request.close()
            raise
        if digest != pending.request_hash:
            request.close()
            raise InputError(
                [
                    "The request changed since its price was shown (an input file was modified), so nothing "
                    "was sent. Ask for the create again to see its price."
                ]
            )
        created = await app.service.create(request, idempotency_key=pending.idempotency_key, owner=owner)
    return created.model_copy(update={"estimated_cost": pending.cost})
