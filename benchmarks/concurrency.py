"""Scenario 3, concurrency: a burst of get_task calls in one session, against the same burst of direct GETs.

Counted for each burst: total time, errors, and the upstream TCP connections the sandbox accepted
(opened during the burst, and the most open at once), to compare with the server's connection pool
(`make_http_client`). The stdio arm always runs; the
streamable-HTTP arm runs when `runway_mcp.remote.app` exists, and is skipped with a note otherwise.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from benchmarks.harness import (
    ConnectionCounter,
    Row,
    RunOptions,
    ScenarioResult,
    call,
    http_server_process,
    in_memory_settings,
    ratio,
    running_sandbox,
    runway_mcp_params,
    sandbox_config,
    server_env,
    stdio_server,
    succeeded_task,
)
from benchmarks.per_call import upstream_headers
from runway_mcp.upstream.transport import make_http_client

BURST_TIMEOUT_SECONDS = 120.0
HTTP_START_TIMEOUT_SECONDS = 30.0
HTTP_TOKEN = "bench-http-token"
# httpx.Limits as make_http_client sets them, should reading them back from the client fail.
DEFAULT_POOL = {"max_connections": 20, "max_keepalive_connections": 10}

Call = Callable[[], Awaitable[None]]


async def pool_limits(base_url: str, home: Path) -> dict[str, int | None]:
    """max_connections / max_keepalive_connections of the server's upstream client, read from a fresh one."""
    async with make_http_client(in_memory_settings(base_url, home)) as client:
        pool = getattr(getattr(client, "_transport", None), "_pool", None)
    return {
        "max_connections": getattr(pool, "_max_connections", None),
        "max_keepalive_connections": getattr(pool, "_max_keepalive_connections", None),
    }


async def burst(size: int, one: Call, connections: ConnectionCounter) -> dict[str, Any]:
    """Run `size` calls at once; time them and count errors and upstream connections."""
    errors: list[str] = []

    async def worker() -> None:
        try:
            await one()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])

    opened_before = connections.mark()
    start = time.perf_counter()
    with anyio.fail_after(BURST_TIMEOUT_SECONDS):
        async with anyio.create_task_group() as group:
            for _ in range(size):
                group.start_soon(worker)
    elapsed = time.perf_counter() - start
    return {
        "calls": size,
        "total_s": round(elapsed, 4),
        "per_call_ms": round(elapsed / size * 1000, 3),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:3],
        "upstream_connections_opened": connections.opened - opened_before,
        "peak_open_upstream_connections": connections.peak_open,
    }


def get_task_call(client: Client, task_id: str) -> Call:
    async def one() -> None:
        await call(client, "get_task", {"task_id": task_id})

    return one


def direct_get_call(http: httpx.AsyncClient, url: str) -> Call:
    async def one() -> None:
        response = await http.get(url, headers=upstream_headers())
        response.raise_for_status()

    return one


@asynccontextmanager
async def http_server(env: dict[str, str], options: RunOptions) -> AsyncIterator[str]:
    """`python -m runway_mcp --transport streamable-http` on a free loopback port; yields the MCP URL."""
    server_env = {**env, "RUNWAY_MCP_AUTH_TOKENS": HTTP_TOKEN}
    async with http_server_process(
        server_env, options, flags=(), seconds=HTTP_START_TIMEOUT_SECONDS, what="the HTTP server"
    ) as (_, url):
        yield url


async def http_arm(
    size: int, env: dict[str, str], task_id: str, connections: ConnectionCounter, options: RunOptions
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {HTTP_TOKEN}"}
    async with (
        http_server(env, options) as url,
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as http_client,
        Client(streamable_http_client(url, http_client=http_client)) as client,
    ):
        await call(client, "get_task", {"task_id": task_id})
        return await burst(size, get_task_call(client, task_id), connections)


async def quiet(connections: ConnectionCounter, limit_seconds: float = 5.0) -> None:
    """Wait (boundedly) until the sandbox has seen every earlier connection close, so the next arm counts alone."""
    for _ in range(int(limit_seconds / 0.05)):
        if connections.open <= 0:
            return
        await anyio.sleep(0.05)


async def direct_arm(
    size: int, url: str, max_connections: int, max_keepalive: int, connections: ConnectionCounter
) -> dict[str, Any]:
    """The burst as direct GETs from one httpx client with these pool limits, after one warm-up GET."""
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_keepalive, keepalive_expiry=15)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as http:
        await http.get(url, headers=upstream_headers())
        return await burst(size, direct_get_call(http, url), connections)


