"""`runway-mcp demo`, run as a user runs it: a subprocess in an empty folder, its output left in ./runway-demo/."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.support import RUNWAY_MCP_COMMAND, clean_env


def test_the_demo_leaves_the_video_and_its_contact_sheet_in_runway_demo(tmp_path: Path) -> None:
    run = subprocess.run(
        [str(RUNWAY_MCP_COMMAND), "demo"],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert all(re.match(r"^\[\s*\d+\.\ds\] \S", line) for line in lines), lines  # every step says when it happened
    steps = [line.split()[2] for line in lines]
    assert steps[:5] == ["sandbox", "tools", "price", "create", "task"] and steps[-2:] == ["look", "next"]
    assert "15 credits" in lines[2]  # the input clip was measured: an exact price, before anything was sent
    assert 1 <= steps.count("progress") <= 12  # one line per change (no terminal here), not one per poll

    folder = tmp_path / "runway-demo"
    assert str(folder) in lines[-2]
    videos = [p for p in folder.glob("*.mp4") if p.name != "input.mp4"]
    sheets = list(folder.glob("*.preview.jpg"))
    assert (folder / "input.mp4").is_file() and len(videos) == 1 and len(sheets) == 1
    assert sheets[0].name == videos[0].stem + ".preview.jpg"
    jpeg = sheets[0].read_bytes()
    assert jpeg[:3] == b"\xff\xd8\xff" and len(jpeg) <= 300_000

    again = subprocess.run(
        [str(RUNWAY_MCP_COMMAND), "demo"], cwd=tmp_path, env=clean_env(tmp_path), capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert len([p for p in folder.glob("*.mp4") if p.name != "input.mp4"]) == 2  # a second run adds, never overwrites
