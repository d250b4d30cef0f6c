"""Hostile callers over HTTP on 127.0.0.1: junk keys, floods, odd bytes, and what a 401 points to.

Each test reproduces one finding of a hostile review (issue 17) through a real uvicorn and real clients:
bring-your-own-key mode locked by junk keys (a flood bounded in count and time), one caller taking every
session, a lone surrogate that got no answer, and protected-resource metadata naming an authorization
server that does not exist.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import SecretStr

from runway_mcp.sandbox import Sandbox, SandboxServer
from tests.support import VIDEO, HttpServer, make_settings, mcp_http_client, open_stdio_server, stdio_env

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
            # The session goes on.
            listed = await server.request("tools/list")
    assert len(listed["tools"]) == 12
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
