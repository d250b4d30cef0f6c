"""Real video clips made on the spot with PyAV and Pillow, for tests, benchmarks and the sandbox's own output.

`write_clip(path, ...)` encodes a clip of any size, length, codec and container FFmpeg can write.
Each frame shows what a test or a person can check on a contact sheet:

- `"scene"`: a dusk gradient, a ball crossing from left to right and the frame's time in large
  digits (the sandbox's `assets/output.mp4` is one: `python -m runway_mcp.sandbox.clips`);
- `"levels"`: one flat grey per frame, darkest first, plus a white square in the picture's top-left
  corner as shown (so order, orientation and stretching can be measured from the pixels);
- `"detail"`: a textured image panning sideways, about as hard to decode as filmed footage.

`rotation` stores the picture turned and tells players to turn it back (a phone's portrait clip):
the clip then *shows* `width` x `height`, as the levels' corner square proves.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL import Image

ClipStyle = Literal["scene", "levels", "detail"]
LEVEL_DARKEST, LEVEL_BRIGHTEST = 60, 230


def level(index: int, count: int) -> int:
    """The grey of frame `index` of `count` in a `"levels"` clip."""
    return LEVEL_DARKEST + (LEVEL_BRIGHTEST - LEVEL_DARKEST) * index // max(1, count - 1)


def write_clip(
    path: Path,
    *,
    width: int = 320,
    height: int = 180,
    seconds: float = 2.0,
    fps: int = 12,
    codec: str = "libx264",
    container: str | None = None,
    style: ClipStyle = "scene",
    gop: int | None = None,
    rotation: int = 0,
    pixel_aspect: Fraction | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode a clip that shows `width` x `height` for `seconds` at `fps`; returns `path`.

    With `pixel_aspect` (wider than tall above 1) the picture is stored squeezed to fewer columns of
    wider pixels, as DV and some broadcast clips are; it still shows `width` x `height`.
    """
    import av

    if rotation and pixel_aspect:
        raise ValueError("a clip is either stored turned or in wide pixels here, not both")
    count = max(1, round(seconds * fps))
    squeezed = round(width / pixel_aspect) if pixel_aspect else width
    stored = (height, squeezed) if rotation % 180 else (squeezed, height)
    with av.open(str(path), "w", format=container) as output:
        chosen = options or ({"preset": "ultrafast"} if codec in ("libx264", "libx265") else {})
        stream = output.add_stream(codec, rate=fps, options=dict(chosen))
        if not isinstance(stream, av.VideoStream):
            raise ValueError(f"{codec} is not a video codec")
        stream.width, stream.height = stored
        stream.pix_fmt = "yuv422p10le" if codec.startswith("prores") else "yuv420p"
        stream.time_base = Fraction(1, fps)
        if gop:
            stream.codec_context.gop_size = gop
        if rotation:
            stream.set_display_rotation(rotation)
        if pixel_aspect:
            stream.codec_context.sample_aspect_ratio = pixel_aspect
        painter = _Painter(width, height, count, fps, style)
        for index in range(count):
            picture = painter.frame(index)
            if pixel_aspect:
                picture = picture.resize((squeezed, height))
            if rotation:
                picture = picture.rotate(-rotation, expand=True)  # stored turned back; players turn it by `rotation`
            frame = av.VideoFrame.from_image(picture)  # type: ignore[no-untyped-call]
            frame.pts = index
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


class _Painter:
    """Draws frame `index` of `count` in one style, at the size the clip shows."""

    def __init__(self, width: int, height: int, count: int, fps: int, style: ClipStyle) -> None:
        from PIL import Image, ImageFont

        self.width, self.height, self.count, self.fps, self.style = width, height, count, fps, style
        self.font = ImageFont.load_default(size=max(8, min(width, height) // 5))
        if style == "detail":
            noise = Image.effect_noise((width + count * 4, height), 48).convert("RGB")
            self.texture = Image.blend(noise, Image.linear_gradient("L").resize(noise.size).convert("RGB"), 0.5)
        else:
            sky = Image.linear_gradient("L").resize((width, height))
            self.texture = Image.merge(
                "RGB",
                (
                    sky.point(lambda v: 40 + v * 3 // 4),
                    sky.point(lambda v: 20 + v // 3),
                    sky.point(lambda v: 90 - v // 3),
                ),
            )

    def frame(self, index: int) -> Image.Image:
        from PIL import Image, ImageDraw

        width, height = self.width, self.height
        if self.style == "levels":
            picture = Image.new("RGB", (width, height), (level(index, self.count),) * 3)
            side = max(4, min(width, height) // 6)
            ImageDraw.Draw(picture).rectangle((0, 0, side - 1, side - 1), fill=(255, 255, 255))
            return picture
        if self.style == "detail":
            picture = self.texture.crop((index * 4, 0, index * 4 + width, height))
        else:
            picture = self.texture.copy()
            radius = max(3, height // 8)
            x = radius + (width - 2 * radius) * index // max(1, self.count - 1)
            y = height * 2 // 3
            ImageDraw.Draw(picture).ellipse((x - radius, y - radius, x + radius, y + radius), fill=(255, 196, 64))
        draw = ImageDraw.Draw(picture)
        draw.text((width // 16, height // 12), f"{index / self.fps:05.2f}", fill=(255, 255, 255), font=self.font)
        return picture


if __name__ == "__main__":
    target = Path(__file__).with_name("assets") / "output.mp4"
    write_clip(target, width=256, height=144, seconds=2.0, fps=12, options={"preset": "veryslow", "crf": "28"})
    print(f"wrote {target} ({target.stat().st_size} bytes)")
