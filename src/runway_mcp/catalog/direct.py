"""Runway-direct models: the newer models on shared routes, and the routes CometAPI does not document.

Facts from `shared/reference/runway-api-2026.md` (Runway's API as its own MCP server's catalog states
it, mid-2026). Every model here is `providers=("runway",)`: CometAPI documents none of them. A limit
the reference does not state is left unset (no `max_utf16` for a prompt it gives no length for),
and so is a price it does not publish.
"""

from __future__ import annotations

from typing import Final

from runway_mcp.catalog.spec import (
    AUDIO,
    PROMPT_IMAGE,
    SEEDANCE_FAST_RATIOS,
    SEEDANCE_RATIOS,
    VEO_RATIOS,
    Endpoint,
    ModelSpec,
    Param,
    media_param,
    prompt_param,
    ratio_param,
)


def _ratios(text: str) -> tuple[str, ...]:
    return tuple(text.split())


GPT_IMAGE_RATIOS: Final = _ratios(
    "2048:880 1920:1088 1920:1280 1920:1440 1920:1536 1920:1920 1536:1920 1440:1920 1280:1920 1088:1920 "
    "2912:1248 2560:1440 2560:1712 2560:1920 2560:2048 2560:2560 2048:2560 1920:2560 1712:2560 1440:2560 "
    "3840:1648 3840:2160 3504:2336 3264:2448 3200:2560 2880:2880 2560:3200 2448:3264 2336:3504 2160:3840 auto"
)
GEMINI_FLASH_RATIOS: Final = _ratios(
    "1344:768 768:1344 1024:1024 1184:864 864:1184 1536:672 832:1248 1248:832 896:1152 1152:896"
)
GEMINI_PRO_RATIOS: Final = (
    *GEMINI_FLASH_RATIOS,
    *_ratios(
        "2048:2048 1696:2528 2528:1696 1792:2400 2400:1792 1856:2304 2304:1856 1536:2752 2752:1536 3168:1344 "
        "4096:4096 3392:5056 5056:3392 3584:4800 4800:3584 3712:4608 4608:3712 3072:5504 5504:3072 6336:2688"
    ),
)
GEMINI_31_FLASH_RATIOS: Final = _ratios(
    "512:512 416:624 624:416 432:592 592:432 448:576 576:448 384:672 672:384 768:336 256:1024 1024:256 "
    "176:1408 1408:176 1024:1024 832:1248 1248:832 864:1184 1184:864 896:1152 1152:896 768:1344 1344:768 "
    "1536:672 512:2048 2048:512 352:2816 2816:352 2048:2048 1696:2528 2528:1696 1792:2400 2400:1792 "
    "1856:2304 2304:1856 1536:2752 2752:1536 3168:1344 1024:4096 4096:1024 704:5632 5632:704 4096:4096 "
    "3392:5056 5056:3392 3584:4800 4800:3584 3712:4608 4608:3712 3072:5504 5504:3072 6336:2688 2048:8192 "
    "8192:2048 1408:11264 11264:1408"
)
SEEDREAM_PRO_RATIOS: Final = _ratios(
    "1024:1024 1184:896 896:1184 1376:768 768:1376 1296:864 864:1296 2048:2048 2304:1728 1728:2304 "
    "2720:1530 1530:2720 2496:1664 1664:2496 auto_1k auto_2k"
)
SEEDREAM_LITE_RATIOS: Final = _ratios(
    "2048:2048 2304:1728 1728:2304 2848:1600 1600:2848 2496:1664 1664:2496 3136:1344 3072:3072 3456:2592 "
    "2592:3456 4096:2304 2304:4096 3744:2496 2496:3744 4704:2016"
)
GEN45_TEXT_RATIOS: Final = ("1280:720", "720:1280")
SAMPLE_RATES: Final = (8000, 16000, 24000, 32000, 44100, 48000)

IMAGE_PROMPT: Final = "The image to make."
VIDEO_PROMPT: Final = "The video to make."
SECONDS: Final = "Seconds."


def _count(*, maximum: int | None = None, choices: tuple[int, ...] = ()) -> Param:
    return Param("output_count", "outputCount", "integer", minimum=1, maximum=maximum, choices=choices, advanced=True)


def _level(name: str, wire: str, low: int = 0, high: int = 100) -> Param:
    return Param(name, wire, "integer", minimum=low, maximum=high, advanced=True)


