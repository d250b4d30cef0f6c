"""Serving a `Sandbox` on real loopback HTTP with uvicorn: in a background thread, or blocking."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import threading
import time
from types import TracebackType

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from runway_mcp.sandbox.app import Sandbox
from runway_mcp.sandbox.config import SandboxConfig
from runway_mcp.sandbox.faults import ConnectionRegistry

logger = logging.getLogger("runway_mcp.sandbox")


def _tracking_protocol(registry: ConnectionRegistry) -> type[H11Protocol]:
    """uvicorn's h11 protocol, registering each connection so faults can drop it."""

    class TrackingH11Protocol(H11Protocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            registry.add(transport)
            # asyncio skips TCP_NODELAY on accepted sockets (their `proto` reads 0), and Nagle plus the
            # client's delayed ACK then adds ~40 ms to every response written in two parts.
            sock = transport.get_extra_info("socket")
            if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if self.transport is not None:
                registry.discard(self.transport)
            super().connection_lost(exc)

    return TrackingH11Protocol


def _uvicorn_config(sandbox: Sandbox, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        sandbox.app,
        host=host,
        port=port,
        http=_tracking_protocol(sandbox.connections),
        ws="none",
        lifespan="off",
        # The ASGI `client` must stay the real peer: faults find the connection to drop by it.
        proxy_headers=False,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )


class SandboxServer:
    """Runs a Sandbox on loopback HTTP in a background thread with its own event loop."""

    def __init__(self, sandbox: Sandbox | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox or Sandbox()
        self.host = host
        self.port = port
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        """Start serving; returns once the server accepts connections (port 0 picks a free port)."""
        if self._server is not None:
            raise RuntimeError("this SandboxServer is already started")
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}"
        server = uvicorn.Server(_uvicorn_config(self.sandbox, self.host, self.port))
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"the sandbox server on {self.url} did not start")
            time.sleep(0.005)
        logger.info("sandbox: serving on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=5.0)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout=5.0)
        self._server = None
        self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(host: str = "127.0.0.1", port: int = 8765, config: SandboxConfig | None = None) -> None:
    """Serve a sandbox until interrupted (blocking); logs go to stderr, never stdout."""
    for name in ("runway_mcp.sandbox", "uvicorn"):
        log = logging.getLogger(name)
        if not log.handlers and not logging.getLogger().handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            log.addHandler(handler)
            log.setLevel(logging.INFO)
    sandbox = Sandbox(config)
    logger.info("sandbox: serving CometAPI's Runway routes on http://%s:%d (Ctrl-C to stop)", host, port)
    uvicorn.Server(_uvicorn_config(sandbox, host, port)).run()
