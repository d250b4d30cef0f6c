"""Build the upstream's request bodies from tool arguments, checking every catalog rule first.

Every problem is collected, so one error names each bad field and how to fix it. Nothing here
talks to the network: a body that leaves this module is one the upstream should accept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runway_mcp.assets import MediaPolicy, MediaValue, prepare_media
from runway_mcp.catalog import (
    PUBLIC_FIGURE_THRESHOLDS,
    SEED_MAX,
    Endpoint,
    ModelSpec,
    get_model,
    models_for,
    utf16_length,
)
from runway_mcp.errors import InputError
from runway_mcp.schemas import Reference


@dataclass
class PreparedRequest:
    """A validated create request: the route, the camelCase body, and what the ledger records."""

    endpoint: Endpoint
    spec: ModelSpec
    body: dict[str, Any]
    prompt: str | None
    media: list[MediaValue] = field(default_factory=list)

    @property
    def model(self) -> str:
        return self.spec.name

    @property
    def media_is_local(self) -> bool:
        """True when a field streams a local file, so the body must be sent as a stream."""
        return any(value.is_local for value in self.media)

    def close(self) -> None:
        """Release any local files opened for the body."""
        for value in self.media:
            value.close()


def resolve_model(endpoint: Endpoint, name: str, problems: list[str]) -> ModelSpec | None:
    spec = get_model(endpoint, name)
    if spec is None:
        known = ", ".join(m.name for m in models_for(endpoint))
        problems.append(f"model: {name!r} is not a {endpoint.value} model. Use one of: {known}.")
    return spec


def check_prompt(spec: ModelSpec, prompt: str | None, problems: list[str], field_name: str = "prompt_text") -> None:
    if prompt is None or not prompt.strip():
        if spec.prompt_required:
            problems.append(f"{field_name}: required for {spec.name}; describe the edit you want in words.")
        return
    if "\x00" in prompt:
        problems.append(f"{field_name}: contains a NUL character; remove it.")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in prompt):
        problems.append(f"{field_name}: contains an unpaired UTF-16 surrogate; send valid Unicode text.")
    limit = spec.prompt_max_utf16
    if limit is not None and (length := utf16_length(prompt)) > limit:
        problems.append(
            f"{field_name}: {length} characters as the upstream counts them (UTF-16 code units; an emoji counts 2), "
            f"over the limit of {limit} for {spec.name}. Shorten it by at least {length - limit}."
        )


def check_seed(seed: int | None, problems: list[str]) -> None:
    if seed is not None and (isinstance(seed, bool) or not 0 <= seed <= SEED_MAX):
        problems.append(f"seed: must be an integer from 0 to {SEED_MAX} (got {seed!r}); omit it for a random seed.")


def check_ratio(spec: ModelSpec, ratio: str | None, problems: list[str]) -> None:
    if ratio is None:
        return
    if not spec.ratios:
        problems.append(f"ratio: {spec.name} takes no ratio; omit it.")
    elif ratio not in spec.ratios:
        problems.append(f"ratio: {ratio!r} is not offered by {spec.name}. Use one of: {', '.join(spec.ratios)}.")


def build_video_to_video(
    *,
    video_uri: str,
    prompt_text: str | None,
    model: str,
    seed: int | None = None,
    references: Sequence[Reference] | None = None,
    ratio: str | None = None,
    public_figure_threshold: str | None = None,
    policy: MediaPolicy,
) -> PreparedRequest:
    """The body for POST video_to_video, or an `InputError` naming every problem."""
    problems: list[str] = []
    endpoint = Endpoint.VIDEO_TO_VIDEO
    spec = resolve_model(endpoint, model, problems)
    media: list[MediaValue] = []
    try:
        video = prepare_media(video_uri, "video", "video_uri", policy, problems)
        if video is not None:
            media.append(video)
        refs: list[dict[str, Any]] = []
        for index, reference in enumerate(references or []):
            prepared = prepare_media(reference.uri, "image", f"references[{index}].uri", policy, problems)
            if prepared is not None:
                media.append(prepared)
                refs.append({"type": reference.type, "uri": prepared.body_value})
        if spec is not None:
            check_prompt(spec, prompt_text, problems)
            check_ratio(spec, ratio, problems)
            if references and len(references) > spec.max_references:
                problems.append(
                    f"references: {spec.name} takes at most {spec.max_references} reference image(s); "
                    f"got {len(references)}. Keep the most important one."
                )
        check_seed(seed, problems)
        if public_figure_threshold is not None and public_figure_threshold not in PUBLIC_FIGURE_THRESHOLDS:
            problems.append(
                f"public_figure_threshold: must be one of {', '.join(PUBLIC_FIGURE_THRESHOLDS)} "
                f"(got {public_figure_threshold!r})."
            )
        if problems or spec is None or video is None:
            raise InputError(problems)
    except BaseException:
        for value in media:
            value.close()
        raise

    body: dict[str, Any] = {"videoUri": video.body_value, "model": spec.name}
    if prompt_text is not None:
        body["promptText"] = prompt_text
    if seed is not None:
        body["seed"] = seed
    if refs:
        body["references"] = refs
    if ratio is not None:
        body["ratio"] = ratio
    if public_figure_threshold is not None:
        body["contentModeration"] = {"publicFigureThreshold": public_figure_threshold}
    return PreparedRequest(endpoint=endpoint, spec=spec, body=body, prompt=prompt_text, media=media)
