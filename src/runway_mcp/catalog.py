"""What the upstream accepts: endpoints, models, their fields, limits and prices, in one table.

Validation, the tool schemas a model sees, the `list_models` answer and the docs all read from
here, so adding a model is one entry. Facts come from `shared/reference/runway-via-cometapi.md`
(CometAPI's and Runway's public docs, late 2026).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Literal

MediaKind = Literal["image", "video"]
Provider = Literal["cometapi", "runway"]

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
class ModelSpec:
    """One model on one endpoint, with the constraints the upstream enforces."""

    name: str
    endpoint: Endpoint
    summary: str
    prompt_max_utf16: int | None = 1000
    prompt_required: bool = True
    max_references: int = 0
    ratios: tuple[str, ...] = ()
    providers: tuple[Provider, ...] = ("cometapi", "runway")
    credits_per_second: float | None = None
    credits_per_image: float | None = None
    notes: str = ""
    extra: dict[str, str] = field(default_factory=dict)


GEN4_ALEPH_RATIOS: Final = (
    "1280:720",
    "720:1280",
    "1104:832",
    "960:960",
    "832:1104",
    "1584:672",
    "848:480",
    "640:480",
)

MODELS: Final[tuple[ModelSpec, ...]] = (
    ModelSpec(
        name="gen4_aleph",
        endpoint=Endpoint.VIDEO_TO_VIDEO,
        summary="Edit or restyle an existing video clip from a text prompt (and optionally one reference image).",
        prompt_max_utf16=1000,
        prompt_required=True,
        max_references=1,
        ratios=GEN4_ALEPH_RATIOS,
        credits_per_second=15,
        notes=(
            "The output length follows the input clip. Runway ignores `ratio` since Feb 2026 "
            "(output follows the input video); CometAPI still documents it."
        ),
    ),
)


def models_for(endpoint: Endpoint) -> tuple[ModelSpec, ...]:
    """All catalogued models on one endpoint, in catalog order."""
    return tuple(m for m in MODELS if m.endpoint is endpoint)


def get_model(endpoint: Endpoint, name: str) -> ModelSpec | None:
    """The model called `name` on `endpoint`, or None when the catalog does not know it."""
    return next((m for m in models_for(endpoint) if m.name == name), None)


def utf16_length(text: str) -> int:
    """Length as the upstream counts it: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
