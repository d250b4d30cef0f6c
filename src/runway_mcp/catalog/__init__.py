"""What the upstream accepts: endpoints, models, their parameters, limits and prices, in one table.

Validation (`service/requests.py`), the create tools and their schemas (`tools/create.py`,
`tools/signature.py`), `list_models`, `estimate_cost` and the README's model table all read from
here, so adding a model or a parameter is one entry. Each parameter carries its meaning in words
(`about`); every number a tool's text states comes from the fields beside it.
Facts come from `shared/reference/runway-via-cometapi.md` (CometAPI's and Runway's public docs and
Runway's official SDKs, late 2026); the Runway-direct models and routes, from `runway-api-2026.md`,
are in `catalog/direct.py`, and the vocabulary (`Param`, `ModelSpec`, limits) in `catalog/spec.py`.
"""

from __future__ import annotations

from typing import Final

from runway_mcp.catalog.direct import DIRECT_MODELS
from runway_mcp.catalog.spec import *  # noqa: F403 (the vocabulary, re-exported: `from runway_mcp.catalog import Param`)
from runway_mcp.catalog.spec import (
    ALEPH2_ASPECT_RATIOS,
    AUDIO,
    EDIT_PROMPT,
    GEN3A_RATIOS,
    GEN4_ALEPH_RATIOS,
    GEN4_VIDEO_RATIOS,
    IMAGE_RATIOS,
    LAST_FRAME,
    MODERATION,
    OUTPUT_SIZE,
    PROMPT_IMAGE,
    REFERENCES,
    SEED,
    SEEDANCE_FAST_RATIOS,
    SEEDANCE_RATIOS,
    VEO_RATIOS,
    VIDEO_URI,
    Endpoint,
    ModelSpec,
    Param,
    _seedance,
    media_param,
    prompt_param,
    ratio_param,
)

