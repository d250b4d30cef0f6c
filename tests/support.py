"""Helpers and constants shared by the test modules (fixtures live in conftest.py).

Test modules import shared code from here only, never from one another.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import uvicorn
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult
from pydantic import SecretStr

from runway_mcp.config import Settings
from runway_mcp.remote.app import Transport, create_app
from runway_mcp.sandbox import Fault, SandboxConfig, SandboxServer

REPO = Path(__file__).resolve().parent.parent

# Uvicorn workers log through this, so a test can tell from the log which worker process answered.
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"pid": {"format": "pid=%(process)d %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "pid", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
}

# Settings and the sandbox ---------------------------------------------------------------------------------

# A distinctive key: the secret-hygiene tests search every output for it.
CANARY_KEY = "sk-canary-Q7vX2m9Lr4Tz8Wn3"

# One tool-schema cache for the whole run: after the first server, every test's tools come from it,
# as a user's do on every start but the first (test_schema_cache.py covers the cold path).
SCHEMA_CACHE = Path(tempfile.mkdtemp(prefix="runway-mcp-schema-cache-"))
atexit.register(shutil.rmtree, SCHEMA_CACHE, ignore_errors=True)

FAST_SANDBOX = SandboxConfig(
    api_key=CANARY_KEY,
    not_visible_seconds=0.3,
    pending_seconds=0.3,
    running_seconds=1.2,
)


def make_settings(base_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "api_key": SecretStr(CANARY_KEY),
        "base_url": base_url,
        "poll_interval_seconds": 0.2,
        "retry_budget_seconds": 5.0,
        "retry_backoff_seconds": 0.05,
        "connect_timeout": 2.0,
        "read_timeout": 5.0,
        "data_dir": tmp_path / "data",
        "cache_dir": SCHEMA_CACHE,
        "output_dir": tmp_path / "out",
        "allowed_dirs": (tmp_path / "media",),
        "insecure_download_hosts": ("127.0.0.1",),
        "log_level": "DEBUG",
    }
    values.update(overrides)
    return Settings(**values)


# Tool arguments -------------------------------------------------------------------------------------------

VIDEO = "https://media.w3.org/2010/05/sintel/trailer.mp4"
IMAGE = "https://res.cloudinary.com/demo/image/upload/dog.jpg"

# The request from the seed document (CometAPI's page for POST /runwayml/v1/video_to_video).
SEED_ARGUMENTS = {
    "video_uri": "https://media.w3.org/2010/05/sintel/trailer.mp4",
    "prompt_text": "Make the motion feel cinematic.",
    "model": "gen4_aleph",
    "references": [{"type": "image", "uri": "https://res.cloudinary.com/demo/image/upload/dog.jpg"}],
    "ratio": "1280:720",
}

# One valid call per create tool (the default model of each); a new create tool must be added here.
CREATE_ARGUMENTS: dict[str, dict[str, Any]] = {
    "create_video_to_video": {"video_uri": VIDEO, "prompt_text": "Make it snow"},
    "create_image_to_video": {"prompt_image": IMAGE, "prompt_text": "The dog runs"},
    "create_text_to_image": {
        "prompt_text": "@dog on a beach",
        "reference_images": [{"uri": IMAGE, "tag": "dog"}],
        "ratio": "1024:1024",
    },
    "create_upscale": {"video_uri": VIDEO},
    "create_character_performance": {
        "character_uri": IMAGE,
        "character_type": "image",
        "reference_video_uri": VIDEO,
    },
}


def minimal_arguments(schema: dict[str, Any]) -> dict[str, Any]:
    """The simplest value for each required property of a tool's input schema."""
    defs = schema.get("$defs", {})

    def value_for(prop: dict[str, Any]) -> Any:
        if "$ref" in prop:
            return value_for(defs[prop["$ref"].rsplit("/", 1)[-1]])
        if "enum" in prop:
            return prop["enum"][0]
        if "const" in prop:
            return prop["const"]
        if "anyOf" in prop:
            return value_for(prop["anyOf"][0])
        kind = prop.get("type")
        return {"string": "x", "integer": prop.get("minimum", 1), "number": 1, "boolean": False}.get(kind)

    return {name: value_for(schema["properties"][name]) for name in schema.get("required", [])}


