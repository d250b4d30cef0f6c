"""What every tool shares: the lifespan's state, the caller's identity, and the one error mapping."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from runway_mcp.config import Settings
from runway_mcp.errors import RunwayMCPError, UnavailableError, bounded
from runway_mcp.media.inputs import MediaPolicy
from runway_mcp.service.confirmations import PendingCreates
from runway_mcp.tools.caller import caller_api_key, caller_owner

if TYPE_CHECKING:
    from runway_mcp.service.task_service import TaskService
    from runway_mcp.store.journal import Journal
    from runway_mcp.store.ledger import Ledger
    from runway_mcp.upstream.transport import HttpClients

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
    journal: Journal
    media_policy: MediaPolicy
    # Paid creates waiting for the user's click in the player (tools/player.py).
    confirmations: PendingCreates = field(default_factory=PendingCreates)
    # Previews decode video in worker threads (tens of MB each at 1080p): at most two at once.
    previews: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(2))
    _service: TaskService | None = field(default=None, init=False, repr=False)
    _clients: HttpClients | None = field(default=None, init=False, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)

    @property
    def service(self) -> TaskService:
        if self._service is None:
            if self._closed:
                raise UnavailableError("The server is shutting down; try again once it has restarted.")
            from runway_mcp.service.task_service import TaskService
            from runway_mcp.upstream.client import RunwayClient
            from runway_mcp.upstream.transport import HttpClients

            self._clients = HttpClients(self.settings)
            client = RunwayClient(self.settings, self._clients.api, caller_key=caller_api_key)
            self._service = TaskService(client, self.ledger, self._clients.downloads, self.journal)
        return self._service

    async def aclose(self) -> None:
        """Close the HTTP clients, if any call opened them (the lifespan closes the ledger and the journal)."""
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
