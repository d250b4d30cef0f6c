"""The create tools (one per upstream route), cost estimates, the model list and workflow prompts.

Parameter enumerations come from the catalog; each description says which models use a parameter
when not all of the tool's models do. Every create tool shares wait_seconds, idempotency_key,
dry_run and, when the server asks for it, the user's confirmation before spending.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.elicitation import ElicitationResult
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.prompts import Prompt
from mcp.server.mcpserver.prompts.base import PromptArgument
from mcp.server.mcpserver.resolve import Resolve
from pydantic import Field

from runway_mcp.catalog import (
    DEFAULT_MODELS,
    MODELS,
    SEED_MAX,
    Endpoint,
    ModelSpec,
    Param,
    endpoint_params,
    get_model,
    models_for,
)
from runway_mcp.errors import InputError, quoted
from runway_mcp.models import (
    AspectRatio,
    CharacterModel,
    CharacterRatio,
    CreatedTask,
    ImageRatio,
    ImageToVideoModel,
    ImageToVideoRatio,
    Keyframe,
    ModelInfo,
    ModelList,
    ParamInfo,
    PublicFigureThreshold,
    Reference,
    ReferenceImage,
    TextToImageModel,
    UpscaleModel,
    VideoToVideoModel,
    VideoToVideoRatio,
)
from runway_mcp.pricing import CostEstimate, estimate
from runway_mcp.tools.registry import ToolRegistry
from runway_mcp.tools.support import (
    CREATES_PAID_TASK,
    READS_LOCAL_RECORD,
    DryRun,
    IdempotencyKey,
    SpendConfirmation,
    WaitSeconds,
    app_of,
    confirm_spend_resolver,
    run_create,
    tool_errors,
)

TOOL_FOR: dict[Endpoint, str] = {endpoint: f"create_{endpoint.value}" for endpoint in Endpoint}

VIDEO_URI_TEXT = (
    "an HTTPS URL on a domain name (not an IP address), at most 2048 characters, serving MP4/MOV/WebM up to "
    "32 MB with a real Content-Type (redirects are not followed); or a data URI such as "
    "data:video/mp4;base64,... up to 16 MB; or an absolute path to a local file (/path/clip.mp4, "
    "~/clip.mp4 or file:///path/clip.mp4) inside the directories this server may read."
)
IMAGE_URI_TEXT = (
    "an HTTPS URL on a domain name (not an IP), serving JPEG/PNG/WebP up to 16 MB; a data URI "
    "data:image/png;base64,... up to 5 MB; or an absolute local file path."
)
MODERATION_TEXT = "Moderation of recognisable public figures: 'auto' (standard) or 'low' (less strict)."
SEED_TEXT = f"Integer 0-{SEED_MAX} for a reproducible result; omit for a random seed."


def describe(endpoint: Endpoint, name: str, text: str) -> str:
    """`text`, plus which models take the parameter (when not all of the endpoint's do) and their limits."""
    takers = endpoint_params(endpoint).get(name, [])
    everyone = models_for(endpoint)
    if len(everyone) > 1 and len(takers) < len(everyone):
        text += f" Only for: {', '.join(m.name for m in takers)}."
    required = [m.name for m in takers if (p := m.param(name)) is not None and p.required]
    if required and len(everyone) > 1 and len(required) < len(takers):
        text += f" Required for: {', '.join(required)}."
    return text


def _model_text(endpoint: Endpoint) -> str:
    lines = [f"{m.name}: {m.summary}" for m in models_for(endpoint)]
    return f"The Runway model (default {DEFAULT_MODELS[endpoint]}). " + " ".join(lines)


COST_NOTE = (
    "Cost: spends the user's credits (see estimated_cost in the answer; CometAPI bills at its own prices). Each "
    "call creates a new paid task unless idempotency_key repeats an earlier call. Inputs are checked before "
    "anything is sent, so an invalid call costs nothing; dry_run: true previews the request and its cost for free."
)
WORKFLOW_NOTE = (
    "Returns at once with a task_id (status PENDING); then call wait_for_task until it SUCCEEDED and save the "
    "results with download_task_output (output links expire in 24-48 h)."
)


def create_description(summary: str) -> str:
    """A create tool's description: what it does and when, then the shared workflow and cost notes."""
    return f"{summary} {WORKFLOW_NOTE}\n\n{COST_NOTE}"


def register_create_tools(tools: ToolRegistry) -> None:
    """Add the create tools, estimate_cost and list_models."""

    @tools.tool(
        title="Edit a video with Runway (video-to-video)",
        description=create_description(
            "Edit or restyle an existing video clip with Runway (default model gen4_aleph) from a text prompt.\n\nUse it to change the look, style, setting, lighting or content of a clip the user already has. The edit takes about 1-5 minutes."
        ),
        annotations=CREATES_PAID_TASK,
    )
    async def create_video_to_video(
        ctx: Context,
        confirmation: Annotated[
            ElicitationResult[SpendConfirmation], Resolve(confirm_spend_resolver(Endpoint.VIDEO_TO_VIDEO))
        ],
        video_uri: Annotated[str, Field(min_length=1, description=f"The source clip to edit: {VIDEO_URI_TEXT}")],
        prompt_text: Annotated[
            str,
            Field(
                min_length=1,
                max_length=_max_prompt(Endpoint.VIDEO_TO_VIDEO),
                description=(
                    "What the edited video should look like, in plain words: up to 1000 characters for gen4_aleph "
                    "and aleph2 (3500 for seedance2*), counted as UTF-16 code units (an emoji counts 2). "
                    "Example: 'Make it look like a snowy winter night'."
                ),
            ),
        ],
        model: Annotated[VideoToVideoModel, Field(description=_model_text(Endpoint.VIDEO_TO_VIDEO))] = "gen4_aleph",
        seed: Annotated[
            int | None, Field(ge=0, le=SEED_MAX, description=describe(Endpoint.VIDEO_TO_VIDEO, "seed", SEED_TEXT))
        ] = None,
        references: Annotated[
            list[Reference] | None,
            Field(
                max_length=_max_items(Endpoint.VIDEO_TO_VIDEO, "references"),
                description=describe(
                    Endpoint.VIDEO_TO_VIDEO,
                    "references",
                    'Style/content reference images; gen4_aleph takes at most one, seedance2* up to 9. Each is {"type": "image", "uri": ...}: '
                    + IMAGE_URI_TEXT,
                ),
            ),
        ] = None,
        ratio: Annotated[
            VideoToVideoRatio | None,
            Field(
                description=describe(
                    Endpoint.VIDEO_TO_VIDEO,
                    "ratio",
                    "Output size as width:height pixels. Optional: Runway now follows the input video's shape.",
                )
            ),
        ] = None,
        public_figure_threshold: Annotated[
            PublicFigureThreshold | None,
            Field(description=describe(Endpoint.VIDEO_TO_VIDEO, "public_figure_threshold", MODERATION_TEXT)),
        ] = None,
        keyframes: Annotated[
            list[Keyframe] | None,
            Field(
                max_length=_max_items(Endpoint.VIDEO_TO_VIDEO, "keyframes"),
                description=describe(
                    Endpoint.VIDEO_TO_VIDEO,
                    "keyframes",
                    "Images the output should match at given moments; each needs seconds or at.",
                ),
            ),
        ] = None,
        target_aspect_ratio: Annotated[
            AspectRatio | None,
            Field(
                description=describe(
                    Endpoint.VIDEO_TO_VIDEO,
                    "target_aspect_ratio",
                    "Reframe the output to this aspect ratio, e.g. 9:16.",
                )
            ),
        ] = None,
        duration: Annotated[
            int | None,
            Field(
                ge=4,
                le=15,
                description=describe(Endpoint.VIDEO_TO_VIDEO, "duration", "Output length in seconds (4-15)."),
            ),
        ] = None,
        audio: Annotated[
            bool | None, Field(description=describe(Endpoint.VIDEO_TO_VIDEO, "audio", "Generate sound for the output."))
        ] = None,
        wait_seconds: WaitSeconds = 0,
        idempotency_key: IdempotencyKey = None,
        dry_run: DryRun = False,
    ) -> CreatedTask:
        arguments = {
            "model": model,
            "video_uri": video_uri,
            "prompt_text": prompt_text,
            "seed": seed,
            "references": references,
            "ratio": ratio,
            "public_figure_threshold": public_figure_threshold,
            "keyframes": keyframes,
            "target_aspect_ratio": target_aspect_ratio,
            "duration": duration,
            "audio": audio,
        }
        return await run_create(
            ctx,
            Endpoint.VIDEO_TO_VIDEO,
            arguments,
            wait_seconds=wait_seconds,
            idempotency_key=idempotency_key,
            dry_run=dry_run,
            confirmation=confirmation,
        )

    @tools.tool(
        title="Animate an image into a video with Runway",
        description=create_description(
            "Animate a still image into a short video clip with Runway (default model gen3a_turbo).\n\nUse it when the user has a picture and wants it to move. Takes about 1-3 minutes."
        ),
        annotations=CREATES_PAID_TASK,
    )
    async def create_image_to_video(
        ctx: Context,
        confirmation: Annotated[
            ElicitationResult[SpendConfirmation], Resolve(confirm_spend_resolver(Endpoint.IMAGE_TO_VIDEO))
        ],
        prompt_image: Annotated[
            str, Field(min_length=1, description=f"The still to animate (the first frame): {IMAGE_URI_TEXT}")
        ],
        prompt_text: Annotated[
            str | None,
            Field(
                min_length=1,
                max_length=1000,
                description=describe(
                    Endpoint.IMAGE_TO_VIDEO,
                    "prompt_text",
                    "How the image should move, up to 1000 characters (UTF-16 units).",
                ),
            ),
        ] = None,
        model: Annotated[ImageToVideoModel, Field(description=_model_text(Endpoint.IMAGE_TO_VIDEO))] = "gen3a_turbo",
        last_frame_image: Annotated[
            str | None,
            Field(
                min_length=1,
                description=describe(
                    Endpoint.IMAGE_TO_VIDEO,
                    "last_frame_image",
                    f"Optional image the clip should end on: {IMAGE_URI_TEXT}",
                ),
            ),
        ] = None,
        ratio: Annotated[
            ImageToVideoRatio | None,
            Field(description=describe(Endpoint.IMAGE_TO_VIDEO, "ratio", "Output size as width:height pixels.")),
        ] = None,
        duration: Annotated[
            int | None,
            Field(
                ge=2,
                le=10,
                description=describe(
                    Endpoint.IMAGE_TO_VIDEO,
                    "duration",
                    "Length in seconds: gen3a_turbo 5 or 10, gen4_turbo/gen4.5 2-10, veo3 8, veo3.1* 4, 6 or 8.",
                ),
            ),
        ] = None,
        seed: Annotated[
            int | None, Field(ge=0, le=SEED_MAX, description=describe(Endpoint.IMAGE_TO_VIDEO, "seed", SEED_TEXT))
        ] = None,
        public_figure_threshold: Annotated[
            PublicFigureThreshold | None,
            Field(description=describe(Endpoint.IMAGE_TO_VIDEO, "public_figure_threshold", MODERATION_TEXT)),
        ] = None,
        audio: Annotated[
            bool | None, Field(description=describe(Endpoint.IMAGE_TO_VIDEO, "audio", "Generate sound for the clip."))
        ] = None,
        wait_seconds: WaitSeconds = 0,
        idempotency_key: IdempotencyKey = None,
        dry_run: DryRun = False,
    ) -> CreatedTask:
        arguments = {
            "model": model,
            "prompt_image": prompt_image,
            "last_frame_image": last_frame_image,
            "prompt_text": prompt_text,
            "ratio": ratio,
            "duration": duration,
            "seed": seed,
            "public_figure_threshold": public_figure_threshold,
            "audio": audio,
        }
        return await run_create(
            ctx,
            Endpoint.IMAGE_TO_VIDEO,
            arguments,
            wait_seconds=wait_seconds,
            idempotency_key=idempotency_key,
            dry_run=dry_run,
            confirmation=confirmation,
        )

    @tools.tool(
        title="Generate an image with Runway (text-to-image)",
        description=create_description(
            "Generate an image from a prompt and 1-3 reference images with Runway (default gen4_image).\n\nUse it for a styled still, a character sheet or a first frame to animate later with create_image_to_video. Takes under a minute."
        ),
        annotations=CREATES_PAID_TASK,
    )
    async def create_text_to_image(
        ctx: Context,
        confirmation: Annotated[
            ElicitationResult[SpendConfirmation], Resolve(confirm_spend_resolver(Endpoint.TEXT_TO_IMAGE))
        ],
        prompt_text: Annotated[
            str,
            Field(
                min_length=1,
                max_length=1000,
                description="The image to make, up to 1000 characters; refer to a tagged reference as @tag.",
            ),
        ],
        reference_images: Annotated[
            list[ReferenceImage],
            Field(
                min_length=1,
                max_length=3,
                description='1-3 reference images (CometAPI requires at least one), each {"uri": ..., "tag": "name"}: '
                + IMAGE_URI_TEXT,
            ),
        ],
        ratio: Annotated[
            ImageRatio,
            Field(
                description="Image size as width:height pixels, e.g. 1920:1080 (above 1280 px costs more on gen4_image)."
            ),
        ],
        model: Annotated[TextToImageModel, Field(description=_model_text(Endpoint.TEXT_TO_IMAGE))] = "gen4_image",
        seed: Annotated[int | None, Field(ge=0, le=SEED_MAX, description=SEED_TEXT)] = None,
        public_figure_threshold: Annotated[PublicFigureThreshold | None, Field(description=MODERATION_TEXT)] = None,
        wait_seconds: WaitSeconds = 0,
        idempotency_key: IdempotencyKey = None,
        dry_run: DryRun = False,
    ) -> CreatedTask:
        arguments = {
            "model": model,
            "prompt_text": prompt_text,
            "reference_images": reference_images,
            "ratio": ratio,
            "seed": seed,
            "public_figure_threshold": public_figure_threshold,
        }
        return await run_create(
            ctx,
            Endpoint.TEXT_TO_IMAGE,
            arguments,
            wait_seconds=wait_seconds,
            idempotency_key=idempotency_key,
            dry_run=dry_run,
            confirmation=confirmation,
        )

    @tools.tool(
        title="Upscale a video 4x with Runway",
        description=create_description(
            "Upscale a video 4x (up to 4096 pixels per side) with Runway's upscale_v1.\n\nUse it on a finished result (pass the task's output URL) or any clip."
        ),
        annotations=CREATES_PAID_TASK,
    )
    async def create_video_upscale(
        ctx: Context,
        confirmation: Annotated[
            ElicitationResult[SpendConfirmation], Resolve(confirm_spend_resolver(Endpoint.VIDEO_UPSCALE))
        ],
        video_uri: Annotated[str, Field(min_length=1, description=f"The video to upscale: {VIDEO_URI_TEXT}")],
        model: Annotated[UpscaleModel, Field(description=_model_text(Endpoint.VIDEO_UPSCALE))] = "upscale_v1",
        wait_seconds: WaitSeconds = 0,
        idempotency_key: IdempotencyKey = None,
        dry_run: DryRun = False,
    ) -> CreatedTask:
        return await run_create(
            ctx,
            Endpoint.VIDEO_UPSCALE,
            {"model": model, "video_uri": video_uri},
            wait_seconds=wait_seconds,
            idempotency_key=idempotency_key,
            dry_run=dry_run,
            confirmation=confirmation,
        )

    @tools.tool(
        title="Drive a character with a performance video (Runway Act-Two)",
        description=create_description(
            "Make a character (image or video) perform the motion and expressions of a reference video (act_two).\n\nUse it to puppet a drawn or photographed character with a recording of a real performance."
        ),
        annotations=CREATES_PAID_TASK,
    )
    async def create_character_performance(
        ctx: Context,
        confirmation: Annotated[
            ElicitationResult[SpendConfirmation], Resolve(confirm_spend_resolver(Endpoint.CHARACTER_PERFORMANCE))
        ],
        character_uri: Annotated[
            str,
            Field(
                min_length=1,
                description="The character to animate: an image or a video (say which in character_type), as an HTTPS URL, data URI or absolute local path.",
            ),
        ],
        character_type: Annotated[
            Literal["image", "video"], Field(description="'image' or 'video': what character_uri is.")
        ],
        reference_video_uri: Annotated[
            str, Field(min_length=1, description=f"The performance to copy (a person acting): {VIDEO_URI_TEXT}")
        ],
        model: Annotated[CharacterModel, Field(description=_model_text(Endpoint.CHARACTER_PERFORMANCE))] = "act_two",
        body_control: Annotated[
            bool | None, Field(description="Also transfer body and hand motion, not only the face.")
        ] = None,
        expression_intensity: Annotated[
            int | None, Field(ge=1, le=5, description="How strongly to copy facial expressions, 1-5 (default 3).")
        ] = None,
        ratio: Annotated[CharacterRatio | None, Field(description="Output size as width:height pixels.")] = None,
        seed: Annotated[int | None, Field(ge=0, le=SEED_MAX, description=SEED_TEXT)] = None,
        public_figure_threshold: Annotated[PublicFigureThreshold | None, Field(description=MODERATION_TEXT)] = None,
        wait_seconds: WaitSeconds = 0,
        idempotency_key: IdempotencyKey = None,
        dry_run: DryRun = False,
    ) -> CreatedTask:
        arguments = {
            "model": model,
            "character_type": character_type,
            "character_uri": character_uri,
            "reference_video_uri": reference_video_uri,
            "body_control": body_control,
            "expression_intensity": expression_intensity,
            "ratio": ratio,
            "seed": seed,
            "public_figure_threshold": public_figure_threshold,
        }
        return await run_create(
            ctx,
            Endpoint.CHARACTER_PERFORMANCE,
            arguments,
            wait_seconds=wait_seconds,
            idempotency_key=idempotency_key,
            dry_run=dry_run,
            confirmation=confirmation,
        )

    @tools.tool(
        title="Estimate what a Runway request costs",
        annotations=READS_LOCAL_RECORD,
    )
    async def estimate_cost(
        endpoint: Annotated[
            Endpoint,
            Field(
                description="The route: video_to_video, image_to_video, text_to_image, video_upscale or character_performance."
            ),
        ],
        model: Annotated[str | None, Field(description="The model; omit for the route's default.")] = None,
        duration_seconds: Annotated[
            float | None,
            Field(
                gt=0,
                le=600,
                description="Length of the output in seconds (for video-to-video: the input clip's length).",
            ),
        ] = None,
        ratio: Annotated[
            str | None, Field(description="For text_to_image: the image size, which sets the price tier.")
        ] = None,
    ) -> CostEstimate:
        """Estimate a request's cost in Runway credits from the catalog's prices, without creating anything. Free.

        Use it before creating, especially for batches, to tell the user what it will cost. Prices are
        Runway's list prices (1 credit = $0.01); CometAPI bills its own prices for the same request.
        """
        with tool_errors():
            spec = get_model(endpoint, model or DEFAULT_MODELS[endpoint])
            if spec is None:
                known = ", ".join(m.name for m in models_for(endpoint))
                raise InputError([f"model: {quoted(model)} is not a {endpoint.value} model. Use one of: {known}."])
            return estimate(spec, duration_seconds=duration_seconds, ratio=ratio)

    @tools.tool(
        title="List the Runway models this server knows",
        annotations=READS_LOCAL_RECORD,
    )
    async def list_models(
        ctx: Context,
        endpoint: Annotated[Endpoint | None, Field(description="Only this route's models; omit for all.")] = None,
    ) -> ModelList:
        """List every model by route, with its parameters, limits, price and the providers known to accept it. Free."""
        return model_list(app_of(ctx).settings.provider, endpoint)


def register_catalog_extras(mcp: MCPServer[Any]) -> None:
    """Add the models resource and the workflow prompts."""

    @mcp.resource(
        "runway://models",
        name="models",
        title="Runway models",
        description="Every model the server knows, by route, with parameters, limits, prices and providers.",
        mime_type="application/json",
    )
    async def models_resource() -> str:
        return model_list(None, None).model_dump_json(indent=2, exclude_none=True)

    for fn, title in WORKFLOW_PROMPTS:
        mcp.add_prompt(text_prompt(fn, title))


def restyle_clip(video: str, style: str) -> str:
    """Walk through editing a clip into a new style with create_video_to_video."""
    return (
        f"Restyle this video: {video}\nWanted look: {style}\n\n"
        "1. Call create_video_to_video with video_uri set to the video and a prompt_text describing the look "
        "(dry_run: true first if the user wants to see the cost; an idempotency_key makes a retry safe).\n"
        "2. Call wait_for_task with the task_id until the status is SUCCEEDED (call again while it runs).\n"
        "3. Call download_task_output to save the result, and tell the user where it is."
    )


def animate_still(image: str, motion: str) -> str:
    """Walk through turning an image into a short clip with create_image_to_video."""
    return (
        f"Animate this image: {image}\nMotion: {motion}\n\n"
        "1. Call create_image_to_video with prompt_image set to the image and prompt_text describing the motion.\n"
        "2. Call wait_for_task with the task_id until it SUCCEEDED.\n"
        "3. Call download_task_output to save the clip, and tell the user where it is."
    )


def upscale_task(task_id: str) -> str:
    """Walk through upscaling the output of a finished task with create_video_upscale."""
    return (
        f"Upscale the result of task {task_id}.\n\n"
        "1. Call get_task for that task_id and take its first output URL (it must be SUCCEEDED).\n"
        "2. Call create_video_upscale with video_uri set to that URL.\n"
        "3. Call wait_for_task with the new task_id, then download_task_output to save the upscaled video."
    )


WORKFLOW_PROMPTS: tuple[tuple[Callable[..., str], str], ...] = (
    (restyle_clip, "Restyle a video clip"),
    (animate_still, "Animate a still image"),
    (upscale_task, "Upscale a finished task"),
)


def text_prompt(fn: Callable[..., str], title: str) -> Prompt:
    """A prompt whose arguments are all required strings, as `MCPServer.prompt()` would list it.

    MCP sends prompt arguments as strings, so the SDK's per-prompt argument model and validating
    wrapper (a few milliseconds of every start for three prompts) have nothing to do here; a test
    checks the listing against the SDK's own.
    """
    arguments = [PromptArgument(name=name, required=True) for name in inspect.signature(fn).parameters]
    return Prompt(name=fn.__name__, title=title, description=fn.__doc__ or "", arguments=arguments, fn=fn)


def _max_prompt(endpoint: Endpoint) -> int:
    return max((p.max_utf16 or 0) for m in models_for(endpoint) for p in m.params if p.name == "prompt_text")


def _max_items(endpoint: Endpoint, name: str) -> int:
    return max(p.max_items for m in models_for(endpoint) for p in m.params if p.name == name)


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
    )


def model_info(spec: ModelSpec) -> ModelInfo:
    return ModelInfo(
        name=spec.name,
        endpoint=spec.endpoint.value,
        tool=TOOL_FOR[spec.endpoint],
        summary=spec.summary,
        default=DEFAULT_MODELS[spec.endpoint] == spec.name,
        providers=list(spec.providers),
        credits_per_second=spec.credits_per_second,
        credits_per_image=spec.credits_per_image,
        parameters=[param_info(p) for p in spec.params],
        notes=spec.notes,
    )


def model_list(provider: str | None, endpoint: Endpoint | None) -> ModelList:
    chosen = [m for m in MODELS if endpoint is None or m.endpoint is endpoint]
    return ModelList(provider=provider, models=[model_info(m) for m in chosen])