def decode_data_uri(value: str) -> tuple[str, bytes]:
    head, _, payload = value.partition(",")
    assert head.startswith("data:") and head.endswith(";base64")
    return head[5:-7], base64.b64decode(payload, validate=True)


# Tool results ---------------------------------------------------------------------------------------------


def without_empty(value: Any) -> Any:
    """What a text answer shows of structured content: members that are null or empty left out (recursively)."""
    if isinstance(value, dict):
        kept = {key: without_empty(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (None, "", [], {})}
    if isinstance(value, list):
        return [without_empty(item) for item in value]
    return value


def result_text(result: CallToolResult) -> str:
    """The text blocks of a tool result, joined with spaces."""
    return " ".join(block.text for block in result.content if block.type == "text")


def error_text(result: CallToolResult) -> str:
    """The text of a result that must be a tool error."""
    assert result.is_error, f"expected a tool error, got {result.structured_content}"
    return result_text(result)


def assert_clear_error(result: CallToolResult, tool: str, max_length: int = 8000) -> str:
    """The text of an is_error result, checked to be a deliberate, readable error and not a crash."""
    text = error_text(result)
    assert text.strip() != f"Error executing tool {tool}", f"{tool} crashed (the SDK's bare crash message)"
    assert "Traceback" not in text
    assert "cf-error-details" not in text and "Ray ID" not in text, "an upstream HTML error page reached the model"
    assert len(text) < max_length, f"an error of {len(text)} characters"
    return text


def assert_clear_outcome(result: CallToolResult, tool: str) -> bool:
    """True for a success, False for a clear tool error; fails on anything else."""
    if result.is_error:
        assert_clear_error(result, tool)
        return False
    assert result.structured_content is not None
    return True


# Faults and fast upstreams --------------------------------------------------------------------------------

READ_TIMEOUT = 0.4
MAX_RETRIES = 2
MEDIA_PATH = "/_sandbox/media/"
INSTANT_TASKS: dict[str, Any] = {
    "not_visible_seconds": 0.0,
    "pending_seconds": 0.0,
    "running_seconds": 0.0,
    "supports_cancel": True,
}

FAULTS: dict[str, Fault | None] = {
    "connection_refused": None,
    "drop_connection": Fault(kind="drop_connection"),
    "reset_mid_response": Fault(kind="reset_mid_response"),
    "read_timeout": Fault(kind="delay", delay_seconds=READ_TIMEOUT * 2.5),
    "http_500": Fault(kind="status", status=500),
    "http_502": Fault(kind="status", status=502),
    "http_503_retry_after": Fault(kind="status", status=503, retry_after=0.05),
    "http_504": Fault(kind="status", status=504),
    "http_524": Fault(kind="status", status=524),
    "http_429_retry_after": Fault(kind="status", status=429, retry_after=0.05),
    "redirect_301": Fault(kind="redirect", status=301),
    "html_error_page_502": Fault(kind="html", status=502),
    "empty_body": Fault(kind="empty"),
    "malformed_json": Fault(kind="malformed_json"),
    "wrong_shape_json": Fault(kind="wrong_shape"),
    "huge_body_10mb": Fault(kind="huge_body", status=200),
}


def closed_port_url() -> str:
    """A loopback URL nobody listens on (the port was just bound and released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


# Servers as subprocesses ----------------------------------------------------------------------------------

STARTUP_SECONDS = 30.0


def server_env(sandbox_server: SandboxServer, tmp_path: Path) -> dict[str, str]:
    """The environment of `python -m runway_mcp` over stdio against the sandbox."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMETAPI", "RUNWAY"))}
    env.update(
        COMETAPI_KEY=CANARY_KEY,
        COMETAPI_BASE_URL=f"{sandbox_server.url}/v1",  # an OpenAI-style base; the /v1 is tolerated
        RUNWAY_MCP_DATA_DIR=str(tmp_path / "data"),
        RUNWAY_MCP_OUTPUT_DIR=str(tmp_path / "out"),
        RUNWAY_MCP_POLL_INTERVAL="0.2",
        RUNWAY_MCP_LOG_LEVEL="DEBUG",
    )
    return env


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWAY_MCP_", "COMETAPI_", "RUNWAYML_"))}
    # The checkout under test (src/) and its tests package come first, whatever is installed.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), str(REPO)])
    env.update({"RUNWAY_MCP_DATA_DIR": str(tmp_path / "data"), **extra})
    return env


