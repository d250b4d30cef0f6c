"""Load test of remote use: concurrent MCP clients over streamable HTTP against the sandbox upstream.

    python -m benchmarks.http_load            # 20 clients x 50 calls
    python -m benchmarks.http_load --quick    # 5 clients x 10 calls

The server runs as its own process (`python -m runway_mcp --transport streamable-http`, with a bearer
token, as a team would run it) so that its memory can be read from /proc; the sandbox upstream runs in
a thread of this process. Each client opens one session and makes its calls one after another: a
create first, then get_task and list_tasks in turn. Reported: throughput, p50/p99 latency per call,
errors (the target is 0), and the server's resident memory before and after the load (and its peak).
Standalone: it uses nothing else from benchmarks/.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from runway_mcp.sandbox import Sandbox, SandboxConfig, SandboxServer

TOKEN = "load-test-token-5Jq8Wm2Rx7"
UPSTREAM_KEY = "sk-load-test-upstream"
VIDEO = "https://media.w3.org/2010/05/sintel/trailer.mp4"
START_TIMEOUT_SECONDS = 60.0
CALL_TIMEOUT_SECONDS = 60.0


@dataclass
class LoadReport:
    clients: int
    calls_per_client: int
    mode: str
    calls: int
    errors: int
    seconds: float
    calls_per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_rss_before_mib: float
    server_rss_after_mib: float
    server_rss_peak_mib: float
    first_error: str | None


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (which must not be empty)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def memory_mib(pid: int, field: str) -> float:
    """VmRSS (resident now) or VmHWM (peak resident) of a process, from /proc, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else float("nan")


def start_server(upstream_url: str, data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWAY_MCP_", "COMETAPI_"))}
    env.update(
        {
            "COMETAPI_BASE_URL": upstream_url,
            "COMETAPI_KEY": UPSTREAM_KEY,
            "RUNWAY_MCP_AUTH_TOKENS": TOKEN,
            "RUNWAY_MCP_DATA_DIR": str(data_dir),
            "RUNWAY_MCP_LOG_LEVEL": "INFO",
        }
    )
    command = [sys.executable, "-m", "runway_mcp", "--transport", "streamable-http", "--host", "127.0.0.1"]
    with log.open("wb") as sink:
        process = subprocess.Popen([*command, "--port", "0"], env=env, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        if found:
            return process, found.group(1) + "/mcp"
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the server did not start:\n{log.read_text(errors='replace')}")


async def one_client(url: str, calls: int, mode: str, latencies: list[float], errors: list[str]) -> None:
    """One session making `calls` calls in a row: a create, then get_task and list_tasks in turn."""

    async def timed(tool: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
        started = time.perf_counter()
        try:
            with anyio.fail_after(CALL_TIMEOUT_SECONDS):
                result = await client.call_tool(tool, arguments)
        except Exception as exc:
            errors.append(f"{tool}: {type(exc).__name__}: {exc}")
            return None
        finally:
            latencies.append(time.perf_counter() - started)
        if result.is_error:
            errors.append(f"{tool}: " + " ".join(b.text for b in result.content if b.type == "text")[:200])
            return None
        content: dict[str, Any] | None = result.structured_content
        return content

    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=120.0)) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        created = await timed("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "Load test"})
        task_id = created["task_id"] if created else "missing"
        for index in range(1, calls):
            if index % 2:
                await timed("get_task", {"task_id": task_id})
            else:
                await timed("list_tasks", {"limit": 5})


async def run_load(url: str, clients: int, calls: int, mode: str) -> tuple[list[float], list[str], float]:
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(clients):
            group.start_soon(one_client, url, calls, mode, latencies, errors)
    return latencies, errors, time.perf_counter() - started


def measure(clients: int, calls: int, mode: str) -> LoadReport:
    # Tasks stay invisible, then pending, for the whole run: every get_task goes to the upstream.
    config = SandboxConfig(api_key=UPSTREAM_KEY, not_visible_seconds=0.5, pending_seconds=600)
    with tempfile.TemporaryDirectory() as scratch, SandboxServer(Sandbox(config)) as upstream:
        process, url = start_server(upstream.url, Path(scratch) / "data", Path(scratch) / "server.log")
        try:
            anyio.run(run_load, url, 1, 2, mode)  # warm-up: imports, first connections, the ledger file
            rss_before = memory_mib(process.pid, "VmRSS")
            latencies, errors, seconds = anyio.run(run_load, url, clients, calls, mode)
            rss_after = memory_mib(process.pid, "VmRSS")
            rss_peak = memory_mib(process.pid, "VmHWM")
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
    return LoadReport(
        clients=clients,
        calls_per_client=calls,
        mode=mode,
        calls=len(latencies),
        errors=len(errors),
        seconds=round(seconds, 3),
        calls_per_second=round(len(latencies) / seconds, 1),
        p50_ms=round(percentile(latencies, 0.50) * 1000, 1),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 1),
        max_ms=round(max(latencies) * 1000, 1),
        server_rss_before_mib=round(rss_before, 1),
        server_rss_after_mib=round(rss_after, 1),
        server_rss_peak_mib=round(rss_peak, 1),
        first_error=errors[0] if errors else None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 clients x 10 calls, for CI")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--calls", type=int, default=50, help="calls per client (default 50)")
    parser.add_argument("--mode", choices=("auto", "legacy"), default="auto", help="MCP protocol negotiation")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    clients, calls = (5, 10) if args.quick else (args.clients, args.calls)
    report = measure(clients, calls, args.mode)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print(f"streamable HTTP, {report.clients} clients x {report.calls_per_client} calls ({report.mode} mode)")
        print(f"  calls        {report.calls} in {report.seconds:.2f} s = {report.calls_per_second:.1f} calls/s")
        print(f"  latency      p50 {report.p50_ms:.1f} ms, p99 {report.p99_ms:.1f} ms, max {report.max_ms:.1f} ms")
        print(f"  errors       {report.errors}" + (f" (first: {report.first_error})" if report.first_error else ""))
        print(
            f"  server RSS   {report.server_rss_before_mib:.1f} MiB before, {report.server_rss_after_mib:.1f} MiB "
            f"after, {report.server_rss_peak_mib:.1f} MiB peak"
        )
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
