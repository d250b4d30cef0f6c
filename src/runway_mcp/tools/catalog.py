"""The catalog's tools and resource: estimate_cost, list_models and runway://models. All free."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import Field

from runway_mcp.catalog import DEFAULT_MODELS, MODELS, Endpoint, ModelSpec, Param, get_model, models_for
from runway_mcp.errors import InputError, quoted
from runway_mcp.media.inputs import MediaPolicy, prepare_media
from runway_mcp.models import CostEstimate, ModelInfo, ModelList, ParamInfo
from runway_mcp.pricing import estimate
from runway_mcp.service.costs import clip_length
from runway_mcp.tools.annotations import READS_LOCAL_RECORD
from runway_mcp.tools.context import app_of, tool_errors
from runway_mcp.tools.registry import ToolRegistry
from runway_mcp.tools.routes import tool_for


def register_catalog_tools(tools: ToolRegistry) -> None:
    """Add estimate_cost and list_models."""

    @tools.tool(
        title="Estimate what a Runway request costs",
        annotations=READS_LOCAL_RECORD,
    )
    async def estimate_cost(
        ctx: Context,
        endpoint: Endpoint,
        model: str | None = None,
        duration_seconds: Annotated[
            float | None,
            Field(
                gt=0,
                le=600,
                description="Output seconds.",
            ),
        ] = None,
        ratio: Annotated[str | None, Field(description="text_to_image size (sets the price).")] = None,
        video_uri: Annotated[
            str | None,
            Field(min_length=1, description="Input clip (local path or data URI) to measure."),
        ] = None,
    ) -> CostEstimate:
        """Price a request in Runway credits ($0.01 each; CometAPI bills its own). Free."""
        with tool_errors():
            spec = get_model(endpoint, model or DEFAULT_MODELS[endpoint])
            if spec is None:
                known = ", ".join(m.name for m in models_for(endpoint))
                raise InputError([f"model: {quoted(model)} is not a {endpoint.value} model. Use one of: {known}."])
            seconds, problem = await measure_clip(app_of(ctx).media_policy, spec, video_uri)
            return estimate(
                spec, duration_seconds=duration_seconds, ratio=ratio, input_seconds=seconds, input_problem=problem
            )

    @tools.tool(
        title="List the Runway models this server knows",
        annotations=READS_LOCAL_RECORD,
    )
    async def list_models(
        ctx: Context,
        endpoint: Annotated[Endpoint | None, Field(description="Only this route's models.")] = None,
    ) -> ModelList:
        """Every model this server's provider serves: what it does, takes and costs. Free."""
        return model_list(app_of(ctx).settings.provider, endpoint)


async def measure_clip(policy: MediaPolicy, spec: ModelSpec, video_uri: str | None) -> tuple[float | None, str | None]:
    """The length of the clip given to estimate_cost, checked like a create's input; (None, why) when unknown."""
    if video_uri is None:
        return None, None
    if spec.length_from is None:
        raise InputError([f"video_uri: {spec.name} is not priced by a clip's length; omit it."])
    problems: list[str] = []
    clip = prepare_media(video_uri, "video", "video_uri", policy, problems)
    if clip is None:
        raise InputError(problems)
    try:
        return await clip_length(clip)
    finally:
        clip.close()


def register_models_resource(mcp: MCPServer[Any]) -> None:
    """Add runway://models."""

    @mcp.resource(
        "runway://models",
        name="models",
        title="Runway models",
        description="Every model the server knows, by route, with parameters, limits, prices and providers.",
        mime_type="application/json",
    )
    async def models_resource() -> str:
        return model_list(None, None).model_dump_json(indent=2, exclude_none=True)


def param_info(param: Param) -> ParamInfo:
    return ParamInfo(
        name=param.name,
        required=param.required,
        kind=param.kind,
        choices=list(param.choices) or None,
        minimum=param.minimum,
        maximum=param.maximum,
        max_characters=param.max_utf16,
        max_items=param.max_items or None,
        min_items=param.min_items or None,
        media=param.media or (f"from {param.media_from}" if param.media_from else None),
        in_options=param.advanced or None,
    )


def model_info(spec: ModelSpec) -> ModelInfo:
    return ModelInfo(
        name=spec.name,
        endpoint=spec.endpoint.value,
        tool=tool_for(spec.endpoint),
        summary=spec.summary,
        default=DEFAULT_MODELS[spec.endpoint] == spec.name,
        providers=list(spec.providers),
        credits_per_second=spec.credits_per_second,
        credits_per_image=spec.credits_per_image,
        parameters=[param_info(p) for p in spec.params],
        notes=spec.notes,
    )


def model_list(provider: str | None, endpoint: Endpoint | None) -> ModelList:
    """The models one provider serves (all of them when `provider` is None), on one route or all."""
    chosen = [
        m
        for m in MODELS
        if (endpoint is None or m.endpoint is endpoint) and (provider is None or provider in m.providers)
    ]
    return ModelList(provider=provider, models=[model_info(m) for m in chosen])
