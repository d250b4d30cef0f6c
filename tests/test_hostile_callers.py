"""Hostile callers over HTTP on 127.0.0.1: junk keys, floods, odd bytes, and what a 401 points to.

Each test reproduces one finding of a hostile review (issue 17) through a real uvicorn and real clients:
bring-your-own-key mode locked by junk keys (a flood bounded in count and time), one caller taking every
session, a lone surrogate that got no answer, and protected-resource metadata naming an authorization
server that does not exist.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from runway_mcp.remote.keycheck import PROBE_TASK_ID
from runway_mcp.sandbox import Fault, Sandbox, SandboxServer
from runway_mcp.tools.server import tool_registry
from tests.support import (
    VIDEO,
    HttpServer,
    make_settings,
    mcp_http_client,
    open_stdio_server,
    result_text,
    stdio_env,
)

pytestmark = pytest.mark.anyio

TOKEN = "tok-Vb8qK2xLm4Zp7Rt9Ws3Nd6"


def token_settings(sandbox_server: SandboxServer, tmp_path: Path, **overrides: Any) -> Any:
    values: dict[str, Any] = {"auth_tokens": (SecretStr(TOKEN),), "log_level": "INFO"}
    return make_settings(sandbox_server.url, tmp_path, **{**values, **overrides})


# What a 401 points to -------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
@pytest.mark.parametrize("mode", ["shared-token", "byo-key"])
async def test_the_resource_metadata_advertises_only_what_exists(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path, transport: str, mode: str
) -> None:
    overrides: dict[str, Any] = {"auth_tokens": (), "byo_key": True} if mode == "byo-key" else {}
    with HttpServer(token_settings(sandbox_server, tmp_path, **overrides), transport) as server:
        async with mcp_http_client(None) as http:
            challenge = (await http.get(server.endpoint)).headers["www-authenticate"]
            metadata_url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
            metadata = (await http.get(metadata_url)).json()
            assert metadata["resource"] == server.endpoint
            assert metadata["bearer_methods_supported"] == ["header"]
            # An OAuth client goes to each authorization server named here to log in: each must be one.
            for issuer in metadata.get("authorization_servers", []):
                found = await http.get(issuer.rstrip("/") + "/.well-known/oauth-authorization-server")
                assert found.status_code == 200, f"{issuer} is advertised as an authorization server but is not one"


# A lone surrogate gets an answer, on every transport -------------------------------------------------------

# JSON text may spell a lone UTF-16 surrogate as an escape; it is not valid Unicode, and the SDK's parser
# refuses the whole message. json.dumps writes such a string exactly that way.
LONE = "\ud800"


def bad_call(request_id: int) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "create_video_to_video", "arguments": {"video_uri": VIDEO, "prompt_text": f"snow {LONE}"}},
    }


def assert_refused(answer: dict[str, Any], request_id: int) -> None:
    assert answer.get("id") == request_id, answer
    assert "error" in answer, answer
    message = answer["error"]["message"]
    assert "surrogate" in message and "params.arguments.prompt_text" in message, message


async def test_a_lone_surrogate_over_stdio_is_answered_with_an_error(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    async with open_stdio_server(stdio_env(sandbox_server, tmp_path), tmp_path / "server.log") as server:
        with anyio.fail_after(15):  # the SDK dropped the message: this waited for the client's own timeout
            request_id = await server.send_request(bad_call(0)["method"], bad_call(0)["params"])
            assert_refused(await server.answer(request_id), request_id)
            # The session goes on, and a surrogate pair (an emoji, as json.dumps escapes it) is text like any other.
            listed = await server.request("tools/list")
            paired = {"video_uri": VIDEO, "prompt_text": "snow \U0001f328", "dry_run": True}
            preview = await server.call_tool("create_video_to_video", paired)
    assert len(listed["tools"]) == len(tool_registry().specs)
    assert not preview.get("isError"), preview
    assert sandbox.api_requests(method="POST") == []


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def test_a_lone_surrogate_over_streamable_http_is_answered_with_an_error_for_its_id(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    with HttpServer(token_settings(sandbox_server, tmp_path)) as server, anyio.fail_after(20):
        async with mcp_http_client(TOKEN) as http:
            opened = await http.post(server.endpoint, json=INITIALIZE, headers=ACCEPT)
            session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
            body = json.dumps(bad_call(5)).encode()  # ASCII, with the escape
            answer = await http.post(server.endpoint, content=body, headers={**ACCEPT, **session})
            assert answer.headers["content-type"].startswith("application/json"), answer.text
            assert_refused(answer.json(), 5)
            # Before a session, too (the SDK's own answer had no id).
            answer = await http.post(server.endpoint, content=body, headers=ACCEPT)
            assert_refused(answer.json(), 5)
    assert sandbox.api_requests(method="POST") == []


async def test_a_lone_surrogate_over_sse_is_answered_on_the_stream(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    with HttpServer(token_settings(sandbox_server, tmp_path), "sse") as server, anyio.fail_after(20):
        async with (
            mcp_http_client(TOKEN) as http,
            http.stream("GET", server.endpoint, headers={"Accept": "text/event-stream"}) as stream,
        ):
            events = sse_events(stream)
            endpoint = server.url + await anext_data(events, "endpoint")
            await http.post(endpoint, json=INITIALIZE)
            assert json.loads(await anext_data(events, "message"))["id"] == 1
            await http.post(endpoint, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
            posted = await http.post(endpoint, content=json.dumps(bad_call(9)).encode(), headers=ACCEPT)
            assert posted.status_code == 202, posted.text
            assert_refused(json.loads(await anext_data(events, "message")), 9)
    assert sandbox.api_requests(method="POST") == []


async def sse_events(stream: Any) -> Any:
    """(event, data) pairs from a text/event-stream response."""
    event, data = "message", []
    async for line in stream.aiter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


async def anext_data(events: Any, kind: str) -> str:
    async for event, data in events:
        if event == kind:
            return str(data)
    raise AssertionError(f"the stream ended before a {kind} event")


# Bring your own key: junk keys hold nothing, and no caller takes everything -------------------------------

ALICE_KEY = "sk-alice-9Hq3Jt5Lw8Pz2Vb6"
BOB_KEY = "sk-bob-4Mx7Kd2Rs9Gt5Yn1"


def byo_settings(sandbox_server: SandboxServer, tmp_path: Path, **overrides: Any) -> Any:
    return token_settings(sandbox_server, tmp_path, auth_tokens=(), byo_key=True, **overrides)


def junk_key() -> str:
    return f"sk-junk-{secrets.token_hex(12)}"


async def initialize(http: httpx2.AsyncClient, server: HttpServer, key: str) -> httpx2.Response:
    """A raw initialize with `key` as the bearer token (a new session, if the server grants one)."""
    headers = {**ACCEPT, "Authorization": f"Bearer {key}"}
    return await http.post(server.endpoint, json=INITIALIZE, headers=headers)


async def create_then_get(server: HttpServer, key: str) -> None:
    """A real client's whole errand: open a session, create a task, read it back."""
    async with (
        mcp_http_client(key) as http,
        Client(streamable_http_client(server.endpoint, http_client=http)) as client,
    ):
        created = await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "Snow"})
        assert not created.is_error and created.structured_content is not None, result_text(created)
        got = await client.call_tool("get_task", {"task_id": created.structured_content["task_id"]})
        assert not got.is_error, result_text(got)


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_a_key_the_upstream_refuses_gets_a_401_and_no_session(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path, transport: str
) -> None:
    sandbox.config.api_key = ALICE_KEY  # the upstream knows Alice's key and no other
    junk = junk_key()
    with HttpServer(byo_settings(sandbox_server, tmp_path), transport) as server, anyio.fail_after(30):
        async with httpx2.AsyncClient(timeout=10) as http:
            for _ in range(3):
                if transport == "sse":
                    answer = await http.get(server.endpoint, headers={"Authorization": f"Bearer {junk}"})
                else:
                    answer = await initialize(http, server, junk)
                assert answer.status_code == 401, answer.text
                assert "mcp-session-id" not in answer.headers
        if transport == "streamable-http":
            await create_then_get(server, ALICE_KEY)
    # The junk key was asked about once, with one free read; it reached nothing else.
    junk_requests = [r for r in sandbox.requests if r.headers.get("authorization") == f"Bearer {junk}"]
    assert [(r.method, r.path) for r in junk_requests] == [("GET", f"/runwayml/v1/tasks/{PROBE_TASK_ID}")]


