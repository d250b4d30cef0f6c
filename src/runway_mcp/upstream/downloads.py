"""Save a finished task's outputs to local files: streamed, size-capped, atomic, never overwriting.

Each output is streamed into a hidden, locked partial file in the target directory (see
`runway_mcp.upstream.partials`, which also clears those a crash left behind) and then hard-linked
to its final name, which fails if that name exists, so a reader never sees a partial file and an
existing file is never replaced. Only URLs the task itself returned are fetched, and only over
HTTPS (plain HTTP only for hosts listed in `insecure_download_hosts`, for the local sandbox).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

import anyio
import httpx

from runway_mcp.errors import DownloadError
from runway_mcp.media.local import sniff_media_type
from runway_mcp.models import SavedFile
from runway_mcp.upstream.partials import open_partial, remove_stale_partials

logger = logging.getLogger("runway_mcp.upstream.downloads")

MAX_REDIRECTS = 5
SNIFF_BYTES = 64
# Answers a signed CDN URL gives once it has expired.
EXPIRED_STATUSES = frozenset({400, 401, 403, 404, 410})
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSIONS = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "audio/wav": ".wav",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/flac": ".flac",
}


class ExpiredURLError(DownloadError):
    """The output URL no longer works (signed URLs expire within 24-48 h)."""


@dataclass(frozen=True)
class DownloadPolicy:
    max_bytes: int
    timeout_seconds: float
    insecure_hosts: tuple[str, ...] = ()


def may_fetch(url: httpx.URL, insecure_hosts: tuple[str, ...]) -> bool:
    """Whether this server may fetch from or send to `url`: HTTPS, or plain HTTP to an explicitly allowed host."""
    if url.scheme == "https":
        return bool(url.host)
    return url.scheme == "http" and url.host in insecure_hosts


def check_output_url(url: str, policy: DownloadPolicy) -> httpx.URL:
    """The URL, if it may be fetched (see `may_fetch`)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise DownloadError("The task returned an output URL that is not a valid URL; it was not downloaded.") from None
    if may_fetch(parsed, policy.insecure_hosts):
        return parsed
    raise DownloadError(
        f"Refusing to download an output over {parsed.scheme or 'an unknown scheme'}: only HTTPS URLs are fetched."
    )


def file_name_for(task_id: str, index: int, url: httpx.URL, media_type: str | None) -> str:
    """`<task_id>-<index><ext>`, made only of safe characters; the extension from the URL or media type."""
    suffix = PurePosixPath(url.path).suffix.lower()
    if not re.fullmatch(r"\.[a-z0-9]{1,5}", suffix):
        suffix = _EXTENSIONS.get(media_type or "", "") or mimetypes.guess_extension(media_type or "") or ".bin"
    stem = _SAFE_NAME.sub("_", task_id).strip("._") or "task"
    return f"{stem[:80]}-{index}{suffix}"


def _link_without_overwrite(temp: Path, directory: Path, name: str) -> Path:
    """Give `temp` a final name in `directory`, never replacing an existing file."""
    stem, suffix = os.path.splitext(name)
    for attempt in range(1000):
        candidate = directory / (name if attempt == 0 else f"{stem} ({attempt}){suffix}")
        try:
            os.link(temp, candidate)
        except FileExistsError:
            continue
        return candidate
    raise DownloadError(f"Could not find a free file name for {name} in {directory}.")


async def download_output(
    http: httpx.AsyncClient,
    url: str,
    *,
    directory: Path,
    task_id: str,
    index: int,
    policy: DownloadPolicy,
) -> SavedFile:
    """Stream one output URL into `directory`; raise `ExpiredURLError` when the link has expired."""
    current = check_output_url(url, policy)
    with anyio.fail_after(policy.timeout_seconds):
        for _ in range(MAX_REDIRECTS + 1):
            async with http.stream("GET", current, follow_redirects=False, headers={"Accept": "*/*"}) as response:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    current = check_output_url(str(current.join(location)), policy)
                    continue
                if response.status_code in EXPIRED_STATUSES:
                    raise ExpiredURLError(f"The output link answered HTTP {response.status_code} (expired or revoked).")
                if response.status_code != 200:
                    raise DownloadError(f"The output link answered HTTP {response.status_code}; try again later.")
                return await _save(response, directory, task_id, index, current, policy)
    raise DownloadError(f"The output link redirected more than {MAX_REDIRECTS} times; it was not downloaded.")


