"""The length of an MP4 or QuickTime clip, read from its boxes without FFmpeg.

Nearly every clip sent for editing is an MP4 or a MOV, and pricing one needs only its length. PyAV
would read it too, but importing it costs ~65 ms and ~23 MB of memory that a server which never
makes a preview should not carry. So the boxes are walked here (ISO/IEC 14496-12: a 32-bit size, a
four-letter type, a 64-bit size when the first is 1, the rest of the file when it is 0), by offset,
reading a few bytes at a time: `moov`, then the first video track.

FFmpeg reports the shortest of the track's `mdhd` duration, the sum of its samples' durations
(`stts`) and the span of its edit list. So the length is answered here only when these cannot
disagree: the samples add up to `mdhd`, and the track has no edit list or one edit that plays the
whole media from its start at normal speed, which is what an encoder writes for a plain clip.
Anything else (B-frames shifting the edit, a trimmed edit, a fragmented MP4, no video track) is left
to FFmpeg.

`mp4_seconds` answers None when the clip is not an MP4 or its length is left to FFmpeg. It raises
`BrokenMp4` for an MP4 whose boxes do not add up or that has no `moov` (cut short, say): FFmpeg could
not read its length either.
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
# Entries of a sample-duration table read at most (a constant frame rate needs one; a variable one, more).
MAX_ENTRIES: Final = 100_000


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
        if _child(read_at, *moov, b"mvex") is not None:
            return None  # fragmented: more of the clip follows in fragments, which FFmpeg reads
        movie = _child(read_at, *moov, b"mvhd")
        movie_scale = _timing(read_at, movie[0])[0] if movie is not None else 0
        for kind, start, end in _boxes(read_at, *moov):
            if kind == b"trak" and (media := _video_media(read_at, start, end)) is not None:
                return _track_seconds(read_at, (start, end), media, movie_scale)
        return None
    except struct.error:  # a box cut short by the end of the file
        raise BrokenMp4("a box is cut short by the end of the file") from None
    except _TooManyBoxes:
        return None


def _video_media(read_at: ReadAt, start: int, end: int) -> tuple[int, int] | None:
    """A track's `mdia` payload when it is a video track (its `hdlr` says `vide`), else None."""
    mdia = _child(read_at, start, end, b"mdia")
    handler = _child(read_at, *mdia, b"hdlr") if mdia is not None else None
    # hdlr: version and flags, pre_defined, then the handler type.
    return mdia if handler is not None and read_at(handler[0] + 8, 4) == b"vide" else None


def _track_seconds(read_at: ReadAt, track: tuple[int, int], media: tuple[int, int], movie_scale: int) -> float | None:
    """A video track's length when FFmpeg's three measures of it agree (see the module's docstring), else None."""
    header = _child(read_at, *media, b"mdhd")
    if header is None:
        return None
    scale, duration = _timing(read_at, header[0])
    if not scale or not duration or _sample_ticks(read_at, *media) != duration:
        return None
    edits = _child(read_at, *track, b"edts")
    if edits is not None and not (movie_scale and _plays_whole_media(read_at, *edits, duration * movie_scale, scale)):
        return None  # an edit's duration is in the movie's time scale: without one it cannot be read
    return duration / scale


def _timing(read_at: ReadAt, start: int) -> tuple[int, int]:
    """(time scale, duration) of an `mvhd` or `mdhd` payload (version 1: 64-bit times); an unknown duration is 0."""
    if read_at(start, 1) == b"\x01":
        scale, duration = struct.unpack(">IQ", read_at(start + 20, 12))
        unknown = 0xFFFF_FFFF_FFFF_FFFF
    else:
        scale, duration = struct.unpack(">II", read_at(start + 12, 8))
        unknown = 0xFFFF_FFFF
    return int(scale), 0 if duration == unknown else int(duration)


def _sample_ticks(read_at: ReadAt, start: int, end: int) -> int | None:
    """The sum of the track's sample durations (`minf/stbl/stts`), in its time scale; None when unreadable."""
    minf = _child(read_at, start, end, b"minf")
    stbl = _child(read_at, *minf, b"stbl") if minf is not None else None
    stts = _child(read_at, *stbl, b"stts") if stbl is not None else None
    if stts is None:
        return None
    (count,) = struct.unpack(">I", read_at(stts[0] + 4, 4))
    if count > MAX_ENTRIES or stts[0] + 8 + count * 8 > stts[1]:
        return None
    entries = read_at(stts[0] + 8, count * 8)
    return sum(int(samples) * int(ticks) for samples, ticks in struct.iter_unpack(">II", entries))


def _plays_whole_media(read_at: ReadAt, start: int, end: int, media_in_movie_units: int, media_scale: int) -> bool:
    """Whether `edts` holds one edit that plays the media from its first tick, at normal speed, to its end.

    `media_in_movie_units` is the media's duration times the movie's time scale; the edit's duration is in
    the movie's time scale, so the edit spans the media when duration x media scale reaches it.
    """
    elst = _child(read_at, start, end, b"elst")
    if elst is None:
        return True
    version = read_at(elst[0], 1)
    (count,) = struct.unpack(">I", read_at(elst[0] + 4, 4))
    if count != 1:
        return False
    if version == b"\x01":
        span, media_time, rate = struct.unpack(">QqI", read_at(elst[0] + 8, 20))
    else:
        span, media_time, rate = struct.unpack(">IiI", read_at(elst[0] + 8, 12))
    return int(media_time) == 0 and int(rate) == 0x0001_0000 and int(span) * media_scale >= media_in_movie_units


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
