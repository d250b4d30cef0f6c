"""The API key never leaves the Authorization header: every tool x every fault, an upstream that echoes the key
back, and the real command at DEBUG level over stdio.

Searched: every tool result and resource/prompt answer (or protocol error), every log record at DEBUG with its
arguments and formatted exception, the ledger's database files (WAL and journal included), and the names of
every file the server wrote. Extends `test_stdio_and_secrets.py`, which covers a smaller flow.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import MCPError

from runway_mcp.sandbox import Fault, Sandbox, SandboxServer
from runway_mcp.tools.server import build_server
from tests.support import (
    CANARY_KEY,
    CREATE_ARGUMENTS,
    FAULTS,
    INSTANT_TASKS,
    MEDIA_PATH,
    closed_port_url,
    make_settings,
    minimal_arguments,
    server_env,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

# The whole key, and a middle slice of it: a key shortened or masked badly still leaks its middle.
NEEDLES = (CANARY_KEY, CANARY_KEY[5:17])
SECRET_SETTINGS: dict[str, Any] = {
    "read_timeout": 0.3,
    "connect_timeout": 1.0,
    "max_retries": 1,
    "retry_backoff_seconds": 0.01,
    "retry_budget_seconds": 3.0,
    "download_timeout_seconds": 1.0,
    "poll_interval_seconds": 0.05,
    "log_level": "DEBUG",
}


class Haystack:
    """Everything the server produced that a user, a model or a log collector could see."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, value: Any) -> None:
        if hasattr(value, "model_dump_json"):
            self.parts.append(value.model_dump_json())
        else:
            self.parts.append(str(value))

    def add_logs(self, caplog: pytest.LogCaptureFixture) -> None:
        formatter = logging.Formatter()
        self.parts.append(caplog.text)
        for record in caplog.records:
            self.parts.append(record.getMessage())
            self.parts.append(repr(record.args))
            self.parts.append(repr(record.__dict__))
            if record.exc_info:
                self.parts.append(formatter.formatException(record.exc_info))
            if record.stack_info:
                self.parts.append(record.stack_info)

    def add_files(self, *directories: Path) -> int:
        """Names and bytes of every file under the directories; returns how many files were read."""
        count = 0
        for directory in directories:
            for path in directory.rglob("*"):
                self.parts.append(str(path))
                if path.is_file():
                    self.parts.append(path.read_bytes().decode("latin-1"))
                    count += 1
        return count

    def assert_clean(self) -> None:
        text = "\n".join(self.parts)
        for needle in NEEDLES:
            assert needle not in text, f"the key (or part of it) leaked: ...{_around(text, needle)}..."


def _around(text: str, needle: str) -> str:
    at = text.index(needle)
    return text[max(0, at - 120) : at + len(needle) + 40]


async def every_call(client: Client, task_id: str, out_dir: Path, seen: Haystack) -> None:
    """Every tool, every resource and every prompt once, with valid arguments; answers go to `seen`."""
    tools = sorted((await client.list_tools()).tools, key=lambda t: t.name == "cancel_task")  # it deletes the task
    for tool in tools:
        if tool.name in CREATE_ARGUMENTS:
            arguments = CREATE_ARGUMENTS[tool.name]
        elif "task_id" in tool.input_schema.get("properties", {}):
            arguments = {"task_id": task_id}
            if tool.name == "wait_for_task":
                arguments["timeout_seconds"] = 1
            if tool.name == "download_task_output":
                arguments["directory"] = str(out_dir)
        else:
            arguments = minimal_arguments(tool.input_schema)
        with anyio.fail_after(20):
            seen.add(await client.call_tool(tool.name, arguments))
    uris = [str(r.uri) for r in (await client.list_resources()).resources] + [f"runway://tasks/{task_id}"]
    for uri in uris:
        try:
            seen.add(await client.read_resource(uri))
        except MCPError as exc:
            seen.add(exc)
    for prompt in (await client.list_prompts()).prompts:
        arguments = {a.name: "x" for a in prompt.arguments or [] if a.required}
        seen.add(await client.get_prompt(prompt.name, arguments))


@pytest.fixture
def instant(sandbox: Sandbox) -> Iterator[Sandbox]:
    sandbox.config = dataclasses.replace(sandbox.config, **INSTANT_TASKS)
    yield sandbox


