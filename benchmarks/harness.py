"""What every scenario shares: the sandbox upstream, servers over stdio and in memory, statistics, results.

The sandbox runs in this process (a background thread, real loopback HTTP), so a scenario can read
its request log and task book directly. Servers under test run as `python -m runway_mcp`
subprocesses spoken to with the SDK's own stdio client (or, to time the server without that
client's own work, `MinimalStdioClient`), or in memory through `Client(server)`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import anyio
import mcp_types
from mcp import Client, StdioServerParameters
from mcp.client.stdio import get_default_environment, stdio_client
from pydantic import SecretStr

from runway_mcp.config import Settings
from runway_mcp.sandbox import Sandbox, SandboxConfig, SandboxServer
from runway_mcp.sandbox.faults import ConnectionRegistry
from runway_mcp.tools.server import build_server

KEY = "sk-benchmark-not-a-real-key"
VIDEO_URL = "https://media.w3.org/2010/05/sintel/trailer.mp4"
# Found again in /proc/<pid>/environ to tell which child process is the server (see `find_server_pid`).
TAG_VARIABLE = "RUNWAY_MCP_BENCH_TAG"
# An ISO-BMFF `ftyp` box: what the server sniffs to accept a local file as video/mp4.
MP4_HEADER = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
MIB = 1024 * 1024

Unit = Literal["s", "ms", "MiB", "count", "ratio"]


@dataclass
class Row:
    """One line of the results table: a measure, its baseline from the same run, and its target."""

    measure: str
    value: float | None
    unit: Unit
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None


@dataclass
class ScenarioResult:
    """What one scenario reports: headline rows for the table, every raw figure for the JSON."""

    name: str
    title: str
    rows: list[Row] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    status: Literal["ok", "skipped", "error"] = "ok"
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "rows": [dataclasses.asdict(row) for row in self.rows],
            "figures": self.figures,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class RunOptions:
    """Run-wide choices: the CI-sized run or the full one, and where temporary files go."""

    quick: bool
    workdir: Path
    errlog: TextIO


# Statistics ---------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline > 0 else math.nan


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p90 / p99 / mean / min / max of a list of durations, in milliseconds."""
    ms = [s * 1000.0 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p90_ms": round(percentile(ms, 90), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3) if ms else math.nan,
        "min_ms": round(min(ms), 3) if ms else math.nan,
        "max_ms": round(max(ms), 3) if ms else math.nan,
    }


# The sandbox --------------------------------------------------------------------------------------


class ConnectionCounter(ConnectionRegistry):
    """The sandbox's connection registry, also counting upstream TCP connections opened and open at once.

    `SandboxServer` registers every accepted connection with `sandbox.connections` and removes it when
    it closes; swapping in this subclass counts them without changing the sandbox itself.
    """

    def __init__(self) -> None:
        super().__init__()
        self.opened = 0
        self.open = 0
        self.peak_open = 0
        self._count_lock = threading.Lock()

    def add(self, transport: asyncio.Transport) -> None:
        super().add(transport)
        with self._count_lock:
            self.opened += 1
            self.open += 1
            self.peak_open = max(self.peak_open, self.open)

    def discard(self, transport: asyncio.Transport) -> None:
        super().discard(transport)
        with self._count_lock:
            self.open -= 1

    def mark(self) -> int:
        """Start a new peak from the connections open now; returns the count opened so far."""
        with self._count_lock:
            self.peak_open = self.open
            return self.opened


@contextmanager
def running_sandbox(config: SandboxConfig) -> Iterator[tuple[SandboxServer, ConnectionCounter]]:
    """A sandbox on 127.0.0.1 (a free port) whose connections are counted."""
    sandbox = Sandbox(config)
    counter = ConnectionCounter()
    sandbox.connections = counter
    with SandboxServer(sandbox) as server:
        yield server, counter


def sandbox_config(**overrides: Any) -> SandboxConfig:
    """The sandbox for benchmarks: our key only, short not-visible/pending phases."""
    values: dict[str, Any] = {
        "api_key": KEY,
        "not_visible_seconds": 0.2,
        "pending_seconds": 0.2,
        "running_seconds": 0.5,
    }
    values.update(overrides)
    return SandboxConfig(**values)


def finished_at(sandbox: Sandbox, task_id: str) -> float:
    """When a sandbox task turns SUCCEEDED, on the sandbox clock (`time.monotonic` here)."""
    task = next(t for t in sandbox.task_book.all() if t.id == task_id)
    return task.created + task.not_visible_seconds + task.pending_seconds + task.running_seconds


# Servers under test -------------------------------------------------------------------------------


