"""A client written against the 1.x MCP Python SDK (`mcp<2`), the one most MCP hosts still ship.

Run by `.ci/third_party_clients.sh` in a virtualenv of its own that has `mcp<2` and nothing of this project:
it starts the server over stdio exactly as a desktop client would, with the 1.x `stdio_client` and
`ClientSession`, and drives a whole task against the sandbox. Exits non-zero on the first mismatch.

Environment: SERVER_PYTHON (the interpreter that has runway_mcp installed), SANDBOX_URL (a running
`runway-mcp sandbox`), DATA_DIR (a scratch directory for the server's ledger and downloads).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.request
from datetime import timedelta
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

EXPECTED_TOOLS = {
    "create_video_to_video",
    "get_task",
    "wait_for_task",
    "cancel_task",
    "download_task_output",
    "list_tasks",
}
VIDEO = "https://media.w3.org/2010/05/sintel/trailer.mp4"
PROMPT = "Make it look like a snowy winter night"
KEY = "sk-third-party-client-check"


class Mismatch(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Mismatch(message)


def structured(result: Any, what: str) -> dict[str, Any]:
    text = " ".join(getattr(block, "text", "") for block in result.content)
    check(not result.isError, f"{what} failed: {text}")
    data = result.structuredContent
    if data is None:  # a 1.x client that ignores structuredContent still gets the same JSON as text
        data = json.loads(text)
    check(isinstance(data, dict), f"{what}: no JSON object in the answer")
    return data


def sandbox_posts(sandbox: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{sandbox}/_sandbox/requests", timeout=10) as answer:  # noqa: S310 - loopback
        return [r for r in json.load(answer) if r["method"] == "POST"]


async def main() -> None:
    sandbox = os.environ["SANDBOX_URL"]
    data_dir = os.environ["DATA_DIR"]
    posts_before = len(sandbox_posts(sandbox))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", data_dir),
        "COMETAPI_KEY": KEY,
        "COMETAPI_BASE_URL": sandbox,
        "RUNWAY_MCP_DATA_DIR": data_dir,
        "RUNWAY_MCP_OUTPUT_DIR": os.path.join(data_dir, "out"),
        "RUNWAY_MCP_POLL_INTERVAL": "0.5",
    }
    server = StdioServerParameters(command=os.environ["SERVER_PYTHON"], args=["-m", "runway_mcp"], env=env)
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        check(init.serverInfo.name == "runway", f"server name {init.serverInfo.name!r}")
        print(f"initialized: {init.serverInfo.name} {init.serverInfo.version}, protocol {init.protocolVersion}")

        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        check(set(tools) >= EXPECTED_TOOLS, f"missing tools: {EXPECTED_TOOLS - set(tools)}")
        required = set(tools["create_video_to_video"].inputSchema.get("required", []))
        check(required == {"video_uri", "prompt_text"}, f"create_video_to_video requires {required}")
        print(f"tools/list: {len(tools)} tools")

        created = structured(
            await session.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": PROMPT}),
            "create_video_to_video",
        )
        task_id = created["task_id"]
        check(created["status"] == "PENDING", f"a new task is {created['status']}")
        print(f"create_video_to_video: task {task_id}")

        task = structured(await session.call_tool("get_task", {"task_id": task_id}), "get_task")
        check(task["task_id"] == task_id, "get_task answered for another task")
        check(task["status"] in ("PENDING", "THROTTLED", "RUNNING"), f"get_task: {task['status']}")
        print(f"get_task: {task['status']}")

        progress: list[float] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append(value)

        done = structured(
            await session.call_tool(
                "wait_for_task",
                {"task_id": task_id, "timeout_seconds": 30},
                read_timeout_seconds=timedelta(seconds=60),
                progress_callback=on_progress,
            ),
            "wait_for_task",
        )
        check(done["status"] == "SUCCEEDED" and done["output"], f"wait_for_task ended {done['status']}")
        check(len(progress) >= 2 and progress == sorted(progress), f"progress notifications: {progress}")
        print(f"wait_for_task: {done['status']} after {len(progress)} progress notifications")

        refused = await session.call_tool("create_video_to_video", {"video_uri": "http://x", "prompt_text": ""})
        check(refused.isError, "an invalid create was not refused")

    posts = sandbox_posts(sandbox)[posts_before:]
    check(len(posts) == 1, f"the sandbox received {len(posts)} creates, expected exactly 1")
    check(
        posts[0]["json"] == {"videoUri": VIDEO, "promptText": PROMPT, "model": "gen4_aleph"}, f"body {posts[0]['json']}"
    )
    check(posts[0]["headers"]["authorization"].endswith(KEY[-4:]), "the key was not sent")
    print("sandbox: exactly one create, with the requested body")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Mismatch as exc:
        print(f"mcp1 client: MISMATCH: {exc}", file=sys.stderr)
        sys.exit(1)
    print("mcp1 client: all checks passed")
