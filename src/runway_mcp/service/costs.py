"""What a request will cost, with its input clip's length read first where the price depends on it."""

from __future__ import annotations

import logging

from runway_mcp.media.inputs import MediaValue
from runway_mcp.media.probe import UnknownLength, video_seconds_in_thread
from runway_mcp.models import CostEstimate
from runway_mcp.pricing import estimate
from runway_mcp.service.requests import PreparedRequest

logger = logging.getLogger("runway_mcp.service.costs")

REMOTE: str = "a remote URL is not downloaded to measure it"


async def request_cost(request: PreparedRequest) -> CostEstimate:
    """The estimate for a validated request; a local or data-URI input clip is measured (nothing is sent)."""
    spec = request.spec
    clip = next((m for m in request.media if m.field == spec.length_from), None) if spec.length_from else None
    seconds, problem = await clip_length(clip)
    return estimate(
        spec,
        duration_seconds=request.arguments.get("duration"),
        ratio=request.arguments.get("ratio"),
        input_seconds=seconds,
        input_problem=problem,
    )


async def clip_length(clip: MediaValue | None) -> tuple[float | None, str | None]:
    """(seconds, None) for a clip whose header gives its length, else (None, why not); (None, None) without one."""
    if clip is None:
        return None, None
    if clip.is_https:
        return None, REMOTE
    try:
        measured = await video_seconds_in_thread(clip.body_value)
    except Exception as exc:  # never let measuring a clip fail a request: it only makes the price unknown
        logger.warning("could not measure %s: %s", clip.field, type(exc).__name__, exc_info=True)
        return None, f"its length could not be read ({type(exc).__name__})"
    if isinstance(measured, UnknownLength):
        return None, measured.reason
    return measured, None
