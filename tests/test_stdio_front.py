"""The stdio front (runway_mcp.front): what it answers before the SDK has loaded must be what the SDK answers.

Every test here runs the real command, `python -m runway_mcp`, and speaks JSON-RPC lines to it, so
each byte the client receives can be compared. The reference is the server with the front turned off
(`RUNWAY_MCP_CACHE_DIR=off`: no front, no manifest, the SDK's stdio transport as it always was).
Whether an answer came from the manifest is read from the server's DEBUG log.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from runway_mcp.config import Settings
from runway_mcp.front.manifest import cache_directory, manifest_path
from runway_mcp.sandbox import Sandbox, SandboxServer
from tests.support import CANARY_KEY, SEED_ARGUMENTS, server_env

pytestmark = pytest.mark.anyio

ENVELOPE = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "front-test", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
LISTS = ("tools/list", "prompts/list", "resources/list", "resources/templates/list")
ANSWERED = "from the stdio manifest before the SDK was ready"
ESTIMATE = {"name": "estimate_cost", "arguments": {"endpoint": "video_to_video", "duration_seconds": 5}}


def request(number: int | str, method: str, params: dict[str, Any] | None = None, *, era: str) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": number, "method": method}
    if era == "modern":
        message["params"] = {**(params or {}), "_meta": ENVELOPE}
    elif params is not None:
        message["params"] = params
    return message


def opening(era: str) -> list[dict[str, Any]]:
    """How a client of `era` opens: the 2026-07-28 discovery request, or a handshake at a given version."""
    if era == "modern":
        return [request(1, "server/discover", era=era)]
    version = era.removeprefix("legacy-")
    init = {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "front-test", "version": "1"}}
    return [request(1, "initialize", init, era=era), {"jsonrpc": "2.0", "method": "notifications/initialized"}]


def static_session(era: str) -> list[dict[str, Any]]:
    """Every static request a client opens with, then a tool call the front cannot answer."""
    messages = opening(era) + [request(10 + n, method, era=era) for n, method in enumerate(LISTS)]
    if era != "modern":  # ping is gone from the 2026-07-28 protocol
        messages.append(request("ping-1", "ping", era=era))
    return [*messages, request(99, "tools/call", ESTIMATE, era=era)]


ERAS = ["legacy-2025-11-25", "legacy-2024-11-05", "modern"]


class Stdio:
    """A `python -m runway_mcp` process and its JSON-RPC lines; stderr goes to a file."""

    def __init__(self, process: Process, stderr: Path) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self.stderr_path = stderr
        self._stdin = process.stdin
        self._stdout = BufferedByteReceiveStream(process.stdout)
        self.lines: list[bytes] = []  # every line received, in order

    async def send(self, *messages: dict[str, Any]) -> None:
        await self._stdin.send(b"".join(json.dumps(m).encode() + b"\n" for m in messages))

    async def send_raw(self, data: bytes) -> None:
        await self._stdin.send(data)

    async def line(self) -> bytes:
        line = await self._stdout.receive_until(b"\n", 16 * 1024 * 1024) + b"\n"
        self.lines.append(line)
        return line

    async def answers(self, ids: list[Any]) -> dict[Any, bytes]:
        """Read lines until every id in `ids` is answered; the answer lines by id (a repeat fails)."""
        found: dict[Any, bytes] = {}
        with anyio.fail_after(60):
            while not set(ids) <= set(found):
                line = await self.line()
                answer = json.loads(line)
                if "method" in answer:
                    continue
                assert answer["id"] not in found, f"answered twice: {answer['id']!r}"
                found[answer["id"]] = line
        return found

    def notifications(self) -> list[dict[str, Any]]:
        return [m for m in map(json.loads, self.lines) if "method" in m]

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@asynccontextmanager
async def stdio(env: dict[str, str], log: Path) -> AsyncIterator[Stdio]:
    with log.open("ab") as stderr:
        process = await anyio.open_process([sys.executable, "-m", "runway_mcp"], env=env, stderr=stderr)
    async with process:
        server = Stdio(process, log)
        try:
            yield server
        finally:
            await process.stdin.aclose()  # type: ignore[union-attr]
            with anyio.move_on_after(20):
                await process.wait()
            if process.returncode is None:
                process.kill()


async def run_session(env: dict[str, str], log: Path, messages: list[dict[str, Any]]) -> dict[Any, bytes]:
    """One whole session: send `messages` at once, return every request's answer line by id."""
    async with stdio(env, log) as server:
        await server.send(*messages)
        return await server.answers([m["id"] for m in messages if "id" in m])