async def test_one_caller_cannot_take_every_session(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.config.api_key = None  # every key is accepted
    settings = byo_settings(sandbox_server, tmp_path, max_sessions_per_caller=2)
    with HttpServer(settings) as server, anyio.fail_after(30):
        async with httpx2.AsyncClient(timeout=10) as http:
            opened = [await initialize(http, server, ALICE_KEY) for _ in range(2)]
            assert [answer.status_code for answer in opened] == [200, 200]
            refused = await initialize(http, server, ALICE_KEY)
            assert refused.status_code == 429
            assert "RUNWAY_MCP_MAX_SESSIONS_PER_CALLER" in refused.json()["error"]["message"]
            assert (await initialize(http, server, BOB_KEY)).status_code == 200  # others are not crowded out
            # Closing a session makes room again.
            session = opened[0].headers["mcp-session-id"]
            closed = await http.delete(
                server.endpoint,
                headers={"Authorization": f"Bearer {ALICE_KEY}", "mcp-session-id": session, **ACCEPT},
            )
            assert closed.status_code < 300, closed.text
            assert (await initialize(http, server, ALICE_KEY)).status_code == 200


async def test_one_caller_cannot_open_every_stream(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.config.api_key = None
    settings = byo_settings(sandbox_server, tmp_path, max_streams_per_caller=2)
    with HttpServer(settings, "sse") as server, anyio.fail_after(30):
        async with httpx2.AsyncClient(timeout=10) as http, contextlib.AsyncExitStack() as streams:
            for _ in range(2):
                held = await streams.enter_async_context(
                    http.stream("GET", server.endpoint, headers={"Authorization": f"Bearer {ALICE_KEY}"})
                )
                assert held.status_code == 200
            refused = await http.get(server.endpoint, headers={"Authorization": f"Bearer {ALICE_KEY}"})
            assert refused.status_code == 429
            assert "RUNWAY_MCP_MAX_STREAMS_PER_CALLER" in refused.json()["error"]["message"]
            bobs = await streams.enter_async_context(
                http.stream("GET", server.endpoint, headers={"Authorization": f"Bearer {BOB_KEY}"})
            )
            assert bobs.status_code == 200


async def test_keys_the_upstream_cannot_judge_share_one_allowance_and_real_users_still_get_in(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    """The upstream is down for the first checks: those keys get in unconfirmed, within the allowance, and
    once it answers again a real key is confirmed and admitted however full the allowance is."""
    sandbox.config.api_key = ALICE_KEY
    sandbox.add_fault(Fault(kind="status", status=503, method="GET", path=PROBE_TASK_ID, times=4))
    settings = byo_settings(sandbox_server, tmp_path, max_unconfirmed_sessions=3)
    with HttpServer(settings) as server, anyio.fail_after(30):
        async with httpx2.AsyncClient(timeout=10) as http:
            unconfirmed = [await initialize(http, server, junk_key()) for _ in range(4)]
            assert [answer.status_code for answer in unconfirmed] == [200, 200, 200, 503]
            assert "could not be reached" in unconfirmed[-1].json()["error"]["message"]
            await create_then_get(server, ALICE_KEY)  # confirmed now: the full allowance does not matter
            assert (await initialize(http, server, junk_key())).status_code == 401  # and junk is judged again


# A flood of junk keys, bounded in count and time -----------------------------------------------------------

FLOOD_INITIALIZES = 2000
FLOOD_STREAMS = 200
FLOOD_CONCURRENCY = 16
FLOOD_SECONDS = 240


async def test_a_flood_of_junk_keys_leaves_room_for_a_real_caller(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.config.api_key = ALICE_KEY
    statuses: list[int] = []
    with HttpServer(byo_settings(sandbox_server, tmp_path)) as server, anyio.fail_after(FLOOD_SECONDS):
        limits = httpx2.Limits(max_connections=FLOOD_CONCURRENCY, max_keepalive_connections=FLOOD_CONCURRENCY)
        async with httpx2.AsyncClient(timeout=30, limits=limits) as http:

            async def junk_initializes(count: int) -> None:
                for _ in range(count):
                    statuses.append((await initialize(http, server, junk_key())).status_code)

            async def junk_streams(count: int) -> None:
                for _ in range(count):
                    headers = {"Authorization": f"Bearer {junk_key()}", "Accept": "text/event-stream"}
                    async with http.stream("GET", server.endpoint, headers=headers) as stream:
                        statuses.append(stream.status_code)

            async with anyio.create_task_group() as tg:
                for _ in range(FLOOD_CONCURRENCY):
                    tg.start_soon(junk_initializes, FLOOD_INITIALIZES // FLOOD_CONCURRENCY)
                for _ in range(FLOOD_CONCURRENCY):
                    tg.start_soon(junk_streams, FLOOD_STREAMS // FLOOD_CONCURRENCY)
        await create_then_get(server, ALICE_KEY)
    expected = (
        FLOOD_INITIALIZES // FLOOD_CONCURRENCY * FLOOD_CONCURRENCY
        + FLOOD_STREAMS // FLOOD_CONCURRENCY * FLOOD_CONCURRENCY
    )
    assert len(statuses) == expected
    assert set(statuses) == {401}, {status: statuses.count(status) for status in set(statuses)}
    # One free read per junk key, and nothing else of theirs reached the upstream.
    assert len(sandbox.api_requests(path_contains=PROBE_TASK_ID)) == expected + 1
    assert len(sandbox.api_requests(method="POST")) == 1
