"""How many sessions and event streams one caller may hold, so one caller cannot take them all.

The SDK caps sessions for the whole server (10,000) and not per caller: one caller could hold every one
and everyone else got `503 Too many open sessions` for the half hour an idle session lives. In
bring-your-own-key mode each key is a caller; this ASGI middleware, inside authentication, refuses
- a new session (streamable HTTP: a POST without a session id; SSE: the GET that opens the stream)
  once the caller holds `RUNWAY_MCP_MAX_SESSIONS_PER_CALLER` (429);
- a new event stream (a GET on either endpoint) once the caller holds `RUNWAY_MCP_MAX_STREAMS_PER_CALLER` (429);
- a new session for a key the upstream could not confirm (see `runway_mcp.remote.keycheck`) once all
  such keys together hold `RUNWAY_MCP_MAX_UNCONFIRMED_SESSIONS` (503, try again shortly).

A streamable session outlives its requests, so `SessionBook` follows each one from the answers this
server gives: opened when an initialize is answered with a session id, gone when a request for it is
answered 404 or a DELETE succeeds, and expired by the same rule as the SDK's idle timeout (no request
in flight for that long). The SDK's own count is not read: it is private.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runway_mcp.remote.auth import KEY_CONFIRMED_CLAIM

SESSION_HEADER: Final = b"mcp-session-id"
RETRY_SECONDS: Final = 30


@dataclass
class _Session:
    caller: str
    confirmed: bool
    in_flight: int = 0
    last_active: float = 0.0


@dataclass
class SessionBook:
    """Open sessions and event streams, by caller."""

    idle_seconds: float
    clock: Callable[[], float] = time.monotonic
    _sessions: dict[str, _Session] = field(default_factory=dict)
    _by_caller: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _streams: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    _legacy: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    _unconfirmed_streams: int = 0

    def sessions_of(self, caller: str) -> int:
        """The caller's live sessions (streamable, plus SSE streams, each of which is a session)."""
        for session_id in list(self._by_caller.get(caller, ())):
            self._expire(session_id)
        return len(self._by_caller.get(caller, ())) + self._legacy.get(caller, 0)

    def streams_of(self, caller: str) -> int:
        return self._streams.get(caller, 0)

    def unconfirmed(self) -> int:
        """Sessions held by keys the upstream could not confirm."""
        for session_id in [s for s, session in self._sessions.items() if not session.confirmed]:
            self._expire(session_id)
        held = sum(1 for session in self._sessions.values() if not session.confirmed)
        return held + self._unconfirmed_streams

    def opened(self, session_id: str, caller: str, confirmed: bool) -> None:
        self._sessions[session_id] = _Session(caller, confirmed, last_active=self.clock())
        self._by_caller[caller].add(session_id)

    def started(self, session_id: str, confirmed: bool) -> None:
        session = self._sessions.get(session_id)
        if session is not None:
            session.in_flight += 1
            session.confirmed = session.confirmed or confirmed

    def finished(self, session_id: str, *, gone: bool) -> None:
        session = self._sessions.get(session_id)
        if session is None:
            return
        session.in_flight -= 1
        session.last_active = self.clock()
        if gone:
            self._forget(session_id)

    def stream_opened(self, caller: str, confirmed: bool, *, is_session: bool) -> None:
        self._streams[caller] += 1
        if is_session:
            self._legacy[caller] += 1
            if not confirmed:
                self._unconfirmed_streams += 1

    def stream_closed(self, caller: str, confirmed: bool, *, is_session: bool) -> None:
        self._streams[caller] -= 1
        if not self._streams[caller]:
            del self._streams[caller]
        if is_session:
            self._legacy[caller] -= 1
            if not self._legacy[caller]:
                del self._legacy[caller]
            if not confirmed:
                self._unconfirmed_streams -= 1

    def _expire(self, session_id: str) -> None:
        session = self._sessions.get(session_id)
        if session is not None and not session.in_flight and self.clock() - session.last_active >= self.idle_seconds:
            self._forget(session_id)

    def _forget(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is None:
            return
        owned = self._by_caller.get(session.caller)
        if owned is not None:
            owned.discard(session_id)
            if not owned:
                del self._by_caller[session.caller]


@dataclass(frozen=True)
class Caps:
    sessions_per_caller: int
    streams_per_caller: int
    unconfirmed_sessions: int


class CallerLimits:
    """ASGI middleware enforcing `Caps` on the MCP endpoint (`mcp_path`) and the SSE endpoint (`sse_path`)."""

    def __init__(self, app: ASGIApp, *, caps: Caps, book: SessionBook, mcp_path: str, sse_path: str) -> None:
        self.app = app
        self.caps = caps
        self.book = book
        self.mcp_path = mcp_path
        self.sse_path = sse_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user") if scope["type"] == "http" else None
        path = scope.get("path")
        if not isinstance(user, AuthenticatedUser) or path not in (self.mcp_path, self.sse_path):
            await self.app(scope, receive, send)
            return
        token = user.access_token
        caller = token.subject or token.client_id
        confirmed = (token.claims or {}).get(KEY_CONFIRMED_CLAIM, True) is not False
        method = scope["method"]
        session_id = _header(scope, SESSION_HEADER)
        stream = method == "GET"
        new_session = (path == self.sse_path and stream) or (method == "POST" and session_id is None)
        refusal = self._refusal(caller, confirmed, new_session=new_session, stream=stream)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if stream:
            self.book.stream_opened(caller, confirmed, is_session=path == self.sse_path)
        if session_id is not None:
            self.book.started(session_id, confirmed)
        status: list[int] = []
        opened: list[str] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                opened.extend(v.decode("latin-1") for k, v in message.get("headers", []) if k.lower() == SESSION_HEADER)
                if session_id is None and opened and message["status"] < 400:
                    self.book.opened(opened[0], caller, confirmed)
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if stream:
                self.book.stream_closed(caller, confirmed, is_session=path == self.sse_path)
            if session_id is not None:
                gone = bool(status) and (status[0] == 404 or (method == "DELETE" and status[0] < 300))
                self.book.finished(session_id, gone=gone)

    def _refusal(self, caller: str, confirmed: bool, *, new_session: bool, stream: bool) -> ASGIApp | None:
        caps, book = self.caps, self.book
        if new_session and book.sessions_of(caller) >= caps.sessions_per_caller:
            return _refuse(
                429,
                f"This caller already holds {caps.sessions_per_caller} open MCP sessions, the most one caller may "
                "hold on this server (RUNWAY_MCP_MAX_SESSIONS_PER_CALLER). Close one (clients do when they "
                "disconnect) or reuse it; an idle session ends after 30 minutes.",
            )
        if stream and book.streams_of(caller) >= caps.streams_per_caller:
            return _refuse(
                429,
                f"This caller already holds {caps.streams_per_caller} open event streams, the most one caller may "
                "hold on this server (RUNWAY_MCP_MAX_STREAMS_PER_CALLER). Close one before opening another.",
            )
        if new_session and not confirmed and book.unconfirmed() >= caps.unconfirmed_sessions:
            return _refuse(
                503,
                "The upstream could not be reached to confirm this API key, and the sessions this server allows "
                "for keys it could not confirm are all in use. Try again in a minute.",
            )
        return None


def _refuse(status: int, message: str) -> ASGIApp:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_SECONDS).encode()),
    ]

    async def answer(_scope: Scope, _receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return answer


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            decoded: str = value.decode("latin-1")
            return decoded
    return None