def env_for(sandbox_server: SandboxServer, tmp_path: Path, cache: Path | str, **extra: str) -> dict[str, str]:
    return server_env(sandbox_server, tmp_path) | {"RUNWAY_MCP_CACHE_DIR": str(cache), **extra}


def manifest_file(cache: Path) -> Path:
    return Path(manifest_path(str(cache)))


def front_notes(log: Path) -> list[str]:
    """What a server's log says of the front and its manifest, for a failure's message."""
    return [line for line in log.read_text().splitlines() if "manifest" in line or "front" in line]


def answered_from_manifest(log: str) -> list[str]:
    """The methods the front answered, from its DEBUG line."""
    lines = [line for line in log.splitlines() if ANSWERED in line]
    assert len(lines) <= 1, lines
    return json.loads(lines[0].rsplit(": ", 1)[1].replace("'", '"')) if lines else []


def edit_manifest(cache: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = manifest_file(cache)
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def edit_tools_list(cache: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Apply `edit` to the result of every tools/list answer the manifest holds."""

    def change(document: dict[str, Any]) -> None:
        for config in document["configs"]:
            for answer in config["answers"].values():
                if answer["method"] == "tools/list":
                    result = json.loads(answer["result"])
                    edit(result)
                    answer["result"] = json.dumps(result, separators=(",", ":"))

    edit_manifest(cache, change)


# The front answers what the SDK answers ---------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_the_fronts_answers_are_the_sdks_byte_for_byte(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, era: str
) -> None:
    session = static_session(era)
    cache = tmp_path / "cache"
    sdk = await run_session(env_for(sandbox_server, tmp_path, "off"), tmp_path / "sdk.log", session)
    assert not manifest_file(cache).exists()

    # No manifest: the SDK answers and the manifest learns its answers.
    learning_log = tmp_path / "learning.log"
    learned = await run_session(env_for(sandbox_server, tmp_path, cache), learning_log, session)
    assert learned == sdk
    assert answered_from_manifest(learning_log.read_text()) == []
    assert manifest_file(cache).stat().st_mode & 0o077 == 0

    # With the manifest: the front answers every static request, byte for byte what the SDK sent. Whether
    # it gets to answer depends on the race with the SDK's import (a busy machine can hand the session to
    # a warm SDK first, which is also correct): every start must answer exactly as the SDK does, and one
    # of three must be the front's.
    statics = [m["method"] for m in session if "id" in m and m["method"] != "tools/call"]
    answered: list[list[str]] = []
    for attempt in range(3):
        front_log = tmp_path / f"front-{attempt}.log"
        fronted = await run_session(env_for(sandbox_server, tmp_path, cache), front_log, session)
        assert fronted == sdk
        assert "differs from the SDK's" not in front_log.read_text()
        assert json.loads(fronted[99])["result"]["isError"] is False  # the tool call, after the hand-over
        answered.append(answered_from_manifest(front_log.read_text()))
        if answered[-1] == statics:
            break
    assert answered[-1] == statics, (answered, front_notes(front_log))


@pytest.mark.parametrize("era", ["legacy-2025-11-25", "modern"])
async def test_a_manifest_of_another_version_or_configuration_is_not_used(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, era: str
) -> None:
    session = static_session(era)
    cache = tmp_path / "cache"
    env = env_for(sandbox_server, tmp_path, cache)
    sdk = await run_session(env_for(sandbox_server, tmp_path, "off"), tmp_path / "sdk.log", session)
    await run_session(env, tmp_path / "learn.log", session)

    # Another version of the code: the file's code key differs, so the server starts the normal way and relearns.
    edit_manifest(cache, lambda document: document.update(code="0" * 64))
    assert await run_session(env, tmp_path / "stale.log", session) == sdk
    assert answered_from_manifest((tmp_path / "stale.log").read_text()) == []
    assert "from another version" in (tmp_path / "stale.log").read_text()
    assert json.loads(manifest_file(cache).read_text())["code"] != "0" * 64
    assert await run_session(env, tmp_path / "again.log", session) == sdk
    assert answered_from_manifest((tmp_path / "again.log").read_text())

    # Another configuration (here one that turns on spend confirmation): not its answers either.
    confirm = env | {"RUNWAY_MCP_CONFIRM_SPEND": "1"}
    confirm_sdk = await run_session(confirm | {"RUNWAY_MCP_CACHE_DIR": "off"}, tmp_path / "c-sdk.log", session)
    assert await run_session(confirm, tmp_path / "confirm.log", session) == confirm_sdk
    assert answered_from_manifest((tmp_path / "confirm.log").read_text()) == []
    assert len(json.loads(manifest_file(cache).read_text())["configs"]) == 2  # both kept


async def test_another_api_key_uses_the_same_manifest_which_never_holds_the_key(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    session = static_session("modern")
    cache = tmp_path / "cache"
    await run_session(env_for(sandbox_server, tmp_path, cache), tmp_path / "learn.log", session)
    other_key = env_for(sandbox_server, tmp_path, cache, COMETAPI_KEY="sk-another-key-entirely")
    await run_session(other_key, tmp_path / "front.log", session)
    assert answered_from_manifest((tmp_path / "front.log").read_text())
    text = manifest_file(cache).read_text()
    assert CANARY_KEY not in text and "sk-another-key-entirely" not in text
    config = json.loads(text)["configs"][0]["variables"]
    assert config["COMETAPI_KEY"] == "presence"


@pytest.mark.parametrize("damage", ["writable by others", "unparsable"])
async def test_a_foreign_or_broken_manifest_is_ignored_and_replaced(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, damage: str
) -> None:
    session = static_session("legacy-2025-11-25")
    cache = tmp_path / "cache"
    env = env_for(sandbox_server, tmp_path, cache)
    sdk = await run_session(env_for(sandbox_server, tmp_path, "off"), tmp_path / "sdk.log", session)
    await run_session(env, tmp_path / "learn.log", session)
    path = manifest_file(cache)
    if damage == "unparsable":
        path.write_text('{"format": 1, "code": ')
    else:
        edit_tools_list(cache, lambda result: result["tools"][0].update(description="planted"))
        path.chmod(0o666)
    log = tmp_path / "damaged.log"
    assert await run_session(env, log, session) == sdk
    assert answered_from_manifest(log.read_text()) == []
    if damage == "writable by others":
        assert "not owned by this user, or writable by others" in log.read_text()
    assert path.stat().st_mode & 0o077 == 0 and "planted" not in path.read_text()


# A manifest that is current by its key but says something else -------------------------------------


async def test_a_wrong_list_is_corrected_announced_and_rebuilt_on_a_handshake_connection(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    era = "legacy-2025-11-25"
    cache = tmp_path / "cache"
    env = env_for(sandbox_server, tmp_path, cache)
    sdk = await run_session(env_for(sandbox_server, tmp_path, "off"), tmp_path / "sdk.log", static_session(era))
    await run_session(env, tmp_path / "learn.log", static_session(era))
    # Whether the front answers first races the SDK's import (see the byte-for-byte test): a start whose
    # session the SDK took first must answer as the SDK does (and leaves the file as it found it, so each
    # try edits the learned one again); one of three must be the front's.
    learned = manifest_file(cache).read_bytes()
    for attempt in range(3):
        manifest_file(cache).write_bytes(learned)
        edit_tools_list(cache, lambda result: result["tools"].pop())  # as if a tool had been added since
        log = tmp_path / f"front-{attempt}.log"
        async with stdio(env, log) as server:
            await server.send(
                *opening(era), request(2, "tools/list", era=era), request(3, "tools/call", ESTIMATE, era=era)
            )
            first = await server.answers([1, 2, 3])
            if json.loads(first[2])["result"] == json.loads(sdk[10])["result"]:
                continue  # the SDK took the session first
            assert len(json.loads(first[2])["result"]["tools"]) == len(json.loads(sdk[10])["result"]["tools"]) - 1
            await server.send(request(4, "tools/list", era=era))
            again = await server.answers([4])
        break
    else:
        pytest.fail(f"the front never answered from the manifest: {front_notes(log)}")
    assert json.loads(again[4])["result"] == json.loads(sdk[10])["result"]
    assert {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"} in server.notifications()
    assert "tools/list sent from the stdio manifest differs from the SDK's" in log.read_text()
    # Rebuilt: the next start's front sends the SDK's list.
    rebuilt = await run_session(env, tmp_path / "rebuilt.log", static_session(era))
    assert rebuilt == sdk
    assert "tools/list" in answered_from_manifest((tmp_path / "rebuilt.log").read_text())


async def test_a_wrong_list_is_announced_on_a_listen_stream_of_a_2026_connection(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    env = env_for(sandbox_server, tmp_path, cache)
    await run_session(env, tmp_path / "learn.log", static_session("modern"))
    listen = request(3, "subscriptions/listen", {"notifications": {"toolsListChanged": True}}, era="modern")
    learned = manifest_file(cache).read_bytes()
    for attempt in range(3):  # as in the handshake test: one of three starts must be the front's
        manifest_file(cache).write_bytes(learned)
        edit_tools_list(cache, lambda result: result["tools"][0].update(description="out of date"))
        log = tmp_path / f"front-{attempt}.log"
        async with stdio(env, log) as server:
            await server.send(*opening("modern"), request(2, "tools/list", era="modern"), listen)
            if json.loads((await server.answers([1, 2]))[2])["result"]["tools"][0]["description"] != "out of date":
                continue  # the SDK took the session first
            with anyio.fail_after(60):
                while not any(n["method"] == "notifications/tools/list_changed" for n in server.notifications()):
                    await server.line()
        break
    else:
        pytest.fail(f"the front never answered from the manifest: {front_notes(log)}")
    (changed,) = [n for n in server.notifications() if n["method"] == "notifications/tools/list_changed"]
    assert changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == 3
    assert "differs from the SDK's" in log.read_text()


# Requests the front cannot answer wait for the SDK, in order -------------------------------------------


async def test_a_tool_call_sent_before_the_sdk_is_ready_is_answered_once_and_correctly(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    era = "legacy-2025-11-25"
    cache = tmp_path / "cache"
    env = env_for(sandbox_server, tmp_path, cache)
    await run_session(env, tmp_path / "learn.log", static_session(era))
    sandbox.reset()
    log = tmp_path / "front.log"
    create = request(3, "tools/call", {"name": "create_video_to_video", "arguments": SEED_ARGUMENTS}, era=era)
    async with stdio(env, log) as server:
        started = time.monotonic()
        await server.send(*opening(era), request(2, "tools/list", era=era), create)
        answers = await server.answers([1, 2, 3])
        elapsed = time.monotonic() - started
    assert answered_from_manifest(log.read_text()) == ["initialize", "tools/list"]
    created = json.loads(answers[3])["result"]
    assert created["isError"] is False and created["structuredContent"]["status"] == "PENDING"
    (post,) = sandbox.api_requests(method="POST")
    assert post.json["promptText"] == SEED_ARGUMENTS["prompt_text"]
    assert [json.loads(line).get("id") for line in server.lines] == [1, 2, 3], elapsed


async def test_a_burst_across_the_hand_over_gets_every_answer_once_in_order(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    """Requests every few ms from spawn until well after the SDK took over, each split over two writes."""
    era = "legacy-2025-11-25"
    cache = tmp_path / "cache"
    env = env_for(sandbox_server, tmp_path, cache)
    await run_session(env, tmp_path / "learn.log", static_session(era))
    cycle = [
        ("tools/list", None),
        ("ping", None),
        ("prompts/list", None),
        ("resources/list", None),
        ("resources/templates/list", None),
    ]
    after = [("tools/call", ESTIMATE), ("resources/read", {"uri": "runway://models"}), *cycle]
    log = tmp_path / "front.log"
    sent: list[int] = []
    async with stdio(env, log) as server:
        await server.send(*opening(era))

        async def send(number: int, method: str, params: dict[str, Any] | None) -> None:
            line = json.dumps(request(number, method, params, era=era)).encode() + b"\n"
            await server.send_raw(line[: len(line) // 2])
            await anyio.sleep(0.001)
            await server.send_raw(line[len(line) // 2 :])
            sent.append(number)

        number = 100
        with anyio.fail_after(60):
            while ANSWERED not in log.read_text():  # the front's log line: the SDK has taken over
                await send(number, *cycle[number % len(cycle)])
                number += 1
                await anyio.sleep(0.003)
        for offset in range(40):
            await send(number + offset, *after[offset % len(after)])
        answers = await server.answers([1, *sent])
    assert set(answers) == {1, *sent}
    order = [json.loads(line)["id"] for line in server.lines if "method" not in json.loads(line)]
    assert order == [1, *sent]
    fronted = answered_from_manifest(log.read_text())
    assert 2 <= len(fronted) < len(sent)  # some answered by the front, the rest by the SDK
    assert all(json.loads(answers[n]).get("result") is not None for n in sent)


# What the front relies on --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variables",
    [
        {},
        {"RUNWAY_MCP_DATA_DIR": "/srv/runway"},
        {"RUNWAY_MCP_DATA_DIR": "~/runway", "RUNWAY_MCP_CACHE_DIR": "/tmp/c"},
        {"RUNWAY_MCP_CACHE_DIR": "OFF"},
        {"XDG_CACHE_HOME": "/var/xdg-cache"},
        {"XDG_CACHE_HOME": "relative/ignored"},
    ],
)
def test_the_front_finds_the_schema_cache_directory_as_settings_do(
    variables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = {"HOME": "/home/someone", **variables}
    for name in ("HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
        if name in environ:
            monkeypatch.setenv(name, environ[name])
    expected = Settings.from_env(environ).schema_cache_dir()
    found = cache_directory(environ)
    assert (None if found is None else Path(found)) == expected


def test_every_secret_variable_is_kept_only_as_present_or_not() -> None:
    """The variables feeding SecretStr settings are SECRET_VARIABLES, which the manifest records by presence only."""
    from runway_mcp import config
    from runway_mcp.front.handover import configuration_variables

    secret_fields = {name for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)}
    assert secret_fields == {"api_key", "auth_tokens", "request_state_keys", "database_url"}
    fed_by = {variable for variable, name in config.VARIABLES.items() if name in secret_fields}
    assert fed_by | set(config.KEY_VARIABLES.values()) | {config.DATABASE_URL_ENV} <= config.SECRET_VARIABLES
    recorded = configuration_variables({"COMETAPI_KEY": "sk-x", "RUNWAY_MCP_PROVIDER": "runway"})
    assert {name for name, shown in recorded.items() if shown == "presence"} == config.SECRET_VARIABLES & set(recorded)
    assert "RUNWAYML_API_SECRET" in recorded and "RUNWAY_MCP_CONFIRM_SPEND" in recorded


async def test_the_sdk_serves_stdio_buffers_that_are_not_fds_0_and_1(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pins the SDK behaviour the hand-over relies on: with sys.stdin/sys.stdout whose buffers are not fds 0
    and 1, `MCPServer.run_stdio_async` reads and writes those buffers in place, claiming no descriptor."""
    import io

    from mcp.server import MCPServer

    from runway_mcp.front.streams import StandIn

    server: MCPServer[Any] = MCPServer("pin")

    @server.tool()
    def hello() -> str:
        return "hi"

    read_end, write_end = os.pipe()
    outbound = io.BytesIO()
    outbound.close = lambda: None  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdin", StandIn(sys.stdin, io.FileIO(read_end, "rb")))  # type: ignore[arg-type]
    monkeypatch.setattr(sys, "stdout", StandIn(sys.stdout, outbound))  # type: ignore[arg-type]
    fds = (os.fstat(0), os.fstat(1))
    lines = [*opening("legacy-2025-11-25"), request(2, "tools/list", era="legacy")]
    os.write(write_end, b"".join(json.dumps(m).encode() + b"\n" for m in lines))

    def answers() -> dict[Any, Any]:
        return {m["id"]: m for m in map(json.loads, outbound.getvalue().splitlines())}

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.run_stdio_async)
            while len(answers()) < 2:
                await anyio.sleep(0.01)
            os.close(write_end)  # end of input: the server returns
    assert answers()[1]["result"]["serverInfo"]["name"] == "pin"
    assert [t["name"] for t in answers()[2]["result"]["tools"]] == ["hello"]
    assert (os.fstat(0), os.fstat(1)) == fds  # neither descriptor was diverted
