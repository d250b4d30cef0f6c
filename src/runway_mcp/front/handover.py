"""The SDK's side of the hand-over: build the server, take the session from the front, serve it.

Runs once the SDK has been imported. Only public SDK API: `MCPServer(subscriptions=...)` for a
bus this module can publish list changes on, `MCPServer.run()` for the stdio transport (which
serves `sys.stdin.buffer` / `sys.stdout.buffer` in place when they are not fds 0 and 1; see
`streams.py` and the test that pins it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    PromptsListChanged,
    ResourcesListChanged,
    ServerEvent,
    ToolsListChanged,
)

from runway_mcp.config import SECRET_VARIABLES, Settings
from runway_mcp.front.front import ANSWERED, Front
from runway_mcp.front.manifest import PLATFORM_VARIABLES, Manifest
from runway_mcp.front.streams import Inbound, Outbound, install
from runway_mcp.front.watch import Watch
from runway_mcp.tools.surrogates import run_stdio

if TYPE_CHECKING:
    from mcp.server import MCPServer
    from mcp.server.subscriptions import SubscriptionBus

    from runway_mcp.front.manifest import Shown

logger = logging.getLogger("runway_mcp.front")

EVENTS: dict[str, Callable[[], ServerEvent]] = {
    "notifications/tools/list_changed": ToolsListChanged,
    "notifications/prompts/list_changed": PromptsListChanged,
    "notifications/resources/list_changed": ResourcesListChanged,
}


class _Recording(Mapping[str, str]):
    """An environment that remembers every name asked for, set or not."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.names: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.names.add(name)
        return self._environ[name]

    def get(self, name: str, default: Any = None) -> Any:
        self.names.add(name)
        return self._environ.get(name, default)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.names.add(name)
        return name in self._environ

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)


def configuration_variables(environ: Mapping[str, str]) -> dict[str, Shown]:
    """Every variable the configuration is read from, each marked as kept by value or (a secret) by presence."""
    recording = _Recording(environ)
    Settings.from_env(recording, byo_key=False)
    names = recording.names | set(PLATFORM_VARIABLES)
    return {name: "presence" if name in SECRET_VARIABLES else "value" for name in sorted(names)}


def _log_front(front: Front, answered: list[str]) -> None:
    for level, note in front.manifest.notes:
        logger.log(logging.WARNING if level == "warning" else logging.INFO, "%s", note)
    if answered:
        logger.debug("answered %d requests %s: %s", len(answered), ANSWERED, answered)


def serve(
    front: Front,
    settings: Settings,
    build: Callable[..., MCPServer[Any]],
    environ: Mapping[str, str],
) -> None:
    """Run the server on the session the front held; `build(settings, subscriptions=bus)` makes it."""
    bus: SubscriptionBus = InMemorySubscriptionBus()
    server = build(settings, subscriptions=bus)
    manifest = front.manifest
    schema_cache = settings.schema_cache_dir()
    beside_schema_cache = (
        manifest.path is not None and schema_cache is not None and Path(manifest.path).parent == schema_cache
    )
    if not beside_schema_cache:
        logger.debug("not writing the stdio manifest: its directory is not the schema cache's")

    def save(manifest: Manifest) -> None:
        manifest.save(configuration_variables(environ), environ)

    def announce_modern(notification: str) -> None:
        try:
            anyio.from_thread.run(bus.publish, EVENTS[notification]())
        except RuntimeError:  # not on one of the event loop's worker threads: nothing to publish to
            logger.debug("could not publish %s", notification)

    handover = front.hand_over()
    _log_front(front, handover.answered)
    watch = Watch(
        manifest,
        handover.sent,
        handover.session,
        save=save if beside_schema_cache else None,
        announce_modern=announce_modern,
    )
    restore = install(
        Inbound(front.in_fd, handover.replay, handover.live, watch), Outbound(front.out_fd, watch, handover.answers_out)
    )
    try:
        # MCPServer.run(), with a request the SDK would drop (a lone surrogate) answered (tools/surrogates.py).
        anyio.run(run_stdio, server)
    finally:
        # The private descriptors stay open: a worker thread may still be blocked reading one (as the SDK's
        # transport keeps its own copies open for the same reason), and the process is ending.
        restore()