@contextmanager
def server_process(
    args: list[str], env: dict[str, str], log: Path, started: str = r"listening on (http://127\.0\.0\.1:\d+)"
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A server started as a subprocess (its own process group); yields it and its base URL from its log."""
    with log.open("wb") as sink:
        process = subprocess.Popen(args, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            found = re.search(started, log.read_text(errors="replace"))
            if found:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        yield process, found.group(1)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


# Servers over HTTP in this process ------------------------------------------------------------------------


class HttpServer:
    """The HTTP app from `create_app` on a real uvicorn, in a background thread, on 127.0.0.1:<free port>."""

    def __init__(self, settings: Settings, transport: Transport = "streamable-http") -> None:
        self.settings = settings
        self.transport = transport
        self.url = ""
        self.endpoint = ""

    def __enter__(self) -> HttpServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.endpoint = self.url + ("/mcp" if self.transport == "streamable-http" else "/sse")
        settings = self.settings.model_copy(update={"http_port": port})
        app = create_app(settings, transport=self.transport, host="127.0.0.1")
        config = uvicorn.Config(app, log_config=None, access_log=False, timeout_graceful_shutdown=2)
        self._server, self._thread = start_uvicorn(config, sock, f"the HTTP server on {self.url}")
        return self

    def __exit__(self, *_exc: object) -> None:
        stop_uvicorn(self._server, self._thread, force=True)


def start_uvicorn(config: uvicorn.Config, sock: socket.socket, what: str) -> tuple[uvicorn.Server, threading.Thread]:
    """Serve `config`'s app on the bound `sock` from a daemon thread; return once it listens."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.01)
    return server, thread


def stop_uvicorn(server: uvicorn.Server, thread: threading.Thread, *, force: bool) -> None:
    """Ask the server to stop; with `force`, make it stop if it has not within 10 s."""
    server.should_exit = True
    thread.join(timeout=10)
    if force and thread.is_alive():
        server.force_exit = True
        thread.join(timeout=5)


def mcp_http_client(token: str | None) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(20, read=60))


@asynccontextmanager
async def connect(
    server: HttpServer, token: str | None, mode: str = "auto", extensions: Sequence[ClientExtension] = ()
) -> AsyncIterator[Client]:
    """A real MCP client for either transport, sending `token` as its bearer token (and these extensions)."""
    if server.transport == "sse":
        headers = {"Authorization": f"Bearer {token}"} if token else None
        async with Client(sse_client(server.endpoint, headers=headers), mode=mode, extensions=extensions) as client:
            yield client
        return
    async with (
        mcp_http_client(token) as http,
        Client(streamable_http_client(server.endpoint, http_client=http), mode=mode, extensions=extensions) as client,
    ):
        yield client


# Raw JSON-RPC over a server's stdio ------------------------------------------------------------------------

RUNWAY_MCP_COMMAND = Path(sys.executable).with_name("runway-mcp")
"""The installed `runway-mcp` command of the interpreter running the tests."""


