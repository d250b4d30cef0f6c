"""A preview the model can look at: a contact sheet of a downloaded video, or a thumbnail of an image.

`make_preview(path)` returns one JPEG of at most `PREVIEW_MAX_BYTES`, or raises `NoPreview` saying
why there is none (audio, a file that does not decode, a picture too large to open safely). For a
video it picks frames evenly spaced from the first to the last, decodes only what those frames need
(it reads the container's keyframe index, seeks to the keyframe before each chosen moment, and never
decodes the same stretch twice), downscales each picked frame straight into its cell, and lays them
out in a grid under a header line, each with its timestamp. PyAV (FFmpeg) and Pillow are imported
only when a preview is made, so the server's start does not pay for them. The work is CPU-bound and
blocking: call `preview_in_thread` from async code.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final, Literal

import anyio

from runway_mcp.media.sheet import Layout, Picked, encode_jpeg

if TYPE_CHECKING:
    import av.container
    import av.video.stream
    from av.video.frame import VideoFrame
    from PIL import Image

PREVIEW_MAX_BYTES: Final = 300_000
SHEET_FRAMES: Final = 9
THUMBNAIL_BOX: Final = (1024, 1024)
MAX_SOURCE_PIXELS: Final = 40_000_000  # larger frames or images are not opened (memory)
DECODE_SECONDS: Final = 20.0  # a clip that takes longer to sample gets no preview
NEAR_FRAMES: Final = 8  # decode every frame from this many frames before a chosen moment (B-frame reordering)
AUDIO_EXTENSIONS: Final = frozenset({".mp3", ".wav", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".flac", ".weba"})
IMAGE_EXTENSIONS: Final = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".avif", ".bmp"})

PreviewKind = Literal["video", "image", "audio"]


class NoPreview(Exception):
    """No preview can be made; `reason` says why, in words for the model and the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Preview:
    """One JPEG (`jpeg`, `width` x `height`) and a line saying what it shows (`summary`)."""

    jpeg: bytes
    width: int
    height: int
    summary: str
    frame_seconds: tuple[float, ...] = ()  # for a contact sheet: each frame's time from the start

    mime_type: ClassVar[str] = "image/jpeg"


def preview_kind(path: Path, media_type: str | None = None) -> PreviewKind:
    """Whether a file is a video, an image or audio: from its media type, else from its extension."""
    major = (media_type or "").split("/")[0].lower()
    if major in ("video", "image", "audio"):
        return major  # type: ignore[return-value]
    suffix = path.suffix.lower()
    if suffix in AUDIO_EXTENSIONS:
        return "audio"
    return "image" if suffix in IMAGE_EXTENSIONS else "video"


def make_preview(path: Path, media_type: str | None = None, *, max_bytes: int = PREVIEW_MAX_BYTES) -> Preview:
    """A contact sheet of a video or a thumbnail of an image; `NoPreview` for audio or what cannot be read."""
    kind = preview_kind(path, media_type)
    if kind == "audio":
        raise NoPreview("it is audio, which has no picture to show")
    try:
        if kind == "image":
            return image_thumbnail(path, max_bytes=max_bytes)
        return contact_sheet(path, max_bytes=max_bytes)
    except OSError as exc:  # gone or unreadable since it was saved
        raise NoPreview(f"the file could not be read ({exc.strerror or type(exc).__name__})") from None


async def preview_in_thread(
    path: Path, media_type: str | None = None, *, limiter: anyio.CapacityLimiter | None = None
) -> Preview | NoPreview:
    """`make_preview` in a worker thread (of `limiter`, if given): the preview, or the `NoPreview` saying why not."""
    try:
        return await anyio.to_thread.run_sync(make_preview, path, media_type, limiter=limiter)
    except NoPreview as exc:
        return exc


# Images ----------------------------------------------------------------------------------------------------


