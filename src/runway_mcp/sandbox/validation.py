"""Request-body validation for each create route and model, as Runway documents it.

Sources: `shared/reference/runway-via-cometapi.md` and Runway's public API reference (its official
SDKs' generated parameter types). Written independently of `runway_mcp.catalog` on purpose: the
sandbox is a second reading of the upstream's documentation, so it catches the client's mistakes.
Unknown top-level fields are ignored, as Runway does; `null` is not accepted for an optional field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from runway_mcp.sandbox.errors import MISSING, Issue, PathItem, invalid_type
from runway_mcp.sandbox.uris import MediaKind, check_media_uri

Path = tuple[PathItem, ...]
Check = Callable[[Any, Path], list[Issue]]

ENDPOINTS: Final = ("video_to_video", "image_to_video", "text_to_image", "video_upscale", "character_performance")
SEED_MAX: Final = 4_294_967_295

GEN4_ALEPH_RATIOS: Final = ("1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672", "848:480", "640:480")
GEN4_VIDEO_RATIOS: Final = ("1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672")
GEN3A_RATIOS: Final = ("768:1280", "1280:768")
VEO_RATIOS: Final = ("1280:720", "720:1280", "1080:1920", "1920:1080")
ALEPH2_ASPECT_RATIOS: Final = ("16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "21:9")
SEEDANCE_FAST_RATIOS: Final = (
    *("992:432", "864:496", "752:560", "640:640", "560:752", "496:864"),
    *("1470:630", "1280:720", "1112:834", "960:960", "834:1112", "720:1280"),
)
SEEDANCE_RATIOS: Final = (
    *SEEDANCE_FAST_RATIOS,
    *("2206:946", "1920:1080", "1664:1248", "1440:1440", "1248:1664", "1080:1920"),
    *("3840:1646", "3840:2160", "3840:2880", "3840:3840", "2880:3840", "2160:3840"),
)
IMAGE_RATIOS: Final = (
    *("1024:1024", "1080:1080", "1168:880", "1360:768", "1440:1080", "1080:1440", "1808:768", "1920:1080"),
    *("1080:1920", "2112:912", "1280:720", "720:1280", "720:720", "960:720", "720:960", "1680:720"),
)


# Building blocks, each returning the zod-style issues for one value.


def text(max_len: int | None, min_len: int = 1) -> Check:
    """A string whose length, in UTF-16 code units, lies within the bounds."""

    def check(value: Any, path: Path) -> list[Issue]:
        if not isinstance(value, str):
            return [invalid_type(path, "string", value)]
        length = sum(2 if ord(ch) > 0xFFFF else 1 for ch in value)
        if length < min_len:
            return [_bound(path, "too_small", "string", min_len, f"to have >={min_len} characters")]
        if max_len is not None and length > max_len:
            return [_bound(path, "too_big", "string", max_len, f"to have <={max_len} characters")]
        return []

    return check


def one_of(values: Sequence[Any]) -> Check:
    """One of a fixed set of values."""

    def check(value: Any, path: Path) -> list[Issue]:
        if value in values and type(value) in {type(v) for v in values}:
            return []
        shown = "|".join(f'"{v}"' if isinstance(v, str) else str(v) for v in values)
        return [Issue(path, f"Invalid option: expected one of {shown}", "invalid_value", {"values": list(values)})]

    return check


def integer(low: int, high: int) -> Check:
    """A JSON integer (not a boolean, not 5.0) within [low, high]."""

    def check(value: Any, path: Path) -> list[Issue]:
        if isinstance(value, bool) or not isinstance(value, int):
            return [invalid_type(path, "int", value)]
        return _range(value, low, high, path)

    return check


def number(low: float, high: float | None = None) -> Check:
    """A JSON number within [low, high]."""

    def check(value: Any, path: Path) -> list[Issue]:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [invalid_type(path, "number", value)]
        return _range(value, low, high, path)

    return check


def boolean(value: Any, path: Path) -> list[Issue]:
    """A JSON boolean."""
    return [] if isinstance(value, bool) else [invalid_type(path, "boolean", value)]


def media(kind: MediaKind) -> Check:
    """An HTTPS URL or data URI of the given kind."""
    return lambda value, path: check_media_uri(value, kind, path)


@dataclass(frozen=True)
class Spec:
    """How one field of an object is checked."""

    check: Check
    required: bool = False


def req(check: Check) -> Spec:
    """A required field."""
    return Spec(check, required=True)


def opt(check: Check) -> Spec:
    """An optional field (absent is fine, `null` is not)."""
    return Spec(check)


def check_fields(value: Mapping[str, Any], specs: Mapping[str, Spec], path: Path) -> list[Issue]:
    """Every issue in the known fields of an object; unknown fields are ignored."""
    issues: list[Issue] = []
    for name, spec in specs.items():
        field_value = value.get(name, MISSING)
        if field_value is not MISSING or spec.required:
            issues += spec.check(field_value, (*path, name))
    return issues


def obj(specs: Mapping[str, Spec]) -> Check:
    """A JSON object with these fields."""

    def check(value: Any, path: Path) -> list[Issue]:
        if not isinstance(value, dict):
            return [invalid_type(path, "object", value)]
        return check_fields(value, specs, path)

    return check


def array(item: Check, max_items: int, min_items: int = 0) -> Check:
    """A JSON array of `min_items`..`max_items` items, each checked by `item`."""

    def check(value: Any, path: Path) -> list[Issue]:
        if not isinstance(value, list):
            return [invalid_type(path, "array", value)]
        if len(value) < min_items:
            return [_bound(path, "too_small", "array", min_items, f"to have >={min_items} items")]
        if len(value) > max_items:
            return [_bound(path, "too_big", "array", max_items, f"to have <={max_items} items")]
        return [issue for i, v in enumerate(value) for issue in item(v, (*path, i))]

    return check


def prompt_image(positions: Sequence[str]) -> Check:
    """`promptImage`: one image, or a list of `{uri, position}` frames."""
    frames = array(obj({"uri": req(media("image")), "position": req(one_of(positions))}), len(positions), 1)

    def check(value: Any, path: Path) -> list[Issue]:
        if isinstance(value, list):
            return frames(value, path)
        return media("image")(value, path)

    return check


def keyframe(value: Any, path: Path) -> list[Issue]:
    """An aleph2 keyframe: an image placed at `seconds` or at a fraction `at` of the input video."""
    if not isinstance(value, dict):
        return [invalid_type(path, "object", value)]
    issues = check_fields(value, {"uri": req(media("image")), "seconds": opt(number(0)), "at": opt(number(0, 1))}, path)
    if ("seconds" in value) == ("at" in value):
        issues.append(Issue(path, "Invalid input: a keyframe needs exactly one of `seconds` or `at`", "invalid_union"))
    return issues


def character(value: Any, path: Path) -> list[Issue]:
    """act_two's `character`: an image or a video, with a URI of that kind."""
    if not isinstance(value, dict):
        return [invalid_type(path, "object", value)]
    kind = value.get("type")
    issues = check_fields(value, {"type": req(one_of(("image", "video")))}, path)
    if kind in ("image", "video"):
        issues += check_fields(value, {"uri": req(media(kind))}, path)
    return issues


