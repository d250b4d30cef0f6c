"""download_task_output shows the model what it saved: a contact sheet of a video, a thumbnail of an image.

The clips are real, made here with PyAV in several sizes, codecs and orientations, and served by the
sandbox as the task's output over real HTTP (`SandboxConfig.output_video`). Each "levels" clip has one
flat grey per frame, darkest first, and a white square in the top-left corner of the picture as shown;
the sheet that comes back is measured: its frames are found from the gutters between them, then their
order (grey rising), orientation (the square), shape (aspect ratio) and count are checked.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import os
import struct
import zlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, ImageContent
from PIL import Image

from runway_mcp.media.preview import PREVIEW_MAX_BYTES, NoPreview, contact_sheet, make_preview, preview_kind
from runway_mcp.models import SavedFile
from runway_mcp.sandbox import Sandbox, asset_bytes
from runway_mcp.sandbox.clips import LEVEL_BRIGHTEST, LEVEL_DARKEST, write_clip
from runway_mcp.tools.tasks import MAX_PREVIEWS, previews_of
from tests.support import CREATE_ARGUMENTS, INSTANT_TASKS, error_text

pytestmark = pytest.mark.anyio

QUIET = {"x265-params": "log-level=error"}
# name: (what write_clip makes, the picture as shown, frames in the clip)
CLIPS: dict[str, dict[str, Any]] = {
    "h264 1080p landscape": {"width": 1920, "height": 1080, "seconds": 2.0, "fps": 24},
    "h264 phone portrait, stored turned": {"width": 360, "height": 640, "seconds": 2.0, "fps": 12, "rotation": -90},
    "hevc 640x360": {"width": 640, "height": 360, "seconds": 1.5, "fps": 24, "codec": "libx265", "options": QUIET},
    "mpeg4 tiny 64x48": {"width": 64, "height": 48, "seconds": 1.0, "fps": 10, "codec": "mpeg4"},
    "vp9 320x240": {"width": 320, "height": 240, "seconds": 1.0, "fps": 12, "codec": "libvpx-vp9"},
    "av1 square 256x256": {"width": 256, "height": 256, "seconds": 1.0, "fps": 12, "codec": "libsvtav1"},
    "h264 five frames": {"width": 320, "height": 180, "seconds": 0.5, "fps": 10},
    "h264 keyframe every 6 frames": {"width": 640, "height": 360, "seconds": 4.0, "fps": 24, "gop": 6},
}
BACKGROUND = 24  # the sheet's grey between frames


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("clips")
    made = {}
    for index, (name, spec) in enumerate(CLIPS.items()):
        path = write_clip(folder / f"clip-{index}.mp4", style="levels", **spec)
        made[name] = path.read_bytes()
    return made


@pytest.fixture
def instant(sandbox: Sandbox) -> Iterator[Sandbox]:
    sandbox.config = dataclasses.replace(sandbox.config, **INSTANT_TASKS)
    yield sandbox


async def download_output(client: Client, tool: str = "create_video_to_video") -> CallToolResult:
    """Create a task (instant in the sandbox), wait for it, and download its output."""
    created = await client.call_tool(tool, CREATE_ARGUMENTS[tool])
    assert created.structured_content is not None, error_text(created)
    task_id = created.structured_content["task_id"]
    waited = await client.call_tool("wait_for_task", {"task_id": task_id, "timeout_seconds": 10})
    assert waited.structured_content is not None and waited.structured_content["status"] == "SUCCEEDED"
    result = await client.call_tool("download_task_output", {"task_id": task_id})
    assert not result.is_error, error_text(result)
    return result


def attached_image(result: CallToolResult) -> Image.Image:
    """The one JPEG attached to a download's answer, checked to be at most 300 KB."""
    images = [block for block in result.content if isinstance(block, ImageContent)]
    assert len(images) == 1, [block.type for block in result.content]
    assert images[0].mime_type == "image/jpeg"
    data = base64.b64decode(images[0].data)
    assert len(data) <= PREVIEW_MAX_BYTES == 300_000
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image.convert("RGB")


