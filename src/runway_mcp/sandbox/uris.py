"""Checks on media inputs as Runway documents them: HTTPS URLs with a domain name, or base64 data URIs."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from runway_mcp.sandbox.errors import Issue, PathItem, invalid_type

MediaKind = Literal["image", "video"]

MIB: Final = 1024 * 1024
MAX_URL_LENGTH: Final = 2048
DATA_URI_LIMIT_BYTES: Final[dict[MediaKind, int]] = {"image": 5 * MIB, "video": 16 * MIB}
ACCEPTED_MEDIA_TYPES: Final[dict[MediaKind, tuple[str, ...]]] = {
    "image": ("image/jpeg", "image/png", "image/webp"),
    "video": ("video/mp4", "video/quicktime", "video/webm"),
}
_A_KIND: Final[dict[MediaKind, str]] = {"image": "an image", "video": "a video"}

_DATA_URI = re.compile(r"data:(?P<mime>[^;,]*)(?P<params>(?:;[^;,]*)*),(?P<data>.*)", re.DOTALL)
_DOMAIN_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def check_media_uri(value: Any, kind: MediaKind, path: tuple[PathItem, ...]) -> list[Issue]:
    """Issues with one media input: an HTTPS URL or a `data:<kind>/<type>;base64,...` URI."""
    if not isinstance(value, str):
        return [invalid_type(path, "string", value)]
    if value[:5].lower() == "data:":
        return _check_data_uri(value, kind, path)
    if value.startswith("runway://"):
        return []  # an ephemeral upload: the app checks it names a completed one
    return _check_https_url(value, path)


def _check_https_url(value: str, path: tuple[PathItem, ...]) -> list[Issue]:
    if len(value) > MAX_URL_LENGTH:
        return [
            Issue(
                path,
                f"Too big: expected string to have <={MAX_URL_LENGTH} characters",
                "too_big",
                {"origin": "string", "maximum": MAX_URL_LENGTH, "inclusive": True},
            )
        ]
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return [Issue(path, "Invalid URL", "invalid_format", {"format": "url"})]
    if parts.scheme.lower() != "https":
        return [Issue(path, "Invalid URL: only HTTPS URLs or data URIs are accepted", "invalid_format")]
    if not host or any(ch.isspace() for ch in value):
        return [Issue(path, "Invalid URL", "invalid_format", {"format": "url"})]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [Issue(path, "Invalid URL: the host must be a domain name, not an IP address", "invalid_format")]
    labels = host.rstrip(".").split(".")
    if len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels):
        return [Issue(path, "Invalid URL: the host must be a public domain name", "invalid_format")]
    return []


def _check_data_uri(value: str, kind: MediaKind, path: tuple[PathItem, ...]) -> list[Issue]:
    match = _DATA_URI.fullmatch(value)
    accepted = ACCEPTED_MEDIA_TYPES[kind]
    example = f"data:{accepted[0]};base64,..."
    if match is None or "base64" not in match["params"].lower().split(";"):
        return [Issue(path, f"Invalid data URI: expected base64 data with a media type, e.g. {example}")]
    mime = match["mime"].strip().lower()
    if not mime:
        return [Issue(path, f"Invalid data URI: the media type is missing, e.g. {example}")]
    if mime not in accepted:
        return [
            Issue(
                path,
                f"Invalid data URI: media type {mime} is not accepted for {_A_KIND[kind]}; "
                f"use one of {', '.join(accepted)}",
            )
        ]
    data = match["data"]
    limit = DATA_URI_LIMIT_BYTES[kind]
    # Compare the size implied by the text first, so an oversized input is not decoded for nothing.
    if len(data) // 4 * 3 - data[-2:].count("=") > limit:
        return [_too_big(path, kind, limit)]
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return [Issue(path, "Invalid data URI: the data is not valid base64")]
    if not decoded:
        return [Issue(path, "Invalid data URI: the data is empty")]
    if len(decoded) > limit:
        return [_too_big(path, kind, limit)]
    return []


def _too_big(path: tuple[PathItem, ...], kind: MediaKind, limit: int) -> Issue:
    return Issue(
        path,
        f"Asset size exceeds {limit // MIB}MB, the limit for {_A_KIND[kind]} data URI",
        "too_big",
        {"origin": "file", "maximum": limit, "inclusive": True},
    )