def image_thumbnail(path: Path, *, max_bytes: int = PREVIEW_MAX_BYTES, box: tuple[int, int] = THUMBNAIL_BOX) -> Preview:
    """The image scaled to fit `box` (never enlarged), upright, as a JPEG."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_SOURCE_PIXELS:
                raise NoPreview(f"the image is {width}x{height} pixels, too large to open for a preview")
            image.draft("RGB", box)  # JPEG: decode at a reduced scale straight away
            upright = ImageOps.exif_transpose(image.convert("RGB"))
    except (FileNotFoundError, PermissionError):
        raise  # not the image's fault: make_preview says the file could not be read
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise NoPreview(f"the image could not be decoded ({_short(exc)})") from None
    upright.thumbnail(box)
    jpeg, final = _jpeg(upright, max_bytes)
    summary = f"Thumbnail of the {width}x{height} image, {final.width}x{final.height}."
    return Preview(jpeg, final.width, final.height, summary)


# Videos ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _VideoFacts:
    width: int  # as displayed: sample aspect ratio and rotation applied
    height: int
    seconds: float | None
    fps: float | None
    codec: str
    rotation: int  # degrees counter-clockwise a player turns the picture (a phone's portrait clip)


def contact_sheet(
    path: Path,
    *,
    frames: int = SHEET_FRAMES,
    max_bytes: int = PREVIEW_MAX_BYTES,
    label: str | None = None,
    deadline_seconds: float = DECODE_SECONDS,
) -> Preview:
    """A grid of about `frames` frames spread evenly over the clip, each with its time, under a header line.

    `label` names the clip in the header (default: the file's name); decoding stops with `NoPreview`
    after `deadline_seconds`.
    """
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                raise NoPreview("the file has no video stream (audio only?)")
            sampler = _Sampler(container, container.streams.video[0], frames, deadline_seconds)
            picked = sampler.run()
    except av.FFmpegError as exc:
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise  # not the video's fault: make_preview says the file could not be read
        raise NoPreview(f"the video could not be decoded ({_short(exc)})") from None
    facts, layout = sampler.facts, sampler.layout
    if not picked or facts is None or layout is None:
        raise NoPreview("the video has no frame that could be decoded")
    sheet = layout.draw(picked, _header(label or path.name, facts, len(picked)))
    jpeg, final = _jpeg(sheet, max_bytes)
    times = tuple(round(t, 3) for t, _ in picked)
    span = f"{times[0]:g}-{round(times[-1], 2):g} s" + (f" of {round(facts.seconds, 2):g} s" if facts.seconds else "")
    summary = (
        f"Contact sheet of {len(picked)} frames ({span}) of the {facts.width}x{facts.height} {facts.codec} video, "
        "in order left to right, top to bottom; each frame's time is in its corner."
    )
    return Preview(jpeg, final.width, final.height, summary, times)


class _Sampler:
    """Decodes what the chosen frames need, and no more.

    The first frame settles the picture's orientation, hence the grid, hence how many moments to
    show. For each further moment it seeks to the keyframe before it unless that keyframe lies
    behind what was already decoded (then it decodes on), and while still far from the moment it
    lets the decoder skip frames nothing else refers to. Each picked frame is scaled by FFmpeg
    straight into its cell; no full-size picture is kept.
    """

    def __init__(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream, frames: int, seconds: float
    ) -> None:
        self.container, self.stream, self.frames = container, stream, frames
        self.seconds, self.deadline = seconds, time.monotonic() + seconds
        self.facts: _VideoFacts | None = None
        self.layout: Layout | None = None
        self.base = stream.time_base or Fraction(1, 90_000)
        self.start = stream.start_time or 0

    def run(self) -> Picked:
        coded = self.stream.codec_context
        if coded.width * coded.height > MAX_SOURCE_PIXELS:  # refused before a frame is decoded
            raise NoPreview(f"its frames are {coded.width}x{coded.height}, too large to decode for a preview")
        decoded = self._decode()
        first = next(decoded, None)
        if first is None:
            return []
        facts = self.facts = _facts(self.stream, self.container, round(first.rotation or 0) % 360)
        layout = self.layout = Layout.choose(facts.width, facts.height, self.frames)
        picked = [(self._seconds(first), layout.cell_image(first, facts.rotation))]
        if facts.seconds is None:
            return picked + self._spread_unknown_length(decoded, layout, facts)
        count = min(layout.count, self.stream.frames) if self.stream.frames else layout.count
        last = max(0.0, facts.seconds - (1 / facts.fps if facts.fps else 0.0))
        wanted = [self.start + round(last * i / max(1, count - 1) / self.base) for i in range(1, count)]
        return picked + self._at(wanted, decoded, first.pts, layout, facts)

    def _at(
        self,
        wanted: list[int],
        decoded: Iterator[VideoFrame],
        position: int | None,
        layout: Layout,
        facts: _VideoFacts,
    ) -> Picked:
        keys = sorted(entry.timestamp for entry in self.stream.index_entries if entry.is_keyframe)
        frame_length = 1 / (facts.fps or 24) / self.base
        picked: Picked = []
        for target in wanted:
            key = keys[bisect_right(keys, target) - 1] if keys and keys[0] <= target else None
            if key is not None and position is not None and key > position:
                self.container.seek(target, stream=self.stream, backward=True)
                decoded = self._decode()
            for frame in decoded:
                position = frame.pts if frame.pts is not None else position
                if frame.pts is None or frame.pts >= target - frame_length / 2:
                    picked.append((self._seconds(frame), layout.cell_image(frame, facts.rotation)))
                    break
                # Far from the moment: frames no other frame refers to need not be decoded at all.
                near = frame.pts >= target - NEAR_FRAMES * frame_length
                self.stream.codec_context.skip_frame = "DEFAULT" if near else "NONREF"
            self.stream.codec_context.skip_frame = "DEFAULT"
        return picked

    def _spread_unknown_length(self, decoded: Iterator[VideoFrame], layout: Layout, facts: _VideoFacts) -> Picked:
        """One pass over a clip whose header gives no length: keep every k-th frame, doubling k when full."""
        kept: Picked = []
        step = 1
        for index, frame in enumerate(decoded, start=1):
            if index % step == 0:
                seconds = self._seconds(frame) if frame.pts is not None else index / (facts.fps or 24)
                kept.append((seconds, layout.cell_image(frame, facts.rotation)))
                if len(kept) >= 2 * layout.count:
                    kept, step = kept[1::2], step * 2
        wanted = layout.count - 1  # besides the first frame
        if len(kept) <= wanted:
            return kept
        return [kept[round(i * (len(kept) - 1) / max(1, wanted - 1))] for i in range(wanted)]

    def _decode(self) -> Iterator[VideoFrame]:
        for frame in self.container.decode(self.stream):
            if time.monotonic() > self.deadline:
                raise NoPreview(f"decoding it took longer than {self.seconds:g} s, so it was stopped")
            yield frame

    def _seconds(self, frame: VideoFrame) -> float:
        return float(((frame.pts or 0) - self.start) * self.base)


def _facts(stream: av.video.stream.VideoStream, container: av.container.InputContainer, rotation: int) -> _VideoFacts:
    context = stream.codec_context
    width, height = context.width, context.height
    if not width or not height:
        raise NoPreview("the video stream does not say its frame size")
    sar = stream.sample_aspect_ratio or context.sample_aspect_ratio
    if sar and sar > 0 and sar != 1:
        width = max(1, round(width * float(sar)))
    if rotation % 180:
        width, height = height, width
    seconds: float | None = None
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
    elif container.duration:
        seconds = container.duration / 1_000_000
    rate = stream.average_rate or stream.guessed_rate
    codec = context.codec.canonical_name or context.name  # "av1", not the decoder "libdav1d"
    return _VideoFacts(width, height, seconds, float(rate) if rate else None, codec, rotation)


def _header(name: str, facts: _VideoFacts, count: int) -> str:
    parts = [name, f"{facts.width}x{facts.height}"]
    if facts.seconds is not None:
        parts.append(f"{facts.seconds:.1f} s")
    if facts.fps:
        parts.append(f"{facts.fps:.3g} fps")
    parts += [facts.codec, f"{count} frames"]
    return "  ·  ".join(p for p in parts if p)


def _jpeg(image: Image.Image, max_bytes: int) -> tuple[bytes, Image.Image]:
    try:
        return encode_jpeg(image, max_bytes)
    except ValueError as exc:
        raise NoPreview(str(exc)) from None


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
