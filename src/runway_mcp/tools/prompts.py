"""Workflow prompts: the usual sequences of tool calls, as a user would pick them from a menu."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.prompts import Prompt
from mcp.server.mcpserver.prompts.base import PromptArgument


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
    """Walk through upscaling the output of a finished task with create_upscale."""
    return (
        f"Upscale the result of task {task_id}.\n\n"
        "1. Call get_task for that task_id and take its first output URL (it must be SUCCEEDED).\n"
        "2. Call create_upscale with video_uri set to that URL.\n"
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


def register_prompts(mcp: MCPServer[Any]) -> None:
    """Add the workflow prompts."""
    for fn, title in WORKFLOW_PROMPTS:
        mcp.add_prompt(text_prompt(fn, title))