def _bound(path: Path, code: str, origin: str, limit: float, tail: str) -> Issue:
    word = "Too small" if code == "too_small" else "Too big"
    key = "minimum" if code == "too_small" else "maximum"
    return Issue(path, f"{word}: expected {origin} {tail}", code, {"origin": origin, key: limit, "inclusive": True})


def _range(value: float, low: float, high: float | None, path: Path) -> list[Issue]:
    if value < low:
        return [_bound(path, "too_small", "number", low, f"to be >={low}")]
    if high is not None and value > high:
        return [_bound(path, "too_big", "number", high, f"to be <={high}")]
    return []


# The models, per endpoint.

SEED: Final = opt(integer(0, SEED_MAX))
MODERATION: Final = opt(obj({"publicFigureThreshold": opt(one_of(("auto", "low")))}))
IMAGE_REFERENCE: Final = obj({"uri": req(media("image")), "tag": opt(text(None))})


@dataclass(frozen=True)
class ModelSchema:
    """What one model on one create route accepts."""

    endpoint: str
    model: str
    fields: Mapping[str, Spec]
    newer: bool = False
    """One of Runway's newer video_to_video models; CometAPI is not known to forward them."""


def _seedance(model: str, ratios: Sequence[str]) -> ModelSchema:
    fields = {
        "promptVideo": req(media("video")),
        "promptText": opt(text(3500)),
        "duration": opt(integer(4, 15)),
        "audio": opt(boolean),
        "ratio": opt(one_of(ratios)),
        "references": opt(array(obj({"uri": req(media("image"))}), 9)),
        "referenceVideos": opt(array(obj({"type": req(one_of(("video",))), "uri": req(media("video"))}), 3)),
    }
    return ModelSchema("video_to_video", model, fields, newer=True)