MODELS: Final[tuple[ModelSpec, ...]] = (
    # video_to_video ------------------------------------------------------------------------------
    ModelSpec(
        name="gen4_aleph",
        endpoint=Endpoint.VIDEO_TO_VIDEO,
        summary="Edit or restyle an existing clip from a text prompt, optionally guided by one reference image.",
        params=(
            VIDEO_URI,
            prompt_param(1000, EDIT_PROMPT),
            SEED,
            Param("references", "references", "items", media="image", max_items=1, item_type="image", about=REFERENCES),
            ratio_param(GEN4_ALEPH_RATIOS, "Output width:height (default: the input's)."),
            MODERATION,
        ),
        credits_per_second=15,
        # Priced for the whole input: the output is as long as it (our references). Some third-party pages say
        # only its first 5 s are used; an estimate must never be lower than the bill, so no cap until documented.
        length_from="video_uri",
        notes="The output's length follows the input clip. Runway ignores ratio since Feb 2026; CometAPI documents it.",
    ),
    ModelSpec(
        name="aleph2",
        endpoint=Endpoint.VIDEO_TO_VIDEO,
        summary="Runway's newer video editor: prompt optional, up to 5 keyframe images, a target aspect ratio.",
        params=(
            VIDEO_URI,
            prompt_param(1000, EDIT_PROMPT, required=False),
            Param(
                "keyframes",
                "keyframes",
                "items",
                media="image",
                max_items=5,
                item_keys=("seconds", "at"),
                about="Images to match at set times.",
            ),
            Param(
                "target_aspect_ratio",
                "targetAspectRatio",
                "choice",
                choices=ALEPH2_ASPECT_RATIOS,
                about="Reframe to this aspect ratio.",
            ),
            SEED,
            MODERATION,
        ),
        providers=("runway",),
        notes="Runway's newer model; CometAPI is not known to forward it.",
    ),
    _seedance("seedance2", SEEDANCE_RATIOS, "ByteDance Seedance 2 through Runway: video-guided generation up to 4K."),
    _seedance("seedance2_fast", SEEDANCE_FAST_RATIOS, "Seedance 2, faster and cheaper, up to 720p."),
    _seedance("seedance2_mini", SEEDANCE_FAST_RATIOS, "Seedance 2, the smallest and fastest variant."),
    # image_to_video ------------------------------------------------------------------------------
    ModelSpec(
        name="gen3a_turbo",
        endpoint=Endpoint.IMAGE_TO_VIDEO,
        summary="Animate a still image (first and optionally last frame) into a 5 or 10 second clip.",
        params=(
            PROMPT_IMAGE,
            LAST_FRAME,
            prompt_param(1000, "How the image should move."),
            Param("duration", "duration", "integer", choices=(5, 10), about="Seconds."),
            ratio_param(GEN3A_RATIOS, OUTPUT_SIZE),
            SEED,
            MODERATION,
        ),
        default_duration=10,
        notes="The model CometAPI documents for image_to_video.",
    ),
    ModelSpec(
        name="gen4_turbo",
        endpoint=Endpoint.IMAGE_TO_VIDEO,
        summary="Animate a still image into a 2-10 second clip; fast.",
        params=(
            PROMPT_IMAGE,
            ratio_param(GEN4_VIDEO_RATIOS, required=True),
            prompt_param(1000, required=False),
            Param("duration", "duration", "integer", minimum=2, maximum=10),
            SEED,
            MODERATION,
        ),
        providers=("runway",),
        credits_per_second=5,
        default_duration=10,
    ),
    ModelSpec(
        name="gen4.5",
        endpoint=Endpoint.IMAGE_TO_VIDEO,
        summary="Runway's highest-quality image animation, 2-10 seconds.",
        params=(
            PROMPT_IMAGE,
            prompt_param(1000),
            ratio_param(GEN4_VIDEO_RATIOS, required=True),
            Param("duration", "duration", "integer", required=True, minimum=2, maximum=10),
            SEED,
            MODERATION,
        ),
        providers=("runway",),
        credits_per_second=12,
    ),
    ModelSpec(
        name="veo3",
        endpoint=Endpoint.IMAGE_TO_VIDEO,
        summary="Google Veo 3 through Runway: an 8 second clip with sound from an image.",
        params=(
            PROMPT_IMAGE,
            ratio_param(VEO_RATIOS, required=True),
            Param("duration", "duration", "integer", required=True, choices=(8,)),
            prompt_param(1000, required=False),
        ),
        providers=("runway",),
        credits_per_second=40,
        default_duration=8,
    ),
    *(
        ModelSpec(
            name=name,
            endpoint=Endpoint.IMAGE_TO_VIDEO,
            summary=summary,
            params=(
                PROMPT_IMAGE,
                LAST_FRAME,
                ratio_param(VEO_RATIOS, required=True),
                prompt_param(1000, required=False),
                Param("duration", "duration", "integer", choices=(4, 6, 8)),
                AUDIO,
            ),
            providers=("runway",),
            default_duration=8,
        )
        for name, summary in (
            ("veo3.1", "Google Veo 3.1 through Runway: 4-8 second clips, optional audio and last frame."),
            ("veo3.1_fast", "Google Veo 3.1 Fast through Runway: cheaper 4-8 second clips."),
        )
    ),
    # text_to_image -------------------------------------------------------------------------------
    *(
        ModelSpec(
            name=name,
            endpoint=Endpoint.TEXT_TO_IMAGE,
            summary=summary,
            params=(
                prompt_param(1000, "The image to make; refer to a tagged reference image as @tag."),
                ratio_param(
                    IMAGE_RATIOS,
                    "Image width:height (over 1280 px costs more on gen4_image).",
                    required=True,
                ),
                Param(
                    "reference_images",
                    "referenceImages",
                    "items",
                    media="image",
                    required=True,  # CometAPI rejects a request without one (`reference_images_empty`)
                    min_items=1,
                    max_items=3,
                    item_keys=("tag",),
                    about="Reference images, optionally tagged for the prompt (CometAPI needs one).",
                ),
                SEED,
                MODERATION,
            ),
            credits_per_image=credits,
            notes=note,
        )
        for name, summary, credits, note in (
            (
                "gen4_image",
                "Make an image from a prompt and 1-3 reference images (refer to them in the prompt as @tag).",
                5,
                "5 credits at 720p, 8 at 1080p (ratios over 1280 pixels wide or tall).",
            ),
            ("gen4_image_turbo", "Faster, cheaper image generation from a prompt and 1-3 reference images.", 2, ""),
        )
    ),
    # video_upscale -------------------------------------------------------------------------------
    ModelSpec(
        name="upscale_v1",
        endpoint=Endpoint.VIDEO_UPSCALE,
        summary="Upscale a video 4x, up to 4096 pixels per side.",
        params=(media_param("video_uri", "videoUri", "video", "The video to upscale"),),
    ),
    # character_performance -----------------------------------------------------------------------
    ModelSpec(
        name="act_two",
        endpoint=Endpoint.CHARACTER_PERFORMANCE,
        summary="Make a character (an image or video) perform the motion and expressions of a reference video.",
        params=(
            Param(
                "character_type",
                "character.type",
                "choice",
                required=True,
                choices=("image", "video"),
                about="What character_uri is.",
            ),
            Param(
                "character_uri",
                "character.uri",
                "media",
                required=True,
                media_from="character_type",
                about="The character (see character_type)",
            ),
            media_param("reference_video_uri", "reference.uri", "video", "The performance to copy"),
            Param("body_control", "bodyControl", "boolean", about="Also copy body and hand motion."),
            Param(
                "expression_intensity",
                "expressionIntensity",
                "integer",
                minimum=1,
                maximum=5,
                about="How strongly to copy expressions (default 3).",
            ),
            ratio_param(GEN4_VIDEO_RATIOS, OUTPUT_SIZE),
            SEED,
            MODERATION,
        ),
        credits_per_second=5,
        length_from="reference_video_uri",
        max_output_seconds=30,
        constants=(("reference.type", "video"),),
        notes="The output follows the reference video's length (up to 30 s).",
    ),
    *DIRECT_MODELS,
)


