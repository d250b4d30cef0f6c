"""Each upstream failure class ends in a clear tool error (or a recovered success), never a crash.

Creates are never sent twice after an ambiguous failure; reads recover from transient faults.
"""

from __future__ import annotations

import socket
from pathlib import Path

import anyio
import pytest
from mcp import Client
from pydantic import SecretStr

from runway_mcp.sandbox import Fault, Sandbox, SandboxServer
from runway_mcp.tools.server import build_server
from tests.support import SEED_ARGUMENTS, error_text, make_settings

pytestmark = pytest.mark.anyio

TASK_ROUTE = "/tasks/"
CREATE_ROUTE = "/video_to_video"


async def create_task(client: Client) -> str:
    result = await client.call_tool("create_video_to_video", SEED_ARGUMENTS)
    assert not result.is_error, error_text(result)
    assert result.structured_content is not None
    task_id: str = result.structured_content["task_id"]
    return task_id


def posts(sandbox: Sandbox) -> int:
    return len(sandbox.api_requests(method="POST"))


async def test_upstream_validation_error_is_quoted_with_its_field(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, mode: str
) -> None:
    # A version header the upstream does not know: its 400 names the header, and we pass that on.
    settings = make_settings(sandbox_server.url, tmp_path, runway_version="1999-01-01")
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        text = error_text(await client.call_tool("create_video_to_video", SEED_ARGUMENTS))
    assert "HTTP 400" in text
    assert "X-Runway-Version" in text or "x-runway-version" in text.lower()
    assert "nothing was created" in text
    assert posts(sandbox) == 1


async def test_wrong_key_says_to_check_the_key_variable(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, mode: str
) -> None:
    settings = make_settings(sandbox_server.url, tmp_path, api_key=SecretStr("sk-wrong"))
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        text = error_text(await client.call_tool("create_video_to_video", SEED_ARGUMENTS))
        assert "HTTP 401" in text and "COMETAPI_KEY" in text
        text = error_text(await client.call_tool("get_task", {"task_id": "abc"}))
        assert "COMETAPI_KEY" in text
    assert posts(sandbox) == 1  # a refused key is not retried


@pytest.mark.parametrize("status", [500, 502, 503, 504, 524])
async def test_create_is_not_repeated_after_a_5xx(client: Client, sandbox: Sandbox, status: int) -> None:
    sandbox.add_fault(Fault(kind="status", method="POST", path=CREATE_ROUTE, status=status, times=-1))
    text = error_text(await client.call_tool("create_video_to_video", SEED_ARGUMENTS))
    assert f"HTTP {status}" in text
    assert "may or may not have been created" in text
    assert posts(sandbox) == 1


