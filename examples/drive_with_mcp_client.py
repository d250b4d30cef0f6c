"""Drive runway-mcp the way an MCP client does: a real `python -m runway_mcp` subprocess over stdio.

The upstream is the sandbox (a simulated CometAPI on 127.0.0.1), started in this process, so no key
is needed, nothing is billed and nothing leaves the machine. The server is configured only through
environment variables, exactly as Claude Desktop or VS Code would start it.

    python examples/drive_with_mcp_client.py

Exits 0 when the edit SUCCEEDED and its output URL was printed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from runway_mcp.sandbox import Sandbox, SandboxConfig, SandboxServer

SANDBOX_KEY = "sandbox-example-key"
EDIT = {
    "video_uri": "https://media.w3.org/2010/05/sintel/trailer.mp4",
    "prompt_text": "Make it look like a snowy winter night.",
    "model": "gen4_aleph",
    # Makes a repeated run of this request return the same task instead of paying again.
    "idempotency_key": "example-snowy-night-1",
}


def server_parameters(sandbox_url: str, scratch: Path) -> StdioServerParameters:
    """How an MCP client starts the server: a command, its arguments and its environment."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "runway_mcp"],
        env={
            "COMETAPI_BASE_URL": sandbox_url,
            "COMETAPI_KEY": SANDBOX_KEY,
            "RUNWAY_MCP_DATA_DIR": str(scratch / "data"),
            "RUNWAY_MCP_OUTPUT_DIR": str(scratch / "outputs"),
            # Under Runway's 5 s minimum: allowed only because the upstream is on loopback.
            "RUNWAY_MCP_POLL_INTERVAL": "1",
            "RUNWAY_MCP_LOG_LEVEL": "WARNING",
        },
    )


def text_of(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def drive(parameters: StdioServerParameters) -> int:
    """List the tools, create one edit, wait for it with progress, print its output URL."""
    async with Client(parameters) as client:
        tools = (await client.list_tools()).tools
        print("tools:", ", ".join(tool.name for tool in tools))

        created = await client.call_tool("create_video_to_video", EDIT)
        if created.is_error or created.structured_content is None:
            print("create failed:", text_of(created), file=sys.stderr)
            return 1
        task_id = created.structured_content["task_id"]
        print(f"created: {task_id} ({created.structured_content['status']})")

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            print(f"  progress {progress:.0%} {message or ''}")

        task: dict[str, Any] = created.structured_content
        for _ in range(6):  # each call waits at most timeout_seconds; call again while it runs
            result = await client.call_tool(
                "wait_for_task", {"task_id": task_id, "timeout_seconds": 20}, progress_callback=on_progress
            )
            if result.is_error or result.structured_content is None:
                print("wait_for_task failed:", text_of(result), file=sys.stderr)
                return 1
            task = result.structured_content
            if task["terminal"]:
                break
        if task["status"] != "SUCCEEDED":
            print(f"the task ended {task['status']}: {task.get('failure')}", file=sys.stderr)
            return 1
        for url in task["output"]:
            print("output:", url)
    return 0


def main() -> int:
    sandbox = Sandbox(
        SandboxConfig(api_key=SANDBOX_KEY, not_visible_seconds=1.0, pending_seconds=1.0, running_seconds=4.0)
    )
    with SandboxServer(sandbox) as server, tempfile.TemporaryDirectory(prefix="runway-mcp-example-") as scratch:
        print("sandbox:", server.url)
        return anyio.run(drive, server_parameters(server.url, Path(scratch)))


if __name__ == "__main__":
    raise SystemExit(main())
