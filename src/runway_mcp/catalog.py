"""What the upstream accepts: endpoints, models, their parameters, limits and prices, in one table.

Validation (`service/requests.py`), the create tools and their schemas (`tools/create.py`,
`tools/signature.py`), `list_models`, `estimate_cost` and the README's model table all read from
here, so adding a model or a parameter is one entry. Each parameter carries its meaning in words
(`about`); every number a tool's text states comes from the fields beside it.
Facts come from `shared/reference/runway-via-cometapi.md` (CometAPI's and Runway's public docs and
Runway's official SDKs, late 2026).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

MediaKind = Literal["image", "video"]
Provider = Literal["cometapi", "runway"]
ParamKind = Literal["text", "integer", "number", "boolean", "choice", "media", "items"]

MB: Final = 1024 * 1024

# Media input limits (Runway): by kind, for a data URI and for an HTTPS URL.
DATA_URI_LIMIT_BYTES: Final[dict[MediaKind, int]] = {"image": 5 * MB, "video": 16 * MB}
URL_ASSET_LIMIT_BYTES: Final[dict[MediaKind, int]] = {"image": 16 * MB, "video": 32 * MB}
EPHEMERAL_UPLOAD_LIMIT_BYTES: Final = 200 * MB
MAX_URL_LENGTH: Final = 2048

# Media types the upstream takes in a data URI, by kind. GIF is explicitly not accepted.
ACCEPTED_MEDIA_TYPES: Final[dict[MediaKind, tuple[str, ...]]] = {
    "image": ("image/jpeg", "image/png", "image/webp"),
    "video": ("video/mp4", "video/quicktime", "video/webm"),
}

SEED_MAX: Final = 4_294_967_295
PUBLIC_FIGURE_THRESHOLDS: Final = ("auto", "low")
RUNWAY_VERSIONS: Final = ("2024-11-06", "2024-09-13")
DEFAULT_RUNWAY_VERSION: Final = "2024-11-06"
CREDIT_USD: Final = 0.01  # Runway direct: 1 credit = $0.01. CometAPI bills its own prices.

# Runway: "do not expect a task to change more often than every 5 seconds".
MIN_POLL_INTERVAL_SECONDS: Final = 5.0


class Endpoint(StrEnum):
    """Create routes, relative to `{base}/runwayml/v1/` (CometAPI) or `{base}/v1/` (Runway)."""

    VIDEO_TO_VIDEO = "video_to_video"
    IMAGE_TO_VIDEO = "image_to_video"
    TEXT_TO_IMAGE = "text_to_image"
    VIDEO_UPSCALE = "video_upscale"
    CHARACTER_PERFORMANCE = "character_performance"


@dataclass(frozen=True)
class Param:
    """One tool parameter of one model, and where it goes in the upstream's JSON body.

    `wire` is the body path (dotted for nesting, e.g. `contentModeration.publicFigureThreshold`).
    For `items`, each item is an object with `uri` plus the keys in `item_keys`, and `item_type`
    (when set) is added to every item as `"type"`.
    """

    name: str
    wire: str
    kind: ParamKind
    required: bool = False
    max_utf16: int | None = None
    choices: tuple[str | int, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    media: MediaKind | None = None
    media_from: str | None = None  # the parameter whose value ("image"/"video") is this media's kind
    min_items: int = 0
    max_items: int = 0
    item_type: str | None = None
    item_keys: tuple[str, ...] = ()
    # What the value means, for the model reading the tool: words only, the limits are added from the fields.
    about: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """One model on one endpoint: its parameters, constants, price and the providers known to take it."""

    name: str
    endpoint: Endpoint
    summary: str
    params: tuple[Param, ...]
    providers: tuple[Provider, ...] = ("cometapi", "runway")
    credits_per_second: float | None = None
    credits_per_image: float | None = None
    default_duration: float | None = None  # seconds of output when the request does not say
    # The media parameter whose clip the output is as long as (priced per second of it), and the most of it used.
    length_from: str | None = None
    max_output_seconds: float | None = None
    constants: tuple[tuple[str, str], ...] = ()  # fixed body values, e.g. ("reference.type", "video")
    notes: str = ""

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


# Ratios (width:height in pixels) per model family.
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


def _prompt(max_utf16: int, about: str = "", *, required: bool = True) -> Param:
    return Param("prompt_text", "promptText", "text", required=required, max_utf16=max_utf16, about=about)


def _ratio(ratios: tuple[str, ...], about: str = "", *, required: bool = False) -> Param:
    return Param("ratio", "ratio", "choice", required=required, choices=ratios, about=about)


def _media(name: str, wire: str, kind: MediaKind | None, about: str, *, required: bool = True) -> Param:
    return Param(name, wire, "media", required=required, media=kind, about=about)


EDIT_PROMPT: Final = "The edit, e.g. 'make it a snowy night'."
OUTPUT_SIZE: Final = "Output width:height."
REFERENCES: Final = "Style or content reference images."
SEED: Final = Param(
    "seed",
    "seed",
    "integer",
    minimum=0,
    maximum=SEED_MAX,
    about="For repeatable results.",
)
MODERATION: Final = Param(
    "public_figure_threshold",
    "contentModeration.publicFigureThreshold",
    "choice",
    choices=PUBLIC_FIGURE_THRESHOLDS,
)
VIDEO_URI: Final = _media("video_uri", "videoUri", "video", "The source clip to edit")
PROMPT_IMAGE: Final = _media("prompt_image", "promptImage", "image", "The first frame")
LAST_FRAME: Final = _media("last_frame_image", "promptImage", "image", "An image to end on", required=False)
AUDIO: Final = Param("audio", "audio", "boolean", about="Add sound.")


def _seedance(name: str, ratios: tuple[str, ...], summary: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        endpoint=Endpoint.VIDEO_TO_VIDEO,
        summary=summary,
        params=(
            _media("video_uri", "promptVideo", "video", ""),
            _prompt(3500, EDIT_PROMPT, required=False),
            Param("duration", "duration", "integer", minimum=4, maximum=15, about="Seconds."),
            AUDIO,
            _ratio(ratios),
            Param("references", "references", "items", media="image", max_items=9, about=REFERENCES),
        ),
        providers=("runway",),
        notes="Runway's newer model; CometAPI is not known to forward it. Uses promptVideo instead of videoUri.",
    )


MODELS: Final[tuple[ModelSpec, ...]] = (
    # video_to_video ------------------------------------------------------------------------------
    ModelSpec(
        name="gen4_aleph",
        endpoint=Endpoint.VIDEO_TO_VIDEO,
        summary="Edit or restyle an existing clip from a text prompt, optionally guided by one reference image.",
        params=(
            VIDEO_URI,
            _prompt(1000, EDIT_PROMPT),
            SEED,
            Param("references", "references", "items", media="image", max_items=1, item_type="image", about=REFERENCES),
            _ratio(GEN4_ALEPH_RATIOS, "Output width:height (default: the input's)."),
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
            _prompt(1000, EDIT_PROMPT, required=False),
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
            _prompt(1000, "How the image should move."),
            Param("duration", "duration", "integer", choices=(5, 10), about="Seconds."),
            _ratio(GEN3A_RATIOS, OUTPUT_SIZE),
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
            _ratio(GEN4_VIDEO_RATIOS, required=True),
            _prompt(1000, required=False),
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
            _prompt(1000),
            _ratio(GEN4_VIDEO_RATIOS, required=True),
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
            _ratio(VEO_RATIOS, required=True),
            Param("duration", "duration", "integer", required=True, choices=(8,)),
            _prompt(1000, required=False),
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
                _ratio(VEO_RATIOS, required=True),
                _prompt(1000, required=False),
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
                _prompt(1000, "The image to make; refer to a tagged reference image as @tag."),
                _ratio(
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
        params=(_media("video_uri", "videoUri", "video", "The video to upscale"),),
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
            _media("reference_video_uri", "reference.uri", "video", "The performance to copy"),
            Param("body_control", "bodyControl", "boolean", about="Also copy body and hand motion."),
            Param(
                "expression_intensity",
                "expressionIntensity",
                "integer",
                minimum=1,
                maximum=5,
                about="How strongly to copy expressions (default 3).",
            ),
            _ratio(GEN4_VIDEO_RATIOS, OUTPUT_SIZE),
            SEED,
            MODERATION,
        ),
        credits_per_second=5,
        length_from="reference_video_uri",
        max_output_seconds=30,
        constants=(("reference.type", "video"),),
        notes="The output follows the reference video's length (up to 30 s).",
    ),
)


DEFAULT_MODELS: Final[dict[Endpoint, str]] = {
    Endpoint.VIDEO_TO_VIDEO: "gen4_aleph",
    Endpoint.IMAGE_TO_VIDEO: "gen3a_turbo",
    Endpoint.TEXT_TO_IMAGE: "gen4_image",
    Endpoint.VIDEO_UPSCALE: "upscale_v1",
    Endpoint.CHARACTER_PERFORMANCE: "act_two",
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
