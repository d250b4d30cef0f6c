"""Remote use: streamable HTTP and SSE on a real uvicorn on 127.0.0.1, with auth, BYO keys and the safety rails.

Most servers run in a thread of this process (`HttpServer`); the command line and the multi-worker recipe
run as subprocesses. Every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from runway_mcp.catalog import DATA_URI_LIMIT_BYTES
from runway_mcp.config import Settings, SettingsError
from runway_mcp.remote.app import (
    MAX_REQUEST_BODY_BYTES,
    LoopbackOnly,
    Transport,
    create_app,
    transport_security_for,
)
from runway_mcp.remote.auth import SharedTokenVerifier, check_bind_policy, is_loopback, owner_id
from runway_mcp.remote.keycheck import PROBE_TASK_ID
from runway_mcp.sandbox import Fault, Sandbox, SandboxServer
from tests.support import (
    CANARY_KEY,
    LOG_CONFIG,
    STARTUP_SECONDS,
    VIDEO,
    HttpServer,
    clean_env,
    connect,
    error_text,
    make_settings,
    mcp_http_client,
    result_text,
    server_process,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TOKEN = "tok-Vb8qK2xLm4Zp7Rt9Ws3Nd6"
ALICE_KEY = "sk-alice-9Hq3Jt5Lw8Pz2Vb6"
BOB_KEY = "sk-bob-4Mx7Kd2Rs9Gt5Yn1"


def http_settings(sandbox_server: SandboxServer, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"auth_tokens": (SecretStr(TOKEN),), "log_level": "INFO"}
    values.update(overrides)
    return make_settings(sandbox_server.url, tmp_path, **values)


@pytest.fixture
def token_server(sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path) -> Iterator[HttpServer]:
    with HttpServer(http_settings(sandbox_server, tmp_path)) as server:
        yield server


# The full flow, on both transports -------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_full_flow_with_progress_over_http(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path, transport: Transport, mode: str
) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    with (
        HttpServer(http_settings(sandbox_server, tmp_path), transport) as server,
        anyio.fail_after(30),
    ):
        async with connect(server, TOKEN, mode) as client:
            created = await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "Snow"})
            assert not created.is_error, result_text(created)
            assert created.structured_content is not None
            task_id = created.structured_content["task_id"]
            waited = await client.call_tool(
                "wait_for_task", {"task_id": task_id, "timeout_seconds": 20}, progress_callback=on_progress
            )
            assert not waited.is_error, result_text(waited)
            assert waited.structured_content is not None
            assert waited.structured_content["status"] == "SUCCEEDED"
            got = await client.call_tool("get_task", {"task_id": task_id})
            assert got.structured_content is not None and got.structured_content["output"]
            listed = await client.call_tool("list_tasks", {})
            assert listed.structured_content is not None
            assert [t["task_id"] for t in listed.structured_content["tasks"]] == [task_id]

    # Progress notifications crossed the HTTP transport, one per poll, rising to 1.
    assert len(seen) >= 2
    assert all(total == 1.0 for _, total, _ in seen)
    assert [value for value, _, _ in seen] == sorted(value for value, _, _ in seen)
    assert seen[-1][0] == 1.0
    # Shared-key mode: the server's key paid.
    (post,) = sandbox.api_requests(method="POST")
    assert post.headers["authorization"] == f"Bearer {CANARY_KEY}"


# Authentication ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_missing_or_wrong_token_gets_401_with_the_resource_metadata(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path, transport: Transport
) -> None:
    with HttpServer(http_settings(sandbox_server, tmp_path), transport) as server:
        path = "/mcp" if transport == "streamable-http" else "/sse"
        for token in (None, "wrong-token", TOKEN + "x", TOKEN[:-1]):
            async with mcp_http_client(token) as http:
                if transport == "streamable-http":
                    answer = await http.post(server.endpoint, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
                else:
                    answer = await http.get(server.endpoint)
            assert answer.status_code == 401, (token, answer.status_code)
            assert answer.json()["error"] == "invalid_token"
            challenge = answer.headers["www-authenticate"]
            assert challenge.startswith("Bearer ")
            assert f'resource_metadata="{server.url}/.well-known/oauth-protected-resource{path}"' in challenge
        if transport == "sse":  # the message endpoint is guarded too
            async with mcp_http_client(None) as http:
                answer = await http.post(server.url + "/messages/?session_id=" + "0" * 32, json={})
            assert answer.status_code == 401

        async with mcp_http_client(None) as http:
            metadata = (await http.get(f"{server.url}/.well-known/oauth-protected-resource{path}")).json()
        assert metadata["resource"] == server.endpoint
        assert metadata["bearer_methods_supported"] == ["header"]

        # A real client with a wrong token fails promptly instead of hanging.
        with anyio.fail_after(15), pytest.raises(Exception):  # noqa: B017 - the SDK raises transport-specific errors
            async with connect(server, "wrong-token") as client:
                await client.list_tools()
    assert sandbox.requests == []


async def test_a_token_from_the_list_is_accepted_in_constant_time_comparison(tmp_path: Path) -> None:
    verifier = SharedTokenVerifier([SecretStr("first-token-aaaaaaaaaa"), SecretStr("second-token-bbbbbbbbb")])
    first = await verifier.verify_token("first-token-aaaaaaaaaa")
    second = await verifier.verify_token("second-token-bbbbbbbbb")
    assert first is not None and second is not None and first.client_id != second.client_id
    assert "token-a" not in repr(first) and "token-b" not in repr(second)
    assert await verifier.verify_token("first-token-aaaaaaaaab") is None
    assert await verifier.verify_token("") is None


# Start-up policy --------------------------------------------------------------------------------------


def test_public_bind_without_tokens_refuses_to_start_with_exit_code_2(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "runway_mcp", "--transport", "streamable-http", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "Refusing to serve on 0.0.0.0 without authentication" in result.stderr
    assert "RUNWAY_MCP_AUTH_TOKENS" in result.stderr and "--allow-unauthenticated" in result.stderr
    assert "Traceback" not in result.stderr


def test_http_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "RUNWAY_MCP_AUTH_TOKENS": f" {TOKEN}, second-token-xxxxxxxxxx ,,",
            "RUNWAY_MCP_ALLOWED_HOSTS": "mcp.example.com,mcp.internal:8443",
            "RUNWAY_MCP_ALLOWED_ORIGINS": "https://app.example.com",
            "RUNWAY_MCP_REQUEST_STATE_KEYS": "k" * 32,
            "RUNWAY_MCP_BYO_KEY": "1",
            "RUNWAY_MCP_STATELESS": "true",
            "RUNWAY_MCP_ALLOW_UNAUTHENTICATED": "1",
            "RUNWAY_MCP_HTTP_ALLOW_LOCAL_FILES": "1",
            "RUNWAY_MCP_HTTP_ALLOW_LOCAL_DOWNLOADS": "1",
            "RUNWAY_MCP_HOST": "0.0.0.0",
            "RUNWAY_MCP_PORT": "9001",
            "RUNWAY_MCP_PUBLIC_URL": "https://mcp.example.com",
            "RUNWAY_MCP_MAX_SESSIONS_PER_CALLER": "3",
            "RUNWAY_MCP_MAX_STREAMS_PER_CALLER": "4",
            "RUNWAY_MCP_MAX_UNCONFIRMED_SESSIONS": "0",
        }
    )
    assert [t.get_secret_value() for t in settings.auth_tokens] == [TOKEN, "second-token-xxxxxxxxxx"]
    assert settings.allowed_hosts == ("mcp.example.com", "mcp.internal:8443")
    assert settings.allowed_origins == ("https://app.example.com",)
    assert [k.get_secret_value() for k in settings.request_state_keys] == ["k" * 32]
    assert settings.byo_key and settings.stateless_http and settings.allow_unauthenticated
    assert settings.http_allow_local_files and settings.http_allow_local_downloads
    assert (settings.http_host, settings.http_port, settings.public_url) == ("0.0.0.0", 9001, "https://mcp.example.com")
    assert (settings.max_sessions_per_caller, settings.max_streams_per_caller) == (3, 4)
    assert settings.max_unconfirmed_sessions == 0
    assert TOKEN not in repr(settings) and "k" * 32 not in repr(settings)
    assert Settings.from_env({}).auth_tokens == () and not Settings.from_env({}).byo_key


def test_bind_policy() -> None:
    bare = Settings()
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_bind_policy(bare, host)
    public: tuple[str | None, ...] = ("0.0.0.0", "::", "192.168.1.10", "example.com", None)
    for address in public:
        assert not is_loopback(address)
        with pytest.raises(SettingsError, match="Refusing to serve"):
            check_bind_policy(bare, address)
    check_bind_policy(Settings(allow_unauthenticated=True), "0.0.0.0")
    check_bind_policy(Settings(auth_tokens=(SecretStr(TOKEN),)), "0.0.0.0")
    check_bind_policy(Settings(byo_key=True), "0.0.0.0")
    with pytest.raises(SettingsError, match="cannot be combined"):
        check_bind_policy(Settings(byo_key=True, auth_tokens=(SecretStr(TOKEN),)), "127.0.0.1")
    # The app factory, not told its address, serves loopback connections only (tests/test_first_run.py).
    assert any(m.cls is LoopbackOnly for m in create_app(bare).user_middleware)


async def test_loopback_bind_needs_no_token_when_none_is_configured(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    with HttpServer(http_settings(sandbox_server, tmp_path, auth_tokens=())) as server, anyio.fail_after(15):
        async with connect(server, None) as client:
            created = await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "Snow"})
            assert not created.is_error, result_text(created)
        async with mcp_http_client(None) as http:  # nothing to point a 401 at
            assert (await http.get(server.url + "/.well-known/oauth-protected-resource/mcp")).status_code == 404


def test_short_request_state_keys_are_a_settings_error(tmp_path: Path) -> None:
    settings = Settings(request_state_keys=(SecretStr("too-short"),), data_dir=tmp_path)
    with pytest.raises(SettingsError, match="RUNWAY_MCP_REQUEST_STATE_KEYS"):
        create_app(settings, host="127.0.0.1")
    create_app(settings.model_copy(update={"request_state_keys": (SecretStr("k" * 32),)}), host="127.0.0.1")


def test_stdio_path_does_not_import_the_http_stack(tmp_path: Path) -> None:
    script = (
        "import sys, runway_mcp.cli as cli\n"
        "cli.serve_stdio = lambda: None\n"
        "cli.main([])\n"
        "print([m for m in ('runway_mcp.remote.app', 'runway_mcp.remote.auth', 'uvicorn') if m in sys.modules])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=clean_env(tmp_path), capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    refused = subprocess.run(
        [sys.executable, "-m", "runway_mcp", "--port", "9000"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2 and "need an HTTP --transport" in refused.stderr


# DNS rebinding ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_foreign_host_or_origin_is_refused(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path, transport: Transport
) -> None:
    settings = http_settings(
        sandbox_server, tmp_path, allowed_hosts=("mcp.example.com",), allowed_origins=("https://app.example.com",)
    )
    with HttpServer(settings, transport) as server:
        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        accept = {"Accept": "application/json, text/event-stream"}

        async def status(headers: dict[str, str]) -> int:
            async with mcp_http_client(TOKEN) as http:
                if transport == "streamable-http":
                    answer = await http.post(server.endpoint, json=initialize, headers={**accept, **headers})
                    return answer.status_code
                async with http.stream("GET", server.endpoint, headers=headers) as answer:
                    return answer.status_code

        assert await status({"Host": "evil.example"}) == 421
        assert await status({"Host": "evil.example:80"}) == 421
        assert await status({"Origin": "http://evil.example"}) == 403
        assert await status({"Origin": "https://app.example.com.evil.example"}) == 403
        assert await status({}) == 200
        assert await status({"Host": "mcp.example.com"}) == 200
        assert await status({"Origin": "https://app.example.com"}) == 200
        assert await status({"Origin": server.url}) == 200


def test_transport_security_is_explicit_with_loopback_defaults_for_every_bind() -> None:
    public = transport_security_for(Settings(), "0.0.0.0")
    assert public.enable_dns_rebinding_protection
    assert "0.0.0.0:*" not in public.allowed_hosts and "127.0.0.1:*" in public.allowed_hosts
    assert all(
        origin.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")) for origin in public.allowed_origins
    )
    named = transport_security_for(Settings(public_url="https://mcp.example.com"), "10.0.0.5")
    assert {"10.0.0.5:*", "mcp.example.com", "mcp.example.com:*"} <= set(named.allowed_hosts)


# Bring your own key ----------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
async def test_byo_key_callers_pay_with_their_own_key_and_see_only_their_own_tasks(
    sandbox_server: SandboxServer,
    sandbox: Sandbox,
    tmp_path: Path,
    transport: Transport,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    sandbox.config.api_key = None  # any non-empty bearer is accepted, and recorded
    # The server has a key of its own: it must never be used for a BYO caller.
    settings = http_settings(sandbox_server, tmp_path, auth_tokens=(), byo_key=True)
    tasks: dict[str, str] = {}
    with HttpServer(settings, transport) as server, anyio.fail_after(40):
        for key in (ALICE_KEY, BOB_KEY):
            async with connect(server, key) as client:
                arguments = {"video_uri": VIDEO, "prompt_text": f"Snow for {key[:6]}", "idempotency_key": "same-key"}
                created = await client.call_tool("create_video_to_video", arguments)
                assert not created.is_error, result_text(created)
                assert created.structured_content is not None
                assert created.structured_content["idempotent_replay"] is False
                tasks[key] = created.structured_content["task_id"]

        for key, other in ((ALICE_KEY, BOB_KEY), (BOB_KEY, ALICE_KEY)):
            async with connect(server, key) as client:
                listed = await client.call_tool("list_tasks", {})
                assert listed.structured_content is not None
                assert [t["task_id"] for t in listed.structured_content["tasks"]] == [tasks[key]]
                resource = await client.read_resource("runway://tasks")
                listing = json.loads(resource.contents[0].text)  # type: ignore[union-attr]
                assert [t["task_id"] for t in listing["tasks"]] == [tasks[key]]
                assert not (await client.call_tool("get_task", {"task_id": tasks[key]})).is_error
                for tool in ("get_task", "wait_for_task", "cancel_task"):
                    refused = await client.call_tool(tool, {"task_id": tasks[other]})
                    assert refused.is_error and "No task" in result_text(refused)
                with pytest.raises(Exception, match="No task"):
                    await client.read_resource(f"runway://tasks/{tasks[other]}")

        async with mcp_http_client(None) as http:
            if transport == "streamable-http":
                answer = await http.post(server.endpoint, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
            else:
                answer = await http.get(server.endpoint)
            assert answer.status_code == 401

    posts = sandbox.api_requests(method="POST")
    assert [p.created_task_id for p in posts] == [tasks[ALICE_KEY], tasks[BOB_KEY]]
    assert [p.headers["authorization"] for p in posts] == [f"Bearer {ALICE_KEY}", f"Bearer {BOB_KEY}"]
    reads = sandbox.api_requests(method="GET")
    # Each key was checked with the upstream once (a read of a task that does not exist), however often it came.
    probes = [r.headers["authorization"] for r in reads if PROBE_TASK_ID in r.path]
    assert sorted(probes) == [f"Bearer {ALICE_KEY}", f"Bearer {BOB_KEY}"]
    reads = [r for r in reads if PROBE_TASK_ID not in r.path]
    assert reads and all(r.headers["authorization"] in (f"Bearer {ALICE_KEY}", f"Bearer {BOB_KEY}") for r in reads)
    for read in reads:  # each caller's reads went out under that caller's key
        owner_key = ALICE_KEY if tasks[ALICE_KEY] in read.path else BOB_KEY
        assert read.headers["authorization"] == f"Bearer {owner_key}"
    assert not any(CANARY_KEY in r.headers.get("authorization", "") for r in sandbox.requests)
    # Owners are hashes; no key reaches the logs or the ledger.
    assert ALICE_KEY not in debug_logs.text and BOB_KEY not in debug_logs.text
    ledger_bytes = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert ALICE_KEY.encode() not in ledger_bytes and BOB_KEY.encode() not in ledger_bytes
    assert owner_id(ALICE_KEY).encode() in ledger_bytes


async def test_a_refused_byo_key_is_blamed_on_the_caller_and_never_echoed(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path, debug_logs: pytest.LogCaptureFixture
) -> None:
    # The upstream accepted the key when it was first checked (a read), and now refuses it for a create
    # (revoked meanwhile, say), quoting it back as some gateways do. A key refused from the start never
    # gets this far: see test_hostile_callers.py.
    sandbox.config.api_key = None
    refusal = Fault(kind="status", status=401, method="POST", times=-1, message=f"Invalid token {ALICE_KEY}")
    sandbox.add_fault(refusal)
    settings = http_settings(sandbox_server, tmp_path, auth_tokens=(), byo_key=True)
    with HttpServer(settings, "streamable-http") as server, anyio.fail_after(30):
        async with connect(server, ALICE_KEY) as client:
            refused = await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "x"})
    text = result_text(refused)
    assert refused.is_error and "bearer token" in text and "COMETAPI_KEY" not in text
    assert "[redacted]" in text and ALICE_KEY not in text
    # The server's own logs (the sandbox's log of the fault it was given naturally shows the key).
    server_logs = [r.getMessage() for r in debug_logs.records if not r.name.startswith("runway_mcp.sandbox")]
    assert server_logs and not any(ALICE_KEY in line for line in server_logs)


# Limits and the local-machine rails --------------------------------------------------------------------


async def test_oversized_body_gets_413_and_the_largest_real_request_fits(
    sandbox_server: SandboxServer, sandbox: Sandbox, token_server: HttpServer
) -> None:
    async with mcp_http_client(TOKEN) as http:
        answer = await http.post(
            token_server.endpoint,
            content=b"x" * (MAX_REQUEST_BODY_BYTES + 1),
            headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
        )
    assert answer.status_code == 413
    assert "too large" in answer.text

    def data_uri(media_type: str, size: int) -> str:
        return f"data:{media_type};base64," + base64.b64encode(b"\0" * size).decode()

    arguments = {
        "video_uri": data_uri("video/mp4", DATA_URI_LIMIT_BYTES["video"]),
        "prompt_text": "Snow",
        "references": [{"type": "image", "uri": data_uri("image/png", DATA_URI_LIMIT_BYTES["image"])}],
    }
    with anyio.fail_after(60):
        async with connect(token_server, TOKEN) as client:
            created = await client.call_tool("create_video_to_video", arguments)
    assert not created.is_error, result_text(created)[:300]
    (post,) = sandbox.api_requests(method="POST")
    assert post.json is not None and len(post.json["videoUri"]) == len(arguments["video_uri"])


async def test_local_files_and_downloads_are_off_over_http_unless_enabled(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    clip = media / "clip.mp4"
    clip.write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 64)
    with HttpServer(http_settings(sandbox_server, tmp_path)) as server, anyio.fail_after(30):
        async with connect(server, TOKEN) as client:
            refused = await client.call_tool("create_video_to_video", {"video_uri": str(clip), "prompt_text": "Snow"})
            assert refused.is_error and "local file paths are turned off" in result_text(refused)
            created = await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "Snow"})
            assert created.structured_content is not None
            task_id = created.structured_content["task_id"]
            await client.call_tool("wait_for_task", {"task_id": task_id, "timeout_seconds": 20})
            download = await client.call_tool("download_task_output", {"task_id": task_id})
            assert download.is_error and "turned off" in result_text(download)
    assert not (tmp_path / "out").exists()

    enabled = http_settings(sandbox_server, tmp_path, http_allow_local_files=True, http_allow_local_downloads=True)
    with HttpServer(enabled) as server, anyio.fail_after(30):
        async with connect(server, TOKEN) as client:
            result = await client.call_tool("create_video_to_video", {"video_uri": str(clip), "prompt_text": "Snow"})
            assert "turned off" not in result_text(result)
            download = await client.call_tool("download_task_output", {"task_id": task_id})
            assert not download.is_error, result_text(download)
    assert list((tmp_path / "out").iterdir())


async def test_healthz_answers_without_auth_and_reveals_no_configuration(token_server: HttpServer) -> None:
    async with mcp_http_client(None) as http:
        answer = await http.get(token_server.url + "/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    text = answer.text + " ".join(f"{k}: {v}" for k, v in answer.headers.items())
    for secret in (CANARY_KEY, TOKEN, token_server.settings.base_url, "127.0.0.1", "cometapi", "runway"):
        assert secret not in text


# The command line and several workers ---------------------------------------------------------------------


def backend_env(sandbox_server: SandboxServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    values = {
        "COMETAPI_BASE_URL": sandbox_server.url,
        "COMETAPI_KEY": CANARY_KEY,
        "RUNWAY_MCP_POLL_INTERVAL": "0.2",
        "RUNWAY_MCP_AUTH_TOKENS": f"other-token-aaaaaaaaaaaa,{TOKEN}",
    }
    return clean_env(tmp_path, **{**values, **extra})


async def test_command_line_serves_streamable_http(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    args = [sys.executable, "-m", "runway_mcp", "--transport", "streamable-http", "--host", "127.0.0.1", "--port", "0"]
    with server_process(args, backend_env(sandbox_server, tmp_path), tmp_path / "server.log") as (_, url):
        async with mcp_http_client(None) as http:
            assert (await http.post(url + "/mcp", json={})).status_code == 401
            health = await http.get(url + "/healthz")
            assert health.json() == {"status": "ok"} and "server" not in health.headers
        with anyio.fail_after(30):
            async with (
                mcp_http_client(TOKEN) as http,
                Client(streamable_http_client(url + "/mcp", http_client=http)) as client,
            ):
                created = await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "Snow"})
                assert created.structured_content is not None, result_text(created)
                waited = await client.call_tool(
                    "wait_for_task", {"task_id": created.structured_content["task_id"], "timeout_seconds": 20}
                )
                assert waited.structured_content is not None
                assert waited.structured_content["status"] == "SUCCEEDED"
    log = (tmp_path / "server.log").read_text()
    assert TOKEN not in log and CANARY_KEY not in log


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_several_uvicorn_workers_share_one_port_and_the_ledger(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path, mode: str
) -> None:
    """The documented recipe: `uvicorn --factory runway_mcp.remote.app:create_app --workers 2`, stateless, BYO keys
    (so every read checks the shared SQLite ledger for the caller's ownership)."""
    sandbox.config.api_key = None
    (tmp_path / "log.json").write_text(json.dumps(LOG_CONFIG))
    env = backend_env(
        sandbox_server,
        tmp_path,
        RUNWAY_MCP_AUTH_TOKENS="",
        RUNWAY_MCP_BYO_KEY="1",
        RUNWAY_MCP_HOST="127.0.0.1",
        RUNWAY_MCP_STATELESS="1",
        RUNWAY_MCP_REQUEST_STATE_KEYS="ab" * 32,
    )
    args = [sys.executable, "-m", "uvicorn", "--factory", "runway_mcp.remote.app:create_app", "--workers", "2"]
    args += ["--host", "127.0.0.1", "--port", str(free_port()), "--log-config", str(tmp_path / "log.json")]
    log = tmp_path / "server.log"

    with server_process(args, env, log, r"Uvicorn running on (http://127\.0\.0\.1:\d+)") as (_, url):
        deadline = time.monotonic() + STARTUP_SECONDS
        while log.read_text().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, log.read_text()
            await anyio.sleep(0.05)

        async def call(tool: str, arguments: dict[str, Any]) -> Any:
            """One call on a fresh client and connection, so the kernel may hand it to either worker."""
            async with (
                mcp_http_client(ALICE_KEY) as http,
                Client(streamable_http_client(url + "/mcp", http_client=http), mode=mode) as client,
            ):
                result = await client.call_tool(tool, arguments)
            assert not result.is_error, result_text(result)
            return result.structured_content

        arguments = {"video_uri": VIDEO, "prompt_text": "Snow", "idempotency_key": "snow-1"}
        with anyio.fail_after(60):
            task_id = (await call("create_video_to_video", arguments))["task_id"]
            (creator,) = re.findall(
                rf"pid=(\d+) runway_mcp.service.task_service: created task {task_id}", log.read_text()
            )
            # Repeat the create until the other worker has answered it: it must find the original task, and
            # this caller's ownership of it, in the SQLite ledger the workers share.
            for _ in range(60):
                replay = await call("create_video_to_video", arguments)
                assert (replay["task_id"], replay["idempotent_replay"]) == (task_id, True)
                replayers = re.findall(
                    rf"pid=(\d+) runway_mcp.service.task_service: idempotent replay of task {task_id}", log.read_text()
                )
                if set(replayers) - {creator}:
                    break
            else:
                pytest.fail(f"every create was answered by worker {creator}")
            for _ in range(4):
                assert (await call("get_task", {"task_id": task_id}))["task_id"] == task_id
            assert (await call("wait_for_task", {"task_id": task_id, "timeout_seconds": 20}))["status"] == "SUCCEEDED"
            assert [t["task_id"] for t in (await call("list_tasks", {}))["tasks"]] == [task_id]
    assert len(set(re.findall(r"pid=(\d+) uvicorn.error: Started server process", log.read_text()))) == 2
    assert len(sandbox.api_requests(method="POST")) == 1  # the replays cost nothing
    assert all(r.headers["authorization"] == f"Bearer {ALICE_KEY}" for r in sandbox.api_requests())


# Bring your own key: each caller's own money, the same across restarts --------------------------------


async def test_byo_daily_cap_counts_each_callers_own_creates_before_and_after_a_restart(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.config.api_key = None  # any non-empty bearer is accepted
    settings = http_settings(sandbox_server, tmp_path, auth_tokens=(), byo_key=True, max_tasks_per_day=1)
    arguments = {"video_uri": VIDEO, "prompt_text": "Capped"}
    with HttpServer(settings) as server, anyio.fail_after(40):
        async with connect(server, ALICE_KEY) as client:
            first = await client.call_tool("create_video_to_video", arguments)
            assert not first.is_error, result_text(first)
            assert "RUNWAY_MCP_MAX_TASKS_PER_DAY" in error_text(
                await client.call_tool("create_video_to_video", arguments)
            )
        async with connect(server, BOB_KEY) as client:  # Bob pays with his own key: Alice's create is not his
            bobs = await client.call_tool("create_video_to_video", arguments)
            assert not bobs.is_error, result_text(bobs)
    with HttpServer(settings) as server, anyio.fail_after(40):  # a restart on the same data directory
        for key in (ALICE_KEY, BOB_KEY):
            async with connect(server, key) as client:
                refused = error_text(await client.call_tool("create_video_to_video", arguments))
                assert "RUNWAY_MCP_MAX_TASKS_PER_DAY" in refused and "1 of 1" in refused
    assert len(sandbox.api_requests(method="POST")) == 2


async def test_byo_callers_read_their_own_tasks_with_the_record_off(
    sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.config.api_key = None
    settings = http_settings(sandbox_server, tmp_path, auth_tokens=(), byo_key=True, ledger_enabled=False)
    with HttpServer(settings) as server, anyio.fail_after(40):
        async with connect(server, ALICE_KEY) as client:
            created = await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "Mine"})
            assert not created.is_error and created.structured_content is not None, result_text(created)
            task_id = created.structured_content["task_id"]
            read = await client.call_tool("get_task", {"task_id": task_id})
            assert not read.is_error, result_text(read)
            assert read.structured_content is not None and read.structured_content["task_id"] == task_id
    gets = sandbox.api_requests(method="GET")
    assert gets and all(r.headers["authorization"] == f"Bearer {ALICE_KEY}" for r in gets)
