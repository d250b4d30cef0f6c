"""A request holding a lone UTF-16 surrogate is answered with a JSON-RPC error, not dropped.

JSON text may spell an unpaired surrogate as an escape (`"\\ud800"`). That is not Unicode text: the
SDK's parser refuses the whole message, and its transports then drop it (stdio, and SSE, whose POST
gets a bare 400 while the answer the client waits for never comes on the stream) or answer it with no
id (streamable HTTP). The client waits for its own timeout. The SDK offers no hook for messages it
cannot parse, so the answer is given at the transport boundary, where the raw message still is:

- Python's own JSON parser accepts such escapes, so `refusal_for` can read the message, find its id and
  the place of the surrogate, and word the error;
- over stdio, `GuardedReadStream` sits between the SDK's transport and its server, and turns the parse
  failure into a marked request with the same id (`REFUSE_METHOD`), which `refuse_marked` (a server
  middleware) answers with that error: the SDK writes it, in whichever protocol era the session is in;
- over HTTP, `runway_mcp.remote.guards` answers a POST to the streamable endpoint itself, and rewrites a
  POST to the SSE message endpoint into the marked request, so the answer arrives on the stream.

Notifications and answers to the server's own requests carry no id to answer; they are dropped as before.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp.types import INVALID_PARAMS, INVALID_REQUEST, JSONRPCRequest
from pydantic import ValidationError

logger = logging.getLogger("runway_mcp.tools.surrogates")

REFUSE_METHOD: Final = "runway-mcp/refuse-invalid-text"
# In raw bytes, an escape of a high surrogate not followed by a low one, or of a low one not preceded by a
# high one: a cheap first look before any parsing (an escaped backslash before it makes a false alarm,
# which only costs a parse). A properly paired escape, as `json.dumps` writes an emoji, does not match.
LONE_SURROGATE_ESCAPE: Final = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MAX_DEPTH: Final = 200


@dataclass(frozen=True)
class Refusal:
    """The JSON-RPC error a message with a lone surrogate gets."""

    request_id: str | int
    code: int
    message: str

    def marked_request(self) -> dict[str, Any]:
        """The request that stands in for the refused one: same id, and the error to answer with."""
        params = {"code": self.code, "message": self.message}
        return {"jsonrpc": "2.0", "id": self.request_id, "method": REFUSE_METHOD, "params": params}

    def error_answer(self) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "id": self.request_id, "error": {"code": self.code, "message": self.message}}


def refusal_for(raw: str | bytes) -> Refusal | None:
    """The error for a request whose text holds a lone surrogate; None for any other message."""
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        return None  # a notification's or an answer's: nothing to answer
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        return None
    where = _surrogate_path(message, "", 0)
    if where is None:
        return None
    code = INVALID_PARAMS if where.startswith("params") else INVALID_REQUEST
    text = (
        f"The request's {where} contains a lone UTF-16 surrogate (an unpaired \\uD800-\\uDFFF escape), which "
        "is not valid Unicode text, so the request was not processed and nothing was sent or spent. Send "
        "the text as valid UTF-8: pair the surrogate with its other half, or remove it."
    )
    return Refusal(request_id, code, text)


def _surrogate_path(value: object, path: str, depth: int) -> str | None:
    """Where the first lone surrogate is (`params.arguments.prompt_text`), or None."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(value, str):
        return path if _is_invalid_text(value) else None
    items: list[tuple[str, object]]
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            step = f"{path}.{key}" if _NAME.fullmatch(key) else f"{path}[...]"
            if _is_invalid_text(key):
                return f"{path} (a key)" if path else "message (a key)"
            items.append((step.lstrip("."), item))
    elif isinstance(value, list):
        items = [(f"{path}[{index}]", item) for index, item in enumerate(value)]
    else:
        return None
    for step, item in items:
        found = _surrogate_path(item, step, depth + 1)
        if found is not None:
            return found
    return None


def _is_invalid_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# stdio: between the SDK's transport and its server ---------------------------------------------------


class GuardedReadStream:
    """The stdio transport's read stream, with a parse failure caused by a lone surrogate turned into the
    marked request (see the module docstring); every other item passes through unchanged."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        return self._guarded(await self._inner.receive())

    def __aiter__(self) -> GuardedReadStream:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        return self._guarded(await self._inner.__anext__())

    @staticmethod
    def _guarded(item: SessionMessage | Exception) -> SessionMessage | Exception:
        if isinstance(item, ValidationError):
            refusal = _refusal_for_parse_failure(item)
            if refusal is not None:
                logger.info("refusing request %r: it holds a lone UTF-16 surrogate", refusal.request_id)
                return SessionMessage(JSONRPCRequest.model_validate(refusal.marked_request()))
        return item

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> GuardedReadStream:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        result: bool | None = await self._inner.__aexit__(*exc_info)
        return result


def _refusal_for_parse_failure(error: ValidationError) -> Refusal | None:
    """The refusal for a line the SDK could not parse, read from the error (which holds the line)."""
    for detail in error.errors(include_url=False):
        raw = detail.get("input")
        if detail.get("type") == "json_invalid" and isinstance(raw, str | bytes):
            return refusal_for(raw)
    return None


async def run_stdio(server: Any) -> None:
    """Serve `server` (an `MCPServer`) over stdio like `MCPServer.run_stdio_async`, with the guard in place.

    The SDK gives no way to put anything between its stdio transport and its server but this: its
    `_lowlevel_server` is used exactly as `run_stdio_async` uses it.
    """
    from mcp.server.stdio import stdio_server

    lowlevel = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        await lowlevel.run(GuardedReadStream(read_stream), write_stream, lowlevel.create_initialization_options())


# The answer: a server middleware that refuses the marked request --------------------------------------


async def refuse_marked(ctx: Any, call_next: Callable[[Any], Awaitable[Any]]) -> Any:
    """Server middleware: answer a marked request with the error it carries; pass everything else on."""
    if getattr(ctx, "method", None) != REFUSE_METHOD:
        return await call_next(ctx)
    params = getattr(ctx, "params", None) or {}
    code = params.get("code") if isinstance(params, dict) else None
    message = params.get("message") if isinstance(params, dict) else None
    raise MCPError(
        code=code if code in (INVALID_PARAMS, INVALID_REQUEST) else INVALID_REQUEST,
        message=message if isinstance(message, str) else "The request is not valid Unicode text.",
    )