DEFAULT_MODELS: Final[dict[Endpoint, str]] = {
    Endpoint.VIDEO_TO_VIDEO: "gen4_aleph",
    Endpoint.IMAGE_TO_VIDEO: "gen3a_turbo",
    Endpoint.TEXT_TO_IMAGE: "gen4_image",
    Endpoint.VIDEO_UPSCALE: "upscale_v1",
    Endpoint.CHARACTER_PERFORMANCE: "act_two",
    # Runway's recommended model per route (`runway-api-2026.md`).
    Endpoint.TEXT_TO_VIDEO: "seedance2",
    Endpoint.IMAGE_UPSCALE: "magnific_precision_upscaler_v2",
    Endpoint.TEXT_TO_SPEECH: "seed_audio",
    Endpoint.SOUND_EFFECT: "seed_audio",
}


def models_for(endpoint: Endpoint) -> tuple[ModelSpec, ...]:
    """All catalogued models on one endpoint, in catalog order."""
    return tuple(m for m in MODELS if m.endpoint is endpoint)


def get_model(endpoint: Endpoint, name: str) -> ModelSpec | None:
    """The model called `name` on `endpoint`, or None when the catalog does not know it."""
    return next((m for m in models_for(endpoint) if m.name == name), None)


def endpoint_params(endpoint: Endpoint) -> dict[str, list[ModelSpec]]:
    """Every parameter name used on an endpoint, with the models that take it (for tool schemas)."""
    found: dict[str, list[ModelSpec]] = {}
    for model in models_for(endpoint):
        for param in model.params:
            found.setdefault(param.name, []).append(model)
    return found


def choices_for(endpoint: Endpoint, name: str) -> tuple[str | int, ...]:
    """The union of one parameter's allowed values across an endpoint's models, in catalog order."""
    values: dict[str | int, None] = {}
    for model in models_for(endpoint):
        param = model.param(name)
        if param is not None:
            values.update(dict.fromkeys(param.choices))
    return tuple(values)


def utf16_length(text: str) -> int:
    """Length as the upstream counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
