"""Output files behind signed, expiring URLs, the way a CDN serves Runway's outputs."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Final
from urllib.parse import urlencode

from starlette.responses import Response

MEDIA_PATH: Final = "/_sandbox/media"
CONTENT_TYPES: Final = {"mp4": "video/mp4", "png": "image/png", "wav": "audio/wav"}
ASSET_FOR_KIND: Final = {"mp4": "output.mp4", "png": "sample.png", "wav": "output.wav"}


def asset_path(name: str) -> Path:
    """Path of one of the small real files in `runway_mcp/sandbox/assets/` (output.mp4,
    sample_input.mp4, sample.png, sample.jpg, output.wav: half a second of a 440 Hz tone)."""
    path = resources.files("runway_mcp.sandbox").joinpath("assets", name)
    if not isinstance(path, Path) or not path.is_file():
        raise FileNotFoundError(f"no sandbox asset {name!r} on the file system")
    return path


@cache
def asset_bytes(name: str) -> bytes:
    """Contents of one of the sandbox's asset files."""
    return resources.files("runway_mcp.sandbox").joinpath("assets", name).read_bytes()


class UrlSigner:
    """Signs `<task id>.<ext>` with an expiry, so a URL can be checked without any stored state."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    def _signature(self, name: str, expires: int) -> str:
        return hmac.new(self._key, f"{name}:{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, base_url: str, task_id: str, kind: str, expires: int) -> str:
        """The public URL of a task's output, valid until the unix time `expires`."""
        name = f"{task_id}.{kind}"
        query = urlencode({"exp": expires, "sig": self._signature(name, expires)})
        return f"{base_url.rstrip('/')}{MEDIA_PATH}/{name}?{query}"

    def check(self, name: str, exp: str | None, sig: str | None, now_unix: float) -> str | None:
        """None when the URL is valid now, else the reason the CDN refuses it."""
        if exp is None or sig is None or not exp.isdigit():
            return "Missing or malformed signature"
        if not hmac.compare_digest(self._signature(name, int(exp)), sig):
            return "Invalid signature"
        if now_unix > int(exp):
            return "Request has expired"
        return None


def media_response(name: str, method: str, served: Mapping[str, bytes | None] | None = None) -> Response:
    """The file for `<task id>.<ext>` (`served[ext]` when set, else the asset), or 404 for an unknown extension."""
    kind = name.rpartition(".")[2]
    if kind not in ASSET_FOR_KIND:
        return access_denied("NoSuchKey", "The specified key does not exist.", 404)
    data = (served or {}).get(kind) or asset_bytes(ASSET_FOR_KIND[kind])
    headers = {"Content-Length": str(len(data)), "Accept-Ranges": "none", "Cache-Control": "private"}
    content = b"" if method == "HEAD" else data
    return Response(content, media_type=CONTENT_TYPES[kind], headers=headers)


def access_denied(code: str, message: str, status: int = 403) -> Response:
    """The XML error body an object store / CDN sends for a refused URL."""
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return Response(body, status_code=status, media_type="application/xml")