@pytest.mark.parametrize("fault_name", ["none", *FAULTS])
async def test_the_key_survives_every_tool_under_every_fault(
    instant: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, fault_name: str
) -> None:
    caplog.set_level(logging.DEBUG)
    fault = FAULTS.get(fault_name)
    base_url = closed_port_url() if fault_name == "connection_refused" else sandbox_server.url
    settings = make_settings(base_url, tmp_path, **SECRET_SETTINGS)
    seen = Haystack()
    async with Client(build_server(settings), mode="legacy") as client:
        prepared = make_settings(sandbox_server.url, tmp_path / "prep", **SECRET_SETTINGS)
        async with Client(build_server(prepared)) as helper:
            made = await helper.call_tool("create_video_to_video", CREATE_ARGUMENTS["create_video_to_video"])
        assert made.structured_content is not None
        task_id = made.structured_content["task_id"]
        mark = len(instant.requests)
        if fault is not None:
            instant.add_fault(dataclasses.replace(fault, times=-1))  # every API route, every method
            instant.add_fault(dataclasses.replace(fault, path=MEDIA_PATH, times=-1))  # and the output files
        await every_call(client, task_id, settings.output_directory(), seen)  # "none": every success path
    reached = instant.api_requests()[mark:]
    assert reached or fault_name == "connection_refused", "the flow never reached the upstream"
    seen.add_logs(caplog)
    assert any(r.levelno == logging.DEBUG for r in caplog.records), "DEBUG logging was not captured"
    assert settings.data_dir is not None
    assert seen.add_files(settings.data_dir) >= 1, "no ledger file was written"
    downloaded = seen.add_files(settings.output_directory())
    assert downloaded >= 1 or fault_name != "none", "the success path saved no output file to search"
    seen.assert_clean()


# An upstream that echoes the key back in everything it says


class EchoingUpstream(BaseHTTPRequestHandler):
    """Puts the caller's bearer token into every answer, the way a careless gateway might."""

    answer: tuple[int, str, str] = (404, "application/json", "{}")
    """(status, content type, body template with {key})."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        key = self.headers.get("Authorization", "").partition(" ")[2]
        status, content_type, template = self.answer
        body = template.replace("{key}", key).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status in (301, 302):
            self.send_header("Location", f"https://evil.example/?key={key}")
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads its own logs."""


ECHOES: dict[str, tuple[int, str, str]] = {
    "400-runway": (
        400,
        "application/json",
        '{"error": "Validation failed for {key}", "issues": [{"message": "bad key {key}", "path": ["auth"]}]}',
    ),
    "401-cometapi": (
        401,
        "application/json",
        '{"error": {"message": "Incorrect API key provided: {key}", "type": "comet_api_error", "param": "{key}", "code": "{key}"}}',
    ),
    "403-plain": (403, "text/plain", "forbidden for {key}"),
    "429-gateway": (429, "application/json", '{"code": "{key}", "message": "slow down {key}", "data": null}'),
    "500-json": (500, "application/json", '{"error": {"message": "internal error for token {key}"}}'),
    "502-html": (502, "text/html", "<html><body>Bad gateway for {key}</body></html>"),
    "301-redirect": (301, "text/html", "moved {key}"),
    "200-not-json": (200, "text/plain", "ok {key}"),
    "400-task-not-exist": (
        400,
        "application/json",
        '{"code": "task_not_exist", "message": "task_not_exist {key}", "data": null}',
    ),
}


