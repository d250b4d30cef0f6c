"""What the ledger keeps about a task, and the canonical form requests are stored and compared in.

Kept apart from the SQLite storage (`runway_mcp.store.ledger`) because these are pure values and
functions: the task service builds records and hashes requests without touching the database. The
one rule they enforce is that media bytes never reach the ledger: every base64 data URI is replaced
by its structure (media type, parameter names, decoded size and sha256) before anything is stored or
hashed, however long its header.
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

# A data URI is summarised by its structure: the media type and parameter names when they look like ones
# (anything else is described by its length), the decoded size, a digest. Its header is parsed whole,
# however long, so no window on the text decides whether the payload is stored.
_TOKEN: Final = re.compile(r"[A-Za-z0-9!#$&^_.+-]{1,64}")
_MEDIA_TYPE: Final = re.compile(r"[A-Za-z0-9!#$&^_.+-]{1,64}/[A-Za-z0-9!#$&^_.+-]{1,64}")
_MAX_PARAMETERS_SHOWN: Final = 8
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
    """`{"data_uri": {media_type, [parameters], bytes, sha256}}` for a base64 data URI, None for any other string.

    Only base64 data URIs carry media here (the media checks refuse any other kind), and a prompt that
    merely starts with "data:" stays as written.
    """
    if value[:5].lower() != "data:":
        return None
    comma = value.find(",")
    if comma < 0:
        return None
    media_type, *parameters = value[5:comma].split(";")
    if not parameters or parameters.pop().strip().lower() != "base64":
        return None
    summary: dict[str, Any] = {"media_type": _described_media_type(media_type)}
    if parameters:
        summary["parameters"] = _described_parameters(parameters)
    summary.update(_base64_summary(value, comma + 1))
    return {"data_uri": summary}


def _described_media_type(text: str) -> str:
    text = text.strip().lower()
    if not text:
        return "text/plain"  # RFC 2397's default
    return text if _MEDIA_TYPE.fullmatch(text) else f"(not a media type: {len(text):,} characters)"


def _described_parameters(parameters: list[str]) -> list[str]:
    """Each parameter's name (never its value); a name that does not look like one is described by its length."""
    names = []
    for parameter in parameters[:_MAX_PARAMETERS_SHOWN]:
        name = parameter.partition("=")[0].strip()
        names.append(name if _TOKEN.fullmatch(name) else f"(parameter of {len(parameter):,} characters)")
    if len(parameters) > _MAX_PARAMETERS_SHOWN:
        names.append(f"(and {len(parameters) - _MAX_PARAMETERS_SHOWN:,} more)")
    return names


def _base64_summary(value: str, start: int) -> dict[str, Any]:
    """The decoded size and sha256 of a base64 payload, decoded a slice at a time (never copied whole)."""
    digest = hashlib.sha256()
    try:
        for offset in range(start, len(value), _BASE64_CHUNK):
            digest.update(binascii.a2b_base64(value[offset : offset + _BASE64_CHUNK], strict_mode=True))
    except ValueError:
        # Not valid base64: still never stored, and hashing the text keeps distinct payloads distinct.
        text_digest = hashlib.sha256(value[start:].encode("utf-8", "surrogatepass")).hexdigest()
        return {"bytes": None, "sha256": text_digest, "invalid_base64": True}
    padding = 2 if value.endswith("==") else 1 if value.endswith("=") else 0
    return {"bytes": (len(value) - start) // 4 * 3 - padding, "sha256": digest.hexdigest()}


def _json_fallback(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    return str(value)