def server_env(base_url: str, home: Path, **extra: str) -> dict[str, str]:
    """Environment for `python -m runway_mcp` against the sandbox, with its own data directory."""
    (home / "media").mkdir(parents=True, exist_ok=True)
    env = {
        "COMETAPI_KEY": KEY,
        "COMETAPI_BASE_URL": base_url,
        "RUNWAY_MCP_DATA_DIR": str(home / "data"),
        "RUNWAY_MCP_OUTPUT_DIR": str(home / "out"),
        "RUNWAY_MCP_ALLOWED_DIRS": str(home / "media"),
        "RUNWAY_MCP_LOG_LEVEL": "WARNING",
    }
    env.update(extra)
    return env


def in_memory_settings(base_url: str, home: Path, **overrides: Any) -> Settings:
    """The same configuration as `server_env`, as Settings for an in-process server."""
    (home / "media").mkdir(parents=True, exist_ok=True)
    values: dict[str, Any] = {
        "api_key": SecretStr(KEY),
        "base_url": base_url,
        "data_dir": home / "data",
        "output_dir": home / "out",
        "allowed_dirs": (home / "media",),
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


def runway_mcp_params(env: dict[str, str]) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "runway_mcp"], env=env)


def hello_params(env: dict[str, str] | None = None) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=[str(Path(__file__).with_name("hello_server.py"))], env=env
    )


@dataclass
class StdioServer:
    """A connected MCP client and the pid of the server process behind it."""

    client: Client
    pid: int


@asynccontextmanager
async def stdio_server(params: StdioServerParameters, errlog: TextIO) -> AsyncIterator[StdioServer]:
    """Spawn a server with the SDK's stdio client, connect, and find the server's pid.

    The SDK does not expose the process it spawns, so a unique tag goes into the child's
    environment and is looked up in `/proc/<pid>/environ` of this process's children. That holds
    even when several servers start at once, and needs nothing from the SDK's internals.
    """
    tag = uuid.uuid4().hex
    tagged = params.model_copy(update={"env": {**(params.env or {}), TAG_VARIABLE: tag}})
    async with Client(stdio_client(tagged, errlog=errlog)) as client:
        yield StdioServer(client, find_server_pid(tag))


class MinimalStdioClient:
    """The least an MCP client can do over stdio: write one JSON-RPC line, read the answer's line.

    It speaks the current protocol (`server/discover`, then requests carrying the protocol version
    in `_meta`, as the SDK's client does) and checks only the envelope, the id and `isError`. It
    times what the server and the pipes cost, without the SDK client's own work on every message
    (its session, streams and pydantic/jsonschema validation). Every real client does some such
    work of its own (the TypeScript SDK validates too), so this is a lower bound for what a user
    sees and a fair measure of what the server adds. Build one with `open_minimal_stdio`.
    """

    ANSWER_TIMEOUT_SECONDS = 30.0

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._ids = itertools.count(1)
        self._meta = {
            mcp_types.PROTOCOL_VERSION_META_KEY: mcp_types.LATEST_PROTOCOL_VERSION,
            mcp_types.CLIENT_INFO_META_KEY: {"name": "benchmark-minimal-client", "version": "0"},
            mcp_types.CLIENT_CAPABILITIES_META_KEY: {},
        }

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request and return its `result`; a JSON-RPC error raises RuntimeError."""
        assert self._process.stdin is not None and self._process.stdout is not None
        request_id = next(self._ids)
        message = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": method,
            "params": {**(params or {}), "_meta": self._meta},
        }
        self._process.stdin.write(json.dumps(message).encode() + b"\n")
        await self._process.stdin.drain()
        with anyio.fail_after(self.ANSWER_TIMEOUT_SECONDS):
            while True:  # notifications, or requests from the server, may come first
                line = await self._process.stdout.readline()
                if not line:
                    raise RuntimeError(f"the server closed stdout before answering {method}")
                answer = json.loads(line)
                if answer.get("id") == request_id and "method" not in answer:
                    break
        if "error" in answer:
            raise RuntimeError(f"{method} failed: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Call a tool and return its result object; a tool error raises RuntimeError."""
        result = await self.request("tools/call", {"name": name, "arguments": arguments})
        if result.get("isError"):
            raise RuntimeError(f"{name} failed: {result.get('content')}")
        return result


@asynccontextmanager
async def open_minimal_stdio(params: StdioServerParameters, errlog: TextIO) -> AsyncIterator[MinimalStdioClient]:
    """Spawn a server as the SDK's stdio client would, and talk to it with `MinimalStdioClient`."""
    process = await asyncio.create_subprocess_exec(
        params.command,
        *params.args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=errlog,
        env=get_default_environment() | (params.env or {}),  # what the SDK's stdio client passes
        limit=16 * MIB,
    )
    try:
        client = MinimalStdioClient(process)
        await client.request("server/discover")
        yield client
    finally:
        with anyio.CancelScope(shield=True):
            if process.stdin is not None:
                process.stdin.close()  # EOF: the server's cue to exit
            with anyio.move_on_after(5):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()


