"""ASGI guards in front of the SDK's HTTP transports: requests it would drop get an answer.

`SurrogateGuard` reads the body of each POST to the MCP endpoints. A request holding a lone UTF-16
surrogate (see `runway_mcp.tools.surrogates`) is answered with a JSON-RPC error for its id: directly on
the streamable endpoint (HTTP 400 with the error as its body, which clients read as the request's
answer), and on the SSE transport's stream, by handing the SDK the marked request in its place.
Every other body is passed on exactly as it came.
"""

from __future__ import annotations

import json
from typing import Final

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runway_mcp.tools.surrogates import LONE_SURROGATE_ESCAPE, refusal_for

# Bytes kept from one chunk to the next, so a pair of escapes split between two chunks is still seen whole.
_ESCAPE_OVERLAP: Final = 12


class SurrogateGuard:
    """Answer requests holding a lone surrogate: `answer_paths` directly, `rewrite_paths` on their stream."""

    def __init__(
        self, app: ASGIApp, *, answer_paths: tuple[str, ...], rewrite_paths: tuple[str, ...], max_body_bytes: int
    ) -> None:
        self.app = app
        self.answer_paths = answer_paths
        self.rewrite_paths = rewrite_paths
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        answer = path in self.answer_paths
        if scope.get("method") != "POST" or not (answer or path.startswith(self.rewrite_paths)):
            await self.app(scope, receive, send)
            return
        chunks, suspicious, complete = await self._read(receive)
        refusal = None
        if suspicious and complete:  # parsed off the event loop: the body may be tens of megabytes
            refusal = await anyio.to_thread.run_sync(refusal_for, b"".join(chunks))
        if refusal is not None and answer:
            body = json.dumps(refusal.error_answer()).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if refusal is not None:
            chunks = [json.dumps(refusal.marked_request()).encode()]
        await self.app(scope, _replay(chunks, complete, receive), send)

    async def _read(self, receive: Receive) -> tuple[list[bytes], bool, bool]:
        """The body's chunks (stopping past the size limit, which the app then refuses), whether it holds
        something that may be a surrogate escape, and whether it was read whole."""
        chunks: list[bytes] = []
        size = 0
        tail = b""
        suspicious = False
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return chunks, False, False
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            suspicious = suspicious or LONE_SURROGATE_ESCAPE.search(tail + chunk) is not None
            tail = chunk[-_ESCAPE_OVERLAP:]
            if not message.get("more_body", False):
                return chunks, suspicious, True
            if size > self.max_body_bytes:
                return chunks, False, False


def _replay(chunks: list[bytes], complete: bool, receive: Receive) -> Receive:
    """A `receive` that gives back the chunks already read, then carries on with the real one."""
    pending = list(chunks)

    async def replayed() -> Message:
        if pending:
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending) or not complete}
        return await receive()

    return replayed