def saved_file(result: CallToolResult) -> dict[str, Any]:
    assert result.structured_content is not None
    [saved] = result.structured_content["files"]
    return dict(saved)


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """(start, end) of each run of True."""
    runs, start = [], None
    for index, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            runs.append((start, index))
            start = None
    return runs


def sheet_cells(sheet: Image.Image) -> list[tuple[int, int, int, int]]:
    """The boxes of the frames on a sheet, in reading order, found from the plain gutters between them.

    The first band of rows that is not plain background is the header line; the frames follow.
    """
    grey = sheet.convert("L")
    width, height = grey.size
    pixels = grey.load()
    assert pixels is not None

    def plain(values: list[int]) -> bool:
        return all(abs(v - BACKGROUND) <= 14 for v in values)

    row_bands = _runs([not plain([pixels[x, y] for x in range(width)]) for y in range(height)])
    _header, *rows = row_bands
    top, bottom = rows[0][0], rows[-1][1]
    columns = _runs([not plain([pixels[x, y] for y in range(top, bottom)]) for x in range(width)])
    cells = [(left, y0, right, y1) for (y0, y1) in rows for (left, right) in columns]
    return [box for box in cells if _mean(grey.crop(box)) > BACKGROUND + 10]  # an empty slot stays plain


def _mean(image: Image.Image) -> float:
    histogram = image.histogram()
    return sum(value * count for value, count in enumerate(histogram)) / max(1, sum(histogram))


