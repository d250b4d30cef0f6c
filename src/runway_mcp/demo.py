"""`runway-mcp demo`: a complete video edit against an in-process sandbox, through a real MCP client.

Nothing leaves this machine and no key is needed: the sandbox plays the part of CometAPI on
127.0.0.1, and the MCP client talks to the same server that `runway-mcp` serves over stdio. What
the demo makes stays in `./runway-demo/` (the input clip, the edited video, the contact sheet the
model is shown, and the server's task record), so a person can look at it afterwards.
"""

from __future__ import annotations

import base64
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Final, TextIO

import anyio
from mcp import Client
from pydantic import SecretStr

from runway_mcp.config import Settings
from runway_mcp.sandbox import Sandbox, SandboxConfig, SandboxServer, asset_path
from runway_mcp.tools.server import build_server

DEMO_KEY: Final = "sandbox-demo-key"
DEMO_DIR: Final = Path("runway-demo")
PROMPT: Final = "Make it look like a snowy winter night."


class Steps:
    """Prints each step with the time since the start; progress rewrites one line on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._started = time.monotonic()
        self._live = out.isatty()
        self._last_progress = ""

    def say(self, step: str, detail: str = "") -> None:
        self._end_progress()
        self._out.write(f"{self._clock()} {step:<9} {detail}".rstrip() + "\n")
        self._out.flush()

    def progress(self, detail: str) -> None:
        if detail == self._last_progress:
            return
        self._last_progress = detail
        line = f"{self._clock()} {'progress':<9} {detail}"
        # On a terminal one line updates in place; in a log each change is a line of its own.
        self._out.write(f"\r\x1b[2K{line}" if self._live else line + "\n")
        self._out.flush()

    def _end_progress(self) -> None:
        if self._live and self._last_progress:
            self._out.write("\n")
        self._last_progress = ""

    def _clock(self) -> str:
        return f"[{time.monotonic() - self._started:5.1f}s]"


async def run_steps(settings: Settings, folder: Path, steps: Steps) -> int:
    """Drive one edit from tool listing to a downloaded file and its contact sheet; return an exit code."""
    clip = folder / "input.mp4"
    async with Client(build_server(settings)) as client:
        tools = (await client.list_tools()).tools
        steps.say("tools", ", ".join(tool.name for tool in tools))

        edit = {"video_uri": str(clip), "prompt_text": PROMPT}
        priced = await client.call_tool("create_video_to_video", {**edit, "dry_run": True})
        if priced.is_error or priced.structured_content is None:
            return _failed(steps, priced)
        cost = priced.structured_content["estimated_cost"]
        steps.say("price", f"{cost['credits']:g} credits ({cost['basis']}); the dry run sent nothing")

        steps.say("create", f"create_video_to_video {clip} prompt={PROMPT!r}")
        created = await client.call_tool("create_video_to_video", edit)
        if created.is_error or created.structured_content is None:
            return _failed(steps, created)
        task_id = created.structured_content["task_id"]
        steps.say("task", f"{task_id} {created.structured_content['status']}")

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            steps.progress(message or f"{progress:.0%}")

        task: dict[str, Any] | None = None
        for _ in range(10):  # each wait is bounded; a real agent calls again while the task runs
            result = await client.call_tool(
                "wait_for_task", {"task_id": task_id, "timeout_seconds": 30}, progress_callback=on_progress
            )
            if result.is_error or result.structured_content is None:
                return _failed(steps, result)
            task = result.structured_content
            if task["terminal"]:
                break
        if task is None or task["status"] != "SUCCEEDED":
            steps.say("error", f"the task ended {task and task['status']}: {task and task.get('failure')}")
            return 1
        steps.say("done", f"{task['status']}, {len(task['output'])} output(s)")

        downloaded = await client.call_tool("download_task_output", {"task_id": task_id})
        if downloaded.is_error or downloaded.structured_content is None:
            return _failed(steps, downloaded)
        for saved in downloaded.structured_content["files"]:
            steps.say("saved", f"{saved['path']} ({saved['bytes']} bytes, {saved['media_type']})")
        for n, image in enumerate(block for block in downloaded.content if block.type == "image"):
            sheet = folder / f"{task_id}-{n}.preview.jpg"
            sheet.write_bytes(base64.b64decode(image.data))
            steps.say("preview", f"{sheet} (the contact sheet the model was shown, to check the edit)")
    steps.say("look", f"in {folder}/: the input, the edited video and its contact sheet")
    steps.say("next", "the same tools work against CometAPI once COMETAPI_KEY is set (see README)")
    return 0


def _failed(steps: Steps, result: Any) -> int:
    steps.say("error", " ".join(getattr(block, "text", "") for block in result.content))
    return 1


def run_demo(folder: Path = DEMO_DIR, out: TextIO | None = None) -> int:
    steps = Steps(out or sys.stdout)
    folder.mkdir(parents=True, exist_ok=True)
    folder = folder.resolve()
    shutil.copyfile(asset_path("sample_input.mp4"), folder / "input.mp4")
    sandbox = Sandbox(
        SandboxConfig(api_key=DEMO_KEY, not_visible_seconds=1.0, pending_seconds=1.5, running_seconds=5.0)
    )
    with SandboxServer(sandbox) as server:
        steps.say("sandbox", f"simulated CometAPI at {server.url}; output in {folder}/")
        settings = Settings(
            api_key=SecretStr(DEMO_KEY),
            base_url=server.url,
            poll_interval_seconds=1.0,
            data_dir=folder / ".state",
            output_dir=folder,
            allowed_dirs=(folder,),
            insecure_download_hosts=("127.0.0.1",),
            log_level="WARNING",
        )
        return anyio.run(run_steps, settings, folder, steps)
