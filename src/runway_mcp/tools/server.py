"""Builds the MCP server: thin tools that validate, call the task service, and shape the answer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.request_state import RequestStateSecurity
from mcp.server.subscriptions import SubscriptionBus

from runway_mcp import __version__
from runway_mcp.catalog import EPHEMERAL_UPLOAD_LIMIT_BYTES
from runway_mcp.config import Settings
from runway_mcp.media.inputs import MediaPolicy
from runway_mcp.store.backend import Backend, SqliteBackend
from runway_mcp.store.journal import Journal
from runway_mcp.store.ledger import Ledger
from runway_mcp.tools.account import register_account_tools
from runway_mcp.tools.catalog import register_catalog_tools, register_models_resource
from runway_mcp.tools.context import AppContext
from runway_mcp.tools.create import register_create_tools
from runway_mcp.tools.player import bind_player, hide_apps_from_other_clients, player_extension, register_player_tools
from runway_mcp.tools.prompts import register_prompts
from runway_mcp.tools.registry import ToolRegistry
from runway_mcp.tools.surrogates import refuse_marked
from runway_mcp.tools.tasks import register_task_resources, register_task_tools
from runway_mcp.upstream.partials import remove_stale_partials

__all__ = ["AppContext", "build_server"]

logger = logging.getLogger("runway_mcp.tools.server")

INSTRUCTIONS = """\
Runway video generation and editing through CometAPI.

Workflow: call a create tool (create_video_to_video edits an existing clip from a prompt); it returns a
task_id at once. Then call wait_for_task (it waits up to ~50 s per call with progress; call it again
while the task is still running) or get_task. When the task SUCCEEDED, its output URLs expire within
24-48 hours: save them with download_task_output or hand the links to the user.

Money: every create spends the user's Runway/CometAPI credits (gen4_aleph costs about 15 credits per
second of output video). Never submit the same request twice to "retry" without asking: if a create
failed with a message saying the task may or may not have been created, ask the user before trying
again. Confirm with the user before creating several tasks in a batch. Reading tasks is free.
"""


def quiet_transport_loggers() -> None:
    """Keep httpcore's DEBUG traces off: they print raw response headers, where an upstream may echo a key."""
    logging.getLogger("httpcore").setLevel(logging.INFO)


def media_policy_for(settings: Settings) -> MediaPolicy:
    return MediaPolicy(
        allow_local_files=settings.allow_local_files,
        allowed_roots=settings.allowed_roots(),
        upload_limit_bytes=EPHEMERAL_UPLOAD_LIMIT_BYTES if settings.provider == "runway" else None,
    )


def journal_backend_for(settings: Settings) -> Callable[[], Backend]:
    """Where the create journal lives: PostgreSQL when a database URL is set, else beside the ledger.

    With the ledger turned off it lives in memory: keys and the cap still hold within this process.
    """
    database_url = settings.database_url
    if database_url is not None:
        from runway_mcp.store.postgres import PostgresBackend  # psycopg only loads when it is used

        return lambda: PostgresBackend(database_url.get_secret_value())
    path = settings.ledger_path()
    return lambda: SqliteBackend(path)


def create_lease_seconds(settings: Settings) -> float:
    """How long a create may stay in flight before other processes take it to be in doubt."""
    return settings.connect_timeout + settings.read_timeout + settings.retry_budget_seconds + 30.0


def tool_registry() -> ToolRegistry:
    """Every tool the server offers a model, in the order clients list them."""
    tools = ToolRegistry()
    register_create_tools(tools)
    register_catalog_tools(tools)
    register_task_tools(tools)
    register_account_tools(tools)
    return tools


def server_registry() -> ToolRegistry:
    """What the server registers: `tool_registry()`, then the player's app-only tool (hidden from clients
    without MCP Apps), whose schemas are cached with the others."""
    tools = tool_registry()
    register_player_tools(tools)
    return tools


def build_server(
    settings: Settings,
    *,
    token_verifier: TokenVerifier | None = None,
    auth: AuthSettings | None = None,
    request_state_security: RequestStateSecurity | None = None,
    subscriptions: SubscriptionBus | None = None,
) -> MCPServer[AppContext]:
    """An MCP server for these settings. The HTTP client is opened and closed by its lifespan.

    The keyword arguments go to the SDK as they are: the first three only matter over HTTP
    (`runway_mcp.remote.app` passes them); `subscriptions` is the bus the stdio front announces
    list changes on (`runway_mcp.front.handover`).
    """

    quiet_transport_loggers()
    # Static resources get no Context, so the lifespan also publishes its state here (one per server).
    running: list[AppContext] = []

    @asynccontextmanager
    async def lifespan(_server: MCPServer[AppContext]) -> AsyncIterator[AppContext]:
        if settings.allow_local_downloads:
            clean = partial(
                remove_stale_partials,
                settings.output_directory(),
                download_timeout_seconds=settings.download_timeout_seconds,
            )
            await anyio.to_thread.run_sync(clean)
        ledger = await Ledger.open(settings.ledger_path())
        journal = await Journal.open(journal_backend_for(settings), lease_seconds=create_lease_seconds(settings))
        app = AppContext(settings=settings, ledger=ledger, journal=journal, media_policy=media_policy_for(settings))
        try:
            running.append(app)
            try:
                yield app
            finally:
                running.remove(app)
        finally:
            await app.aclose()
            await journal.aclose()
            await ledger.aclose()

    tools = server_registry()
    mcp: MCPServer[AppContext] = MCPServer(
        "runway",
        title="Runway video (CometAPI)",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level=settings.log_level,
        token_verifier=token_verifier,
        auth=auth,
        request_state_security=request_state_security,
        tools=bind_player(tools.build(settings.schema_cache_dir())),
        extensions=[player_extension(settings)],
        middleware=[hide_apps_from_other_clients],
        subscriptions=subscriptions,
    )
    mcp.middleware.append(refuse_marked)  # answers requests refused for a lone surrogate (see tools/surrogates.py)
    register_models_resource(mcp)
    register_prompts(mcp)
    register_task_resources(mcp, running)
    return mcp
