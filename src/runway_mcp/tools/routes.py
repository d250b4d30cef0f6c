"""Which create tool serves which upstream routes, and how one call picks its route.

One create tool per kind of output keeps the tool definitions small: text-to-video rides on
create_image_to_video (no prompt_image), an image upscale beside a video upscale on create_upscale,
speech and sound effects on create_audio. A call's route is chosen before anything is validated:
by the model when only one of the tool's routes has it, else by the tool's switch argument (`kind`),
else by which input was given (`prompt_image`, `image_uri`), else the tool's fallback route. The
request is then checked against that route's model exactly, as for a one-route tool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from runway_mcp.catalog import DEFAULT_MODELS, Endpoint, get_model, models_for
from runway_mcp.errors import InputError, quoted


@dataclass(frozen=True)
class Branch:
    """One route of a create tool: taken when `value` is the switch's value, or when `given` is given."""

    endpoint: Endpoint
    given: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class RouteText:
    """One create tool as a model reads it: its name, title, what it does, and the routes it serves.

    A tool parameter is required when every model of the tool's routes requires it, and also when it
    is named in `always_required`: the parameter the tool is about (a video edit needs its prompt).
    """

    tool: str
    branches: tuple[Branch, ...]
    title: str
    summary: str
    always_required: tuple[str, ...] = ()
    switch: str | None = None  # an argument, not in the catalog, naming the route by a branch's `value`
    switch_about: str = ""

    @property
    def endpoint(self) -> Endpoint:
        """The tool's first route (its default model is the tool's default)."""
        return self.branches[0].endpoint

    @property
    def endpoints(self) -> tuple[Endpoint, ...]:
        return tuple(b.endpoint for b in self.branches)


ROUTES: Final[tuple[RouteText, ...]] = (
    RouteText(
        "create_video_to_video",
        (Branch(Endpoint.VIDEO_TO_VIDEO),),
        "Edit a video with Runway (video-to-video)",
        "Edit or restyle a video clip from a text prompt (1-5 min).",
        always_required=("prompt_text",),
    ),
    RouteText(
        "create_image_to_video",
        (Branch(Endpoint.IMAGE_TO_VIDEO, given="prompt_image"), Branch(Endpoint.TEXT_TO_VIDEO)),
        "Make a video from an image or text with Runway",
        "Animate a still image into a short video, or without prompt_image make one from text (1-3 min).",
    ),
    RouteText(
        "create_text_to_image",
        (Branch(Endpoint.TEXT_TO_IMAGE),),
        "Generate an image with Runway (text-to-image)",
        "Make an image from a prompt and reference images (under a minute).",
    ),
    RouteText(
        "create_upscale",
        (Branch(Endpoint.VIDEO_UPSCALE, given="video_uri"), Branch(Endpoint.IMAGE_UPSCALE, given="image_uri")),
        "Upscale a video or an image with Runway",
        "Upscale a video (video_uri) or an image (image_uri).",
    ),
    RouteText(
        "create_character_performance",
        (Branch(Endpoint.CHARACTER_PERFORMANCE),),
        "Drive a character with a performance video (Runway Act-Two)",
        "Make a character (image or video) act out a performance video.",
    ),
    RouteText(
        "create_audio",
        (Branch(Endpoint.TEXT_TO_SPEECH, value="speech"), Branch(Endpoint.SOUND_EFFECT, value="sound_effect")),
        "Make speech or a sound effect with Runway",
        "Speak a text or make a sound effect.",
        switch="kind",
        switch_about="Default speech.",
    ),
)

TOOL_FOR: Final[dict[Endpoint, str]] = {b.endpoint: route.tool for route in ROUTES for b in route.branches}
ROUTE_OF: Final[dict[str, RouteText]] = {route.tool: route for route in ROUTES}


def tool_for(endpoint: Endpoint) -> str:
    """The create tool serving a route."""
    return TOOL_FOR[endpoint]


def pick_endpoint(route: RouteText, arguments: Mapping[str, Any]) -> Endpoint:
    """The route one call of `route`'s tool goes to (see the module docstring), or an `InputError`."""
    if len(route.branches) == 1:
        return route.endpoint
    model = arguments.get("model")
    holders = [b for b in route.branches if isinstance(model, str) and get_model(b.endpoint, model)]
    switched = arguments.get(route.switch) if route.switch else None
    if switched is not None:
        branch = next(b for b in route.branches if b.value == switched)
        if model is not None and branch not in holders:
            makers = ", ".join(m.name for m in models_for(branch.endpoint))
            raise InputError([f"model: {quoted(model)} does not make {switched}. Use one of: {makers}."])
        return branch.endpoint
    if len(holders) == 1:
        return holders[0].endpoint
    candidates = holders or list(route.branches)
    by_input = next((b for b in candidates if b.given is not None and arguments.get(b.given) is not None), None)
    fallback = next((b for b in candidates if b.given is None), candidates[0])
    return (by_input or fallback).endpoint


def route_arguments(
    route: RouteText, endpoint: Endpoint, arguments: Mapping[str, Any], settings: Sequence[str] = ()
) -> dict[str, Any]:
    """The arguments for the chosen route's model: the switch removed, the `options` object's settings
    (named in `settings`) taken out of it, the route's default model filled in."""
    chosen = {k: v for k, v in arguments.items() if k not in (route.switch, "options")}
    options = arguments.get("options") or {}
    unknown = sorted(set(options) - set(settings))
    if unknown:
        known = ", ".join(settings) or "none"
        raise InputError([f"options.{name}: {route.tool} has no such setting. Settings: {known}." for name in unknown])
    chosen.update(options)
    if chosen.get("model") is None:
        chosen["model"] = DEFAULT_MODELS[endpoint]
    return chosen


def switch_for(endpoint: Endpoint) -> dict[str, str]:
    """The switch argument that sends a call of the route's tool to `endpoint` (`{"kind": "sound_effect"}`), if any."""
    route = ROUTE_OF[TOOL_FOR[endpoint]]
    branch = next(b for b in route.branches if b.endpoint is endpoint)
    return {route.switch: branch.value} if route.switch and branch.value else {}
