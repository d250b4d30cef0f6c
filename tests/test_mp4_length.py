"""A clip's length from its MP4 boxes (media/mp4.py), checked against what FFmpeg reads from the same file.

Prices follow the input clip's length, so whatever the box reader answers must be what FFmpeg (PyAV)
reads, to the last digit; where the two could differ (B-frames shifting the edit list, a trimmed
edit, fragments) it must leave the answer to FFmpeg. It must also say plainly when a file is broken.
The clips are real, encoded here with PyAV; each expected length is what PyAV reads from the file.
"""

from __future__ import annotations

import base64
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import pytest

from runway_mcp.media.mp4 import MAX_BOXES, BrokenMp4, mp4_seconds
from runway_mcp.media.probe import UnknownLength, video_seconds
from runway_mcp.sandbox.clips import write_clip


def length(data: bytes) -> float | None:
    return mp4_seconds(lambda offset, size: data[offset : offset + size], len(data))


def ffmpeg_length(path: Path) -> float:
    """The video stream's duration as FFmpeg reads it, the way media/probe.py asks for it."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.duration and stream.time_base
        return float(stream.duration * stream.time_base)


def box(kind: bytes, payload: bytes, *, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def mvhd(scale: int, duration: int, *, version: int = 0) -> bytes:
    if version == 1:  # creation and modification times are 64-bit too
        return box(b"mvhd", bytes([1, 0, 0, 0]) + bytes(16) + struct.pack(">IQ", scale, duration) + bytes(80))
    return box(b"mvhd", bytes(4) + bytes(8) + struct.pack(">II", scale, duration) + bytes(80))


def full_box(kind: bytes, version: int, payload: bytes) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + payload)


def video_trak(
    scale: int,
    duration: int,
    *,
    samples: list[tuple[int, int]] | None = None,
    edit: tuple[int, int, int] | None = None,
    version: int = 0,
) -> bytes:
    """A video track: its mdhd, its sample durations (stts: count, ticks) and, given, one edit (span, start, rate)."""
    times = (
        bytes(16) + struct.pack(">IQ", scale, duration)
        if version == 1
        else bytes(8) + struct.pack(">II", scale, duration)
    )
    entries = samples if samples is not None else [(duration, 1)]
    stts = full_box(b"stts", 0, struct.pack(">I", len(entries)) + b"".join(struct.pack(">II", *e) for e in entries))
    handler = full_box(b"hdlr", 0, bytes(4) + b"vide" + bytes(12) + b"\0")
    media = box(b"mdia", full_box(b"mdhd", version, times + bytes(4)) + handler + box(b"minf", box(b"stbl", stts)))
    edits = b"" if edit is None else box(b"edts", full_box(b"elst", 0, struct.pack(">IIiI", 1, *edit)))
    return box(b"trak", edits + media)


FTYP = box(b"ftyp", b"isom\0\0\0\0")


def movie(*tracks: bytes, scale: int = 1000, duration: int = 1000) -> bytes:
    return FTYP + box(b"moov", mvhd(scale, duration) + b"".join(tracks))


@pytest.mark.parametrize(
    "clip",
    [
        {"seconds": 3.5, "fps": 12},
        {"seconds": 7.3, "fps": 24},  # 175 frames: 7.291666... s
        {"seconds": 2.5, "fps": 25},  # 62 frames: 2.48 s
        {"seconds": 7.3, "fps": 30},
        {"seconds": 2.0, "fps": 24, "codec": "mpeg4"},
        {"seconds": 3.0, "fps": 24, "codec": "libx265"},
        {"seconds": 2.0, "fps": 30, "container": "mov"},
        {"seconds": 4.0, "fps": 24, "gop": 5, "rotation": 90},
    ],
    ids=lambda clip: "-".join(f"{value}" for value in clip.values()),
)
def test_a_real_clip_s_length_is_what_ffmpeg_reads(tmp_path: Path, clip: dict[str, Any]) -> None:
    path = write_clip(tmp_path / ("clip.mov" if clip.get("container") == "mov" else "clip.mp4"), **clip)
    expected = ffmpeg_length(path)
    assert expected == pytest.approx(round(clip["seconds"] * clip["fps"]) / clip["fps"])
    read = length(path.read_bytes())
    assert read in (expected, None)  # never another figure than FFmpeg's
    plain = clip.get("codec") != "libx265"  # no B-frames (x264 at ultrafast, MPEG-4): one edit from the start
    assert (read is not None) == plain, "a clip without B-frames is read here; one with them is left to FFmpeg"
    uri = "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()
    assert video_seconds(uri) == round(expected, 3)  # either way, the price follows FFmpeg's figure


@pytest.mark.parametrize("fps", [24, 25, 30])
def test_b_frames_and_fragments_are_left_to_ffmpeg(tmp_path: Path, fps: int) -> None:
    """With B-frames the edit list starts late and the samples may not add up to mdhd, and FFmpeg takes the
    shortest; a fragmented MP4 has more of the clip after its moov. Both go to FFmpeg, whose figure counts."""
    bframes = write_clip(tmp_path / "bframes.mp4", seconds=3.3, fps=fps, options={"preset": "medium"})
    fragmented = tmp_path / "fragmented.mp4"
    with av.open(str(fragmented), "w", options={"movflags": "frag_keyframe+empty_moov"}) as output:
        stream = output.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "g": str(fps)})
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for n in range(fps * 3):
            frame = av.VideoFrame(64, 48, "yuv420p")
            frame.pts = n
            output.mux(stream.encode(frame))
        output.mux(stream.encode())
    for path in (bframes, fragmented):
        assert length(path.read_bytes()) is None
        uri = "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()
        assert video_seconds(uri) == round(ffmpeg_length(path), 3)


def test_only_a_track_whose_measures_agree_is_read() -> None:
    whole = (2500, 0, 0x0001_0000)  # 2.5 s of the movie's 1000 ticks a second, from the media's start, at speed 1
    assert length(movie(video_trak(600, 1500))) == 2.5  # no edit list
    assert length(movie(video_trak(600, 1500, edit=whole))) == 2.5
    assert length(movie(video_trak(600, 1500, samples=[(100, 10), (50, 10)], edit=whole))) == 2.5
    assert length(movie(video_trak(600, 1500, samples=[(100, 10)]))) is None  # samples end before mdhd
    assert length(movie(video_trak(600, 15000, samples=[(1500, 1)]))) is None  # mdhd ten times the samples
    assert length(movie(video_trak(600, 1500, edit=(1250, 0, 0x0001_0000)))) is None  # half the media played
    assert length(movie(video_trak(600, 1500, edit=(2500, 512, 0x0001_0000)))) is None  # starts late (B-frames)
    assert length(movie(video_trak(600, 1500, edit=(2500, 0, 0x0002_0000)))) is None  # twice the speed
    assert length(movie(box(b"trak", box(b"mdia", b"")))) is None  # no video track at all
    fragmented = FTYP + box(b"moov", mvhd(1000, 2500) + video_trak(600, 1500) + box(b"mvex", b""))
    assert length(fragmented) is None


def test_the_video_track_counts_when_the_audio_track_is_longer(tmp_path: Path) -> None:
    path = tmp_path / "with-audio.mp4"
    with av.open(str(path), "w") as output:
        video = output.add_stream("libx264", rate=10, options={"preset": "ultrafast"})
        assert isinstance(video, av.VideoStream)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = output.add_stream("aac", rate=8000)
        assert isinstance(audio, av.AudioStream)
        for n in range(20):  # 2 s of video
            frame = av.VideoFrame(64, 48, "yuv420p")
            frame.pts = n
            output.mux(video.encode(frame))
        output.mux(video.encode())
        samples = av.AudioFrame(format="fltp", layout="mono", samples=8000 * 3)  # 3 s of silence
        for plane in samples.planes:
            plane.update(bytes(plane.buffer_size))
        samples.rate, samples.pts = 8000, 0
        output.mux(audio.encode(samples))
        output.mux(audio.encode())
    assert length(path.read_bytes()) == ffmpeg_length(path) == 2.0


def test_version_1_headers_large_boxes_and_a_last_box_that_runs_to_the_end() -> None:
    moov = box(b"moov", mvhd(600, 600 * 12, version=1) + video_trak(90000, 90000 * 12, version=1), large=True)
    assert length(FTYP + moov + struct.pack(">I4s", 0, b"mdat") + b"data") == 12.0


def test_a_file_that_is_not_an_mp4_is_left_to_ffmpeg(tmp_path: Path) -> None:
    webm = write_clip(tmp_path / "clip.webm", seconds=2.0, fps=12, codec="libvpx-vp9", container="webm")
    assert length(webm.read_bytes()) is None
    assert length(b"") is None and length(b"GIF89a...") is None
    uri = "data:video/webm;base64," + base64.b64encode(webm.read_bytes()).decode()
    assert video_seconds(uri) == 2.0  # FFmpeg's answer


def test_an_mp4_without_a_length_in_its_header_is_left_to_ffmpeg() -> None:
    assert length(movie(video_trak(1000, 0, samples=[]))) is None
    crowded = FTYP + box(b"free", b"") * MAX_BOXES + box(b"moov", mvhd(1000, 1000) + video_trak(1000, 1000))
    assert length(crowded) is None  # too many boxes to walk: FFmpeg decides
    tracks = box(b"trak", box(b"free", b"") * 10) * 3000  # each within bounds, too many reads in all
    assert length(movie(tracks, video_trak(1000, 1000))) is None
    assert length(movie(tracks[: 300 * 88], video_trak(1000, 1000))) == 1.0


def test_a_broken_mp4_says_why(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "clip.mp4", seconds=2.0, fps=12)
    data = path.read_bytes()
    moov = data.index(b"moov") - 4
    with pytest.raises(BrokenMp4, match="claims more bytes"):
        length(data[: moov + 40])  # cut inside its moov
    with pytest.raises(BrokenMp4, match="no moov box"):
        length(data[:moov])  # cut just before it
    with pytest.raises(BrokenMp4, match="claims more bytes"):
        length(FTYP + struct.pack(">I4s", 1 << 30, b"mdat"))
    with pytest.raises(BrokenMp4, match="cut short"):
        length(FTYP + box(b"moov", box(b"mvhd", bytes(6))))
    uri = "data:video/mp4;base64," + base64.b64encode(data[:moov]).decode()
    with pytest.raises(UnknownLength, match=r"its length could not be read .*no moov box"):
        video_seconds(uri)


def test_an_mp4_is_measured_without_loading_ffmpeg(tmp_path: Path) -> None:
    """PyAV costs ~65 ms and ~23 MB to import: pricing an MP4 or a broken one must not load it."""
    path = write_clip(tmp_path / "clip.mp4", seconds=2.0, fps=12)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(box(b"ftyp", b"isom\0\0\0\0") + b"\x7f" * 64)
    script = (
        "import base64, sys\n"
        "from runway_mcp.media.probe import UnknownLength, video_seconds\n"
        "uri = lambda p: 'data:video/mp4;base64,' + base64.b64encode(open(p, 'rb').read()).decode()\n"
        f"print(video_seconds(uri({str(path)!r})))\n"
        "try:\n"
        f"    video_seconds(uri({str(broken)!r}))\n"
        "except UnknownLength as exc:\n"
        "    print(exc.reason)\n"
        "print('av' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    measured, broken_reason, loaded = done.stdout.strip().splitlines()
    assert float(measured) == ffmpeg_length(path) == 2.0
    assert broken_reason.startswith("its length could not be read") and loaded == "False"