def check_levels_sheet(sheet: Image.Image, shown: tuple[int, int], frames: int) -> list[tuple[int, int, int, int]]:
    """Frames in order (grey rising from the first frame's to the last's), upright, not stretched."""
    cells = sheet_cells(sheet)
    assert min(frames, 8) <= len(cells) <= min(frames, 10), f"{len(cells)} frames on the sheet"
    greys = []
    for left, top, right, bottom in cells:
        w, h = right - left, bottom - top
        assert abs(w / h - shown[0] / shown[1]) < 0.04 * shown[0] / shown[1], f"cell {w}x{h} for {shown}"
        middle = sheet.crop((left + w * 3 // 8, top + h * 3 // 8, right - w * 3 // 8, bottom - h * 3 // 8))
        greys.append(_mean(middle.convert("L")))
        corner = sheet.crop((left + 1, top + 1, left + max(2, w // 12), top + max(2, h // 12)))
        assert _mean(corner.convert("L")) > 200, "the white square is not in the top-left corner: turned or flipped"
        far = sheet.crop((right - max(2, w // 12), top + 1, right - 1, top + max(2, h // 12)))
        assert _mean(far.convert("L")) < 240
    assert greys == sorted(greys) and len(set(round(g) for g in greys)) >= len(greys) - 1, greys
    assert abs(greys[0] - LEVEL_DARKEST) < 12 and abs(greys[-1] - LEVEL_BRIGHTEST) < 12, greys
    return cells


# Through the protocol --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CLIPS))
async def test_a_video_output_comes_with_a_contact_sheet_of_its_frames(
    client: Client, instant: Sandbox, clips: dict[str, bytes], name: str
) -> None:
    spec = CLIPS[name]
    instant.config.output_video = clips[name]
    result = await download_output(client)
    saved = saved_file(result)
    assert Path(saved["path"]).read_bytes() == clips[name]  # the download itself is untouched
    frames = round(spec["seconds"] * spec["fps"])
    cells = check_levels_sheet(attached_image(result), (spec["width"], spec["height"]), frames)
    note = saved["preview"]
    assert note.startswith(f"Contact sheet of {len(cells)} frames (0-")
    assert f"{spec['width']}x{spec['height']}" in note
    assert "in order left to right" in note


async def test_the_sandbox_output_gets_a_sheet_and_the_text_answer_says_so(client: Client, instant: Sandbox) -> None:
    result = await download_output(client)
    sheet = attached_image(result)
    assert len(sheet_cells(sheet)) == 9
    assert "Contact sheet of 9 frames (0-1.92 s of 2 s) of the 256x144 h264 video" in saved_file(result)["preview"]
    assert [block.type for block in result.content][:2] == ["text", "image"]
    assert "Contact sheet of 9 frames" in result.content[0].text  # type: ignore[union-attr]


async def test_an_image_output_comes_with_a_thumbnail(client: Client, instant: Sandbox) -> None:
    big = Image.radial_gradient("L").resize((3000, 2000)).convert("RGB")
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    instant.config.output_image = buffer.getvalue()
    result = await download_output(client, "create_text_to_image")
    thumbnail = attached_image(result)
    assert thumbnail.size == (1024, 683)  # fits 1024x1024, the shape kept
    assert saved_file(result)["preview"].startswith("Thumbnail of the 3000x2000 image, 1024x683.")

    instant.config.output_image = None  # the sandbox's own 64x64 PNG: never enlarged
    small = attached_image(await download_output(client, "create_text_to_image"))
    assert small.size == Image.open(io.BytesIO(asset_bytes("sample.png"))).size


async def test_a_clip_that_cannot_be_decoded_is_still_saved_and_the_answer_says_why_there_is_no_preview(
    client: Client, instant: Sandbox, clips: dict[str, bytes]
) -> None:
    damaged = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(40_000)
    truncated = clips["h264 1080p landscape"][: len(clips["h264 1080p landscape"]) * 2 // 3]  # no index at the end
    for served in (damaged, truncated):
        instant.config.output_video = served
        result = await download_output(client)
        saved = saved_file(result)
        assert Path(saved["path"]).read_bytes() == served
        assert saved["sha256"] == hashlib.sha256(served).hexdigest()
        assert not [block for block in result.content if isinstance(block, ImageContent)]
        assert saved["preview"].startswith("No preview: the video could not be decoded (")
        assert saved["preview"].endswith("The file itself was saved.")


async def test_an_audio_only_output_is_saved_without_a_preview(
    client: Client, instant: Sandbox, tmp_path: Path
) -> None:
    import av

    path = tmp_path / "sound.mp4"
    with av.open(str(path), "w") as output:
        stream = output.add_stream("aac", rate=44100)
        for _ in range(20):
            frame = av.AudioFrame(format="fltp", layout="mono", samples=1024)
            frame.sample_rate = 44100
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    instant.config.output_video = path.read_bytes()
    result = await download_output(client)
    assert not [block for block in result.content if isinstance(block, ImageContent)]
    assert (
        saved_file(result)["preview"]
        == "No preview: the file has no video stream (audio only?). The file itself was saved."
    )


# The module on its own -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "spec"),
    [
        (".webm", {"codec": "libvpx-vp9", "container": "webm"}),
        (".mov", {"codec": "prores_ks", "container": "mov"}),
        (".mkv", {"codec": "libx264", "container": "matroska"}),
        (".mp4", {"codec": "libx264", "rotation": 90}),
        (".mp4", {"codec": "libx264", "rotation": 180}),
        (".h264", {"codec": "libx264", "container": "h264"}),  # no timing at all: sampled in one pass
        (".m4v", {"codec": "mpeg4", "container": "m4v"}),
        (".mp4", {"codec": "libx264", "pixel_aspect": Fraction(4, 3)}),  # stored 180x160 in wide pixels
    ],
)
def test_other_containers_and_orientations(tmp_path: Path, suffix: str, spec: dict[str, Any]) -> None:
    path = write_clip(tmp_path / f"clip{suffix}", width=240, height=160, seconds=1.0, fps=12, style="levels", **spec)
    preview = make_preview(path)
    check_levels_sheet(Image.open(io.BytesIO(preview.jpeg)).convert("RGB"), (240, 160), 12)
    assert preview.frame_seconds == tuple(sorted(preview.frame_seconds)) and preview.frame_seconds[0] == 0.0


def test_a_detailed_1080p_clip_still_fits_in_300_kb_and_a_smaller_limit_shrinks_it(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "detail.mp4", width=1920, height=1080, seconds=1.0, fps=24, style="detail")
    full = make_preview(path)
    assert len(full.jpeg) <= 300_000
    small = contact_sheet(path, max_bytes=40_000)
    assert len(small.jpeg) <= 40_000 and small.width <= full.width
    assert Image.open(io.BytesIO(small.jpeg)).size == (small.width, small.height)


def test_decoding_stops_at_its_deadline(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "clip.mp4", seconds=1.0)
    with pytest.raises(NoPreview, match="took longer than 0 s"):
        contact_sheet(path, deadline_seconds=0)


def test_what_gets_a_preview(tmp_path: Path) -> None:
    assert preview_kind(tmp_path / "a.bin", "audio/mpeg") == "audio"
    assert preview_kind(tmp_path / "a.mp3") == "audio"
    assert preview_kind(tmp_path / "a.wav", None) == "audio"
    assert preview_kind(tmp_path / "a.bin", "image/webp") == "image"
    assert preview_kind(tmp_path / "a.png") == "image"
    assert preview_kind(tmp_path / "a.mp4", "video/mp4") == "video"
    (tmp_path / "a.mp3").write_bytes(b"ID3" + bytes(100))
    with pytest.raises(NoPreview, match="audio"):
        make_preview(tmp_path / "a.mp3")
    with pytest.raises(NoPreview, match="image could not be decoded"):
        (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(50))
        make_preview(tmp_path / "broken.png", "image/png")


def test_an_image_is_turned_upright_from_its_exif_orientation(tmp_path: Path) -> None:
    stored = Image.new("RGB", (300, 200), (40, 40, 40))
    stored.paste((255, 255, 255), (0, 0, 30, 30))  # top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    stored.save(tmp_path / "photo.jpg", exif=exif)
    preview = make_preview(tmp_path / "photo.jpg")
    shown = Image.open(io.BytesIO(preview.jpeg)).convert("L")
    assert shown.size == (200, 300)
    assert shown.getpixel((190, 10)) > 200  # the stored top-left corner is now top-right


def test_an_image_too_large_to_open_safely_gets_no_preview(tmp_path: Path) -> None:
    """Only the header is read: a PNG that claims 10000x5000 pixels is refused before any pixel is decoded."""
    header = struct.pack(">IIBBBBB", 10_000, 5_000, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")
    (tmp_path / "huge.png").write_bytes(png)
    with pytest.raises(NoPreview, match="10000x5000 pixels, too large"):
        make_preview(tmp_path / "huge.png", "image/png")


async def test_previews_of_many_outputs_and_of_files_gone_since(tmp_path: Path) -> None:
    """A task with more outputs than MAX_PREVIEWS gets that many images; a file removed since still answers."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(asset_bytes("output.mp4"))
    files = [
        SavedFile(path=str(clip), uri=clip.as_uri(), bytes=1, media_type="video/mp4", sha256="0", output_index=i)
        for i in range(MAX_PREVIEWS + 1)
    ]
    files.append(files[0].model_copy(update={"path": str(tmp_path / "gone.mp4"), "output_index": len(files)}))
    noted, images = await previews_of(files[: MAX_PREVIEWS - 1] + files[-1:] + files[MAX_PREVIEWS - 1 : -1])
    assert len(images) == MAX_PREVIEWS - 1
    assert (
        noted[MAX_PREVIEWS - 1].preview
        == "No preview: the file could not be read (No such file or directory). The file itself was saved."
    )
    assert noted[-1].preview == f"No preview: only the first {MAX_PREVIEWS} outputs get one."
    assert all(f.preview and f.preview.startswith("Contact sheet of 9 frames") for f in noted[: MAX_PREVIEWS - 1])


def test_a_video_too_large_to_decode_safely_gets_no_preview(tmp_path: Path) -> None:
    """Frames of over 40 megapixels are refused from the stream's header, before one is decoded."""
    path = write_clip(tmp_path / "huge.mp4", width=8192, height=5008, seconds=1 / 12, fps=12, style="levels")
    with pytest.raises(NoPreview, match="8192x5008, too large to decode"):
        make_preview(path, "video/mp4")
