"""Scenario 7, byo_flood: junk keys against a bring-your-own-key HTTP server, and what the server's memory does.

The server runs as its own process (`python -m runway_mcp --transport streamable-http --byo-key`), so
its memory can be read from /proc; the sandbox upstream, which accepts one key only, runs in a thread of
this process. A real caller first completes an errand (initialize, create_video_to_video, get_task) twice,
so that the server has loaded everything a call needs (the second is the errand's baseline time); its
resident memory then is the idle baseline. Then
the flood: 2,000 initializes (200 quick), each with a new random key, and 200 event-stream GETs (20
quick) with more, 16 at a time. Then the real caller does its errand again. Reported: the server's
resident and peak memory after the flood as a ratio to idle, how the junk was answered (all 401 is the
target), upstream reads per junk key (each key is checked once), and the real errand's time after the
flood against before it.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from benchmarks.harness import (
    MIB,
    VIDEO_URL,
    Row,
    RunOptions,
    ScenarioResult,
    call,
    http_server_process,
    memory_status,
    ratio,
    reset_peak,
    running_sandbox,
    sandbox_config,
    server_env,
)

REAL_KEY = "sk-bench-real-caller-7Hd2Qm9Xw4"
PROBE_PATH = "/tasks/00000000-0000-4000-8000-000000000000"
CONCURRENCY = 16
START_SECONDS = 60.0
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "junk", "version": "0"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def sizes(quick: bool) -> tuple[int, int]:
    """(junk initializes, junk event streams)."""
    return (200, 20) if quick else (2000, 200)


@asynccontextmanager
async def byo_server(env: dict[str, str], options: RunOptions) -> AsyncIterator[tuple[int, str]]:
    """The BYO HTTP server as a process on a free port; yields its pid and its MCP endpoint."""
    async with http_server_process(
        env,
        options,
        flags=("--byo-key",),
        seconds=START_SECONDS,
        what="the BYO server",
        unset=("RUNWAY_MCP_AUTH_TOKENS",),
    ) as server:
        yield server


async def errand(url: str) -> float:
    """A real caller's session: create a task and read it back; returns the seconds it took."""
    start = time.perf_counter()
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {REAL_KEY}"}, timeout=60) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        created = await call(client, "create_video_to_video", {"video_uri": VIDEO_URL, "prompt_text": "Snow"})
        await call(client, "get_task", {"task_id": created["task_id"]})
    return time.perf_counter() - start


async def flood(url: str, initializes: int, streams: int) -> tuple[Counter[int], float]:
    """The junk, CONCURRENCY requests at a time, each with a new key; returns the statuses and the seconds."""
    statuses: Counter[int] = Counter()
    limits = httpx2.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    start = time.perf_counter()
    async with httpx2.AsyncClient(timeout=60, limits=limits) as http:

        async def junk_initializes(count: int) -> None:
            for _ in range(count):
                headers = {**ACCEPT, "Authorization": f"Bearer sk-junk-{secrets.token_hex(12)}"}
                statuses[(await http.post(url, json=INITIALIZE, headers=headers)).status_code] += 1

        async def junk_streams(count: int) -> None:
            for _ in range(count):
                headers = {"Accept": "text/event-stream", "Authorization": f"Bearer sk-junk-{secrets.token_hex(12)}"}
                async with http.stream("GET", url, headers=headers) as answer:
                    statuses[answer.status_code] += 1

        async with anyio.create_task_group() as tg:
            for worker in range(CONCURRENCY):
                tg.start_soon(junk_initializes, initializes // CONCURRENCY + (worker < initializes % CONCURRENCY))
                tg.start_soon(junk_streams, streams // CONCURRENCY + (worker < streams % CONCURRENCY))
    return statuses, time.perf_counter() - start


async def run(options: RunOptions) -> ScenarioResult:
    initializes, streams = sizes(options.quick)
    result = ScenarioResult("byo_flood", f"BYO flood: {initializes:,} junk initializes + {streams} junk streams")
    home = options.workdir / "byo_flood"
    with running_sandbox(sandbox_config(api_key=REAL_KEY)) as (sandbox_server, _):
        sandbox = sandbox_server.sandbox
        env = server_env(sandbox_server.url, home)
        async with byo_server(env, options) as (pid, url):
            await errand(url)  # the first errand pays first-use costs (imports, the upstream client)
            before = await errand(url)
            idle = memory_status(pid)
            peak_reset = reset_peak(pid)
            probes_before = len(sandbox.api_requests(path_contains=PROBE_PATH))
            statuses, seconds = await flood(url, initializes, streams)
            flooded = memory_status(pid)
            probes = len(sandbox.api_requests(path_contains=PROBE_PATH)) - probes_before
            after = await errand(url)
            settled = memory_status(pid)
    junk = initializes + streams
    growth = flooded["VmRSS"] - idle["VmRSS"]
    peak_growth = flooded["VmHWM"] - (idle["VmRSS"] if peak_reset else idle["VmHWM"])
    refused = statuses.get(401, 0)
    result.figures = {
        "junk_initializes": initializes,
        "junk_streams": streams,
        "concurrency": CONCURRENCY,
        "statuses": {str(status): count for status, count in sorted(statuses.items())},
        "flood_seconds": round(seconds, 3),
        "junk_per_second": round(junk / seconds, 1) if seconds else None,
        "upstream_probes": probes,
        "idle": idle,
        "after_flood": flooded,
        "after_real_errand": settled,
        "peak_reset": peak_reset,
        "errand_seconds_before": round(before, 4),
        "errand_seconds_after": round(after, 4),
    }
    result.rows = [
        Row(
            "server RSS growth over the flood (MiB)",
            growth / MIB,
            "MiB",
            idle["VmRSS"] / MIB,
            "server RSS idle (after two real errands)",
            ratio(growth, idle["VmRSS"]),
            "ratio < 0.25",
            ratio(growth, idle["VmRSS"]) < 0.25,
        ),
        Row(
            "server peak RSS rise during the flood (MiB)",
            peak_growth / MIB,
            "MiB",
            idle["VmRSS"] / MIB,
            "server RSS idle",
            ratio(peak_growth, idle["VmRSS"]),
        ),
        Row("junk requests not answered 401", junk - refused, "count", target="0", met=junk == refused),
        Row(
            "upstream reads per junk key",
            probes / junk if junk else None,
            "ratio",
            target="<= 1",
            met=probes <= junk,
        ),
        Row(
            "real caller's create + get after the flood (s)",
            after,
            "s",
            before,
            "the same errand before the flood",
            ratio(after, before),
        ),
        Row("flood duration (s)", seconds, "s"),
    ]
    result.notes = [
        f"{junk:,} junk requests ({initializes:,} initializes, {streams} event-stream GETs), each with a new random "
        f"key, {CONCURRENCY} at a time, in {seconds:.1f} s ({junk / seconds:.0f}/s); answered "
        + ", ".join(f"{count} x HTTP {status}" for status, count in sorted(statuses.items()))
        + f". The upstream saw {probes} key checks (one read each).",
        f"Server RSS: idle {idle['VmRSS'] / MIB:.1f} MiB, after the flood {flooded['VmRSS'] / MIB:.1f} MiB "
        f"(peak {flooded['VmHWM'] / MIB:.1f}), after the next real errand {settled['VmRSS'] / MIB:.1f} MiB. "
        "The growth is the verdict table (at most 10,000 keys, by hash) and the allocator keeping memory "
        "it touched while answering.",
    ]
    return result
