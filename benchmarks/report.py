"""The machine a run happened on, and the results as JSON and as a markdown table."""

from __future__ import annotations

import math
import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from benchmarks.harness import Row, ScenarioResult


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "mcp": package_version("mcp"),
        "runway_mcp": package_version("cometapi-runway-mcp"),
        "platform": platform.platform(),
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def machine_line(info: dict[str, Any]) -> str:
    return (
        f"{info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), Python {info['python']}, "
        f"mcp {info['mcp']}, runway-mcp {info['runway_mcp']}, {info['platform']}, "
        f"load average at start {info['load_average_at_start']}, at end {info.get('load_average_at_end')}"
    )


def fmt(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value:.2f}"


def met_text(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "**NO**")


def row_cells(title: str, row: Row) -> list[str]:
    baseline = fmt(row.baseline, row.unit)
    if row.baseline_label and baseline != "-":
        baseline = f"{baseline} ({row.baseline_label})"
    ratio = "-" if row.ratio is None or math.isnan(row.ratio) else f"{row.ratio:.2f}"
    return [title, row.measure, fmt(row.value, row.unit), baseline, ratio, row.target or "-", met_text(row.met)]


def markdown(results: list[ScenarioResult], info: dict[str, Any], *, quick: bool, seconds: float) -> str:
    lines = [
        f"# runway-mcp benchmarks ({'quick' if quick else 'full'} run)",
        "",
        f"Machine: {machine_line(info)}. Took {seconds:.0f} s.",
        "",
        "| Scenario | Measure | Value | Baseline (same run) | Ratio | Target | Met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        if result.status != "ok":
            reason = result.notes[0] if result.notes else ""
            lines.append(f"| {result.title} | {result.status} | - | - | - | - | {reason} |")
            continue
        lines += ["| " + " | ".join(row_cells(result.title, row)) + " |" for row in result.rows]
    lines += ["", "## Notes", ""]
    for result in results:
        lines.append(f"**{result.title}** ({result.seconds:.0f} s)")
        lines.append("")
        lines += [f"- {note}" for note in result.notes]
        lines.append("")
    return "\n".join(lines)


def to_json(results: list[ScenarioResult], info: dict[str, Any], *, quick: bool, seconds: float) -> dict[str, Any]:
    return {
        "mode": "quick" if quick else "full",
        "seconds": round(seconds, 1),
        "machine": info,
        "scenarios": {result.name: result.to_json() for result in results},
    }