def _seconds(low: int, high: int, *, required: bool = False, choices: tuple[int, ...] = ()) -> Param:
    return Param(
        "duration",
        "duration",
        "integer",
        required=required,
        minimum=None if choices else low,
        maximum=None if choices else high,
        choices=choices,
        about=SECONDS,
    )


def _direct(name: str, endpoint: Endpoint, summary: str, *params: Param, **extra: object) -> ModelSpec:
    return ModelSpec(name=name, endpoint=endpoint, summary=summary, params=params, providers=("runway",), **extra)  # type: ignore[arg-type]


OUTPUT_FORMAT_IMAGE: Final = Param("output_format", "outputFormat", "choice", choices=("png", "jpeg"), advanced=True)

_IMAGES: Final = (
    _direct(
        "gpt_image_2",
        Endpoint.TEXT_TO_IMAGE,
        "OpenAI GPT Image 2 through Runway: images up to 4K, 1-10 per request.",
        prompt_param(None, IMAGE_PROMPT),
        ratio_param(GPT_IMAGE_RATIOS, required=True),
        Param("quality", "quality", "choice", choices=("low", "medium", "high", "auto"), advanced=True),
        Param("background", "background", "choice", choices=("opaque", "auto"), advanced=True),
        _count(maximum=10),
    ),
    _direct(
        "gemini_image3_pro",
        Endpoint.TEXT_TO_IMAGE,
        "Google Gemini 3 Pro Image through Runway (Runway's recommended image model), up to 6K.",
        prompt_param(None, IMAGE_PROMPT),
        ratio_param(GEMINI_PRO_RATIOS, required=True),
        _count(choices=(1, 4)),
    ),
    _direct(
        "gemini_image3.1_flash",
        Endpoint.TEXT_TO_IMAGE,
        "Google Gemini 3.1 Flash Image through Runway: fast, many sizes up to 11264 px.",
        prompt_param(None, IMAGE_PROMPT),
        ratio_param(GEMINI_31_FLASH_RATIOS, required=True),
        _count(choices=(1, 4)),
    ),
    _direct(
        "gemini_2.5_flash",
        Endpoint.TEXT_TO_IMAGE,
        "Google Gemini 2.5 Flash Image through Runway: fast, about 1 megapixel.",
        prompt_param(None, IMAGE_PROMPT),
        ratio_param(GEMINI_FLASH_RATIOS, required=True),
    ),
    *(
        _direct(
            name,
            Endpoint.TEXT_TO_IMAGE,
            summary,
            prompt_param(None, IMAGE_PROMPT),
            ratio_param(ratios, required=True),
            OUTPUT_FORMAT_IMAGE,
            _count(maximum=4),
        )
        for name, ratios, summary in (
            ("seedream5_pro", SEEDREAM_PRO_RATIOS, "ByteDance Seedream 5 Pro through Runway, 1-4 images."),
            ("seedream5_lite", SEEDREAM_LITE_RATIOS, "ByteDance Seedream 5 Lite through Runway: 2K-4K, 1-4 images."),
        )
    ),
)

_SEEDANCE: Final = (
    ("seedance2", SEEDANCE_RATIOS, "ByteDance Seedance 2 through Runway: 4-15 s up to 4K."),
    ("seedance2_fast", SEEDANCE_FAST_RATIOS, "Seedance 2, faster and cheaper, up to 720p."),
    ("seedance2_mini", SEEDANCE_FAST_RATIOS, "Seedance 2, the smallest and fastest variant."),
)

