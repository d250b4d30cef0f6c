"""How long a video input is, read from its container's header before anything is sent (for exact prices).

Only a local file or a data URI can be read: a remote URL is never fetched for this. An MP4 or
QuickTime clip's header is read here (`media/mp4.py`); any other clip's through PyAV (FFmpeg),
imported on first use, where no frame is decoded beyond the one FFmpeg may read to learn the
stream's format. A local file is read through the descriptor it was checked
with (`LocalMedia.read_at`), never through its path again; a data URI is decoded from base64 only
where the demuxer reads, so a 16 MB clip is never copied whole.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import TYPE_CHECKING, Final

import anyio

from runway_mcp.media.local import LocalMedia
from runway_mcp.media.mp4 import BrokenMp4, mp4_seconds

if TYPE_CHECKING:
    import av.container

UNREADABLE: Final = "its length could not be read"


class UnknownLength(Exception):
    """The clip's length cannot be read; `reason` says why, in a few words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def video_seconds(source: LocalMedia | str) -> float:
    """The length in seconds of a local video (an open `LocalMedia`) or a `data:` URI; `UnknownLength` if unreadable."""
    if isinstance(source, LocalMedia):
        reader: _RandomAccessReader = _LocalReader(source)
    elif source[:5].lower() == "data:":
        reader = _Base64Reader(source[source.index(",") + 1 :] if "," in source else "")
    else:
        raise UnknownLength("it is a remote URL, which is not fetched to measure it")
    try:
        seconds = mp4_seconds(reader.read_at, reader.size)
        if seconds is None:
            seconds = _ffmpeg_seconds(reader)
    except BrokenMp4 as exc:
        raise UnknownLength(f"{UNREADABLE} ({exc})") from None
    except (binascii.Error, ValueError, OSError) as exc:
        raise UnknownLength(f"{UNREADABLE} ({_short(exc)})") from None
    if seconds is None or seconds <= 0:
        raise UnknownLength(f"{UNREADABLE}: its header gives no duration")
    return round(seconds, 3)


async def video_seconds_in_thread(source: LocalMedia | str) -> float | UnknownLength:
    """`video_seconds` in a worker thread: the length, or the `UnknownLength` saying why there is none."""
    try:
        return await anyio.to_thread.run_sync(video_seconds, source)
    except UnknownLength as exc:
        return exc


def _ffmpeg_seconds(reader: _RandomAccessReader) -> float | None:
    """The length FFmpeg reads from the header (PyAV is imported here: ~65 ms and ~23 MB, the first time)."""
    import av

    reader.seek(0)
    try:
        with av.open(io.BufferedReader(reader), "r", metadata_errors="ignore") as container:
            return _container_seconds(container)
    except av.FFmpegError as exc:
        raise UnknownLength(f"{UNREADABLE} ({_short(exc)})") from None


def _container_seconds(container: av.container.InputContainer) -> float | None:
    """The video stream's own duration, else the container's (both from the header)."""
    for stream in container.streams.video:
        if stream.duration and stream.time_base:
            return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


class _RandomAccessReader(io.RawIOBase):
    """A seekable reader over something read by offset (`read_at`): its own position, never a file's."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._position = 0

    def read_at(self, offset: int, size: int) -> bytes:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read_at(self._position, min(len(buffer), max(0, self.size - self._position)))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


class _LocalReader(_RandomAccessReader):
    """An open `LocalMedia`, read by offset through the descriptor it was checked with."""

    def __init__(self, media: LocalMedia) -> None:
        super().__init__(media.size)
        self._media = media

    def read_at(self, offset: int, size: int) -> bytes:
        return self._media.read_at(offset, size)


class _Base64Reader(_RandomAccessReader):
    """The bytes a base64 payload stands for, decoding only the part asked for."""

    def __init__(self, payload: str) -> None:
        padding = len(payload) - len(payload.rstrip("="))
        super().__init__(len(payload) // 4 * 3 - padding)
        self._payload = payload

    def read_at(self, offset: int, size: int) -> bytes:
        end = offset + size
        if end <= offset:
            return b""
        first, last = offset // 3, -(-end // 3)  # the 3-byte groups that hold the range
        decoded = base64.b64decode(self._payload[first * 4 : last * 4], validate=True)
        return decoded[offset - first * 3 : end - first * 3]


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
