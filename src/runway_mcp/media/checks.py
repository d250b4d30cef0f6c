"""Checks on media references that need no filesystem: classification, HTTPS URLs, data URIs.

Also the wording of refusals shared with `media/local.py` (wrong type, too large), so a data URI and a
local file that fail the same way are told so in the same words. Import the public names from
`runway_mcp.media.local`, which re-exports them.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Final, Literal
from urllib.parse import urlsplit

from runway_mcp.catalog import (
    ACCEPTED_MEDIA_TYPES,
    DATA_URI_LIMIT_BYTES,
    EPHEMERAL_UPLOAD_LIMIT_BYTES,
    MAX_URL_LENGTH,
    MB,
    URL_ASSET_LIMIT_BYTES,
    MediaKind,
)

MediaUriClass = Literal["https", "data", "local", "invalid"]

_ON_WINDOWS: Final = os.name == "nt"
_WINDOWS_DRIVE: Final = re.compile(r"[A-Za-z]:[\\/]")
_BASE64_PAYLOAD: Final = re.compile(r"[A-Za-z0-9+/]*={0,2}")
# Shorthand address forms (127.1, 0x7f000001) that resolvers still read as IPv4.
_NUMERIC_LABEL: Final = re.compile(r"0x[0-9a-f]*|[0-9]+", re.IGNORECASE)
FORMAT_NAMES: Final = {
    "video/mp4": "MP4",
    "video/quicktime": "MOV",
    "video/webm": "WebM",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    "image/gif": "GIF",
    "image/heic": "HEIC",
    "image/avif": "AVIF",
}


class MediaError(Exception):
    """A media input the upstream would refuse; `message` names the field and says how to fix it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def classify_media_uri(value: str) -> MediaUriClass:
    """Which kind of media reference `value` is; relative paths and other schemes are "invalid"."""
    lowered = value[:8].lower()
    if lowered.startswith("https://"):
        return "https"
    if lowered.startswith("data:"):
        return "data"
    if value.startswith(("/", "~")) or lowered.startswith("file://") or is_windows_drive_path(value):
        return "local"
    return "invalid"


def check_https_url(url: str, field: str) -> list[str]:
    """Problems the upstream would find with `url` (HTTPS, a domain name, length); empty if none."""
    problems: list[str] = []
    if len(url) > MAX_URL_LENGTH:
        problems.append(f"{field}: the URL is {len(url)} characters long; at most {MAX_URL_LENGTH} are accepted.")
    try:
        parts = urlsplit(url)
    except ValueError:
        return [*problems, f"{field}: {preview(url)} is not a valid URL."]
    if parts.scheme.lower() != "https":
        shown = f"{parts.scheme}://" if parts.scheme else "no scheme"
        problems.append(f"{field}: the URL must start with https:// (got {shown}); only HTTPS URLs are fetched.")
    if "\\" in url or any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        problems.append(
            f"{field}: the URL contains a backslash, a space or a control character; percent-encode it "
            "(a space is %20) or give the URL exactly as the browser shows it."
        )
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is not None and not 0 < port < 65536:
        problems.append(f"{field}: the URL's port is not a number from 1 to 65535.")
    host = _normalised_host(parts.hostname or "")
    if not host:
        problems.append(f"{field}: the URL has no host name; it must look like https://example.com/clip.mp4.")
    elif _is_ip_literal(host):
        problems.append(
            f"{field}: the URL's host {host} is an IP address; the upstream needs a domain name such as example.com."
        )
    elif "." not in host:
        problems.append(
            f"{field}: the URL's host {host} is not a public domain name; the upstream fetches the file "
            "from the internet."
        )
    return problems


def check_data_uri(value: str, kind: MediaKind, field: str) -> list[str]:
    """Problems with a `data:<type>;base64,<data>` URI for a `kind` field; empty if none.

    The decoded size is computed from the base64 length, so nothing is decoded.
    """
    header, comma, payload = value.partition(",")
    meta = header[len("data:") :].split(";")
    media_type = meta[0].strip().lower()
    if not comma or len(meta) < 2 or meta[-1].strip().lower() != "base64":
        return [f"{field}: a data URI must look like data:<media type>;base64,<base64 data>."]
    if not media_type:
        return [f"{field}: the data URI carries no media type; use one of {_accepted_list(kind)}."]
    problems: list[str] = []
    if media_type not in ACCEPTED_MEDIA_TYPES[kind]:
        problems.append(media_type_problem(field, "the data URI is", media_type, kind))
    if not payload:
        problems.append(f"{field}: the data URI contains no data.")
    elif len(payload) % 4 or not _BASE64_PAYLOAD.fullmatch(payload):
        problems.append(
            f"{field}: the data URI's payload is not valid base64 (standard alphabet A-Z a-z 0-9 + /, "
            "'=' padding, no spaces or line breaks)."
        )
    else:
        size = len(payload) // 4 * 3 - (len(payload) - len(payload.rstrip("=")))
        if size > DATA_URI_LIMIT_BYTES[kind]:
            problems.append(oversize_problem(field, "the data URI", size, kind))
    return problems