def find_server_pid(tag: str) -> int:
    """The pid of this process's child whose environment holds `RUNWAY_MCP_BENCH_TAG=<tag>`."""
    wanted = f"{TAG_VARIABLE}={tag}".encode()
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == me and wanted in (entry / "environ").read_bytes().split(b"\0"):
                return int(entry.name)
        except (OSError, ValueError, IndexError):
            continue  # a process that ended meanwhile, or one we may not read
    raise RuntimeError(f"no child process carries {TAG_VARIABLE}={tag}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def http_server_process(
    env: dict[str, str],
    options: RunOptions,
    *,
    flags: Sequence[str],
    seconds: float,
    what: str,
    unset: Sequence[str] = (),
) -> AsyncIterator[tuple[int, str]]:
    """`python -m runway_mcp --transport streamable-http <flags>` on a free loopback port, with `env` over this
    process's environment less `unset`; yields its pid and its MCP URL once it listens, then stops it."""
    port = free_port()
    http_env = {**os.environ, **env, "RUNWAY_MCP_HOST": "127.0.0.1", "RUNWAY_MCP_PORT": str(port)}
    for name in unset:
        http_env.pop(name, None)
    command = [sys.executable, "-m", "runway_mcp", "--transport", "streamable-http", *flags]
    process = await anyio.open_process(
        command, env=http_env, stdin=subprocess.DEVNULL, stdout=options.errlog, stderr=options.errlog
    )
    try:
        await until_listening(process, port, seconds, what)
        yield process.pid, f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        with anyio.move_on_after(10):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


async def until_listening(process: anyio.abc.Process, port: int, seconds: float, what: str) -> None:
    """Wait until `process` accepts TCP connections on 127.0.0.1:`port`; raise if it exits or `seconds` pass."""
    with anyio.fail_after(seconds):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"{what} exited with status {process.returncode} (see the run's log)")
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.1)
                continue
            await stream.aclose()
            return


@asynccontextmanager
async def in_memory_server(settings: Settings) -> AsyncIterator[Client]:
    async with Client(build_server(settings)) as client:
        yield client


async def until_serving(client: Client) -> None:
    """Return once runway-mcp's SDK itself answers: its stdio front may have answered the handshake and
    tools/list from the manifest while the SDK was still loading, but never a resource read."""
    await client.read_resource("runway://models")


# Tool calls ---------------------------------------------------------------------------------------


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call a tool and return its structured result, raising on a tool error."""
    result = await client.call_tool(tool, arguments)
    if result.is_error or result.structured_content is None:
        text = " ".join(getattr(block, "text", "") for block in result.content)
        raise RuntimeError(f"{tool} failed: {text}")
    content: dict[str, Any] = result.structured_content
    return content


async def create_task(
    client: Client, prompt: str = "Make it look like a snowy night", video_uri: str = VIDEO_URL
) -> str:
    created = await call(client, "create_video_to_video", {"video_uri": video_uri, "prompt_text": prompt})
    task_id: str = created["task_id"]
    return task_id


async def task_reaching(
    client: Client,
    status: str,
    *,
    prompt: str = "Make it look like a snowy night",
    interval: float = 0.1,
    limit_seconds: float = 20.0,
) -> str:
    """Create a sandbox task and poll it every `interval` seconds until it is `status`; return its id."""
    task_id = await create_task(client, prompt)
    with anyio.fail_after(limit_seconds):
        for _ in range(int(limit_seconds / interval)):
            if (await call(client, "get_task", {"task_id": task_id}))["status"] == status:
                return task_id
            await anyio.sleep(interval)
    raise TimeoutError(f"task {task_id} was not {status} within {limit_seconds:g} s")


async def succeeded_task(client: Client, limit_seconds: float = 20.0) -> str:
    """Create a (short) sandbox task and poll it until SUCCEEDED; return its id."""
    return await task_reaching(client, "SUCCEEDED", limit_seconds=limit_seconds)


# Processes and files ------------------------------------------------------------------------------


def memory_status(pid: int) -> dict[str, int]:
    """VmHWM (peak RSS) and VmRSS of a process, in bytes, from /proc/<pid>/status."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            values[name] = int(rest.split()[0]) * 1024
    return values


def reset_peak(pid: int) -> bool:
    """Reset a process's VmHWM to its current RSS (`5` > clear_refs, Linux 4.0+); False if refused."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def write_mp4(path: Path, size: int) -> Path:
    """A file of exactly `size` bytes that sniffs as MP4: an `ftyp` box, then random bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.write(MP4_HEADER)
        remaining = size - len(MP4_HEADER)
        while remaining > 0:
            block = min(remaining, MIB)
            out.write(os.urandom(block))
            remaining -= block
    return path
