"""Injected misbehaviour: what a gateway, a CDN or the network does to a request on a bad day.

Dropping a connection needs the socket under the ASGI app. `ConnectionRegistry` is filled by the
uvicorn protocol that `SandboxServer` and `serve()` install (see server.py) and maps the ASGI
`client` address to its transport, so the app can abort it: the client then sees a closed
connection with no response at all. Without that registry (an in-process ASGI transport) the app
raises `SimulatedDisconnect` instead, which such transports surface to the caller as an exception.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
import threading
from functools import cache
from typing import Final

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from runway_mcp.sandbox.config import Fault
from runway_mcp.sandbox.errors import envelope

logger = logging.getLogger("runway_mcp.sandbox")

HUGE_BODY_BYTES: Final = 10 * 1024 * 1024
_STATUS_TEXT: Final = {
    429: "Too many requests, please retry later",
    500: "Internal server error",
    502: "Bad gateway: the upstream returned an invalid response",
    503: "Service temporarily unavailable, please retry later",
    504: "Gateway timeout: the upstream did not answer in time",
    524: "A timeout occurred while waiting for the upstream",
}
_HTML_TITLE: Final = {
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway time-out",
    524: "A timeout occurred",
}


class SimulatedDisconnect(Exception):
    """Raised to end a request without a response when the transport cannot be reached."""


class FaultBook:
    """Pending faults; the first that matches a request, with uses left, is consumed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Queue a copy of the fault after those already pending."""
        method = fault.method.upper() if fault.method is not None else None
        with self._lock:
            self._faults.append(dataclasses.replace(fault, method=method))

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[Fault]:
        """The faults still pending, in order."""
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str, *, is_media: bool) -> Fault | None:
        """The fault for this request, if any, using up one of its `times`."""
        with self._lock:
            for fault in self._faults:
                if fault.times == 0:
                    continue
                if fault.method is not None and fault.method != method:
                    continue
                # Media URLs only get faults that name them, so an API fault never breaks a download.
                if fault.path is None and is_media:
                    continue
                if fault.path is not None and fault.path not in path:
                    continue
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                return fault
        return None


class ConnectionRegistry:
    """Open connections by client address, so a request handler can reach its own socket."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._transports: dict[tuple[str, int], asyncio.Transport] = {}

    def add(self, transport: asyncio.Transport) -> None:
        """Called by the server protocol when a connection opens."""
        key = _peer(transport)
        if key is not None:
            with self._lock:
                self._transports[key] = transport

    def discard(self, transport: asyncio.Transport) -> None:
        """Called by the server protocol when a connection closes."""
        key = _peer(transport)
        with self._lock:
            if key is not None and self._transports.get(key) is transport:
                del self._transports[key]

    def find(self, scope: Scope) -> asyncio.Transport | None:
        """The transport carrying this ASGI request, when the server registered it."""
        client = scope.get("client")
        if not client:
            return None
        with self._lock:
            return self._transports.get((str(client[0]), int(client[1])))


def _peer(transport: asyncio.Transport) -> tuple[str, int] | None:
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return str(peer[0]), int(peer[1])
    return None


async def _wait_for_disconnect(receive: Receive) -> None:
    # Returning before the server notices the abort would make it send a 500 of its own.
    try:
        async with asyncio.timeout(2.0):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        logger.warning("sandbox: the server did not report the dropped connection")


async def drop_connection(scope: Scope, receive: Receive, connections: ConnectionRegistry) -> None:
    """Close the request's TCP connection without sending a single byte of response."""
    transport = connections.find(scope)
    if transport is None:
        raise SimulatedDisconnect("sandbox fault: connection dropped")
    transport.abort()
    await _wait_for_disconnect(receive)


async def reset_mid_response(scope: Scope, receive: Receive, send: Send, connections: ConnectionRegistry) -> None:
    """Send the status line, headers and part of a body, then reset the connection."""
    body = json.dumps({"id": "00000000-0000-4000-8000-000000000000", "padding": "x" * 4096}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body[: len(body) // 3], "more_body": True})
    transport = connections.find(scope)
    if transport is None:
        raise SimulatedDisconnect("sandbox fault: connection reset mid-response")
    # Give the partial response time to leave the socket buffer, so the client really sees it.
    await asyncio.sleep(0.05)
    transport.abort()
    await _wait_for_disconnect(receive)


def fault_response(fault: Fault, base_url: str, path: str) -> Response:
    """The response a fault answers with, for the kinds that answer at all."""
    headers = {} if fault.retry_after is None else {"Retry-After": _seconds(fault.retry_after)}
    if fault.kind == "status":
        text = fault.message or _STATUS_TEXT.get(fault.status, f"Upstream error (HTTP {fault.status})")
        return Response(json.dumps(envelope(text)), fault.status, headers, "application/json")
    if fault.kind == "html":
        headers |= {"Server": "cloudflare", "CF-RAY": f"{secrets.token_hex(8)}-SJC"}
        return Response(_html_page(fault.status), fault.status, headers, "text/html; charset=UTF-8")
    if fault.kind == "redirect":
        headers["Location"] = f"{base_url.rstrip('/')}{path.rstrip('/')}/"
        return Response(b"", 301, headers)
    if fault.kind == "empty":
        return Response(b"", 200, headers, "application/json")
    if fault.kind == "malformed_json":
        return Response(b'{"id": "6f1c2a9e-3b7d-4c1e-9a', 200, headers, "application/json")
    if fault.kind == "wrong_shape":
        return Response(b'{"foo": 1}', 200, headers, "application/json")
    if fault.kind == "huge_body":
        return Response(_huge_body(), fault.status, headers, "application/json")
    raise ValueError(f"fault kind {fault.kind!r} has no response")


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _html_page(status: int) -> str:
    title = _HTML_TITLE.get(status, "Error")
    return (
        '<!DOCTYPE html>\n<html lang="en-US"><head><meta charset="UTF-8" />'
        f"<title>api.cometapi.com | {status}: {title}</title></head>\n<body>"
        f'<div id="cf-error-details"><h1><span class="inline-block">{title}</span>'
        f'<span class="code-label">Error code {status}</span></h1>'
        "<p>The web server reported an error. Please try again in a few minutes.</p>"
        f"<p>Cloudflare Ray ID: <strong>{secrets.token_hex(8)}</strong></p></div>\n</body></html>\n"
    )


@cache
def _huge_body() -> bytes:
    head = b'{"error":{"message":"'
    tail = b'","type":"comet_api_error","param":"","code":""}}'
    return head + b"x" * (HUGE_BODY_BYTES - len(head) - len(tail)) + tail
