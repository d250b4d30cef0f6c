"""The length of an MP4 or QuickTime clip, read from its boxes without FFmpeg.

Nearly every clip sent for editing is an MP4 or a MOV, and pricing one needs only its length. PyAV
would read it too, but importing it costs ~65 ms and ~23 MB of memory that a server which never
makes a preview should not carry. So the boxes are walked here (ISO/IEC 14496-12: a 32-bit size, a
four-letter type, a 64-bit size when the first is 1, the rest of the file when it is 0), by offset,
reading a few bytes at a time: `moov`, then the first video track's `mdhd` (its length in its own
time scale, what FFmpeg reports as the stream's duration), else the movie's `mvhd`.

`mp4_seconds` answers None when the clip is not an MP4 or its header gives no length (a fragmented
MP4, say): FFmpeg decides then. It raises `BrokenMp4` for an MP4 whose boxes do not add up or that
has no `moov` (cut short, say): FFmpeg could not read its length either.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Final

__all__ = ["BrokenMp4", "mp4_seconds"]

ReadAt = Callable[[int, int], bytes]
# Types a file's first box has in MP4 and QuickTime files (QuickTime may start with any of its atoms).
FIRST_BOXES: Final = frozenset({b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
# Boxes looked at in any one container box, and reads of the file in all: beyond, FFmpeg decides (a long
# fragmented clip has many boxes at the top, after its `moov`; a hostile file may have millions of empty ones).
MAX_BOXES: Final = 4096
MAX_READS: Final = 20_000


class BrokenMp4(Exception):
    """An MP4 whose length cannot be read from its boxes; the message says why, in a few words."""


class _TooManyBoxes(Exception):
    pass


def mp4_seconds(read_at: ReadAt, size: int) -> float | None:
    """The clip's length in seconds; None when it is not an MP4 or its header gives no length."""
    reads = 0

    def read_at_most(offset: int, count: int) -> bytes:
        nonlocal reads
        reads += 1
        if reads > MAX_READS:
            raise _TooManyBoxes
        return read_at(offset, count)

    return _seconds_of(read_at_most, size)


def _seconds_of(read_at: ReadAt, size: int) -> float | None:
    try:
        if size < 8 or read_at(4, 4) not in FIRST_BOXES:
            return None
        moov = _child(read_at, 0, size, b"moov")
        if moov is None:
            raise BrokenMp4("it has no moov box: it may be cut short")
        for kind, start, end in _boxes(read_at, *moov):
            if kind == b"trak" and (seconds := _video_track_seconds(read_at, start, end)) is not None:
                return seconds
        mvhd = _child(read_at, *moov, b"mvhd")
        return _seconds(read_at, mvhd[0]) if mvhd is not None else None
    except struct.error:  # a box cut short by the end of the file
        raise BrokenMp4("a box is cut short by the end of the file") from None
    except _TooManyBoxes:
        return None


def _video_track_seconds(read_at: ReadAt, start: int, end: int) -> float | None:
    mdia = _child(read_at, start, end, b"mdia")
    if mdia is None:
        return None
    handler = _child(read_at, *mdia, b"hdlr")  # version and flags, pre_defined, then the handler type
    if handler is None or read_at(handler[0] + 8, 4) != b"vide":
        return None
    header = _child(read_at, *mdia, b"mdhd")
    return _seconds(read_at, header[0]) if header is not None else None


def _seconds(read_at: ReadAt, start: int) -> float | None:
    """From an `mvhd` or `mdhd` payload: version 0 has 32-bit times, version 1 64-bit ones; all ones is unknown."""
    if read_at(start, 1) == b"\x01":
        scale, duration = struct.unpack(">IQ", read_at(start + 20, 12))
        unknown = 0xFFFF_FFFF_FFFF_FFFF
    else:
        scale, duration = struct.unpack(">II", read_at(start + 12, 8))
        unknown = 0xFFFF_FFFF
    if not scale or not duration or duration == unknown:
        return None
    return int(duration) / int(scale)


def _child(read_at: ReadAt, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """The payload (start, end) of the first box of this type in [start, end)."""
    for found, payload_start, payload_end in _boxes(read_at, start, end):
        if found == kind:
            return payload_start, payload_end
    return None


def _boxes(read_at: ReadAt, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Each box in [start, end): its type and its payload's start and end."""
    offset = start
    for _ in range(MAX_BOXES):
        if offset + 8 > end:
            return
        size, kind = struct.unpack(">I4s", read_at(offset, 8))
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", read_at(offset + 8, 8))
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise BrokenMp4(f"the box at byte {offset} claims more bytes than there are")
        yield kind, offset + header, offset + size
        offset += size
    raise _TooManyBoxes
