"""Reading a client's messages as the SDK will, to key the requests whose answers never change.

The SDK serves two protocol eras on one stdio connection and picks one from the client's first
request: a request carrying the 2026-07-28 envelope (`params._meta` with the protocol version)
opens a modern connection, anything else (above all `initialize`) a handshake one. An answer
can depend on that era, on the session so far (the `initialize` the client sent, the
notifications it has sent) and on the request's own parameters, so a request's key is all of
those; only its `id` is left out. Two requests with the same key get the same answer from the
same code and configuration, which is what lets the manifest stand in for the SDK.

Standard library only: this runs before the SDK is imported.
"""

from __future__ import annotations

import hashlib
import json

TYPE_CHECKING = False  # typing costs the front milliseconds; mypy reads the imports below
if TYPE_CHECKING:
    from typing import Any, Final, Literal

    Era = Literal["legacy", "modern"]
    Kind = Literal["static", "notification", "other"]

# Requests whose answers depend only on the code, the configuration and the request itself.
STATIC_METHODS: Final = frozenset(
    {
        "initialize",
        "server/discover",
        "ping",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
    }
)
# What a client is told when a list it was given from the manifest turned out to be out of date.
LIST_CHANGED: Final = {
    "tools/list": "notifications/tools/list_changed",
    "prompts/list": "notifications/prompts/list_changed",
    "resources/list": "notifications/resources/list_changed",
    "resources/templates/list": "notifications/resources/list_changed",
}
PROTOCOL_VERSION_META_KEY: Final = "io.modelcontextprotocol/protocolVersion"
KEY_FORMAT: Final = 1
# A static request is a few hundred bytes: a longer line (a tool call carrying a video, say) is not read as one.
MAX_STATIC_LINE: Final = 64 * 1024
# How the SDK's stdio transport begins every answer (see `answer_line`; the tests compare whole lines).
ANSWER_FRAME: Final = b'{"jsonrpc":"2.0","id":'


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def opens_modern(method: str, params: Any) -> bool:
    """The SDK's rule for a connection's first request: the modern envelope, on anything but `initialize`."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    return method != "initialize" and isinstance(meta, dict) and PROTOCOL_VERSION_META_KEY in meta


class Message:
    """One line from the client, classified; `commit` it to the session once it is taken."""

    __slots__ = ("era", "key", "kind", "line", "message")

    def __init__(
        self, kind: Kind, line: bytes, message: dict[str, Any] | None = None, key: str = "", era: Era | None = None
    ) -> None:
        self.kind = kind
        self.line = line
        self.message = {} if message is None else message
        self.key = key
        self.era = era

    @property
    def id(self) -> Any:
        return self.message.get("id")

    @property
    def method(self) -> str:
        method: str = self.message.get("method", "")
        return method


class Session:
    """The state of one connection as the SDK will see it: its era and what the client has said so far."""

    def __init__(self) -> None:
        self.era: Era | None = None
        # The initialize requests and notifications received, in order: what a later answer may depend on.
        self.history: list[Any] = []
        self.initialized = False

    def classify(self, line: bytes) -> Message:
        """What `line` is; changes nothing (see `commit`)."""
        if len(line) > MAX_STATIC_LINE:
            return Message("other", line)
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            return Message("other", line)
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return Message("other", line)
        method, params = message.get("method"), message.get("params")
        if not isinstance(method, str) or ("params" in message and not isinstance(params, dict)):
            return Message("other", line)
        if "id" not in message:
            return Message("notification", line, message)
        request_id = message["id"]
        if method not in STATIC_METHODS or isinstance(request_id, bool) or not isinstance(request_id, int | str):
            return Message("other", line, message)
        era: Era = self.era or ("modern" if opens_modern(method, params) else "legacy")
        identity = canonical([KEY_FORMAT, era, self.history, method, params])
        return Message("static", line, message, hashlib.sha256(identity.encode()).hexdigest(), era)

    def commit(self, message: Message) -> None:
        """Take `message` into the session: it is now part of what later answers may depend on."""
        if message.kind == "static":
            self.era = self.era or message.era
            if message.method == "initialize":
                self.history.append(["initialize", message.message.get("params")])
        elif message.kind == "notification":
            self.history.append([message.method, message.message.get("params")])
            self.initialized = self.initialized or message.method == "notifications/initialized"


def answer_prefix(request_id: Any) -> bytes:
    """How the SDK's stdio transport begins any answer to `request_id`."""
    return ANSWER_FRAME + json.dumps(request_id, ensure_ascii=False).encode() + b","


def response_prefix(request_id: Any) -> bytes:
    """How the SDK's stdio transport begins a successful answer to `request_id`."""
    return answer_prefix(request_id) + b'"result":'


def answer_line(request_id: Any, result: str) -> bytes:
    """A successful answer to `request_id`, in the SDK's own framing, with `result` (JSON text) as it is."""
    return response_prefix(request_id) + result.encode() + b"}\n"


def result_text(line: bytes, answer: dict[str, Any]) -> str:
    """The JSON text of `answer["result"]` as it appears in `line`, the SDK's answer (re-encoded if framed otherwise)."""
    prefix = response_prefix(answer.get("id"))
    body = line.rstrip(b"\r\n")
    if body.startswith(prefix) and body.endswith(b"}"):
        text = body[len(prefix) : -1].decode()
        try:
            if json.loads(text) == answer["result"]:
                return text
        except ValueError:
            pass
    return json.dumps(answer["result"], separators=(",", ":"), ensure_ascii=False)


def with_id(message: dict[str, Any], request_id: str) -> bytes:
    """`message` as a line again, under another id."""
    return json.dumps({**message, "id": request_id}, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
