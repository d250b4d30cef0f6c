"""Odd answers from the upstream and odd values from a caller, through the real `runway-mcp` over stdio.

Each test here reproduces one finding of a hostile review (issue 17): an unusable `Retry-After`, a long
error that quotes the key, a data URI whose header is long, a task id that smuggles a path. The upstream
is the sandbox, or a stub on real loopback HTTP where the sandbox cannot produce the odd answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from runway_mcp.sandbox import Fault, Sandbox, SandboxServer
from tests.support import (
    CANARY_KEY,
    StubUpstream,
    open_stdio_server,
    raw_result_text,
    stdio_env,
    stub_env,
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
