"""Scenario 1, cold start: spawn over stdio until the first tools/list answer, against a hello-world MCPServer.

Three starts are timed in turn each round (the order rotates, so none always goes first), after one
untimed start of each that warms the page cache and bytecode and lets runway-mcp write its schema
cache and its stdio manifest:

- runway-mcp as a client meets it: the stdio front answers `server/discover` and `tools/list` from
  the manifest while the SDK loads (`runway_mcp.front`);
- runway-mcp started the normal way, with no manifest (a fresh cache directory holding only the
  schema cache): what every start cost before the front, and what the first start after an install
  or a change of configuration still costs;
- the hello-world `MCPServer`, the bare SDK: the baseline of both ratios.

Then the first tool call: spawn, `tools/list`, and a `get_task` sent as soon as the list is in, from
spawn to the call's answer, for the front and the normal start in turn. With the front the call waits
for the SDK to load, which the normal start has done before it lists anything.
`-X importtime` shows which of our own modules (and the libraries only we import) add to the SDK's
import time, and `startup_phases.py` splits a start into imports, settings, tool registration and
the lifespan.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
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

TARGET_RATIO = 1.10  # the normal start (no manifest) against the bare SDK
FRONT_TARGET_RATIO = 0.15  # spawn -> tools/list with the front against the bare SDK (issue 19)
# A get_task of an unknown id still loads the upstream stack and makes one upstream request.
PROBE = {"task_id": "00000000-0000-4000-8000-000000000000"}
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


async def spawn_list_call(
    params: StdioServerParameters, options: RunOptions, tool: str, arguments: dict[str, Any]
) -> tuple[float, float]:
    """Seconds from spawning the server to its tools/list answer, and to the answer of a call sent right after."""
    start = time.perf_counter()
    async with Client(stdio_client(params, errlog=options.errlog)) as client:
        await client.list_tools()
        listed = time.perf_counter() - start
        await client.call_tool(tool, arguments)
        called = time.perf_counter() - start
    return listed, called


class NormalStart:
    """Parameters for runway-mcp with no stdio manifest: each start gets a fresh cache directory holding
    only the schema cache, as a start before the front had it."""

    def __init__(self, env: dict[str, str], warm_cache: Path, scratch: Path) -> None:
        self._env = env
        self._schemas = sorted(warm_cache.glob("tool-schemas-*.json"))
        self._scratch = scratch
        self._count = 0

    def __call__(self) -> StdioServerParameters:
        if not self._schemas:
            raise RuntimeError("the warm-up start wrote no schema cache")
        self._count += 1
        cache = self._scratch / f"normal-{self._count}"
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True, mode=0o700)
        for schemas in self._schemas:
            shutil.copy2(schemas, cache / schemas.name)
        return runway_mcp_params({**self._env, "RUNWAY_MCP_CACHE_DIR": str(cache)})


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


async def interleaved(rounds: int, arms: dict[str, Callable[[], Any]]) -> dict[str, list[Any]]:
    """Run each arm once per round, the order rotating each round; every arm's results in round order."""
    names = list(arms)
    results: dict[str, list[Any]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(await arms[name]())
    return results


async def measure(options: RunOptions, env: dict[str, str], normal: NormalStart) -> dict[str, Any]:
    """Every timed start: spawn -> tools/list for three servers, then spawn -> list -> first call for two."""
    rounds = 3 if options.quick else 15
    front, hello = runway_mcp_params(env), hello_params(env)
    lists = await interleaved(
        rounds,
        {
            "front": lambda: time_to_tools_list(front, options),
            "normal": lambda: time_to_tools_list(normal(), options),
            "hello_world": lambda: time_to_tools_list(hello, options),
        },
    )
    calls = await interleaved(
        1 if options.quick else 11,
        {
            "front": lambda: spawn_list_call(front, options, "get_task", PROBE),
            "normal": lambda: spawn_list_call(normal(), options, "get_task", PROBE),
        },
    )
    return {"lists": lists, "calls": calls}


async def warm_up(options: RunOptions, env: dict[str, str]) -> None:
    """Untimed starts: warm the page cache; runway-mcp writes its schema cache, then learns its manifest
    (server/discover and tools/list as this client sends them), and a third start answers from it."""
    for params in (runway_mcp_params(env), hello_params(env), runway_mcp_params(env), runway_mcp_params(env)):
        await time_to_tools_list(params, options)


def learning_cost(cache: Path, repeats: int) -> dict[str, float]:
    """What a start without a manifest spends learning one: the watcher on the SDK's answers to server/discover
    and tools/list (from the manifest the warm-up wrote) and writing the file, median ms, in this process."""
    from runway_mcp.front.manifest import Manifest
    from runway_mcp.front.protocol import Session, answer_line
    from runway_mcp.front.watch import Watch

    (document,) = [json.loads(path.read_text()) for path in cache.glob("stdio-manifest-*.json")]
    answers = document["configs"][0]["answers"]
    variables = document["configs"][0]["variables"]
    session = Session()
    requests = [
        {"jsonrpc": "2.0", "id": number, "method": answer["method"], "params": {}}
        for number, answer in enumerate(answers.values(), 1)
    ]
    lines = [answer_line(number, answer["result"]) for number, answer in enumerate(answers.values(), 1)]
    target = cache.parent / "learning-cost"
    times: list[float] = []
    for _ in range(repeats):
        manifest = Manifest(str(target / "stdio-manifest.json"), document["code"])
        start = time.perf_counter()
        watch = Watch(manifest, {}, session, save=lambda m: m.save(variables), announce_modern=lambda _: None)
        for request in requests:
            watch.observe(json.dumps(request).encode() + b"\n")
        for line in lines:
            watch.on_line(line)
            watch.written()
        times.append(time.perf_counter() - start)
    shutil.rmtree(target, ignore_errors=True)
    return {
        "answers": len(lines),
        "bytes": sum(len(line) for line in lines),
        "median_ms": round(median(times) * 1000, 2),
    }


def per_round_ratio(values: list[float], baselines: list[float]) -> float:
    # Each round's starts ran back to back, so their ratio is the least disturbed by drifting load.
    return median([a / b for a, b in zip(values, baselines, strict=True)])


async def run(options: RunOptions) -> ScenarioResult:
    result = ScenarioResult("cold_start", "Cold start (stdio)")
    with running_sandbox(sandbox_config()) as (sandbox_server, _):
        home = options.workdir / "cold-start"
        env = server_env(sandbox_server.url, home)
        await warm_up(options, env)
        normal = NormalStart(env, home / "data" / "cache", options.workdir / "cold-start-normal")
        await time_to_tools_list(normal(), options)
        timed = await measure(options, env, normal)
        # The lazy start's cost, as before the front: list first, then time the first and second calls alone.
        firsts = [await first_calls(normal(), options, "get_task", PROBE) for _ in range(1 if options.quick else 5)]
        hello_firsts = [
            await first_calls(hello_params(env), options, "hello", {"name": "bench"})
            for _ in range(1 if options.quick else 5)
        ]
        phases = startup_phases(env, 1 if options.quick else 3)
        learning = learning_cost(home / "data" / "cache", 5 if options.quick else 21)
    lists, calls = timed["lists"], timed["calls"]
    front, normal_s, hello = (median(lists[name]) for name in ("front", "normal", "hello_world"))
    call_front = median([called for _, called in calls["front"]])
    call_normal = median([called for _, called in calls["normal"]])
    imports = import_profile(1 if options.quick else 3)
    result.figures = {
        "rounds": len(lists["front"]),
        **{f"{name}_seconds": [round(t, 4) for t in times] for name, times in lists.items()},
        "front_median_s": round(front, 4),
        "normal_median_s": round(normal_s, 4),
        "hello_world_median_s": round(hello, 4),
        "front_ratio": round(ratio(front, hello), 3),
        "front_median_of_per_round_ratios": round(per_round_ratio(lists["front"], lists["hello_world"]), 3),
        "normal_ratio": round(ratio(normal_s, hello), 3),
        "normal_median_of_per_round_ratios": round(per_round_ratio(lists["normal"], lists["hello_world"]), 3),
        "first_call_rounds": len(calls["front"]),
        "spawn_list_call_front_s": [[round(a, 4), round(b, 4)] for a, b in calls["front"]],
        "spawn_list_call_normal_s": [[round(a, 4), round(b, 4)] for a, b in calls["normal"]],
        "spawn_to_first_call_front_median_s": round(call_front, 4),
        "spawn_to_first_call_normal_median_s": round(call_normal, 4),
        "first_call_median_of_per_round_ratios": round(
            per_round_ratio([b for _, b in calls["front"]], [b for _, b in calls["normal"]]), 3
        ),
        "first_get_task_ms": round(median([a for a, _ in firsts]) * 1000, 2),
        "second_get_task_ms": round(median([b for _, b in firsts]) * 1000, 2),
        "hello_first_call_ms": round(median([a for a, _ in hello_firsts]) * 1000, 2),
        "hello_second_call_ms": round(median([b for _, b in hello_firsts]) * 1000, 2),
        "learning_a_manifest": learning,
        "importtime": imports,
        "startup_phases_s": phases,
    }
    result.rows = rows(result.figures, imports)
    result.notes = notes(result.figures, imports, phases)
    return result


def rows(figures: dict[str, Any], imports: dict[str, Any]) -> list[Row]:
    front, normal, hello = (figures[f"{name}_median_s"] for name in ("front", "normal", "hello_world"))
    call_front, call_normal = (
        figures["spawn_to_first_call_front_median_s"],
        figures["spawn_to_first_call_normal_median_s"],
    )
    first, second = figures["first_get_task_ms"] / 1000, figures["second_get_task_ms"] / 1000
    return [
        Row(
            "spawn to tools/list, median (the front answers from the manifest)",
            front,
            "s",
            hello,
            "hello-world MCPServer",
            ratio(front, hello),
            f"ratio <= {FRONT_TARGET_RATIO:.2f}",
            ratio(front, hello) <= FRONT_TARGET_RATIO,
        ),
        Row(
            "spawn to tools/list, median, started the normal way (no manifest)",
            normal,
            "s",
            hello,
            "hello-world MCPServer",
            ratio(normal, hello),
            f"ratio <= {TARGET_RATIO:.2f}",
            ratio(normal, hello) <= TARGET_RATIO,
        ),
        Row(
            "spawn to the first get_task's answer, sent right after tools/list (front)",
            call_front,
            "s",
            call_normal,
            "the same, started the normal way",
            ratio(call_front, call_normal),
            "not slower (ratio <= 1.00)",
            ratio(call_front, call_normal) <= 1.0,
        ),
        Row(
            "import time added beyond the SDK",
            imports["added_self_ms"] / 1000,
            "s",
            imports["sdk_import_ms"] / 1000,
            "`from mcp.server import MCPServer`",
            ratio(imports["added_self_ms"], imports["sdk_import_ms"]),
        ),
        Row(
            "first get_task after start (later calls: second)",
            first,
            "s",
            second,
            "the second get_task",
            ratio(first, second),
        ),
    ]


def notes(figures: dict[str, Any], imports: dict[str, Any], phases: dict[str, float]) -> list[str]:
    top = ", ".join(f"{name} {ms:.1f}" for name, ms in list(imports["top_added_self_ms"].items())[:6])
    by_package = ", ".join(
        f"{name} {ms:.1f}" for name, ms in list(imports["added_self_ms_by_package"].items())[:TOP_PACKAGES]
    )
    return [
        f"{figures['rounds']} rounds, the three starts' order rotating each round, after untimed warm-up starts; "
        f"medians of the per-round ratios: front {figures['front_median_of_per_round_ratios']:.3f}, normal start "
        f"{figures['normal_median_of_per_round_ratios']:.2f} (the table's ratios are of the medians).",
        f"First call: {figures['first_call_rounds']} rounds of spawn, tools/list, get_task at once; median of the "
        f"per-round ratios front / normal start {figures['first_call_median_of_per_round_ratios']:.3f}. With the "
        "front the list comes at once and the call waits for the SDK; started the normal way, the list waits.",
        f"Import self-time (ms) of modules runway_mcp.tools.server loads beyond the SDK: {imports['added_self_ms']} "
        f"({imports['runway_mcp_self_ms']} in runway_mcp.*). By package: {by_package}. Largest modules: {top}.",
        f"Learning a manifest (a start without one): watching the SDK's {figures['learning_a_manifest']['answers']} "
        f"answers ({figures['learning_a_manifest']['bytes']} bytes) and writing the file takes "
        f"{figures['learning_a_manifest']['median_ms']:.2f} ms (median, in process); the normal-start arms pay it.",
        f"First tool call after a normal start (list first, then the call, timed alone), median of fresh servers: get_task "
        f"{figures['first_get_task_ms']:.1f} ms, then {figures['second_get_task_ms']:.1f} ms; the hello-world's "
        f"first call {figures['hello_first_call_ms']:.1f} ms, then {figures['hello_second_call_ms']:.1f} ms. With "
        "the front, most of the first call is the SDK still loading.",
        "Start-up phases (median s): " + ", ".join(f"{name} {seconds:.3f}" for name, seconds in phases.items()) + ".",
    ]