async def test_create_that_reached_the_upstream_before_a_502_is_not_sent_twice(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.add_fault(Fault(kind="html", method="POST", path=CREATE_ROUTE, status=502, after_create=True))
    text = error_text(await client.call_tool("create_video_to_video", SEED_ARGUMENTS))
    assert "may or may not have been created" in text
    assert posts(sandbox) == 1
    assert len(sandbox.task_ids()) == 1  # the upstream did create (and bill) it


async def test_create_is_not_repeated_after_a_read_timeout(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, mode: str
) -> None:
    settings = make_settings(sandbox_server.url, tmp_path, read_timeout=0.5)
    sandbox.add_fault(Fault(kind="delay", method="POST", path=CREATE_ROUTE, delay_seconds=1.5))
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        text = error_text(await client.call_tool("create_video_to_video", SEED_ARGUMENTS))
    assert "timed out" in text and "may or may not have been created" in text
    assert posts(sandbox) == 1
    # The upstream carries on after we stopped listening: the task does get created (and billed).
    with anyio.fail_after(5):
        while not sandbox.task_ids():
            await anyio.sleep(0.05)
    assert posts(sandbox) == 1


@pytest.mark.parametrize("kind", ["drop_connection", "reset_mid_response"])
async def test_create_is_not_repeated_after_a_lost_connection(client: Client, sandbox: Sandbox, kind: str) -> None:
    sandbox.add_fault(Fault(kind=kind, method="POST", path=CREATE_ROUTE, after_create=True))  # type: ignore[arg-type]
    text = error_text(await client.call_tool("create_video_to_video", SEED_ARGUMENTS))
    assert "may or may not have been created" in text
    assert posts(sandbox) == 1


async def test_create_refused_with_429_is_retried_and_succeeds(client: Client, sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault(kind="status", method="POST", path=CREATE_ROUTE, status=429, retry_after=0.1))
    task_id = await create_task(client)
    assert posts(sandbox) == 2
    assert sandbox.task_ids() == [task_id]


async def test_persistent_429_ends_in_a_rate_limit_error_with_a_retry_hint(client: Client, sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault(kind="status", method="POST", path=CREATE_ROUTE, status=429, retry_after=0.05, times=-1))
    text = error_text(await client.call_tool("create_video_to_video", SEED_ARGUMENTS))
    assert "429" in text and "Retry after" in text
    assert sandbox.task_ids() == []


async def test_a_refused_connection_is_reported_at_once_and_blamed_on_the_base_url(
    sandbox: Sandbox, tmp_path: Path, mode: str
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = make_settings(f"http://127.0.0.1:{port}", tmp_path, max_retries=2)
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        text = error_text(await client.call_tool("create_video_to_video", SEED_ARGUMENTS))
    assert "could not connect (connection refused)" in text
    assert "gave up" not in text  # a refusal is not retried (tests/test_first_run.py times it)
    assert "nothing was created" in text and "COMETAPI_BASE_URL" in text
    assert "may or may not" not in text  # it certainly was not created


TRANSIENT_READ_FAULTS = [
    Fault(kind="status", method="GET", path=TASK_ROUTE, status=503, retry_after=0.05, times=2),
    Fault(kind="status", method="GET", path=TASK_ROUTE, status=502, times=2),
    Fault(kind="status", method="GET", path=TASK_ROUTE, status=524, times=1),
    Fault(kind="status", method="GET", path=TASK_ROUTE, status=429, times=1),
    Fault(kind="html", method="GET", path=TASK_ROUTE, status=504, times=1),
    Fault(kind="empty", method="GET", path=TASK_ROUTE, times=1),
    Fault(kind="malformed_json", method="GET", path=TASK_ROUTE, times=1),
    Fault(kind="huge_body", method="GET", path=TASK_ROUTE, status=200, times=1),
    Fault(kind="drop_connection", method="GET", path=TASK_ROUTE, times=1),
    Fault(kind="reset_mid_response", method="GET", path=TASK_ROUTE, times=1),
]


@pytest.mark.parametrize("fault", TRANSIENT_READ_FAULTS, ids=lambda f: f"{f.kind}-{f.status}")
async def test_reads_recover_from_transient_faults(client: Client, sandbox: Sandbox, fault: Fault) -> None:
    task_id = await create_task(client)
    sandbox.add_fault(fault)
    result = await client.call_tool("get_task", {"task_id": task_id})
    assert not result.is_error, error_text(result)
    gets = sandbox.api_requests(method="GET", path_contains=task_id)
    assert len(gets) == fault.times + 1
    assert [g.fault for g in gets[:-1]] == [fault.kind] * fault.times


PERMANENT_READ_FAULTS = [
    (Fault(kind="status", method="GET", path=TASK_ROUTE, status=503, times=-1), "HTTP 503"),
    (Fault(kind="html", method="GET", path=TASK_ROUTE, status=502, times=-1), "HTML page"),
    (Fault(kind="redirect", method="GET", path=TASK_ROUTE, status=301, times=-1), "redirect"),
    (Fault(kind="malformed_json", method="GET", path=TASK_ROUTE, times=-1), "instead of JSON"),
    (Fault(kind="empty", method="GET", path=TASK_ROUTE, times=-1), "empty body"),
    (Fault(kind="wrong_shape", method="GET", path=TASK_ROUTE, times=-1), "format"),
    (Fault(kind="huge_body", method="GET", path=TASK_ROUTE, status=200, times=-1), "body over"),
]


@pytest.mark.parametrize(("fault", "needle"), PERMANENT_READ_FAULTS, ids=lambda f: getattr(f, "kind", None))
async def test_persistent_read_faults_end_in_a_clear_error_and_the_server_keeps_serving(
    client: Client, sandbox: Sandbox, fault: Fault, needle: str
) -> None:
    task_id = await create_task(client)
    sandbox.add_fault(fault)
    text = error_text(await client.call_tool("get_task", {"task_id": task_id}))
    assert needle in text
    assert "Traceback" not in text
    sandbox.clear_faults()
    result = await client.call_tool("get_task", {"task_id": task_id})
    assert not result.is_error, error_text(result)


async def test_a_redirect_on_create_is_not_followed_and_names_the_base_url(client: Client, sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault(kind="redirect", method="POST", path=CREATE_ROUTE, status=301))
    text = error_text(await client.call_tool("create_video_to_video", SEED_ARGUMENTS))
    assert "redirect" in text and "COMETAPI_BASE_URL" in text
    assert posts(sandbox) == 1


async def test_a_404_for_an_unknown_task_is_not_found_but_for_a_fresh_one_means_pending(
    client: Client, sandbox: Sandbox
) -> None:
    task_id = await create_task(client)
    sandbox.add_fault(Fault(kind="status", method="GET", path=TASK_ROUTE, status=404, times=-1))
    text = error_text(await client.call_tool("get_task", {"task_id": "0f0f0f0f-unknown"}))
    assert "404" in text
    fresh = await client.call_tool("get_task", {"task_id": task_id})
    assert fresh.structured_content is not None
    assert fresh.structured_content["status"] == "PENDING"
