"""A bounded soak: concurrent clients, random faults, and nothing lost, duplicated or leaked.

For SOAK_SECONDS (60 by default; RUNWAY_MCP_SOAK_SECONDS=600 for a longer local run) several MCP clients create,
poll, wait for, download, cancel and list tasks at once, while an injector adds transient faults to the sandbox's
GETs and damages the answers of some creates after the task was made (`after_create`). Afterwards:
- every task whose create returned success is in the ledger, and in list_tasks exactly once;
- every task the sandbox created but no create returned was answered with an ambiguous error ("may have been
  created"), never with a success or a plain refusal; no create made two tasks;
- no call crashed, and the server still answers;
- the server's resident memory grew by less than RSS_GROWTH_LIMIT_MB between warm-up and the end.

Transport: the server runs as its own process over streamable HTTP (`runway-mcp --transport streamable-http`),
so its memory is measured alone. Set RUNWAY_MCP_SOAK_TRANSPORT=memory to soak the in-memory client instead
(then the memory figure is the whole test process's).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import random
import re
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

from runway_mcp.sandbox import Fault, Sandbox, SandboxServer
from runway_mcp.tools.server import build_server
from tests.support import (
    CANARY_KEY,
    CREATE_ARGUMENTS,
    assert_clear_outcome,
    clean_env,
    make_settings,
    result_text,
    server_process,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SOAK_SECONDS = float(os.environ.get("RUNWAY_MCP_SOAK_SECONDS", "60"))
SOAK_OVER_HTTP = (
    os.environ.get("RUNWAY_MCP_SOAK_TRANSPORT", "http") == "http"
    and importlib.util.find_spec("runway_mcp.remote.app") is not None
)
WORKERS = 8
RSS_GROWTH_LIMIT_MB = 25.0
WARM_UP_FRACTION = 0.2
CALL_LIMIT_SECONDS = 60.0
AMBIGUOUS = re.compile(r"may (or may not )?have been created")
SERVER_ENV = {
    "RUNWAY_MCP_POLL_INTERVAL": "0.2",
    "RUNWAY_MCP_MAX_RETRIES": "4",
    "RUNWAY_MCP_RETRY_BUDGET": "15",
    "RUNWAY_MCP_READ_TIMEOUT": "5",
    "RUNWAY_MCP_HTTP_ALLOW_LOCAL_DOWNLOADS": "1",
    "RUNWAY_MCP_LOG_LEVEL": "INFO",
}
READ_FAULTS = [
    Fault(kind="status", method="GET", path="/tasks/", status=status, retry_after=0.05)
    for status in (429, 500, 502, 503, 504, 524)
] + [
    Fault(kind=kind, method="GET", path="/tasks/")  # type: ignore[arg-type]
    for kind in ("drop_connection", "reset_mid_response", "html", "empty", "malformed_json")
]
DAMAGED_CREATES = [
    Fault(kind=kind, method="POST", after_create=True, status=502)  # type: ignore[arg-type]
    for kind in ("drop_connection", "reset_mid_response", "html", "status", "empty", "malformed_json")
]


@dataclass
class Tally:
    """What the clients saw, to be checked against what the sandbox and the ledger recorded."""

    created: list[str] = field(default_factory=list)
    replays: dict[str, str] = field(default_factory=dict)
    """idempotency key -> the task its first successful create returned."""
    ambiguous: int = 0
    refused: list[str] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    read_errors: list[str] = field(default_factory=list)


async def worker(
    number: int, connect: Callable[[], AbstractAsyncContextManager[Client]], deadline: float, tally: Tally, out: Path
) -> None:
    rng = random.Random(number)
    async with connect() as client:

        async def call(tool: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
            with anyio.fail_after(CALL_LIMIT_SECONDS):
                result = await client.call_tool(tool, arguments)
            tally.calls[tool] += 1
            if assert_clear_outcome(result, tool):
                return result.structured_content
            tally.errors[tool] += 1
            text = result_text(result)
            if not tool.startswith("create_"):
                tally.read_errors.append(text)
            elif AMBIGUOUS.search(text):
                tally.ambiguous += 1
            else:
                tally.refused.append(text)
            return None

        iteration = 0
        while time.monotonic() < deadline:
            iteration += 1
            tool = rng.choice([*CREATE_ARGUMENTS, "create_video_to_video", "create_video_to_video"])
            arguments = dict(CREATE_ARGUMENTS[tool])
            key = None
            if rng.random() < 0.2:
                key = f"soak-{number}-{rng.randrange(3)}"  # repeated keys: replays of the first create
                arguments = dict(CREATE_ARGUMENTS["create_video_to_video"], idempotency_key=key)
                tool = "create_video_to_video"
            created = await call(tool, arguments)
            if created is None:
                continue
            task_id = created["task_id"]
            if key is not None:
                first = tally.replays.setdefault(key, task_id)
                assert task_id == first, f"idempotency key {key} gave {task_id}, first {first}"
                assert created["idempotent_replay"] == (task_id in tally.created)
            else:
                assert task_id not in tally.created, f"two creates returned the same task {task_id}"
            if task_id not in tally.created:
                tally.created.append(task_id)
            await call("get_task", {"task_id": task_id})
            done = await call("wait_for_task", {"task_id": task_id, "timeout_seconds": 4})
            if done is not None and done["status"] == "SUCCEEDED" and rng.random() < 0.3:
                await call("download_task_output", {"task_id": task_id, "directory": str(out / f"w{number}")})
            if rng.random() < 0.1:
                await call("cancel_task", {"task_id": task_id})
            if iteration % 5 == 0:
                await call("list_tasks", {"limit": 5})
            await anyio.sleep(rng.uniform(0.05, 0.3))


async def inject_faults(sandbox: Sandbox, deadline: float) -> int:
    rng = random.Random(8)
    injected = 0
    while time.monotonic() < deadline:
        await anyio.sleep(rng.uniform(0.1, 0.4))
        fault = rng.choice(READ_FAULTS)
        sandbox.add_fault(dataclasses.replace(fault, times=rng.choice([1, 1, 2])))
        injected += 1
        if rng.random() < 0.12:
            sandbox.add_fault(rng.choice(DAMAGED_CREATES))
            injected += 1
    sandbox.clear_faults()
    return injected


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@dataclass
class Served:
    connect: Callable[[], AbstractAsyncContextManager[Client]]
    pid: int
    ledger: Path
    log: Path | None


@asynccontextmanager
async def serve(sandbox_server: SandboxServer, tmp_path: Path) -> AsyncIterator[Served]:
    data = tmp_path / "data"
    if SOAK_OVER_HTTP:
        args = [
            sys.executable,
            "-m",
            "runway_mcp",
            "--transport",
            "streamable-http",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ]
        env = clean_env(tmp_path, COMETAPI_BASE_URL=sandbox_server.url, COMETAPI_KEY=CANARY_KEY, **SERVER_ENV)
        log = tmp_path / "server.log"
        with server_process(args, env, log) as (process, url):

            @asynccontextmanager
            async def connect() -> AsyncIterator[Client]:
                async with Client(url + "/mcp") as client:
                    yield client

            yield Served(connect, process.pid, data / "tasks.sqlite3", log)
        return
    settings = make_settings(sandbox_server.url, tmp_path, poll_interval_seconds=0.2, max_retries=4, log_level="INFO")
    server = build_server(settings)

    @asynccontextmanager
    async def connect_in_memory() -> AsyncIterator[Client]:
        async with Client(server) as client:
            yield client

    yield Served(connect_in_memory, os.getpid(), data / "tasks.sqlite3", None)


async def test_soak_loses_nothing_duplicates_nothing_and_stays_small(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    sandbox.config.supports_cancel = True
    tally = Tally()
    async with serve(sandbox_server, tmp_path) as served:
        started = time.monotonic()
        deadline = started + SOAK_SECONDS
        rss: dict[str, float] = {}

        async def measure() -> None:
            await anyio.sleep(SOAK_SECONDS * WARM_UP_FRACTION)
            rss["warm"] = rss_mb(served.pid)

        async with anyio.create_task_group() as group:
            group.start_soon(measure)
            group.start_soon(inject_faults, sandbox, deadline)
            for number in range(WORKERS):
                group.start_soon(worker, number, served.connect, deadline, tally, tmp_path / "out")
        rss["end"] = rss_mb(served.pid)
        if SOAK_OVER_HTTP:
            async with httpx.AsyncClient() as http:
                assert (await http.get(served_url(served) + "/healthz")).json() == {"status": "ok"}
        async with served.connect() as client:
            listing = await client.call_tool("list_tasks", {"limit": 200})
            assert listing.structured_content is not None
            # Creates in doubt are listed too, without a task id (they may or may not exist upstream).
            tasks = listing.structured_content["tasks"]
            listed = Counter(t["task_id"] for t in tasks if t["task_id"] is not None)
    elapsed = time.monotonic() - started
    assert tally.created, "no create succeeded during the soak"

    # Nothing lost: every successful create is in the ledger, and listed once (list_tasks holds the newest 200).
    with sqlite3.connect(served.ledger) as ledger:
        recorded = Counter(row[0] for row in ledger.execute("SELECT task_id FROM tasks"))
    assert all(recorded[t] == 1 for t in tally.created), "a successful create is missing from the ledger"
    newest = tally.created[-min(len(tally.created), 150) :]
    assert all(listed[t] == 1 for t in newest), "a recent task is missing from list_tasks or listed twice"
    assert all(count == 1 for count in listed.values())

    # Nothing duplicated, and every task the clients never heard of was reported as possibly created.
    made = set(sandbox.task_ids())
    assert set(tally.created) <= made
    unknown = made - set(tally.created)
    assert len(unknown) <= tally.ambiguous, (
        f"{len(unknown)} tasks created upstream, {tally.ambiguous} ambiguous answers"
    )
    for request in sandbox.api_requests(method="POST"):
        if request.created_task_id in unknown:
            assert request.fault is not None, "a create that got a clean answer produced a task nobody was told of"
    creates = sum(n for tool, n in tally.calls.items() if tool.startswith("create_"))
    assert len(sandbox.api_requests(method="POST")) <= creates, "more creates reached the upstream than were asked for"
    assert not tally.refused, f"creates refused without being ambiguous: {tally.refused[:3]}"

    # Still small, and no crash in the server's own log.
    growth = rss["end"] - rss["warm"]
    assert growth < RSS_GROWTH_LIMIT_MB, f"RSS grew {growth:.1f} MB ({rss}) over {elapsed:.0f} s"
    if served.log is not None:
        assert "Traceback" not in served.log.read_text(errors="replace")
    print(
        f"\nsoak: {elapsed:.0f} s over {'HTTP' if SOAK_OVER_HTTP else 'memory'}, {sum(tally.calls.values())} calls "
        f"{dict(tally.calls)}, {len(tally.created)} tasks, {tally.ambiguous} ambiguous creates, "
        f"{sum(tally.errors.values())} errors {dict(tally.errors)}, RSS {rss['warm']:.1f} -> {rss['end']:.1f} MB"
    )
    for text in tally.read_errors:
        print("  read error:", text[:300])


def served_url(served: Served) -> str:
    assert served.log is not None
    found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", served.log.read_text(errors="replace"))
    assert found is not None
    return found.group(1)
