"""Cost estimates from the catalog's prices, in Runway credits (1 credit = $0.01 on Runway direct).

CometAPI bills its own prices, so every estimate says so: it is Runway's list price, a guide to
the relative cost of a request, not a quote. A model whose output is as long as an input clip
(`ModelSpec.length_from`) is priced from that clip's length, read from the file before anything is
sent (`service/costs.py`), up to the most of it the model uses (`ModelSpec.max_output_seconds`).
"""

from __future__ import annotations

from runway_mcp.catalog import CREDIT_USD, ModelSpec
from runway_mcp.models import CostEstimate


def _is_1080p(ratio: str | None) -> bool:
    if not ratio or ":" not in ratio:
        return False
    width, _, height = ratio.partition(":")
    return width.isdigit() and height.isdigit() and max(int(width), int(height)) > 1280


def estimate(
    spec: ModelSpec,
    *,
    duration_seconds: float | None = None,
    ratio: str | None = None,
    input_seconds: float | None = None,
    input_problem: str | None = None,
) -> CostEstimate:
    """Estimate one request.

    `duration_seconds` is the output's length when the request sets it (or, for a model whose output
    follows an input clip, that clip's length as the caller gives it); `input_seconds` is the input
    clip's length as read from the file, and `input_problem` why it could not be read.
    """
    credits: float | None = None
    if spec.credits_per_image is not None:
        per_image = 8 if spec.name == "gen4_image" and _is_1080p(ratio) else spec.credits_per_image
        credits, basis = per_image, f"{per_image:g} credits per image"
    elif spec.credits_per_second is not None:
        seconds, how = _output_seconds(spec, duration_seconds, input_seconds)
        if seconds is None:
            basis = _no_total(spec, spec.credits_per_second, input_problem)
        else:
            credits = round(spec.credits_per_second * seconds, 2)
            basis = f"{spec.credits_per_second:g} credits/s x {seconds:g} s{how}"
    else:
        basis = "no published credit price for this model in the catalog"
    return CostEstimate(
        model=spec.name,
        endpoint=spec.endpoint.value,
        credits=credits,
        usd_at_runway_prices=None if credits is None else round(credits * CREDIT_USD, 2),
        basis=basis,
    )


def _output_seconds(
    spec: ModelSpec, duration_seconds: float | None, input_seconds: float | None
) -> tuple[float | None, str]:
    """How long the output will be, and how that was found (words appended to the basis)."""
    if spec.length_from is None:
        return (duration_seconds if duration_seconds is not None else spec.default_duration), ""
    given = duration_seconds if duration_seconds is not None else input_seconds
    if given is None:
        return None, ""
    source = "the input clip's length" if duration_seconds is None else "the clip's length as given"
    limit = spec.max_output_seconds
    if limit is not None and given > limit:
        return limit, f" ({spec.name} uses at most the first {limit:g} s of the {given:g} s input)"
    return given, f" ({source})"


def _no_total(spec: ModelSpec, per_second: float, problem: str | None) -> str:
    """Why there is no total for a model priced by its input clip's length, and how to get one."""
    cap = ""
    if spec.max_output_seconds is not None:
        most = per_second * spec.max_output_seconds
        cap = f" (at most its first {spec.max_output_seconds:g} s, so at most {most:g} credits)"
    why = f"its length is unknown ({problem})" if problem else "no input clip was given to measure"
    return (
        f"{per_second:g} credits/s of output, as long as the input clip{cap}; {why}. For a total, call "
        "estimate_cost with video_uri (a local file or data URI) or duration_seconds."
    )
