"""Runway's ephemeral uploads: local files too large for a data URI go up first, then by `runway://` URI.

Only Runway direct offers `POST /v1/uploads` (CometAPI documents no uploads). The file goes to a
presigned storage URL as a multipart form, streamed, with no API key: the storage host is not
Runway's API. Uploads are free, so a failed one costs nothing; the create is sent only after
every upload succeeded.
"""

from __future__ import annotations

import logging
import re

import httpx

from runway_mcp.errors import UnavailableError
from runway_mcp.media.body import MultipartUpload
from runway_mcp.media.local import LocalMedia
from runway_mcp.upstream.client import RunwayClient
from runway_mcp.upstream.downloads import may_fetch

logger = logging.getLogger("runway_mcp.upstream.uploads")

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def upload_filename(media: LocalMedia) -> str:
    """The file's own name, reduced to safe characters (it travels in JSON and a form header)."""
    name = _UNSAFE_NAME.sub("_", media.path.name).strip("._") or "upload"
    return name[-100:]


async def upload_local_media(
    client: RunwayClient, storage: httpx.AsyncClient, media: LocalMedia, *, insecure_hosts: tuple[str, ...]
) -> str:
    """Upload one local file; return the `runway://` URI to use in its place."""
    filename = upload_filename(media)
    slot = await client.start_upload(filename)
    try:
        url = httpx.URL(slot["uploadUrl"])
    except httpx.InvalidURL:
        url = None
    if url is None or not may_fetch(url, insecure_hosts):
        raise UnavailableError(
            "The upstream offered an upload URL that is not a valid HTTPS URL; the file was not sent."
        )
    body = MultipartUpload({str(k): str(v) for k, v in slot["fields"].items()}, filename, media)
    try:
        response = await storage.post(url, content=body, headers=body.headers)
    except httpx.HTTPError as exc:
        raise UnavailableError(
            f"Uploading {media.field} failed ({type(exc).__name__}). Nothing was created and nothing was spent; "
            "try again."
        ) from None
    if response.status_code not in (200, 201, 204):
        raise UnavailableError(
            f"Uploading {media.field} failed: the storage answered HTTP {response.status_code}. Nothing was "
            "created and nothing was spent; try again.",
            status=response.status_code,
        )
    logger.info("uploaded %s (%d bytes) as an ephemeral file", media.field, media.size)
    uri: str = slot["runwayUri"]
    return uri
