"""Scenario 1, cold start: spawn over stdio until the first tools/list answer, against a hello-world MCPServer.

Both servers run with this interpreter and are timed alternately (the order swaps every round, so
neither always goes first); one untimed start of each warms the page cache and bytecode first.
`-X importtime` then shows which of our own modules (and the libraries only we import) add to the
SDK's import time, and `startup_phases.py` splits a start into imports, settings, tool registration
and the lifespan.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from benchmarks.harness import (
    Row,
    RunOptions,
    ScenarioResult,
    hello_params,
    median,
    ratio,
    running_sandbox,
    runway_mcp_params,
    sandbox_config,
    server_env,
)

TARGET_RATIO = 1.10
TOP_MODULES = 12
TOP_PACKAGES = 8


async def first_calls(
    params: StdioServerParameters, options: RunOptions, tool: str, arguments: dict[str, Any]
) -> tuple[float, float]:
    """Seconds for the first and the second call of `tool` after tools/list in a fresh server.

    runway-mcp builds a tool's argument model and loads the upstream stack on first use (that is
    what keeps its start short), so the first call carries that cost; this shows how much.
    """
    async with Client(stdio_client(params, errlog=options.errlog)) as client:
        await client.list_tools()
        timed: list[float] = []
        for _ in range(2):
            start = time.perf_counter()
            await client.call_tool(tool, arguments)
            timed.append(time.perf_counter() - start)
    return timed[0], timed[1]


async def time_to_tools_list(params: StdioServerParameters, options: RunOptions) -> float:
    """Seconds from spawning the server to holding its tools/list answer."""
    start = time.perf_counter()
    async with Client(stdio_client(params, errlog=options.errlog)) as client:
        tools = await client.list_tools()
        elapsed = time.perf_counter() - start
    if not tools.tools:
        raise RuntimeError(f"{params.args} listed no tools")
    return elapsed


def parse_importtime(stderr: str) -> dict[str, tuple[int, int]]:
    """`-X importtime` output as {module: (self µs, cumulative µs)}."""
    modules: dict[str, tuple[int, int]] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        modules[name.strip()] = (int(own), int(cumulative))
    return modules


def importtime(statement: str) -> dict[str, tuple[int, int]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, timeout=60, check=True
    )
    return parse_importtime(done.stderr)


def import_profile(repeats: int) -> dict[str, Any]:
    """Median self-times of the modules `import runway_mcp.tools.server` loads beyond `from mcp.server import MCPServer`."""
    ours: list[dict[str, tuple[int, int]]] = []
    sdk: list[dict[str, tuple[int, int]]] = []
    for _ in range(repeats):
        ours.append(importtime("import runway_mcp.tools.server"))
        sdk.append(importtime("from mcp.server import MCPServer"))
    sdk_modules = set().union(*(set(run) for run in sdk))
    added = sorted(set().union(*(set(run) for run in ours)) - sdk_modules)
    self_us = {name: median([run[name][0] for run in ours if name in run]) for name in added}
    top = sorted(self_us.items(), key=lambda item: -item[1])[:TOP_MODULES]
    packages: dict[str, float] = {}
    for name, us in self_us.items():
        package = name.split(".")[0]
        packages[package] = packages.get(package, 0.0) + us
    return {
        "repeats": repeats,
        "total_import_ms": round(median([sum(v[0] for v in run.values()) for run in ours]) / 1000, 1),
        "sdk_import_ms": round(median([sum(v[0] for v in run.values()) for run in sdk]) / 1000, 1),
        "added_modules": len(added),
        "added_self_ms": round(sum(self_us.values()) / 1000, 1),
        "runway_mcp_self_ms": round(sum(v for k, v in self_us.items() if k.split(".")[0] == "runway_mcp") / 1000, 1),
        "top_added_self_ms": {name: round(us / 1000, 2) for name, us in top},
        "added_self_ms_by_package": {
            name: round(us / 1000, 2) for name, us in sorted(packages.items(), key=lambda item: -item[1])
        },
    }


def startup_phases(env: dict[str, str], repeats: int) -> dict[str, float]:
    """Median seconds per start-up phase over `repeats` fresh interpreters."""
    script = Path(__file__).with_name("startup_phases.py")
    runs: list[dict[str, float]] = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, str(script)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {name: round(median([run[name] for run in runs if name in run]), 4) for name in runs[0]}


async def run(options: RunOptions) -> ScenarioResult:
    rounds = 3 if options.quick else 15
    result = ScenarioResult("cold_start", "Cold start (stdio)")
    with running_sandbox(sandbox_config()) as (sandbox_server, _):
        env = server_env(sandbox_server.url, options.workdir / "cold-start")
        arms = {"runway_mcp": runway_mcp_params(env), "hello_world": hello_params(env)}
        for params in arms.values():
            await time_to_tools_list(params, options)
        times: dict[str, list[float]] = {name: [] for name in arms}
        for index in range(rounds):
            order = list(arms) if index % 2 == 0 else list(reversed(arms))
            for name in order:
                times[name].append(await time_to_tools_list(arms[name], options))
        # A get_task of an unknown id still loads the upstream stack and makes one upstream request.
        probe = {"task_id": "00000000-0000-4000-8000-000000000000"}
        firsts = [
            await first_calls(arms["runway_mcp"], options, "get_task", probe) for _ in range(1 if options.quick else 5)
        ]
        hello_firsts = [
            await first_calls(arms["hello_world"], options, "hello", {"name": "bench"})
            for _ in range(1 if options.quick else 5)
        ]
        phases = startup_phases(env, 1 if options.quick else 3)
    ours, hello = median(times["runway_mcp"]), median(times["hello_world"])
    # Each round's two starts ran back to back, so their ratio is the least disturbed by drifting load.
    paired = median([a / b for a, b in zip(times["runway_mcp"], times["hello_world"], strict=True)])
    imports = import_profile(1 if options.quick else 3)
    result.figures = {
        "rounds": rounds,
        "runway_mcp_seconds": [round(t, 4) for t in times["runway_mcp"]],
        "hello_world_seconds": [round(t, 4) for t in times["hello_world"]],
        "runway_mcp_median_s": round(ours, 4),
        "hello_world_median_s": round(hello, 4),
        "ratio": round(ratio(ours, hello), 3),
        "median_of_per_round_ratios": round(paired, 3),
        "added_ms": round((ours - hello) * 1000, 1),
        "first_get_task_ms": round(median([a for a, _ in firsts]) * 1000, 2),
        "second_get_task_ms": round(median([b for _, b in firsts]) * 1000, 2),
        "hello_first_call_ms": round(median([a for a, _ in hello_firsts]) * 1000, 2),
        "hello_second_call_ms": round(median([b for _, b in hello_firsts]) * 1000, 2),
        "importtime": imports,
        "startup_phases_s": phases,
    }
    result.rows = [
        Row(
            "spawn to tools/list, median",
            ours,
            "s",
            hello,
            "hello-world MCPServer",
            ratio(ours, hello),
            f"ratio <= {TARGET_RATIO:.2f}",
            ratio(ours, hello) <= TARGET_RATIO,
        ),
        Row(
            "import time added beyond the SDK",
            imports["added_self_ms"] / 1000,
            "s",
            imports["sdk_import_ms"] / 1000,
            "`from mcp.server import MCPServer`",
            ratio(imports["added_self_ms"], imports["sdk_import_ms"]),
        ),
    ]
    first, second = median([a for a, _ in firsts]), median([b for _, b in firsts])
    result.rows.append(
        Row(
            "first get_task after start (later calls: second)",
            first,
            "s",
            second,
            "the second get_task",
            ratio(first, second),
        )
    )
    top = ", ".join(f"{name} {ms:.1f}" for name, ms in list(imports["top_added_self_ms"].items())[:6])
    by_package = ", ".join(
        f"{name} {ms:.1f}" for name, ms in list(imports["added_self_ms_by_package"].items())[:TOP_PACKAGES]
    )
    result.notes = [
        f"{rounds} alternating rounds (the order swaps each round) after one untimed start of each; the median "
        f"of the per-round ratios is {paired:.2f} (the table's ratio is of the medians).",
        f"Import self-time (ms) of modules runway_mcp.tools.server loads beyond the SDK: {imports['added_self_ms']} "
        f"({imports['runway_mcp_self_ms']} in runway_mcp.*). By package: {by_package}. Largest modules: {top}.",
        f"First tool call after start, median of {len(firsts)} fresh servers: get_task {first * 1000:.1f} ms, then "
        f"{second * 1000:.1f} ms (the first builds the tool's argument model and loads httpx and the task service); "
        f"the hello-world's first call {result.figures['hello_first_call_ms']:.1f} ms, then "
        f"{result.figures['hello_second_call_ms']:.1f} ms.",
        "Start-up phases (median s): " + ", ".join(f"{name} {seconds:.3f}" for name, seconds in phases.items()) + ".",
    ]
    return result
