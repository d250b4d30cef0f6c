"""The catalog's vocabulary: routes, limits, the `Param` and `ModelSpec` records and shared parameters."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

MediaKind = Literal["image", "video"]
OutputKind = Literal["video", "image", "audio"]
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
    # Runway direct only (`runway-api-2026.md`): CometAPI does not document these routes.
    TEXT_TO_VIDEO = "text_to_video"
    IMAGE_UPSCALE = "image_upscale"
    TEXT_TO_SPEECH = "text_to_speech"
    SOUND_EFFECT = "sound_effect"


# What each route makes (downloads, previews and the player treat audio apart).
OUTPUT_KIND: Final[dict[Endpoint, OutputKind]] = {
    Endpoint.VIDEO_TO_VIDEO: "video",
    Endpoint.IMAGE_TO_VIDEO: "video",
    Endpoint.TEXT_TO_IMAGE: "image",
    Endpoint.VIDEO_UPSCALE: "video",
    Endpoint.CHARACTER_PERFORMANCE: "video",
    Endpoint.TEXT_TO_VIDEO: "video",
    Endpoint.IMAGE_UPSCALE: "image",
    Endpoint.TEXT_TO_SPEECH: "audio",
    Endpoint.SOUND_EFFECT: "audio",
}


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
    # A fine-tuning setting, offered inside the create tool's `options` object rather than as its own
    # argument (the definitions stay small); checked against the model exactly all the same.
    advanced: bool = False


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


def prompt_param(max_utf16: int | None, about: str = "", *, required: bool = True) -> Param:
    return Param("prompt_text", "promptText", "text", required=required, max_utf16=max_utf16, about=about)


def ratio_param(ratios: tuple[str, ...], about: str = "", *, required: bool = False) -> Param:
    return Param("ratio", "ratio", "choice", required=required, choices=ratios, about=about)


def media_param(name: str, wire: str, kind: MediaKind | None, about: str, *, required: bool = True) -> Param:
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
VIDEO_URI: Final = media_param("video_uri", "videoUri", "video", "The source clip to edit")
PROMPT_IMAGE: Final = media_param("prompt_image", "promptImage", "image", "The first frame")
LAST_FRAME: Final = media_param("last_frame_image", "promptImage", "image", "An image to end on", required=False)
AUDIO: Final = Param("audio", "audio", "boolean", about="Add sound.")


def _seedance(name: str, ratios: tuple[str, ...], summary: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        endpoint=Endpoint.VIDEO_TO_VIDEO,
        summary=summary,
        params=(
            media_param("video_uri", "promptVideo", "video", ""),
            prompt_param(3500, EDIT_PROMPT, required=False),
            Param("duration", "duration", "integer", minimum=4, maximum=15, about="Seconds."),
            AUDIO,
            ratio_param(ratios),
            Param("references", "references", "items", media="image", max_items=9, about=REFERENCES),
        ),
        providers=("runway",),
        notes="Runway's newer model; CometAPI is not known to forward it. Uses promptVideo instead of videoUri.",
    )
