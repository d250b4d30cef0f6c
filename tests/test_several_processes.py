"""Several `runway-mcp` processes on one data dir share one create journal (issue 14).

Three real stdio servers, one SQLite file, the sandbox on loopback HTTP as the upstream: an idempotency key
sends one create whichever process gets it and however many calls race for it; the daily cap holds across
the processes; and what one process created, the others list.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from runway_mcp.sandbox import Sandbox, SandboxServer
from tests.support import VIDEO, StdioServer, open_stdio_server, raw_result_text, stdio_env

pytestmark = pytest.mark.anyio

CREATE = "create_video_to_video"
CREATE_PATH = "/video_to_video"
PROCESSES = 3
KEYS = 20
CALLS_PER_KEY = 10
CAP = 5
CAPPED_CALLS = 50
ALL_CALLS_SECONDS = 60.0


@asynccontextmanager
async def servers(env: dict[str, str], logs: Path) -> AsyncIterator[list[StdioServer]]:
    """PROCESSES stdio servers with this environment (one data dir)."""
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(open_stdio_server(env, logs / f"server-{i}.log")) for i in range(PROCESSES)
        ]


async def call_all(calls: list[tuple[StdioServer, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every create at once, each on its server; the results in the same order."""
    results: list[dict[str, Any] | None] = [None] * len(calls)

    async def one(index: int, server: StdioServer, arguments: dict[str, Any]) -> None:
        results[index] = await server.call_tool(CREATE, arguments)

    with anyio.fail_after(ALL_CALLS_SECONDS):
        async with anyio.create_task_group() as tg:
            for index, (server, arguments) in enumerate(calls):
                tg.start_soon(one, index, server, arguments)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


async def listed_ids(server: StdioServer) -> set[str]:
    result = await server.call_tool("list_tasks", {"limit": 200})
    assert not result.get("isError"), raw_result_text(result)
    return {t["task_id"] for t in result["structuredContent"]["tasks"] if t["task_id"]}


async def test_racing_keys_across_processes_send_each_create_once(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    env = stdio_env(sandbox_server, tmp_path, RUNWAY_MCP_LOG_LEVEL="INFO")
    async with servers(env, tmp_path) as running:
        calls = []
        for n in range(CALLS_PER_KEY):
            for k in range(KEYS):
                arguments = {"video_uri": VIDEO, "prompt_text": f"Shared key {k}", "idempotency_key": f"shared-{k}"}
                calls.append((running[(n * KEYS + k) % PROCESSES], arguments))
        results = await call_all(calls)

        errors = [raw_result_text(r) for r in results if r.get("isError")]
        assert errors == [], f"{len(errors)} of {len(results)} creates failed, e.g. {errors[:3]}"
        posts = sandbox.api_requests(method="POST", path_contains=CREATE_PATH)
        created = sandbox.task_ids()
        assert len(posts) == KEYS, f"{len(posts)} create POSTs reached the upstream for {KEYS} keys"
        assert len(created) == KEYS and len(set(created)) == KEYS
        by_key: dict[str, set[str]] = collections.defaultdict(set)
        sent_by_key: collections.Counter[str] = collections.Counter()
        for (_, arguments), result in zip(calls, results, strict=True):
            content = result["structuredContent"]
            by_key[arguments["idempotency_key"]].add(content["task_id"])
            if not content["idempotent_replay"]:
                sent_by_key[arguments["idempotency_key"]] += 1
        assert all(len(ids) == 1 for ids in by_key.values()), f"a key answered with several tasks: {by_key}"
        assert set().union(*by_key.values()) == set(created), "a call answered with a task the upstream never made"
        assert sent_by_key == dict.fromkeys(by_key, 1), f"calls that claim to have sent their create: {sent_by_key}"
        # Each process lists every task, whichever process created it.
        for server in running:
            assert await listed_ids(server) >= set(created), f"process {server.pid} does not list them all"
    assert len(sandbox.api_requests(method="POST", path_contains=CREATE_PATH)) == KEYS


async def test_the_daily_cap_holds_across_processes(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    env = stdio_env(sandbox_server, tmp_path, RUNWAY_MCP_LOG_LEVEL="INFO", RUNWAY_MCP_MAX_TASKS_PER_DAY=str(CAP))
    async with servers(env, tmp_path) as running:
        calls = [
            (running[i % PROCESSES], {"video_uri": VIDEO, "prompt_text": f"Capped create {i}"})
            for i in range(CAPPED_CALLS)
        ]
        results = await call_all(calls)
        successes = [r["structuredContent"]["task_id"] for r in results if not r.get("isError")]
        refusals = [raw_result_text(r) for r in results if r.get("isError")]
        posts = sandbox.api_requests(method="POST", path_contains=CREATE_PATH)
        assert len(posts) <= CAP, f"{len(posts)} creates were sent under a cap of {CAP}"
        assert len(posts) == len(successes) == CAP, f"{len(posts)} POSTs, {len(successes)} successes: {refusals[:3]}"
        assert sorted(successes) == sorted(sandbox.task_ids())
        assert len(refusals) == CAPPED_CALLS - CAP
        odd = [text for text in refusals if "RUNWAY_MCP_MAX_TASKS_PER_DAY" not in text]
        assert odd == [], f"refusals that do not name the cap: {odd[:3]}"
        assert all("Nothing was sent" in text for text in refusals)
        for server in running:
            assert await listed_ids(server) == set(successes)
        # Once the cap is reached, every process keeps refusing.
        for server in running:
            again = await server.call_tool(CREATE, {"video_uri": VIDEO, "prompt_text": "One more"})
            assert again.get("isError") and "RUNWAY_MCP_MAX_TASKS_PER_DAY" in raw_result_text(again)
    assert len(sandbox.api_requests(method="POST", path_contains=CREATE_PATH)) == CAP
