"""Odd answers from the upstream and odd values from a caller, through the real `runway-mcp` over stdio.

Each test here reproduces one finding of a hostile review (issue 17): an unusable `Retry-After`, a long
error that quotes the key, a data URI whose header is long, a task id that smuggles a path. The upstream
is the sandbox, or a stub on real loopback HTTP where the sandbox cannot produce the odd answer.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import signal
import time
from pathlib import Path

import anyio
import pytest

from runway_mcp.sandbox import Fault, Sandbox, SandboxServer, asset_bytes
from tests.support import (
    CANARY_KEY,
    StubUpstream,
    open_stdio_server,
    raw_result_text,
    stdio_env,
    stub_env,
    wait_until,
)

pytestmark = pytest.mark.anyio

TASK_ID = "0f0f0f0f-aaaa-4bbb-8ccc-123456789abc"
SUCCEEDED = json.dumps(
    {
        "id": TASK_ID,
        "status": "SUCCEEDED",
        "createdAt": "2026-05-01T12:47:47.351Z",
        "output": ["https://x.example/o.mp4"],
    }
).encode()

# Values a careless or hostile gateway might put in Retry-After; none of them is advice a client can follow.
UNUSABLE_RETRY_AFTER = ["nan", "NaN", "inf", "-inf", "-5", "1e308", "99999999999", "soon", "0x10", "1e400", "  "]


async def test_an_unusable_retry_after_falls_back_to_the_normal_backoff(tmp_path: Path) -> None:
    with StubUpstream(default=(200, {}, SUCCEEDED)) as stub:
        env = stub_env(stub, tmp_path, RUNWAY_MCP_MAX_RETRIES="2", RUNWAY_MCP_RETRY_BUDGET="10")
        log = tmp_path / "server.log"
        async with open_stdio_server(env, log) as server:
            for index, value in enumerate(UNUSABLE_RETRY_AFTER):
                status = 429 if index % 2 else 503
                stub.answers = [(status, {"Retry-After": value}, b'{"error": {"message": "busy"}}')]
                before = len(stub.requests)
                with anyio.fail_after(20):
                    result = await server.call_tool("get_task", {"task_id": TASK_ID})
                text = raw_result_text(result)
                assert not result.get("isError"), f"Retry-After {value!r} (HTTP {status}): {text}"
                assert result["structuredContent"]["status"] == "SUCCEEDED"
                assert len(stub.requests) - before == 2, f"Retry-After {value!r}: not retried once"
        logged = log.read_text()
    assert "Traceback" not in logged
    assert "retry 1 in" in logged  # the retries went through the normal backoff


# The upstream's own words are cut to this many characters in an error (runway_mcp.upstream.responses).
DETAIL_LIMIT = 1000


async def test_a_long_error_that_quotes_the_key_never_shows_a_piece_of_it(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    """The key straddles the cut: 19 of its characters fall before it, as in the report."""
    shown = 19
    message = "~" * (DETAIL_LIMIT - shown) + CANARY_KEY + " was refused"
    sandbox.add_fault(Fault(kind="status", status=400, method="GET", message=message, times=-1))
    log = tmp_path / "server.log"
    async with open_stdio_server(stdio_env(sandbox_server, tmp_path), log) as server:
        with anyio.fail_after(20):
            result = await server.call_tool("get_task", {"task_id": TASK_ID})
    text = raw_result_text(result)
    assert result.get("isError") and "HTTP 400" in text
    assert "~~~" in text, "the upstream's words did not reach the error at all"
    for seen, where in ((text, "the tool result"), (log.read_text(), "the log")):
        assert f"~{CANARY_KEY[0]}" not in seen, f"the start of the key leaked into {where}"
        assert CANARY_KEY[5:17] not in seen


# Every path to the upstream checks a task id the way the tools do

SMUGGLED_IDS = ["a%2Fb", "..%2F..%2Forganization", "a%3Fx%3D1", "a%23b", "a%00b", "a%20b", "%2E%2E", "x" * 129]


async def test_the_task_resource_checks_the_task_id_like_the_tools(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    async with open_stdio_server(stdio_env(sandbox_server, tmp_path), tmp_path / "server.log") as server:
        for smuggled in SMUGGLED_IDS:
            with anyio.fail_after(20):
                answer = await server.answer(
                    await server.send_request("resources/read", {"uri": f"runway://tasks/{smuggled}"})
                )
            assert "error" in answer, f"runway://tasks/{smuggled} was answered: {answer}"
            # Ours names the rule; the SDK refuses some of them itself before any template matches.
            message = answer["error"]["message"]
            assert "is not a task id" in message or message.startswith("Unknown resource"), answer["error"]
        # The same ids through the tool are refused by its argument schema: both say what a task id looks like.
        refused = await server.call_tool("get_task", {"task_id": "a/b"})
        assert refused.get("isError")
    assert sandbox.requests == [], [r.path for r in sandbox.requests]


# A data URI is summarised by its structure, whatever the length of its header

PARAMETER_VALUE = "q" * 600


def long_header_data_uri(size: int) -> tuple[str, str]:
    """`data:video/mp4;p=<600 chars>;codecs=avc1;base64,<size random bytes>`, and a slice of its base64 to search for."""
    payload = base64.b64encode(asset_bytes("sample_input.mp4") + os.urandom(size)).decode()
    uri = f"data:video/mp4;p={PARAMETER_VALUE};codecs=avc1;base64,{payload}"
    return uri, payload[len(payload) // 2 : len(payload) // 2 + 48]


async def test_a_data_uri_with_a_long_header_is_summarised_in_answers_logs_and_the_record(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    uri, needle = long_header_data_uri(6 * 1024 * 1024)
    arguments = {"video_uri": uri, "prompt_text": "Make it snow"}
    log = tmp_path / "server.log"
    async with open_stdio_server(stdio_env(sandbox_server, tmp_path), log) as server:
        with anyio.fail_after(60):
            preview = await server.call_tool("create_video_to_video", {**arguments, "dry_run": True})
            created = await server.call_tool("create_video_to_video", arguments)
            listed = await server.call_tool("list_tasks", {})
    assert not preview.get("isError") and not created.get("isError"), raw_result_text(created)[:500]
    # The upstream got the whole URI; nothing the server answered, logged or stored carries its bytes.
    (post,) = sandbox.api_requests(method="POST")
    assert post.json is not None and post.json["videoUri"] == uri
    answers = json.dumps([preview, created, listed])
    assert len(answers) < 20_000, f"answers of {len(answers):,} characters"
    summary = preview["structuredContent"]["request_preview"]["body"]["videoUri"]["data_uri"]
    assert summary["media_type"] == "video/mp4"
    assert summary["parameters"] == ["p", "codecs"]
    assert summary["bytes"] == len(base64.b64decode(uri.partition(",")[2]))
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    for where, text in (("an answer", answers), ("the log", log.read_text()), ("the record", stored.decode("latin-1"))):
        assert needle not in text, f"media bytes reached {where}"
        assert PARAMETER_VALUE[:100] not in text, f"the header's parameter value reached {where}"


# Partial downloads a crash left behind are cleaned on the next start: only ours, only stale

OUTPUT_PATH = "/media/out.mp4"


async def test_stale_partial_downloads_are_cleaned_on_start_and_nothing_else(tmp_path: Path) -> None:
    video = asset_bytes("output.mp4") + b"\0" * (256 * 1024)
    with StubUpstream() as stub:
        task = {
            "id": TASK_ID,
            "status": "SUCCEEDED",
            "createdAt": "2026-05-01T12:47:47Z",
            "output": [stub.url + OUTPUT_PATH],
        }
        stub.default = (200, {}, json.dumps(task).encode())
        stub.routes[OUTPUT_PATH] = (200, {"Content-Type": "video/mp4"}, video)
        stub.stall_after[OUTPUT_PATH] = len(video) // 2
        out = tmp_path / "out"
        env = stub_env(stub, tmp_path)
        log = tmp_path / "server.log"
        async with open_stdio_server(env, log) as server:
            await server.start_tool_call("download_task_output", {"task_id": TASK_ID})
            await wait_until(lambda: any(out.glob(".partial-*.download")), 20, "the download to start")
            os.killpg(server.pid, signal.SIGKILL)  # a crash mid-download
            assert await server.exit_code_within(10) is not None
        (crashed,) = out.glob(".partial-*.download")

        # Others' files, and names that only look like ours, are never touched.
        others = [".partial-foreign.txt", ".partial-abcdefgh.download.keep", "clip.partial-abcdefgh.download"]
        others += [".partial-abc.download", "notes.md"]
        for name in others:
            (out / name).write_text("keep me")
        # One of our names whose download is alive in another process: it holds the file's lock.
        live = out / ".partial-livelive.download"
        live.write_bytes(b"still downloading")
        long_ago = time.time() - 7200
        for path in (crashed, live, *(out / name for name in others)):
            os.utime(path, (long_ago, long_ago))
        fresh = out / ".partial-freshnow.download"  # ours, unlocked, but just written: may be a download starting
        fresh.write_bytes(b"just created")
        with live.open("rb") as holder:
            fcntl.flock(holder, fcntl.LOCK_EX)
            async with open_stdio_server(env, log):
                pass
        assert not crashed.exists(), "the crashed download's partial file survived a restart"
        assert live.exists() and fresh.exists(), "a partial file in use (or just made) was removed"
        for name in others:
            assert (out / name).read_text() == "keep me", f"{name} was touched"