class StdioServer:
    """A `runway-mcp` process spoken to in raw JSON-RPC lines; several calls may be in flight at once.

    Unlike the SDK's stdio client it exposes the process, so a test can close its stdin, or kill it,
    while a call is in progress. Build one with `open_stdio_server`.
    """

    ANSWER_SECONDS = 60.0

    def __init__(self, process: Any, log: Path) -> None:
        self.process = process
        self.log = log
        self._ids = itertools.count(1)
        # Each request sent: set when its answer came (or stdout closed), and the answer.
        self._slots: dict[int, tuple[anyio.Event, list[dict[str, Any]]]] = {}
        self._write_lock = anyio.Lock()
        self.stdout_closed = anyio.Event()

    @property
    def pid(self) -> int:
        pid: int = self.process.pid
        return pid

    async def _write(self, message: dict[str, Any]) -> None:
        async with self._write_lock:
            await self.process.stdin.send(json.dumps(message).encode() + b"\n")

    async def read_answers(self) -> None:
        """Hand every answer on stdout to its request; answer the server's own requests."""
        lines = BufferedByteReceiveStream(self.process.stdout)
        try:
            while True:
                line = await lines.receive_until(b"\n", 64 * 1024 * 1024)
                if not line.strip():
                    continue
                message = json.loads(line)
                if "method" in message:
                    if "id" in message:  # a request from the server: ping is answered, nothing else is offered
                        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"], "result": {}}
                        if message["method"] != "ping":
                            reply = {"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32601, "message": "no"}}
                        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                            await self._write(reply)
                    continue  # notifications (progress, logs)
                slot = self._slots.get(message.get("id"))
                if slot is not None:
                    slot[1].append(message)
                    slot[0].set()
        except (anyio.EndOfStream, anyio.IncompleteRead, anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        finally:
            self.stdout_closed.set()
            for event, _ in self._slots.values():
                event.set()

    async def send_request(self, method: str, params: dict[str, Any] | None = None) -> int:
        """Send a request without waiting for its answer (`answer` waits for it); returns its id."""
        request_id = next(self._ids)
        self._slots[request_id] = (anyio.Event(), [])
        if self.stdout_closed.is_set():
            self._slots[request_id][0].set()
        await self._write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        return request_id

    async def answer(self, request_id: int) -> dict[str, Any]:
        """The answer to a request sent with `send_request`; raises if the server ends without one."""
        event, answers = self._slots[request_id]
        with anyio.fail_after(self.ANSWER_SECONDS):
            await event.wait()
        del self._slots[request_id]
        if not answers:
            raise RuntimeError(f"the server ended without answering request {request_id}:\n{self.log_text()}")
        return answers[0]

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return its `result`; a JSON-RPC error raises RuntimeError."""
        answer = await self.answer(await self.send_request(method, params))
        if "error" in answer:
            raise RuntimeError(f"{method} failed: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    async def initialize(self) -> None:
        """The initialize handshake, then a resource read: the stdio front may answer the handshake from its
        manifest before the SDK has loaded, never a read, so this returns once the server itself serves."""
        client = {"name": "tests", "version": "0"}
        await self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": client})
        await self._write({"jsonrpc": "2.0", "method": "notifications/initialized"})
        await self.request("resources/read", {"uri": "runway://models"})

    async def start_tool_call(self, name: str, arguments: dict[str, Any]) -> int:
        """Send a tools/call without waiting; returns its request id."""
        return await self.send_request("tools/call", {"name": name, "arguments": arguments})

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A tool's result object (isError, content, structuredContent)."""
        return await self.request("tools/call", {"name": name, "arguments": arguments})

    async def close_stdin(self) -> None:
        await self.process.stdin.aclose()

    async def exit_code_within(self, seconds: float) -> int | None:
        """The exit code, or None if the process still runs after `seconds`."""
        with anyio.move_on_after(seconds):
            code: int = await self.process.wait()
            return code
        return None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def raw_result_text(result: dict[str, Any]) -> str:
    """The text blocks of a raw tools/call result, joined with spaces."""
    return " ".join(block.get("text", "") for block in result.get("content", []) if block.get("type") == "text")


@asynccontextmanager
async def open_stdio_server(env: dict[str, str], log: Path) -> AsyncIterator[StdioServer]:
    """`runway-mcp` over stdio with this environment, initialized; its stderr is appended to `log`.

    At the end its stdin is closed and it gets 10 s to exit, then it is killed.
    """
    with log.open("ab") as sink:
        process = await anyio.open_process([str(RUNWAY_MCP_COMMAND)], env=env, stderr=sink, start_new_session=True)
    server = StdioServer(process, log)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.read_answers)
            try:
                with anyio.fail_after(STARTUP_SECONDS):
                    await server.initialize()
                yield server
            finally:
                with anyio.CancelScope(shield=True):
                    if process.returncode is None:
                        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                            await process.stdin.aclose()
                        await server.exit_code_within(10)
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
                await process.wait()
            await process.aclose()


async def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll `condition` every 20 ms until it holds; fail saying `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await anyio.sleep(0.02)


def stdio_env(sandbox_server: SandboxServer, tmp_path: Path, **variables: str) -> dict[str, str]:
    """`server_env` (data in tmp_path/data), with the run's schema cache and these extra variables."""
    return server_env(sandbox_server, tmp_path) | {"RUNWAY_MCP_CACHE_DIR": str(SCHEMA_CACHE), **variables}


# A stub upstream for answers the sandbox cannot give ------------------------------------------------------


class StubUpstream:
    """A tiny upstream on real loopback HTTP (uvicorn in a thread): each request gets the next canned answer.

    `answers` holds (status, headers, body) tuples used in order; once they run out, `default` answers.
    `routes` answers given paths (GET /path) instead, and a path in `stall_after` sends only that many
    bytes of its body, then waits until the client goes away. Every request is recorded as (method, path,
    headers). Use it where the sandbox cannot produce the odd answer a test needs (a `Retry-After: nan`).
    """

    def __init__(self, default: tuple[int, dict[str, str], bytes] = (404, {}, b"{}")) -> None:
        self.answers: list[tuple[int, dict[str, str], bytes]] = []
        self.default = default
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.stall_after: dict[str, int] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.url = ""

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.requests.append((scope["method"], scope["path"], headers))
        path = scope["path"]
        if path in self.routes:
            status, extra, body = self.routes[path]
        else:
            status, extra, body = self.answers.pop(0) if self.answers else self.default
        raw = [(b"content-length", str(len(body)).encode())]
        if "content-type" not in {k.lower() for k in extra}:
            raw.append((b"content-type", b"application/json"))
        raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        if path in self.stall_after:
            await send({"type": "http.response.body", "body": body[: self.stall_after[path]], "more_body": True})
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        await send({"type": "http.response.body", "body": body})

    def __enter__(self) -> StubUpstream:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self._app, log_config=None, access_log=False, lifespan="off", interface="asgi3")
        self._server, self._thread = start_uvicorn(config, sock, f"the stub upstream on {self.url}")
        return self

    def __exit__(self, *_exc: object) -> None:
        stop_uvicorn(self._server, self._thread, force=False)


def stub_env(stub: StubUpstream, tmp_path: Path, **variables: str) -> dict[str, str]:
    """`runway-mcp` over stdio against a stub upstream (the canary key, data in tmp_path/data, the run's schema cache)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMETAPI", "RUNWAY"))}
    env.update(
        COMETAPI_KEY=CANARY_KEY,
        COMETAPI_BASE_URL=stub.url,
        RUNWAY_MCP_DATA_DIR=str(tmp_path / "data"),
        RUNWAY_MCP_OUTPUT_DIR=str(tmp_path / "out"),
        RUNWAY_MCP_CACHE_DIR=str(SCHEMA_CACHE),
        RUNWAY_MCP_POLL_INTERVAL="0.2",
        RUNWAY_MCP_LOG_LEVEL="DEBUG",
    )
    env.update(variables)
    return env


async def create_wait_download(client: Any, arguments: dict[str, Any], *, waits: int = 30) -> dict[str, Any]:
    """`create_video_to_video`, `wait_for_task` until the task ends, then `download_task_output`.

    `client` is an MCP `Client`; returns the saved file's entry (path, bytes, sha256...).
    """
    created = await client.call_tool("create_video_to_video", arguments)
    assert not created.is_error and created.structured_content is not None, result_text(created)
    task_id = created.structured_content["task_id"]
    for _ in range(waits):
        waited = await client.call_tool("wait_for_task", {"task_id": task_id, "timeout_seconds": 10})
        assert waited.structured_content is not None, result_text(waited)
        if waited.structured_content["terminal"]:
            break
    assert waited.structured_content["status"] == "SUCCEEDED", result_text(waited)
    downloaded = await client.call_tool("download_task_output", {"task_id": task_id})
    assert not downloaded.is_error and downloaded.structured_content is not None, result_text(downloaded)
    (saved,) = downloaded.structured_content["files"]
    entry: dict[str, Any] = saved
    return entry