async def run(options: RunOptions) -> ScenarioResult:
    size = 50 if options.quick else 200
    result = ScenarioResult("concurrency", f"Concurrency: {size} get_task at once")
    home = options.workdir / "concurrency"
    with running_sandbox(sandbox_config()) as (sandbox_server, connections):
        env = server_env(sandbox_server.url, home)
        limits = await pool_limits(sandbox_server.url, home)
        max_connections = limits["max_connections"] or DEFAULT_POOL["max_connections"]
        max_keepalive = limits["max_keepalive_connections"] or DEFAULT_POOL["max_keepalive_connections"]
        # Each arm runs alone, after the sandbox has seen the previous arm's connections close.
        async with stdio_server(runway_mcp_params(env), options.errlog) as stdio:
            task_id = await succeeded_task(stdio.client)
            over_stdio = await burst(size, get_task_call(stdio.client, task_id), connections)
        await quiet(connections)
        url = f"{sandbox_server.url}/runwayml/v1/tasks/{task_id}"
        # The server's pool limits, so the baseline is the best the server's own client could do.
        direct = await direct_arm(size, url, max_connections, max_keepalive, connections)
        await quiet(connections)
        # Diagnostic: the same with every connection kept alive, to show what max_keepalive_connections costs.
        direct_keep_all = await direct_arm(size, url, max_connections, max_connections, connections)
        await quiet(connections)
        over_http: dict[str, Any] | None = None
        http_note = ""
        if importlib.util.find_spec("runway_mcp.remote.app") is None:
            http_note = "HTTP arm skipped: runway_mcp.remote.app does not exist yet."
        else:
            try:
                over_http = await http_arm(size, env, task_id, connections, options)
            except Exception as exc:
                http_note = f"HTTP arm skipped: {type(exc).__name__}: {exc}"[:300]
    result.figures = {
        "burst_size": size,
        "server_pool": limits,
        "direct_http": direct,
        "direct_http_keepalive_all": direct_keep_all,
        "stdio": over_stdio,
        "streamable_http": over_http,
    }
    pool_max = limits["max_connections"] or 0
    result.rows = arm_rows("stdio", over_stdio, direct, pool_max)
    if over_http is not None:
        result.rows += arm_rows("HTTP", over_http, direct, pool_max)
    arms = {
        "direct": direct,
        f"direct with keep-alive {max_connections}": direct_keep_all,
        "stdio": over_stdio,
        "HTTP": over_http,
    }
    result.notes = [
        "Upstream connections counted by the sandbox's server (TCP accepts), opened during the burst / most open at "
        "once: "
        + ", ".join(
            f"{name} {arm['upstream_connections_opened']} / {arm['peak_open_upstream_connections']}"
            for name, arm in arms.items()
            if arm is not None
        )
        + f"; the server's pool: {limits}. More opened than the pool holds means connections were closed and "
        "reopened (churn beyond max_keepalive_connections), not that the limit was exceeded.",
    ]
    if http_note:
        result.notes.append(http_note)
    return result


def arm_rows(label: str, arm: dict[str, Any], direct: dict[str, Any], pool_max: int) -> list[Row]:
    """Total time against the direct burst, errors, and the most upstream connections open at once."""
    peak = arm["peak_open_upstream_connections"]
    return [
        Row(
            f"{label} burst total (s)",
            arm["total_s"],
            "s",
            direct["total_s"],
            f"{arm['calls']} direct httpx GETs at once",
            ratio(arm["total_s"], direct["total_s"]),
        ),
        Row(f"{label} burst errors", arm["errors"], "count", target="0", met=arm["errors"] == 0),
        Row(
            f"{label} burst: most upstream connections open at once",
            peak,
            "count",
            pool_max or None,
            "server pool max_connections",
            target=f"<= {pool_max}" if pool_max else "",
            met=peak <= pool_max if pool_max else None,
        ),
        Row(f"{label} burst: upstream connections opened", arm["upstream_connections_opened"], "count"),
    ]
