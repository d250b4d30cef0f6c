"""Scenario 2, per-call overhead: get_task of one SUCCEEDED task through MCP against a direct HTTP GET.

Arms, called in turn (the order rotates every round so none always goes first): (a) the in-memory
MCP client, (b) a stdio subprocess client, (c) a direct `httpx` GET of the same task with the same
headers, on a kept-alive connection like the server's. Two more show where the time goes: (d) the
hello-world server's tool over stdio, the SDK's own floor for a stdio call that does no work, and
(e) the in-memory client with the task ledger off (no SQLite update per call). (a) and (b) share
one data directory, so the task is in the ledger of both.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import httpx
from mcp import Client

from benchmarks.harness import (
    KEY,
    Row,
    RunOptions,
    ScenarioResult,
    call,
    hello_params,
    in_memory_server,
    in_memory_settings,
    latency_summary,
    ratio,
    running_sandbox,
    runway_mcp_params,
    sandbox_config,
    server_env,
    stdio_server,
    succeeded_task,
)
from runway_mcp import __version__
from runway_mcp.catalog import DEFAULT_RUNWAY_VERSION

TARGET_STDIO_ADDED_MS = 2.0
WARM_UP_CALLS = 10

Arm = Callable[[], Awaitable[None]]


def upstream_headers() -> dict[str, str]:
    """What RunwayClient sends with a GET tasks/{id} (see upstream.py)."""
    return {
        "Authorization": f"Bearer {KEY}",
        "Accept": "application/json",
        "X-Runway-Version": DEFAULT_RUNWAY_VERSION,
        "User-Agent": f"runway-mcp/{__version__}",
    }


def mcp_arm(client: Client, task_id: str) -> Arm:
    async def get() -> None:
        task = await call(client, "get_task", {"task_id": task_id})
        if task["status"] != "SUCCEEDED":
            raise RuntimeError(f"get_task answered {task['status']}")

    return get


def hello_arm(client: Client) -> Arm:
    async def hello() -> None:
        result = await client.call_tool("hello", {"name": "bench"})
        if result.is_error:
            raise RuntimeError("the hello tool failed")

    return hello


def http_arm(http: httpx.AsyncClient, url: str) -> Arm:
    async def get() -> None:
        response = await http.get(url, headers=upstream_headers())
        if response.status_code != 200 or response.json()["status"] != "SUCCEEDED":
            raise RuntimeError(f"direct GET answered {response.status_code}")

    return get


async def measure(arms: dict[str, Arm], calls: int) -> dict[str, list[float]]:
    names = list(arms)
    for name in names:
        for _ in range(WARM_UP_CALLS):
            await arms[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(calls):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            await arms[name]()
            times[name].append(time.perf_counter() - start)
    return times


async def run(options: RunOptions) -> ScenarioResult:
    calls = 30 if options.quick else 300
    result = ScenarioResult("per_call", "Per-call: get_task")
    home = options.workdir / "per-call"
    with running_sandbox(sandbox_config()) as (sandbox_server, _):
        settings = in_memory_settings(sandbox_server.url, home)
        no_ledger = in_memory_settings(sandbox_server.url, options.workdir / "per-call-no-ledger", ledger_enabled=False)
        env = server_env(sandbox_server.url, home)
        async with (
            in_memory_server(settings) as memory,
            in_memory_server(no_ledger) as memory_no_ledger,
            stdio_server(runway_mcp_params(env), options.errlog) as stdio,
            stdio_server(hello_params(env), options.errlog) as hello,
            httpx.AsyncClient(
                limits=httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=15),
                trust_env=False,
            ) as http,
        ):
            task_id = await succeeded_task(memory)
            url = f"{sandbox_server.url}/runwayml/v1/tasks/{task_id}"
            arms = {
                "in_memory": mcp_arm(memory, task_id),
                "stdio": mcp_arm(stdio.client, task_id),
                "direct_http": http_arm(http, url),
                "stdio_hello_world": hello_arm(hello.client),
                "in_memory_no_ledger": mcp_arm(memory_no_ledger, task_id),
            }
            times = await measure(arms, calls)
    summaries = {name: latency_summary(seconds) for name, seconds in times.items()}
    base = summaries["direct_http"]
    added = {name: round(s["p50_ms"] - base["p50_ms"], 3) for name, s in summaries.items() if name != "direct_http"}
    result.figures = {"calls_per_arm": calls, "latency": summaries, "added_p50_ms": added}
    stdio_s, memory_s = summaries["stdio"], summaries["in_memory"]
    result.rows = [
        Row(
            "stdio get_task p50 (ms)",
            stdio_s["p50_ms"],
            "ms",
            base["p50_ms"],
            "direct httpx GET",
            ratio(stdio_s["p50_ms"], base["p50_ms"]),
            f"adds < {TARGET_STDIO_ADDED_MS:.0f} ms (adds {added['stdio']:.2f})",
            added["stdio"] < TARGET_STDIO_ADDED_MS,
        ),
        Row(
            "stdio get_task p99 (ms)",
            stdio_s["p99_ms"],
            "ms",
            base["p99_ms"],
            "direct httpx GET",
            ratio(stdio_s["p99_ms"], base["p99_ms"]),
        ),
        Row(
            "in-memory get_task p50 (ms)",
            memory_s["p50_ms"],
            "ms",
            base["p50_ms"],
            "direct httpx GET",
            ratio(memory_s["p50_ms"], base["p50_ms"]),
        ),
        Row(
            "in-memory get_task p99 (ms)",
            memory_s["p99_ms"],
            "ms",
            base["p99_ms"],
            "direct httpx GET",
            ratio(memory_s["p99_ms"], base["p99_ms"]),
        ),
    ]
    floor = summaries["stdio_hello_world"]["p50_ms"]
    ours = round(added["stdio"] - floor, 3)
    no_ledger_p50 = summaries["in_memory_no_ledger"]["p50_ms"]
    result.figures["stdio_sdk_floor_p50_ms"] = floor
    result.figures["stdio_added_beyond_sdk_floor_p50_ms"] = ours
    result.rows.append(
        Row(
            "stdio get_task p50 minus direct GET minus SDK floor (ms)",
            ours,
            "ms",
            floor,
            "SDK floor: hello-world tool over stdio, p50",
        )
    )
    result.notes = [
        f"{calls} calls per arm after {WARM_UP_CALLS} warm-up calls, arms rotating each round.",
        f"Added at p50 over the direct GET (ms): stdio {added['stdio']:.2f}, in-memory {added['in_memory']:.2f}.",
        f"Where stdio's time goes: a hello-world tool over the SDK's stdio transport takes {floor:.2f} ms at p50 "
        f"with no upstream call at all, so runway-mcp's own code adds about {ours:.2f} ms beyond the direct GET "
        f"and that floor. In memory with the ledger off: {no_ledger_p50:.2f} ms vs {memory_s['p50_ms']:.2f} ms with it.",
    ]
    return result
