"""Scenario 7, preview: what a contact sheet of a 10 s 1080p clip costs, against decoding the clip once.

Two real clips are written with PyAV (`runway_mcp.sandbox.clips`, textured footage panning sideways,
x264 `veryfast` with B-frames): one with x264's default keyframe interval (a single keyframe in
10 s at 24 fps) and one with a keyframe every second. For each, two arms run in fresh processes,
in turn and rotating which goes first, after an untimed warm-up of each:

- `decode`: every frame decoded once with PyAV's defaults, nothing kept (the baseline);
- `sheet`: `runway_mcp.media.preview.contact_sheet`, the JPEG that download_task_output attaches.

Each child imports PyAV and Pillow first (not timed), then times its arm and measures the peak RSS
it adds (VmHWM after resetting the peak through /proc/self/clear_refs, minus the RSS before).
Run a child alone with `python -m benchmarks.preview decode|sheet <clip>`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import MIB, Row, RunOptions, ScenarioResult, median, ratio

ARMS = ("decode", "sheet")


def clips(quick: bool) -> dict[str, dict[str, Any]]:
    """The clips measured: (label, write_clip arguments)."""
    size = {"width": 1920, "height": 1080, "seconds": 10.0, "fps": 24}
    # Quick: the first clip only. A smaller clip would measure the sheet's fixed cost (drawing, the JPEG), not decoding.
    if quick:
        return {"10 s 1080p, one keyframe (x264 default)": size}
    return {
        "10 s 1080p, one keyframe (x264 default)": size,
        "10 s 1080p, a keyframe every second": {**size, "gop": 24},
    }


def measure(arm: str, clip: Path) -> dict[str, Any]:
    """Run one arm in this process: seconds taken and peak RSS added (imports done before)."""
    import av
    import PIL.Image  # noqa: F401  (imported before the clock starts, as in a warm server)

    from runway_mcp.media.preview import contact_sheet

    before = _rss()
    reset = _reset_peak()
    start = time.perf_counter()
    extra: dict[str, Any] = {}
    if arm == "decode":
        with av.open(str(clip)) as container:
            extra["frames"] = sum(1 for _ in container.decode(video=0))
    else:
        preview = contact_sheet(clip)
        extra.update(jpeg_bytes=len(preview.jpeg), frames=len(preview.frame_seconds))
    seconds = time.perf_counter() - start
    peak = _status("VmHWM")
    return {"seconds": seconds, "peak_increase_bytes": max(0, peak - (before if reset else peak)), **extra}


def _status(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key == name:
            return int(rest.split()[0]) * 1024
    return 0


def _rss() -> int:
    return _status("VmRSS")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def child(arm: str, clip: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.preview", arm, str(clip)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


async def run(options: RunOptions) -> ScenarioResult:
    from runway_mcp.sandbox.clips import write_clip

    rounds = 2 if options.quick else 5
    result = ScenarioResult("preview", "Preview: contact sheet of a clip")
    folder = options.workdir / "preview"
    folder.mkdir(parents=True, exist_ok=True)
    figures: dict[str, Any] = {}
    for index, (label, spec) in enumerate(clips(options.quick).items()):
        path = write_clip(folder / f"clip-{index}.mp4", style="detail", options={"preset": "veryfast"}, **spec)
        for arm in ARMS:
            child(arm, path)  # warm-up: the file in the page cache, the libraries' first load
        runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ARMS}
        for turn in range(rounds):
            for arm in ARMS if turn % 2 == 0 else ARMS[::-1]:
                runs[arm].append(child(arm, path))
        figures[label] = {"file_bytes": path.stat().st_size, "spec": spec, "runs": runs}
        result.rows += rows_for(label, runs)
        path.unlink()
    result.figures = figures
    result.notes = [
        f"{rounds} rounds per clip, arms in fresh processes, alternating which goes first, after one warm-up each. "
        "Clips: textured footage panning sideways, x264 veryfast (B-frames); sizes "
        + ", ".join(f"{label}: {data['file_bytes'] / MIB:.1f} MB" for label, data in figures.items())
        + ".",
        "The sheet decodes from the keyframe before each chosen moment, and skips unreferenced frames while still "
        "far from it; with a single keyframe it must still decode up to the last moment, so it cannot beat one "
        "full decode by much there. Targets: never meaningfully slower than one full decode (<= 1.1), and at most "
        "twice its memory (the sheet adds the scaler's first use, the frames at cell size, the sheet and the JPEG "
        "encoder's buffers to the decoder's own).",
    ]
    return result


def rows_for(label: str, runs: dict[str, list[dict[str, Any]]]) -> list[Row]:
    decode_s = median([r["seconds"] for r in runs["decode"]])
    sheet_s = median([r["seconds"] for r in runs["sheet"]])
    decode_m = median([r["peak_increase_bytes"] for r in runs["decode"]]) / MIB
    sheet_m = median([r["peak_increase_bytes"] for r in runs["sheet"]]) / MIB
    jpeg = max(r["jpeg_bytes"] for r in runs["sheet"])
    time_ratio, memory_ratio = ratio(sheet_s, decode_s), ratio(sheet_m, decode_m)
    return [
        Row(
            f"{label}: sheet time",
            sheet_s,
            "s",
            decode_s,
            "decoding every frame once",
            time_ratio,
            "ratio <= 1.1",
            time_ratio <= 1.1,
        ),
        Row(
            f"{label}: sheet peak RSS added (MiB)",
            sheet_m,
            "MiB",
            decode_m,
            "decoding every frame once",
            memory_ratio,
            "ratio <= 2.0",
            memory_ratio <= 2.0,
        ),
        Row(
            f"{label}: sheet JPEG size (KB)",
            jpeg / 1000,
            "count",
            300,
            "the limit, KB",
            ratio(jpeg / 1000, 300),
            "<= 300 KB",
            jpeg <= 300_000,
        ),
    ]


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], Path(sys.argv[2]))))
