"""Run every benchmark: `python -m benchmarks.run` (full, ~5 min) or `python -m benchmarks.run --quick` (CI, < 1 min).

Writes `<output-dir>/latest.json` and `<output-dir>/latest.md` (default `benchmarks/results/`) and
prints the markdown table. The servers' stderr goes to `<output-dir>/latest.log`. Exits 1 when a
scenario failed to run; a missed target is reported, never an exit status (figures are noisy).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio

from benchmarks import byo_flood, cold_start, concurrency, journal, memory, per_call, preview, surface, waiting
from benchmarks.harness import RunOptions, ScenarioResult
from benchmarks.report import machine, markdown, to_json

Scenario = Callable[[RunOptions], Awaitable[ScenarioResult]]

SCENARIOS: dict[str, Scenario] = {
    "cold_start": cold_start.run,
    "per_call": per_call.run,
    "concurrency": concurrency.run,
    "waiting": waiting.run,
    "memory": memory.run,
    "journal": journal.run,
    "preview": preview.run,
    "surface": surface.run,
    "byo_flood": byo_flood.run,
}
DEFAULT_OUTPUT = Path(__file__).with_name("results")
# Hard limits per scenario, so that no hang outlives a CI job.
TIME_LIMIT_SECONDS = {True: 150.0, False: 600.0}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the CI-sized run: fewer repetitions, shorter tasks")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated scenarios to run (default all): {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--output-dir", type=Path, default=DEFAULT_OUTPUT, help="where latest.json/.md/.log go (default %(default)s)"
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(SCENARIOS)
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    args.scenarios = chosen
    return args


async def run_scenario(name: str, options: RunOptions) -> ScenarioResult:
    start = time.perf_counter()
    try:
        with anyio.fail_after(TIME_LIMIT_SECONDS[options.quick]):
            result = await SCENARIOS[name](options)
    except Exception as exc:
        result = ScenarioResult(name, name.replace("_", " ").capitalize(), status="error")
        result.notes = [describe(exc)]
        result.figures = {"traceback": traceback.format_exc()}
    result.seconds = time.perf_counter() - start
    return result


def describe(exc: BaseException) -> str:
    """The innermost error, out of the exception groups task groups wrap it in."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"[:500]


def finite(value: Any) -> Any:
    """`value` with NaN and infinities replaced by None, so the file is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    if not Path("/proc/self/status").exists():
        print("These benchmarks read /proc and need Linux.", file=sys.stderr)
        return 2
    args = parse_args(argv)
    output: Path = args.output_dir
    output.mkdir(parents=True, exist_ok=True)
    info = machine()
    start = time.perf_counter()
    results: list[ScenarioResult] = []
    with tempfile.TemporaryDirectory(prefix="runway-mcp-bench-") as workdir, (output / "latest.log").open("w") as log:
        options = RunOptions(quick=args.quick, workdir=Path(workdir), errlog=log)
        for name in args.scenarios:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            result = anyio.run(run_scenario, name, options)
            print(f"  {result.status} in {result.seconds:.1f} s", file=sys.stderr, flush=True)
            results.append(result)
    seconds = time.perf_counter() - start
    info["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    data = finite(to_json(results, info, quick=args.quick, seconds=seconds))
    (output / "latest.json").write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    table = markdown(results, info, quick=args.quick, seconds=seconds)
    (output / "latest.md").write_text(table + "\n")
    print(table)
    return 1 if any(result.status == "error" for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
