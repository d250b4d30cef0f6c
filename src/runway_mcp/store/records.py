"""What the ledger keeps about a task, and the canonical form requests are stored and compared in.

Kept apart from the SQLite storage (`runway_mcp.store.ledger`) because these are pure values and
functions: the task service builds records and hashes requests without touching the database. The
one rule they enforce is that media bytes never reach the ledger: every base64 data URI is replaced
by its type, decoded size and sha256 before anything is stored or hashed.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

__all__ = ["TaskRecord", "canonical_request_hash", "dump_json", "load_json", "sanitize_params"]

# A data URI with a base64 payload; only the head is matched, the payload is never copied whole.
_DATA_URI_HEAD: Final = re.compile(r"data:(?P<media_type>[^;,]*)(?:;[^;,]*)*?;base64,", re.IGNORECASE)
_DATA_URI_HEAD_MAX: Final = 512
# Base64 is decoded in slices that are a multiple of 4 characters, so each slice stands alone.
_BASE64_CHUNK: Final = 4 * 64 * 1024

T = TypeVar("T")


@dataclass(frozen=True)
class TaskRecord:
    """One created task as the ledger keeps it: what was asked for, and the last status seen."""

    task_id: str
    endpoint: str
    model: str
    prompt: str | None
    params: dict[str, Any]
    created_at: float
    status: str
    progress: float | None = None
    outputs: list[str] = field(default_factory=list)
    failure: str | None = None
    failure_code: str | None = None
    updated_at: float | None = None
    downloads: list[str] = field(default_factory=list)
    idempotency_key: str | None = None
    request_hash: str | None = None
    owner: str | None = None


def sanitize_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `params` with every base64 data URI replaced by its type, decoded size and sha256.

    Walks nested mappings and lists; every other value is kept as it is. The ledger stores this, so
    it never holds media bytes, and the request hash uses it, so a huge payload is hashed once.
    """
    return {key: _sanitize_value(value) for key, value in params.items()}


def canonical_request_hash(endpoint: str, body: Mapping[str, Any]) -> str:
    """sha256 hex of a create request in canonical JSON (sorted keys, compact, data URIs summarised).

    Two requests hash alike exactly when they ask for the same thing, whatever the key order.
    """
    canonical = dump_json({"endpoint": endpoint, "body": sanitize_params(body)})
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def dump_json(value: Any) -> str:
    """Canonical JSON: sorted keys, compact, bytes summarised by size and sha256, anything else as text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_fallback)


def load_json(text: str | None, expected: type[T], fallback: T) -> T:
    """The JSON value in `text` when it is an `expected`; `fallback` when empty, unreadable or of another type."""
    # A hand-edited or half-written cell must not make a whole listing fail.
    try:
        value = json.loads(text) if text else fallback
    except ValueError:
        return fallback
    return value if isinstance(value, expected) else fallback


def _sanitize_value(value: Any) -> Any:
    if isinstance(value, str):
        return _summarise_data_uri(value) or value
    if isinstance(value, Mapping):
        return {key: _sanitize_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_sanitize_value(item) for item in value]
    return value


def _summarise_data_uri(value: str) -> dict[str, Any] | None:
    head = _DATA_URI_HEAD.match(value[:_DATA_URI_HEAD_MAX])
    if head is None:
        return None
    start = head.end()
    length = len(value) - start
    digest = hashlib.sha256()
    try:
        for offset in range(start, len(value), _BASE64_CHUNK):
            digest.update(binascii.a2b_base64(value[offset : offset + _BASE64_CHUNK], strict_mode=True))
    except ValueError:
        # Not valid base64: still never stored, and hashing the text keeps distinct payloads distinct.
        text_digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
        summary: dict[str, Any] = {"bytes": None, "sha256": text_digest, "invalid_base64": True}
    else:
        padding = 2 if value.endswith("==") else 1 if value.endswith("=") else 0
        summary = {"bytes": length // 4 * 3 - padding, "sha256": digest.hexdigest()}
    return {"data_uri": {"media_type": head["media_type"].lower() or "text/plain", **summary}}


def _json_fallback(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    return str(value)