async def _save(
    response: httpx.Response, directory: Path, task_id: str, index: int, url: httpx.URL, policy: DownloadPolicy
) -> SavedFile:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
        raise DownloadError(_too_big(int(declared), policy.max_bytes))
    media_type = response.headers.get("content-type", "").split(";")[0].strip() or None
    fd, temp_name = await anyio.to_thread.run_sync(open_partial, directory)
    temp = Path(temp_name)
    digest = hashlib.sha256()
    size = 0
    head = b""
    try:
        with os.fdopen(fd, "wb") as sink:
            async for chunk in response.aiter_bytes(256 * 1024):
                size += len(chunk)
                if size > policy.max_bytes:
                    raise DownloadError(_too_big(size, policy.max_bytes))
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                digest.update(chunk)
                await anyio.to_thread.run_sync(sink.write, chunk)
            await anyio.to_thread.run_sync(os.fsync, sink.fileno())
        media_type = _received_media_type(head, media_type)
        name = file_name_for(task_id, index, url, media_type)
        final = await anyio.to_thread.run_sync(_link_without_overwrite, temp, directory, name)
    finally:
        await anyio.to_thread.run_sync(_remove, temp)
    logger.info("saved output %d of task %s (%d bytes)", index, task_id, size)
    return SavedFile(
        path=str(final),
        uri=final.as_uri(),
        bytes=size,
        media_type=media_type,
        sha256=digest.hexdigest(),
        output_index=index,
    )


def sniff_audio_type(head: bytes) -> str | None:
    """The audio type a file's first bytes announce (WAV, MP3, Ogg, FLAC: the audio routes' outputs), or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    return None


def _received_media_type(head: bytes, declared: str | None) -> str:
    """What the output really is, from its first bytes; a body that is not media is refused.

    A link that answers 200 with an empty body, a JSON or HTML error page, or anything else that is
    not a video or an image must not be saved as `<task>-0.mp4` and reported as a success.
    """
    sniffed = sniff_media_type(head) or sniff_audio_type(head)
    if sniffed is not None:
        return sniffed
    declared_kind = (declared or "").split("/")[0]
    if head and declared_kind in ("video", "image", "audio"):
        return declared or "application/octet-stream"  # a media format we do not recognise, as declared
    what = "an empty body" if not head else f"{declared or 'unknown content'} that is not a video, image or audio"
    raise DownloadError(
        f"The output link answered with {what}; nothing was saved. Try again in a moment (get_task returns "
        "fresh links), or give the user the link."
    )


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _too_big(size: int, limit: int) -> str:
    return (
        f"The output is larger than the download limit ({size / 1e6:.1f} MB > {limit / 1e6:.1f} MB); nothing was "
        "saved. Raise RUNWAY_MCP_MAX_DOWNLOAD_MB or give the user the link instead."
    )


RefreshURLs = Callable[[], Awaitable[list[str]]]


async def download_all(
    http: httpx.AsyncClient,
    urls: list[str],
    refresh: RefreshURLs,
    *,
    directory: Path,
    task_id: str,
    policy: DownloadPolicy,
) -> list[SavedFile]:
    """Download every output; when a link has expired, fetch the task again once for fresh links."""
    # A download that died here with its server left a partial file: this one's turn to clear it.
    await anyio.to_thread.run_sync(
        partial(remove_stale_partials, directory, download_timeout_seconds=policy.timeout_seconds)
    )
    saved: list[SavedFile] = []
    refreshed = False
    index = 0
    while index < len(urls):
        try:
            saved.append(
                await download_output(
                    http, urls[index], directory=directory, task_id=task_id, index=index, policy=policy
                )
            )
            index += 1
        except ExpiredURLError:
            if refreshed:
                raise
            refreshed = True
            logger.info("output link of task %s expired; fetching fresh links", task_id)
            urls = await refresh()
    return saved
