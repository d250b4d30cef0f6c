"""Runway's newer models and Runway-only routes, and the lookup of what each create route accepts.

Source: `shared/reference/runway-api-2026.md` (Runway's API as its own MCP server states it, mid-2026),
read here independently of `runway_mcp.catalog.direct`. The routes below exist only on Runway's own
`/v1` prefix: CometAPI documents none of them, so its gateway answers 404 for them. Where the
reference states no limit (a prompt's length), none is enforced; unknown fields are ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from runway_mcp.sandbox.errors import MISSING, Issue, invalid_type
from runway_mcp.sandbox.validation import (
    ENDPOINTS,
    SCHEMAS,
    SEEDANCE_FAST_RATIOS,
    SEEDANCE_RATIOS,
    VEO_RATIOS,
    ModelSchema,
    Spec,
    boolean,
    check_fields,
    integer,
    media,
    number,
    obj,
    one_of,
    opt,
    prompt_image,
    req,
    text,
)

DIRECT_ENDPOINTS: Final = ("text_to_video", "image_upscale", "text_to_speech", "sound_effect")
ALL_ENDPOINTS: Final = (*ENDPOINTS, *DIRECT_ENDPOINTS)


def _split(ratios: str) -> tuple[str, ...]:
    return tuple(ratios.split())


GPT_IMAGE_2: Final = _split(
    "2048:880 1920:1088 1920:1280 1920:1440 1920:1536 1920:1920 1536:1920 1440:1920 1280:1920 1088:1920 2912:1248 "
    "2560:1440 2560:1712 2560:1920 2560:2048 2560:2560 2048:2560 1920:2560 1712:2560 1440:2560 3840:1648 3840:2160 "
    "3504:2336 3264:2448 3200:2560 2880:2880 2560:3200 2448:3264 2336:3504 2160:3840 auto"
)
GEMINI_25: Final = _split("1344:768 768:1344 1024:1024 1184:864 864:1184 1536:672 832:1248 1248:832 896:1152 1152:896")
GEMINI_3_LARGE: Final = _split(
    "2048:2048 1696:2528 2528:1696 1792:2400 2400:1792 1856:2304 2304:1856 1536:2752 2752:1536 3168:1344 4096:4096 "
    "3392:5056 5056:3392 3584:4800 4800:3584 3712:4608 4608:3712 3072:5504 5504:3072 6336:2688"
)
GEMINI_3_PRO: Final = (*GEMINI_25, *GEMINI_3_LARGE)
GEMINI_31_FLASH: Final = (
    *_split(
        "512:512 416:624 624:416 432:592 592:432 448:576 576:448 384:672 672:384 768:336 256:1024 1024:256 "
        "176:1408 1408:176 1024:1024 832:1248 1248:832 864:1184 1184:864 896:1152 1152:896 768:1344 1344:768 "
        "1536:672 512:2048 2048:512 352:2816 2816:352"
    ),
    *GEMINI_3_LARGE[:10],
    *_split("1024:4096 4096:1024 704:5632 5632:704"),
    *GEMINI_3_LARGE[10:],
    *_split("2048:8192 8192:2048 1408:11264 11264:1408"),
)
SEEDREAM_PRO: Final = _split(
    "1024:1024 1184:896 896:1184 1376:768 768:1376 1296:864 864:1296 2048:2048 2304:1728 1728:2304 2720:1530 "
    "1530:2720 2496:1664 1664:2496 auto_1k auto_2k"
)
SEEDREAM_LITE: Final = _split(
    "2048:2048 2304:1728 1728:2304 2848:1600 1600:2848 2496:1664 1664:2496 3136:1344 3072:3072 3456:2592 "
    "2592:3456 4096:2304 2304:4096 3744:2496 2496:3744 4704:2016"
)
PERCENT: Final = opt(number(0, 100))
SEED_AUDIO: Final = {
    "promptText": req(text(None)),
    "speechRate": opt(integer(-50, 100)),
    "loudnessRate": opt(integer(-50, 100)),
    "pitchRate": opt(integer(-12, 12)),
    "sampleRate": opt(one_of((8000, 16000, 24000, 32000, 44100, 48000))),
    "outputFormat": opt(one_of(("wav", "mp3", "ogg_opus"))),
}
SEEDANCE: Final = (("seedance2", SEEDANCE_RATIOS), ("seedance2_fast", SEEDANCE_FAST_RATIOS))


def _newer(endpoint: str, model: str, fields: dict[str, Spec]) -> ModelSchema:
    return ModelSchema(endpoint, model, fields, newer=True)


def _image(model: str, ratios: Sequence[str], **more: Spec) -> ModelSchema:
    return _newer("text_to_image", model, {"promptText": req(text(None)), "ratio": req(one_of(ratios)), **more})


def _seedance_video(endpoint: str, model: str, ratios: Sequence[str]) -> ModelSchema:
    first: dict[str, Spec] = {"promptImage": req(prompt_image(("first",)))} if endpoint == "image_to_video" else {}
    prompt = opt(text(None)) if first else req(text(None))
    fields = {**first, "promptText": prompt, "duration": opt(integer(4, 15)), "ratio": opt(one_of(ratios))}
    return _newer(endpoint, model, fields)


_SEEDANCE_ALL: Final = (*SEEDANCE, ("seedance2_mini", SEEDANCE_FAST_RATIOS))

DIRECT_SCHEMAS: Final[tuple[ModelSchema, ...]] = (
    _image(
        "gpt_image_2",
        GPT_IMAGE_2,
        quality=opt(one_of(("low", "medium", "high", "auto"))),
        background=opt(one_of(("opaque", "auto"))),
        outputCount=opt(integer(1, 10)),
    ),
    _image("gemini_image3_pro", GEMINI_3_PRO, outputCount=opt(one_of((1, 4)))),
    _image("gemini_image3.1_flash", GEMINI_31_FLASH, outputCount=opt(one_of((1, 4)))),
    _image("gemini_2.5_flash", GEMINI_25),
    _image("seedream5_pro", SEEDREAM_PRO, outputFormat=opt(one_of(("png", "jpeg"))), outputCount=opt(integer(1, 4))),
    _image("seedream5_lite", SEEDREAM_LITE, outputFormat=opt(one_of(("png", "jpeg"))), outputCount=opt(integer(1, 4))),
    *(_seedance_video(e, m, r) for e in ("image_to_video", "text_to_video") for m, r in _SEEDANCE_ALL),
    _newer(
        "text_to_video",
        "gen4.5",
        {
            "promptText": req(text(1000)),
            "ratio": req(one_of(("1280:720", "720:1280"))),
            "duration": req(integer(2, 10)),
        },
    ),
    *(
        _newer(
            "text_to_video",
            name,
            {
                "promptText": req(text(1000)),
                "ratio": req(one_of(VEO_RATIOS)),
                "duration": opt(one_of((4, 6, 8))),
                "audio": opt(boolean),
            },
        )
        for name in ("veo3.1", "veo3.1_fast")
    ),
    _newer(
        "text_to_video",
        "veo3",
        {"promptText": req(text(1000)), "duration": req(one_of((8,))), "ratio": req(one_of(VEO_RATIOS))},
    ),
    _newer(
        "video_upscale",
        "magnific_video_upscaler_creative",
        {
            "videoUri": req(media("video")),
            "resolution": opt(one_of(("720p", "1k", "2k", "4k"))),
            "creativity": PERCENT,
            "sharpen": PERCENT,
            "smartGrain": PERCENT,
            "flavor": opt(one_of(("vivid", "natural"))),
        },
    ),
    _newer(
        "image_upscale",
        "magnific_precision_upscaler_v2",
        {
            "imageUri": req(media("image")),
            "scaleFactor": opt(one_of((2, 4, 8, 16))),
            "sharpen": PERCENT,
            "smartGrain": PERCENT,
            "ultraDetail": PERCENT,
            "flavor": opt(one_of(("sublime", "photo", "photo_denoiser"))),
        },
    ),
    _newer("text_to_speech", "seed_audio", dict(SEED_AUDIO)),
    _newer(
        "text_to_speech",
        "eleven_multilingual_v2",
        {
            "promptText": req(text(None)),
            "voice": req(obj({"type": req(one_of(("runway-preset",))), "presetId": req(text(None))})),
        },
    ),
    _newer("sound_effect", "seed_audio", dict(SEED_AUDIO)),
    _newer(
        "sound_effect",
        "eleven_text_to_sound_v2",
        {"promptText": req(text(None)), "duration": opt(number(0.5, 30))},
    ),
)
_BY_KEY: Final = {(s.endpoint, s.model): s for s in (*SCHEMAS, *DIRECT_SCHEMAS)}


def find_schema(endpoint: str, model: Any, *, allow_newer: bool) -> ModelSchema | None:
    """The schema for `model` on `endpoint`, or None when this provider does not take that model."""
    schema = _BY_KEY.get((endpoint, model)) if isinstance(model, str) else None
    if schema is None or (schema.newer and not allow_newer):
        return None
    return schema


def validate_create(endpoint: str, body: Any, *, allow_newer: bool) -> list[Issue]:
    """Every issue with a create request's body; empty when the upstream would accept it."""
    if not isinstance(body, dict):
        return [invalid_type((), "object", body)]
    issues: list[Issue] = []
    if "model" not in body:
        issues.append(invalid_type(("model",), "string", MISSING))
    schema = find_schema(endpoint, body.get("model"), allow_newer=allow_newer)
    if schema is None:
        details = {"errors": [], "note": "No matching discriminator", "discriminator": "model"}
        return [*issues, Issue(("model",), "Invalid input", "invalid_union", details)]
    return check_fields(body, schema.fields, ())
