"""Laying out a contact sheet (a grid of frames under a header line, each with its time) and encoding it as JPEG.

Pillow is imported only when a sheet is drawn. `media/preview.py` decodes the frames and calls this.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from av.video.frame import VideoFrame
    from PIL import Image, ImageDraw, ImageFont

SHEET_BOX: Final = (1536, 1152)  # the whole sheet fits in this, header included (vision models take ~1.2 MP)
MIN_CELL_SIDE: Final = 180  # a tiny clip's frames are enlarged to this, so their labels fit
HEADER_HEIGHT: Final = 30
GUTTER: Final = 4
JPEG_QUALITIES: Final = (85, 75, 65, 50, 40)

Picked = list[tuple[float, "Image.Image"]]
"""(seconds from the start, the frame scaled to its cell), in order."""


@dataclass(frozen=True)
class Layout:
    """A grid of `columns` x `rows` cells of `cell_width` x `cell_height` (the frames' shape, scaled)."""

    columns: int
    rows: int
    cell_width: int
    cell_height: int

    @property
    def count(self) -> int:
        return self.columns * self.rows

    @classmethod
    def choose(cls, width: int, height: int, frames: int) -> Layout:
        """The grid for about `frames` frames whose cells are largest within `SHEET_BOX` (then fills it)."""
        box_w, box_h = SHEET_BOX[0] - GUTTER, SHEET_BOX[1] - HEADER_HEIGHT - GUTTER
        enlarge = max(1.0, MIN_CELL_SIDE / min(width, height))
        best: Layout | None = None
        for columns in range(1, frames + 1):
            rows = math.ceil(frames / columns)
            scale = min((box_w / columns - GUTTER) / width, (box_h / rows - GUTTER) / height, enlarge)
            candidate = cls(columns, rows, max(1, int(width * scale)), max(1, int(height * scale)))
            if best is None or (candidate.cell_width * candidate.cell_height, -candidate.count) > (
                best.cell_width * best.cell_height,
                -best.count,
            ):
                best = candidate
        assert best is not None
        return best

    def cell_image(self, frame: VideoFrame, rotation: int) -> Image.Image:
        """The frame scaled (by FFmpeg, from its own pixel format) to one cell, turned upright."""
        turned = rotation % 180 != 0
        width, height = (self.cell_height, self.cell_width) if turned else (self.cell_width, self.cell_height)
        image: Image.Image = frame.to_image(width=width, height=height, interpolation="AREA")  # type: ignore[no-untyped-call]
        return image.rotate(rotation, expand=True) if rotation else image

    def draw(self, picked: Picked, header: str) -> Image.Image:
        """The sheet: a header line, then the frames in reading order, each with its time in a corner."""
        from PIL import Image, ImageDraw

        rows = math.ceil(len(picked) / self.columns)
        columns = min(self.columns, len(picked))
        size = (
            GUTTER + columns * (self.cell_width + GUTTER),
            HEADER_HEIGHT + GUTTER + rows * (self.cell_height + GUTTER),
        )
        sheet = Image.new("RGB", size, (24, 24, 24))
        draw = ImageDraw.Draw(sheet)
        draw.text(
            (GUTTER + 4, HEADER_HEIGHT // 2),
            _fit(draw, header, size[0] - 16),
            fill=(235, 235, 235),
            font=_font(15),
            anchor="lm",
        )
        label_font = _font(max(11, min(20, self.cell_height // 9)))
        for index, (seconds, image) in enumerate(picked):
            x = GUTTER + (index % self.columns) * (self.cell_width + GUTTER)
            y = HEADER_HEIGHT + GUTTER + (index // self.columns) * (self.cell_height + GUTTER)
            cell = (self.cell_width, self.cell_height)
            sheet.paste(image if image.size == cell else image.resize(cell), (x, y))
            text = timestamp(seconds)
            left, top, right, bottom = draw.textbbox((0, 0), text, font=label_font)
            box = (
                x + 3,
                y + self.cell_height - (bottom - top) - 11,
                x + 3 + (right - left) + 8,
                y + self.cell_height - 3,
            )
            draw.rectangle(box, fill=(0, 0, 0))
            draw.text((box[0] + 4 - left, box[1] + 4 - top), text, fill=(255, 255, 255), font=label_font)
        return sheet


def timestamp(seconds: float) -> str:
    """`m:ss.ss`, to the nearest hundredth (as a frame's own clock would print it)."""
    hundredths = round(max(0.0, seconds) * 100)
    minutes, rest = divmod(hundredths, 6000)
    return f"{minutes}:{rest // 100:02d}.{rest % 100:02d}"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (OSError, ImportError):  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int) -> str:
    """`text`, shortened with an ellipsis until it fits `width` pixels."""
    font = _font(15)
    while text and draw.textlength(text, font=font) > width:
        text = text[: max(0, len(text) - 4)] + "…"
    return text


# JPEG ------------------------------------------------------------------------------------------------------


def encode_jpeg(image: Image.Image, max_bytes: int) -> tuple[bytes, Image.Image]:
    """The image as a JPEG of at most `max_bytes`: lower quality first, then smaller, until it fits.

    Baseline, with optimised Huffman tables: a progressive JPEG is only ~3 % smaller and takes twice as
    long to encode, and a model reading the image gains nothing from its incremental display.
    Returns the JPEG and the image it shows; raises ValueError when even a small one does not fit.
    """
    current = image
    while True:
        for quality in JPEG_QUALITIES:
            buffer = io.BytesIO()
            current.save(buffer, "JPEG", quality=quality, optimize=True)
            if buffer.tell() <= max_bytes:
                return buffer.getvalue(), current
        if current.width <= 64 or current.height <= 64:
            raise ValueError(f"no JPEG of it fits in {max_bytes} bytes")
        current = current.resize((current.width * 3 // 4, current.height * 3 // 4))
