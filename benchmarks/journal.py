"""Scenario 6, the create journal: what recording a create adds to it, and creates per second across processes.

Every create is recorded before it is sent and its outcome after (`store/journal.py`): two
transactions on the shared store. The baseline is the create's round trip: a `create_video_to_video`
call with an idempotency key to a server in this process (the in-memory MCP client, so no process
boundary inflates it) against the sandbox on loopback; a bare `httpx` POST of the same create, the
fastest a create could ever be, is shown beside it. The journal's cost is
one `begin` (with an idempotency key, so the key is looked up too) plus one `finish`, timed in
process, for the SQLite file and, when a PostgreSQL server can be started from the system's
binaries (or `RUNWAY_MCP_BENCH_DATABASE_URL` names one), for PostgreSQL. Then three processes
record creates into one store at once, and the scenario reports creates per second.

Neither store waits for a disk flush here: SQLite's WAL with `synchronous = NORMAL` does not flush
at each commit, and the throwaway PostgreSQL server runs without fsync (as the tests' does). On a
server that flushes every commit, `begin` adds one flush of its disk (an attempt must be on disk
before its request leaves); `finish` does not wait for one (`store/postgres_fast.py`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import (
    KEY,
    VIDEO_URL,
    Row,
    RunOptions,
    ScenarioResult,
    call,
    in_memory_server,
    in_memory_settings,
    median,
    ratio,
    running_sandbox,
)
from benchmarks.harness import sandbox_config as make_sandbox_config
from runway_mcp.store.backend import Backend, SqliteBackend
from runway_mcp.store.journal import Attempt, Journal, Proceed

TARGET_RATIO = 0.10
PROCESSES = 3
REPO = Path(__file__).resolve().parents[1]

# One process of the throughput arm: record `count` creates into the store, print when it started and ended.
WORKER = """
import json, sys, time, uuid, anyio
from benchmarks.journal import backend_factory, record_once
from runway_mcp.store.journal import Journal

async def main(store, count):
    journal = await Journal.open(backend_factory(store), lease_seconds=60)
    started = time.time()
    for _ in range(count):
        await record_once(journal, uuid.uuid4().hex)
    ended = time.time()
    await journal.aclose()
    print(json.dumps({"started": started, "ended": ended, "count": count}))

