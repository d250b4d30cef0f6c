"""`runway-mcp demo`: a complete video edit against an in-process sandbox, through a real MCP client.

Nothing leaves this machine and no key is needed: the sandbox plays the part of CometAPI on
127.0.0.1, and the MCP client talks to the same server that `runway-mcp` serves over stdio.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from pydantic import SecretStr

from runway_mcp.config import Settings
from runway_mcp.sandbox import Sandbox, SandboxConfig, SandboxServer
from runway_mcp.tools.server import build_server

DEMO_KEY = "sandbox-demo-key"
DEMO_EDIT = {
    "video_uri": "https://media.w3.org/2010/05/sintel/trailer.mp4",
    "prompt_text": "Make the motion feel cinematic.",
    "model": "gen4_aleph",
    "references": [{"type": "image", "uri": "https://res.cloudinary.com/demo/image/upload/dog.jpg"}],
    "ratio": "1280:720",
}


def _say(step: str, detail: str = "") -> None:
    print(f"{step:<10} {detail}".rstrip(), flush=True)


async def run_steps(settings: Settings) -> int:
    """Drive one edit from tool listing to a downloaded file; return a process exit code."""
    async with Client(build_server(settings)) as client:
        tools = (await client.list_tools()).tools
        _say("tools", ", ".join(tool.name for tool in tools))

        _say("create", f"create_video_to_video prompt={DEMO_EDIT['prompt_text']!r}")
        created = await client.call_tool("create_video_to_video", DEMO_EDIT)
        if created.is_error or created.structured_content is None:
            _say("error", _text(created))
            return 1
        task_id = created.structured_content["task_id"]
        _say("task", f"{task_id} {created.structured_content['status']}")

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            _say("progress", f"{message or ''} ({progress:.0%})")

        task: dict[str, Any] | None = None
        for _ in range(10):  # each wait is bounded; a real agent calls again while the task runs
            result = await client.call_tool(
                "wait_for_task", {"task_id": task_id, "timeout_seconds": 30}, progress_callback=on_progress
            )
            if result.is_error or result.structured_content is None:
                _say("error", _text(result))
                return 1
            task = result.structured_content
            if task["terminal"]:
                break
        if task is None or task["status"] != "SUCCEEDED":
            _say("error", f"the task ended {task and task['status']}: {task and task.get('failure')}")
            return 1
        for url in task["output"]:
            _say("output", url)

        downloaded = await client.call_tool("download_task_output", {"task_id": task_id})
        if downloaded.is_error or downloaded.structured_content is None:
            _say("error", _text(downloaded))
            return 1
        for saved in downloaded.structured_content["files"]:
            _say(
                "saved",
                f"{saved['path']} ({saved['bytes']} bytes, {saved['media_type']}; a temporary folder, removed on exit)",
            )
        _say("done", "the same tools work against CometAPI once COMETAPI_KEY is set (see README)")
    return 0


def _text(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


def run_demo() -> int:
    sandbox = Sandbox(
        SandboxConfig(api_key=DEMO_KEY, not_visible_seconds=1.0, pending_seconds=1.5, running_seconds=5.0)
    )
    with SandboxServer(sandbox) as server, tempfile.TemporaryDirectory(prefix="runway-mcp-demo-") as scratch:
        _say("sandbox", f"simulated CometAPI at {server.url}")
        settings = Settings(
            api_key=SecretStr(DEMO_KEY),
            base_url=server.url,
            poll_interval_seconds=1.0,
            data_dir=Path(scratch) / "data",
            output_dir=Path(scratch) / "outputs",
            insecure_download_hosts=("127.0.0.1",),
            log_level="WARNING",
        )
        return anyio.run(run_steps, settings)