def invalid_media_uri_problem(value: str, field: str) -> str:
    """Why a value that `classify_media_uri` calls "invalid" is refused, and what to give instead."""
    if value[:7].lower() == "http://":
        return f"{field}: {preview(value)} uses http://; only https:// URLs are fetched."
    if "://" in value:
        return f"{field}: {preview(value)} uses an unsupported scheme; use an https:// URL."
    return (
        f"{field}: {preview(value)} is neither an https:// URL, a data URI (data:<type>;base64,...) "
        "nor an absolute local path (/..., ~/... or file:///...). Relative paths are not accepted."
    )


def media_type_problem(field: str, subject: str, media_type: str, kind: MediaKind, note: str = "") -> str:
    """A refused media type; `subject` reads e.g. "/x/a.png is", and `media_type` "" means unknown."""
    needs = f"{field} needs {_a(kind)} {kind}: {_accepted_list(kind)}.{note}"
    if not media_type:
        return f"{field}: {subject} not a recognised image or video file. {needs}"
    name = FORMAT_NAMES.get(media_type)
    described = f"in {name} format ({media_type})" if name else media_type
    if not any(media_type in types for types in ACCEPTED_MEDIA_TYPES.values()):
        return f"{field}: {subject} {described}, which is not accepted. {needs}"
    found_kind = media_type.partition("/")[0]
    return f"{field}: {subject} {_a(found_kind)} {found_kind} {described}. {needs}"


def oversize_problem(field: str, subject: str, size: int, kind: MediaKind, upload_limit: int | None = None) -> str:
    """Too large to send: the size, the limit, and the alternatives (an HTTPS URL; Runway's uploads)."""
    limit = upload_limit or DATA_URI_LIMIT_BYTES[kind]
    size_text, limit_text = _megabytes(size), _megabytes(limit)
    if size_text == limit_text:
        size_text = f"{size:,} bytes"
        limit_text += f" ({limit:,} bytes)"
    if upload_limit:
        return (
            f"{field}: {subject} is {size_text}, over the {limit_text} limit of Runway's uploads. "
            "Make the file smaller."
        )
    return (
        f"{field}: {subject} is {size_text}, over the {limit_text} limit for {_a(kind)} {kind} sent "
        f"inline. Host it at an HTTPS URL and pass that instead (URLs are accepted up to "
        f"{_megabytes(URL_ASSET_LIMIT_BYTES[kind])}), or make the file smaller. With Runway's own API "
        f"(RUNWAY_MCP_PROVIDER=runway) local files up to {_megabytes(EPHEMERAL_UPLOAD_LIMIT_BYTES)} are uploaded."
    )


def is_windows_drive_path(value: str) -> bool:
    """Whether `value` is an absolute Windows path like C:\\clips\\a.mp4 (only ever on Windows)."""
    return _ON_WINDOWS and bool(_WINDOWS_DRIVE.match(value))


def preview(value: str, limit: int = 80) -> str:
    """`value` quoted for a message, cut short when long (a data URI can be megabytes)."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _accepted_list(kind: MediaKind) -> str:
    return ", ".join(f"{FORMAT_NAMES.get(t, t)} ({t})" for t in ACCEPTED_MEDIA_TYPES[kind])


def _a(noun: str) -> str:
    return "an" if noun[:1] in ("a", "e", "i", "o", "u") else "a"


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB"


def _normalised_host(host: str) -> str:
    """The host as a resolver sees it: IDNA-normalised, so `１２７.０.０.１` is recognised as 127.0.0.1."""
    host = host.rstrip(".")
    try:
        return host.encode("idna").decode("ascii").lower().rstrip(".")
    except UnicodeError:
        return host


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]))
    return True
