"""Cost estimates from the catalog's prices, in Runway credits (1 credit = $0.01 on Runway direct).

CometAPI bills its own prices, so every estimate says so: it is Runway's list price, a guide to
the relative cost of a request, not a quote.
"""

from __future__ import annotations

from runway_mcp.catalog import CREDIT_USD, ModelSpec
from runway_mcp.models import CostEstimate


def _is_1080p(ratio: str | None) -> bool:
    if not ratio or ":" not in ratio:
        return False
    width, _, height = ratio.partition(":")
    return width.isdigit() and height.isdigit() and max(int(width), int(height)) > 1280


def estimate(spec: ModelSpec, *, duration_seconds: float | None = None, ratio: str | None = None) -> CostEstimate:
    """Estimate one request; `duration_seconds` is the output's length when the request does not fix it."""
    credits: float | None = None
    if spec.credits_per_image is not None:
        per_image = 8 if spec.name == "gen4_image" and _is_1080p(ratio) else spec.credits_per_image
        credits, basis = per_image, f"{per_image:g} credits per image"
    elif spec.credits_per_second is not None:
        seconds = duration_seconds if duration_seconds is not None else spec.default_duration
        if seconds is None:
            basis = (
                f"{spec.credits_per_second:g} credits per second of output; the output is as long as the input "
                "video, so give duration_seconds for a total"
            )
        else:
            credits = spec.credits_per_second * seconds
            basis = f"{spec.credits_per_second:g} credits/s x {seconds:g} s"
    else:
        basis = "no published credit price for this model in the catalog"
    return CostEstimate(
        model=spec.name,
        endpoint=spec.endpoint.value,
        credits=credits,
        usd_at_runway_prices=None if credits is None else round(credits * CREDIT_USD, 2),
        basis=basis,
    )