anyio.run(main, sys.argv[1], int(sys.argv[2]))
"""


def backend_factory(store: str) -> Callable[[], Backend]:
    """The backend for a store: a PostgreSQL URL, or an SQLite file path."""
    if store.startswith(("postgresql://", "postgres://")):
        from runway_mcp.store.postgres import PostgresBackend

        return lambda: PostgresBackend(store)
    return lambda: SqliteBackend(Path(store))


async def record_once(journal: Journal, key: str) -> None:
    """What the server records for one keyed create: the attempt, then its outcome."""
    attempt = Attempt(
        owner=None,
        idempotency_key=key,
        endpoint="video_to_video",
        model="gen4_aleph",
        prompt="benchmark",
        params={"promptText": "benchmark", "videoUri": VIDEO_URL},
        request_hash=key,
    )
    decision = await journal.begin(attempt, cap=None, cap_per_owner=False)
    assert isinstance(decision, Proceed), decision
    await journal.finish(decision.attempt_id, "created", task_id=uuid.uuid4().hex)


async def journal_seconds(store: str, count: int) -> list[float]:
    journal = await Journal.open(backend_factory(store), lease_seconds=60)
    if not journal.available:
        raise RuntimeError(f"the journal could not open {store}: {journal.unavailable_reason}")
    timed: list[float] = []
    try:
        for n in range(count + 5):
            started = time.perf_counter()
            await record_once(journal, uuid.uuid4().hex)
            if n >= 5:  # the first few warm the connection and the statement cache
                timed.append(time.perf_counter() - started)
    finally:
        await journal.aclose()
    return timed


def creates_per_second(store: str, count: int) -> float:
    """Three processes each recording `count` creates into one store at once."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, store, str(count)], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(PROCESSES)
    ]
    reports = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        if worker.returncode != 0:
            raise RuntimeError(f"a journal worker failed (exit {worker.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    return sum(r["count"] for r in reports) / wall


def create_round_trips(base_url: str, count: int) -> list[float]:
    """Direct POSTs of a create to the sandbox: the baseline a create cannot beat."""
    body = {"model": "gen4_aleph", "videoUri": VIDEO_URL, "promptText": "benchmark"}
    headers = {"Authorization": f"Bearer {KEY}", "X-Runway-Version": "2024-11-06"}
    timed: list[float] = []
    with httpx.Client(base_url=base_url, headers=headers) as http:
        for n in range(count + 5):
            started = time.perf_counter()
            answer = http.post("/runwayml/v1/video_to_video", json=body)
            if n >= 5:
                timed.append(time.perf_counter() - started)
            answer.raise_for_status()
    return timed


async def create_tool_round_trips(base_url: str, home: Path, count: int) -> list[float]:
    """create_video_to_video with a fresh key each time, through the MCP client, server and journal."""
    timed: list[float] = []
    async with in_memory_server(in_memory_settings(base_url, home)) as client:
        for n in range(count + 5):
            arguments = {"video_uri": VIDEO_URL, "prompt_text": "benchmark", "idempotency_key": uuid.uuid4().hex}
            started = time.perf_counter()
            await call(client, "create_video_to_video", arguments)
            if n >= 5:
                timed.append(time.perf_counter() - started)
    return timed


@contextmanager
def postgres_store() -> Iterator[str | None]:
    """A PostgreSQL URL to measure against, or None (with the reason in the scenario's notes)."""
    given = os.environ.get("RUNWAY_MCP_BENCH_DATABASE_URL")
    if given:
        yield given
        return
    try:
        from tests.pg import PostgresCluster, find_binaries  # the tests' throwaway server from the system binaries
    except ImportError:
        yield None
        return
    binaries = find_binaries()
    if binaries is None:
        yield None
        return
    cluster = PostgresCluster(binaries)
    try:
        cluster.start()
        yield cluster.database_url(cluster.create_database())
    finally:
        cluster.remove()


async def run(options: RunOptions) -> ScenarioResult:
    count = 40 if options.quick else 300
    per_process = 30 if options.quick else 300
    result = ScenarioResult("journal", "Create journal")
    with running_sandbox(make_sandbox_config()) as (server, _counter):
        post = median(create_round_trips(server.url, count))
        round_trip = median(await create_tool_round_trips(server.url, options.workdir / "server", count))
    stores: dict[str, str | None] = {"SQLite": str(options.workdir / "journal.sqlite3")}
    figures: dict[str, Any] = {"create_tool_round_trip_s": round_trip, "bare_post_s": post}
    with postgres_store() as postgres_url:
        stores["PostgreSQL"] = postgres_url
        for name, store in stores.items():
            if store is None:
                result.notes.append(f"{name}: no server could be started here, so it was not measured.")
                continue
            added = median(await journal_seconds(store, count))
            rate = creates_per_second(store, per_process)
            figures[name] = {"journal_s": added, "creates_per_second_3_processes": rate}
            result.rows += [
                Row(
                    f"{name}: journal time added to a create (begin + finish), ms",
                    added * 1000,
                    "ms",
                    round_trip * 1000,
                    "create_video_to_video round trip, in-memory client",
                    ratio(added, round_trip),
                    f"ratio < {TARGET_RATIO:g}",
                    ratio(added, round_trip) < TARGET_RATIO,
                ),
                Row(
                    f"{name}: the same against a bare POST of the create, ms",
                    added * 1000,
                    "ms",
                    post * 1000,
                    "direct httpx POST of the create to the sandbox",
                    ratio(added, post),
                ),
                Row(f"{name}: creates recorded per second, {PROCESSES} processes on one store", rate, "count"),
            ]
    result.figures = figures
    result.notes.append(
        f"Medians of {count} keyed creates after 5 warm-up ones; throughput: {PROCESSES} processes x "
        f"{per_process} creates each, started together."
    )
    return result