_VIDEOS: Final = (
    *(
        _direct(
            name,
            Endpoint.IMAGE_TO_VIDEO,
            summary,
            PROMPT_IMAGE,
            prompt_param(3500, required=False),
            _seconds(4, 15),
            ratio_param(ratios),
        )
        for name, ratios, summary in _SEEDANCE
    ),
    *(
        _direct(
            name,
            Endpoint.TEXT_TO_VIDEO,
            summary,
            prompt_param(3500, VIDEO_PROMPT),
            _seconds(4, 15),
            ratio_param(ratios),
        )
        for name, ratios, summary in _SEEDANCE
    ),
    _direct(
        "gen4.5",
        Endpoint.TEXT_TO_VIDEO,
        "Runway's highest-quality video from text, 2-10 seconds.",
        prompt_param(1000, VIDEO_PROMPT),
        ratio_param(GEN45_TEXT_RATIOS, required=True),
        _seconds(2, 10, required=True),
        credits_per_second=12,
    ),
    *(
        _direct(
            name,
            Endpoint.TEXT_TO_VIDEO,
            summary,
            prompt_param(1000, VIDEO_PROMPT),
            ratio_param(VEO_RATIOS, required=True),
            _seconds(0, 0, choices=(4, 6, 8)),
            AUDIO,
            default_duration=8,
        )
        for name, summary in (
            ("veo3.1", "Google Veo 3.1 through Runway: 4-8 second clips from text, optional audio."),
            ("veo3.1_fast", "Google Veo 3.1 Fast through Runway: cheaper 4-8 second clips from text."),
        )
    ),
    _direct(
        "veo3",
        Endpoint.TEXT_TO_VIDEO,
        "Google Veo 3 through Runway: an 8 second clip with sound from text.",
        prompt_param(1000, VIDEO_PROMPT),
        ratio_param(VEO_RATIOS, required=True),
        _seconds(0, 0, required=True, choices=(8,)),
        credits_per_second=40,
        default_duration=8,
    ),
)

SHARPEN: Final = _level("sharpen", "sharpen")
GRAIN: Final = _level("smart_grain", "smartGrain")

_UPSCALES: Final = (
    _direct(
        "magnific_video_upscaler_creative",
        Endpoint.VIDEO_UPSCALE,
        "Magnific's creative video upscaler through Runway: to 720p-4k, adding detail.",
        media_param("video_uri", "videoUri", "video", "The video to upscale"),
        Param("resolution", "resolution", "choice", choices=("720p", "1k", "2k", "4k"), advanced=True),
        _level("creativity", "creativity"),
        SHARPEN,
        GRAIN,
        Param("flavor", "flavor", "choice", choices=("vivid", "natural"), advanced=True),
    ),
    _direct(
        "magnific_precision_upscaler_v2",
        Endpoint.IMAGE_UPSCALE,
        "Magnific's precision image upscaler through Runway: 2x to 16x.",
        media_param("image_uri", "imageUri", "image", "The image to upscale"),
        Param("scale_factor", "scaleFactor", "integer", choices=(2, 4, 8, 16), advanced=True),
        SHARPEN,
        GRAIN,
        _level("ultra_detail", "ultraDetail"),
        Param("flavor", "flavor", "choice", choices=("sublime", "photo", "photo_denoiser"), advanced=True),
    ),
)

SPOKEN: Final = "The text to speak."
SOUND: Final = "The sound to make."


def _seed_audio(endpoint: Endpoint, about: str, summary: str) -> ModelSpec:
    return _direct(
        "seed_audio",
        endpoint,
        summary,
        prompt_param(None, about),
        _level("speech_rate", "speechRate", -50, 100),
        _level("loudness_rate", "loudnessRate", -50, 100),
        _level("pitch_rate", "pitchRate", -12, 12),
        Param("sample_rate", "sampleRate", "integer", choices=SAMPLE_RATES, advanced=True),
        Param("output_format", "outputFormat", "choice", choices=("wav", "mp3", "ogg_opus"), advanced=True),
    )


_AUDIO: Final = (
    _seed_audio(Endpoint.TEXT_TO_SPEECH, SPOKEN, "ByteDance Seed Audio through Runway: speech in a default voice."),
    _direct(
        "eleven_multilingual_v2",
        Endpoint.TEXT_TO_SPEECH,
        "ElevenLabs Multilingual v2 through Runway: speech in 29 languages, in a Runway preset voice.",
        prompt_param(None, SPOKEN),
        Param("voice", "voice.presetId", "text", required=True, about="A Runway preset voice name."),
        constants=(("voice.type", "runway-preset"),),
    ),
    _seed_audio(Endpoint.SOUND_EFFECT, SOUND, "ByteDance Seed Audio through Runway: a sound effect from text."),
    _direct(
        "eleven_text_to_sound_v2",
        Endpoint.SOUND_EFFECT,
        "ElevenLabs sound effects through Runway, 0.5-30 seconds.",
        prompt_param(None, SOUND),
        Param("duration", "duration", "number", minimum=0.5, maximum=30, about=SECONDS),
    ),
)

DIRECT_MODELS: Final[tuple[ModelSpec, ...]] = (*_VIDEOS, *_IMAGES, *_UPSCALES, *_AUDIO)