SCHEMAS: Final[tuple[ModelSchema, ...]] = (
    ModelSchema(
        "video_to_video",
        "gen4_aleph",
        {
            "videoUri": req(media("video")),
            "promptText": req(text(1000)),
            "seed": SEED,
            "references": opt(array(obj({"type": req(one_of(("image",))), "uri": req(media("image"))}), 1)),
            "ratio": opt(one_of(GEN4_ALEPH_RATIOS)),
            "contentModeration": MODERATION,
        },
    ),
    ModelSchema(
        "video_to_video",
        "aleph2",
        {
            "videoUri": req(media("video")),
            "promptText": opt(text(1000)),
            "keyframes": opt(array(keyframe, 5)),
            "targetAspectRatio": opt(one_of(ALEPH2_ASPECT_RATIOS)),
            "outputFormat": opt(one_of(("mp4", "prores", "png_sequence"))),
            "seed": SEED,
            "contentModeration": MODERATION,
        },
        newer=True,
    ),
    _seedance("seedance2", SEEDANCE_RATIOS),
    _seedance("seedance2_fast", SEEDANCE_FAST_RATIOS),
    _seedance("seedance2_mini", SEEDANCE_FAST_RATIOS),
    ModelSchema(
        "video_to_video",
        "gemini_omni_flash",
        {
            "videoUri": req(media("video")),
            "promptText": req(text(None)),
            "references": opt(array(obj({"uri": req(media("image"))}), 9)),
        },
        newer=True,
    ),
    ModelSchema(
        "image_to_video",
        "gen3a_turbo",
        {
            "promptImage": req(prompt_image(("first", "last"))),
            "promptText": req(text(1000)),
            "duration": opt(one_of((5, 10))),
            "ratio": opt(one_of(GEN3A_RATIOS)),
            "seed": SEED,
            "contentModeration": MODERATION,
        },
    ),
    ModelSchema(
        "image_to_video",
        "gen4_turbo",
        {
            "promptImage": req(prompt_image(("first",))),
            "ratio": req(one_of(GEN4_VIDEO_RATIOS)),
            "promptText": opt(text(1000)),
            "duration": opt(integer(2, 10)),
            "seed": SEED,
            "contentModeration": MODERATION,
        },
    ),
    ModelSchema(
        "image_to_video",
        "gen4.5",
        {
            "promptImage": req(prompt_image(("first",))),
            "promptText": req(text(1000)),
            "ratio": req(one_of(GEN4_VIDEO_RATIOS)),
            "duration": req(integer(2, 10)),
            "seed": SEED,
            "contentModeration": MODERATION,
        },
    ),
    *(
        ModelSchema(
            "image_to_video",
            name,
            {
                "promptImage": req(prompt_image(("first", "last"))),
                "ratio": req(one_of(VEO_RATIOS)),
                "promptText": opt(text(1000)),
                "duration": opt(one_of((4, 6, 8))),
                "audio": opt(boolean),
            },
        )
        for name in ("veo3.1", "veo3.1_fast")
    ),
    ModelSchema(
        "image_to_video",
        "veo3",
        {
            "promptImage": req(prompt_image(("first",))),
            "ratio": req(one_of(VEO_RATIOS)),
            "duration": req(one_of((8,))),
            "promptText": opt(text(1000)),
        },
    ),
    *(
        ModelSchema(
            "text_to_image",
            name,
            {
                "promptText": req(text(1000)),
                "ratio": req(one_of(IMAGE_RATIOS)),
                "referenceImages": Spec(array(IMAGE_REFERENCE, 3, min_items), required=min_items > 0),
                "seed": SEED,
                "contentModeration": MODERATION,
            },
        )
        for name, min_items in (("gen4_image", 0), ("gen4_image_turbo", 1))
    ),
    ModelSchema("video_upscale", "upscale_v1", {"videoUri": req(media("video"))}),
    ModelSchema(
        "character_performance",
        "act_two",
        {
            "character": req(character),
            "reference": req(obj({"type": req(one_of(("video",))), "uri": req(media("video"))})),
            "bodyControl": opt(boolean),
            "expressionIntensity": opt(integer(1, 5)),
            "ratio": opt(one_of(GEN4_VIDEO_RATIOS)),
            "seed": SEED,
            "contentModeration": MODERATION,
        },
    ),
)
