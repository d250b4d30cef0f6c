"""The benchmark harness runs end to end (`python -m benchmarks.run --quick`); its figures are not judged here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = {"cold_start", "per_call", "concurrency", "waiting", "memory", "journal", "preview", "surface", "byo_flood"}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="the benchmarks read /proc (Linux only)")
def test_quick_benchmark_run_writes_every_scenario(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--output-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"

    results = json.loads((tmp_path / "latest.json").read_text(), parse_constant=_reject_non_json)
    assert results["mode"] == "quick"
    assert {"cpu", "cores", "python", "mcp"} <= set(results["machine"])
    assert set(results["scenarios"]) == SCENARIOS
    for name, scenario in results["scenarios"].items():
        assert scenario["status"] == "ok", f"{name}: {scenario['notes']}"
        assert scenario["rows"], f"{name} reported no figures"

    table = (tmp_path / "latest.md").read_text()
    assert "| Scenario | Measure |" in table
    assert table.strip() in done.stdout


def _reject_non_json(constant: str) -> None:
    raise ValueError(f"{constant} is not valid JSON")