@pytest.fixture
def echoing_upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoingUpstream)
    thread = threading.Thread(target=server.serve_forever, name="echoing-upstream", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("echo", sorted(ECHOES))
async def test_an_upstream_that_echoes_the_key_does_not_make_it_leak(
    echoing_upstream: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, echo: str
) -> None:
    caplog.set_level(logging.DEBUG)
    EchoingUpstream.answer = ECHOES[echo]
    settings = make_settings(echoing_upstream, tmp_path, **SECRET_SETTINGS)
    seen = Haystack()
    async with Client(build_server(settings)) as client:
        await every_call(client, "0f0f0f0f-1234", settings.output_directory(), seen)
    seen.add_logs(caplog)
    seen.add_files(tmp_path)
    seen.assert_clean()


# Answers cut at every length around the limit

# runway_mcp.upstream.responses quotes at most this many characters of the upstream's own words.
DETAIL_LIMIT = 1000
PAD = "~"
# Pads that put the cut before the key, through every character of it, and after it.
CUT_PADS = range(DETAIL_LIMIT - len(CANARY_KEY) - 2, DETAIL_LIMIT + 3)
CUT_SHAPES: dict[str, str] = {
    "cometapi-envelope": '{"error": {"message": "%s", "type": "comet_api_error", "param": "", "code": ""}}',
    "runway-issues": '{"error": "Validation of body failed", "issues": [{"message": "%s", "path": ["videoUri"]}]}',
    "json-string": '"%s"',
}


@pytest.mark.parametrize("status", [400, 401, 429, 500])
@pytest.mark.parametrize("shape", sorted(CUT_SHAPES))
async def test_an_echoed_key_cut_at_any_length_around_the_limit_never_shows_a_piece(
    echoing_upstream: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, shape: str, status: int
) -> None:
    """A long error quoting the key is cut; whichever character the cut falls on, no piece of the key shows."""
    caplog.set_level(logging.DEBUG)
    settings = make_settings(echoing_upstream, tmp_path, **SECRET_SETTINGS)
    seen = Haystack()
    async with Client(build_server(settings)) as client:
        for pad in CUT_PADS:
            body = CUT_SHAPES[shape] % (PAD * pad + "{key} was refused")
            EchoingUpstream.answer = (status, "application/json", body)
            seen.add(await client.call_tool("get_task", {"task_id": "0f0f0f0f-1234"}))
            seen.add(await client.call_tool("create_video_to_video", CREATE_ARGUMENTS["create_video_to_video"]))
    seen.add_logs(caplog)
    seen.add_files(tmp_path)
    seen.assert_clean()
    text = "\n".join(seen.parts)
    assert PAD * 50 in text, "the upstream's words never reached an answer: nothing was tested"
    assert PAD + CANARY_KEY[0] not in text, f"the start of the key leaked: ...{_around(text, PAD + CANARY_KEY[0])}..."


# The real command, over stdio, at DEBUG level, through faults


def debug_stdio(env: dict[str, str], stderr: IO[str]) -> Client:
    env = {**env, "RUNWAY_MCP_LOG_LEVEL": "DEBUG", "RUNWAY_MCP_MAX_RETRIES": "1", "RUNWAY_MCP_READ_TIMEOUT": "0.5"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "runway_mcp"], env=env)
    return Client(stdio_client(params, errlog=stderr), mode="legacy")


async def test_the_stdio_server_at_debug_level_never_writes_the_key_to_stderr_or_stdout(
    instant: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    seen = Haystack()
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as stderr:
        with anyio.fail_after(90):
            async with debug_stdio(server_env(sandbox_server, tmp_path), stderr) as client:
                made = await client.call_tool("create_video_to_video", CREATE_ARGUMENTS["create_video_to_video"])
                assert made.structured_content is not None, made
                task_id = made.structured_content["task_id"]
                for fault in (
                    Fault(kind="html", status=502, times=-1),
                    Fault(kind="drop_connection", times=-1),
                    Fault(kind="status", status=401, times=-1),
                    Fault(kind="malformed_json", times=-1),
                    Fault(kind="delay", delay_seconds=1.0, times=-1),
                ):
                    instant.add_fault(fault)
                    seen.add(await client.call_tool("get_task", {"task_id": task_id}))
                    seen.add(await client.call_tool("create_video_to_video", CREATE_ARGUMENTS["create_video_to_video"]))
                    seen.add(await client.call_tool("cancel_task", {"task_id": task_id}))
                    instant.clear_faults()
                seen.add(await client.call_tool("download_task_output", {"task_id": task_id}))
                seen.add(await client.call_tool("list_tasks", {}))
        stderr.seek(0)
        logged = stderr.read()
    assert " DEBUG " in logged, "the server did not log at DEBUG level"
    assert "retry" in logged, "the faults did not show in the log"
    seen.parts.append(logged)
    seen.add_files(tmp_path)
    seen.assert_clean()


async def test_the_stdio_server_at_debug_level_does_not_log_a_key_echoed_in_a_response_header(
    echoing_upstream: str, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    EchoingUpstream.answer = ECHOES["301-redirect"]
    env = {**server_env(sandbox_server, tmp_path), "COMETAPI_BASE_URL": echoing_upstream}
    seen = Haystack()
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as stderr:
        with anyio.fail_after(60):
            async with debug_stdio(env, stderr) as client:
                seen.add(await client.call_tool("get_task", {"task_id": "0f0f0f0f-1234"}))
        stderr.seek(0)
        logged = stderr.read()
    assert " DEBUG " in logged
    seen.parts.append(logged)
    seen.assert_clean()
