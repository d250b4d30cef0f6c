"""The real command over stdio, and the API key's absence from everything a user or model can see."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from pydantic import SecretStr

from runway_mcp.config import Settings
from runway_mcp.sandbox import Fault, Sandbox, SandboxServer
from runway_mcp.tools.server import build_server
from runway_mcp.upstream.client import RunwayClient
from runway_mcp.upstream.transport import make_http_client
from tests.support import CANARY_KEY, SEED_ARGUMENTS, VIDEO, make_settings, server_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


async def test_the_command_serves_over_stdio_end_to_end(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "runway_mcp"], env=server_env(sandbox_server, tmp_path)
    )
    async with Client(params, mode="legacy") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"create_video_to_video", "get_task", "wait_for_task"} <= names
        created = await client.call_tool("create_video_to_video", SEED_ARGUMENTS)
        assert not created.is_error and created.structured_content is not None
        task_id = created.structured_content["task_id"]
        with anyio.fail_after(20):
            task = (await client.call_tool("wait_for_task", {"task_id": task_id})).structured_content
        assert task is not None and task["status"] == "SUCCEEDED"
    (post,) = sandbox.api_requests(method="POST")
    assert post.path == "/runwayml/v1/video_to_video"
    assert post.headers["authorization"] == f"Bearer {CANARY_KEY}"


async def test_stdout_carries_only_protocol_and_logs_go_to_stderr(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    # Speak raw JSON-RPC to the process so every byte on stdout can be checked.
    import json

    env = server_env(sandbox_server, tmp_path)
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    messages = [initialize, {"jsonrpc": "2.0", "method": "notifications/initialized"}]
    messages.append(
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "get_task", "arguments": {"task_id": "nope"}},
        }
    )
    payload = "".join(json.dumps(m) + "\n" for m in messages).encode()
    with anyio.fail_after(30):
        process = await anyio.open_process([sys.executable, "-m", "runway_mcp"], env=env)
        async with process:
            assert process.stdin is not None and process.stdout is not None and process.stderr is not None
            await process.stdin.send(payload)
            received = b""
            while received.count(b"\n") < 2:
                received += await process.stdout.receive()
            await process.stdin.aclose()
            await process.wait()
            stderr = b""
            async for chunk in process.stderr:
                stderr += chunk
    lines = [json.loads(line) for line in received.decode().splitlines() if line.strip()]
    assert all(line.get("jsonrpc") == "2.0" for line in lines)
    assert lines[-1]["result"]["isError"] is True
    assert b"runway_mcp" in stderr  # our logs went to stderr
    assert CANARY_KEY.encode() not in received + stderr


async def test_the_canary_key_never_appears_in_results_errors_or_logs(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = make_settings(sandbox_server.url, tmp_path, max_retries=1)
    sandbox.config.supports_cancel = True
    seen: list[str] = []

    def keep(result: Any) -> Any:
        seen.append(result.model_dump_json())
        return result

    async with Client(build_server(settings), mode="legacy") as client:
        created = keep(await client.call_tool("create_video_to_video", SEED_ARGUMENTS))
        task_id = created.structured_content["task_id"]
        keep(await client.call_tool("wait_for_task", {"task_id": task_id, "timeout_seconds": 20}))
        keep(await client.call_tool("download_task_output", {"task_id": task_id}))
        keep(await client.call_tool("list_tasks", {}))
        keep(await client.call_tool("cancel_task", {"task_id": task_id}))
        keep(await client.call_tool("get_task", {"task_id": "missing"}))
        keep(await client.call_tool("create_video_to_video", {"video_uri": "http://x", "prompt_text": ""}))
        # The upstream quoting the key back in an error must not carry it any further.
        sandbox.add_fault(Fault(kind="status", method="POST", status=401, message=f"Invalid token {CANARY_KEY}"))
        keep(await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "x"}))
        for fault in ("status", "html", "drop_connection", "malformed_json"):
            sandbox.add_fault(Fault(kind=fault, status=502, times=-1))  # type: ignore[arg-type]
            keep(await client.call_tool("get_task", {"task_id": task_id}))
            keep(await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "x"}))
            sandbox.clear_faults()
    assert any("[redacted]" in text for text in seen)
    # Everything but the sandbox's own log (which records the fault it was given, key included).
    server_records = [r for r in caplog.records if not r.name.startswith("runway_mcp.sandbox")]
    haystack = "\n".join(seen) + "\n" + "\n".join(f"{r.getMessage()} {r.__dict__!r}" for r in server_records)
    assert CANARY_KEY not in haystack
    data = settings.ledger_path()
    assert data is not None
    cache = settings.schema_cache_dir()
    assert cache is not None and any(cache.iterdir())  # the schema cache was written, and is checked too
    for path in [*data.parent.rglob("*"), *(settings.output_dir or tmp_path).rglob("*"), *cache.rglob("*")]:
        assert CANARY_KEY not in path.name
        if path.is_file():
            assert CANARY_KEY.encode() not in path.read_bytes()


def test_the_key_is_masked_in_every_repr(tmp_path: Path) -> None:
    settings = make_settings("http://127.0.0.1:9", tmp_path)
    assert settings.api_key is not None and settings.api_key.get_secret_value() == CANARY_KEY
    for text in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert CANARY_KEY not in text
    client = RunwayClient(settings, make_http_client(settings))
    assert CANARY_KEY not in repr(client)
    assert CANARY_KEY not in repr(Settings(api_key=SecretStr(CANARY_KEY)))


def test_version_and_help(tmp_path: Path) -> None:
    import subprocess

    from runway_mcp import __version__

    out = subprocess.run([sys.executable, "-m", "runway_mcp", "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.strip().endswith(__version__)
    out = subprocess.run([sys.executable, "-m", "runway_mcp", "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "sandbox" in out.stdout and "demo" in out.stdout
