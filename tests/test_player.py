"""The MCP Apps player through the protocol: its `ui://` page, the tools bound to it, and confirming in the player.

Clients are the official MCP client in memory (both protocol modes) or over real HTTP on 127.0.0.1,
declaring the Apps extension (`io.modelcontextprotocol/ui`) or not; the upstream is the sandbox, whose
recorded POSTs count what was sent. What the page does in a browser is tests/test_player_browser.py.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp.types import CallToolResult, ElicitResult

from runway_mcp.catalog import Endpoint
from runway_mcp.config import Settings
from runway_mcp.models import CostEstimate
from runway_mcp.sandbox import Sandbox, SandboxServer
from runway_mcp.sandbox.media import asset_path
from runway_mcp.service.confirmations import PendingCreates
from runway_mcp.tools.player import CONFIRM_TOOL, CONFIRMATION_META, PLAYER_URI
from runway_mcp.tools.routes import ROUTES
from runway_mcp.tools.server import build_server
from tests.support import (
    CREATE_ARGUMENTS,
    HttpServer,
    connect,
    error_text,
    make_settings,
    result_text,
    without_empty,
)

pytestmark = pytest.mark.anyio

APPS = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})
BOUND_TOOLS = {*(route.tool for route in ROUTES), "get_task", "wait_for_task", "download_task_output"}
IMAGE_ARGUMENTS = CREATE_ARGUMENTS["create_text_to_image"]
ALICE_KEY = "sk-alice-Pl4yer9Kq2Xw7Zr5"
BOB_KEY = "sk-bob-Pl4yer3Mv8Ty6Ln1"


def creates(sandbox: Sandbox) -> int:
    """How many creates reached the upstream."""
    return len(sandbox.api_requests(method="POST"))


def confirmation_of(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, result_text(result)
    found: dict[str, Any] = (result.meta or {})[CONFIRMATION_META]
    return found


def confirm_settings(sandbox_server: SandboxServer, tmp_path: Path, **overrides: Any) -> Settings:
    (tmp_path / "media").mkdir(exist_ok=True)
    return make_settings(sandbox_server.url, tmp_path, confirm_spend=True, **overrides)


# The page and the bindings ---------------------------------------------------------------------------------


async def test_the_player_page_is_listed_and_read_as_an_app_that_loads_nothing_from_the_network(
    settings: Settings, mode: str
) -> None:
    async with Client(build_server(settings), mode=mode, extensions=[APPS]) as client:  # type: ignore[arg-type]
        listed = {str(r.uri): r for r in (await client.list_resources()).resources}
        contents = (await client.read_resource(PLAYER_URI)).contents
    assert listed[PLAYER_URI].mime_type == APP_MIME_TYPE
    assert len(contents) == 1 and contents[0].mime_type == APP_MIME_TYPE
    page: str = contents[0].text  # type: ignore[union-attr]
    assert page.lstrip().lower().startswith("<!doctype html>")
    # Self-contained: no script, style sheet, font or image from anywhere; only the media it is given.
    assert not re.search(r"<script[^>]+src=|<link\b|<img\b|<iframe\b", page, re.IGNORECASE)
    styles = "".join(re.findall(r"<style>(.*?)</style>", page, re.DOTALL))
    assert styles and "@import" not in styles and "url(" not in styles
    assert not re.search(r"https?://", page)
    ui = (contents[0].meta or {})["ui"]
    assert ui["prefersBorder"] is True
    assert settings.base_url.split("/runwayml")[0] in ui["csp"]["resourceDomains"]  # the sandbox serves the outputs
    assert "https://*.cloudfront.net" in ui["csp"]["resourceDomains"]  # where Runway's outputs live
    assert "connectDomains" not in ui["csp"]  # the page fetches nothing itself: it goes through the host


async def test_the_create_and_task_tools_carry_the_player_and_the_confirm_tool_is_for_the_app_only(
    settings: Settings, mode: str
) -> None:
    async with Client(build_server(settings), mode=mode, extensions=[APPS]) as client:  # type: ignore[arg-type]
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    bound = {name for name, tool in tools.items() if (tool.meta or {}).get("ui", {}).get("resourceUri") == PLAYER_URI}
    assert bound == BOUND_TOOLS | {CONFIRM_TOOL}
    assert (tools[CONFIRM_TOOL].meta or {})["ui"]["visibility"] == ["app"]
    assert all("visibility" not in (tools[name].meta or {})["ui"] for name in BOUND_TOOLS)  # model and app
    annotations = tools[CONFIRM_TOOL].annotations
    assert annotations is not None and annotations.read_only_hint is False and annotations.open_world_hint is True
    assert tools[CONFIRM_TOOL].input_schema["required"] == ["confirmation_token"]


async def test_a_client_without_apps_lists_and_gets_what_it_always_did(
    sandbox: Sandbox, settings: Settings, mode: str
) -> None:
    async with Client(build_server(settings), mode=mode, extensions=[APPS]) as apps_client:  # type: ignore[arg-type]
        with_apps = {tool.name: tool for tool in (await apps_client.list_tools()).tools}
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        resources = [str(r.uri) for r in (await client.list_resources()).resources]
        created = await client.call_tool("create_video_to_video", CREATE_ARGUMENTS["create_video_to_video"])
        assert created.structured_content is not None, result_text(created)
        task_id = created.structured_content["task_id"]
        waited = await client.call_tool("wait_for_task", {"task_id": task_id, "timeout_seconds": 20})
        saved = await client.call_tool("download_task_output", {"task_id": task_id})
    assert set(tools) == set(with_apps) - {CONFIRM_TOOL}
    assert all(tool.meta is None or "ui" not in tool.meta for tool in tools.values())
    for name, tool in tools.items():  # the same tools otherwise
        assert tool.input_schema == with_apps[name].input_schema and tool.description == with_apps[name].description
    assert not any(uri.startswith("ui://") for uri in resources) and "runway://models" in resources
    for result in (created, waited, saved):
        assert not result.is_error, result_text(result)
        assert CONFIRMATION_META not in (result.meta or {})
    assert waited.structured_content is not None and waited.structured_content["status"] == "SUCCEEDED"
    assert creates(sandbox) == 1


# Confirming in the player ------------------------------------------------------------------------------


async def test_confirming_in_the_player_sends_nothing_before_the_click_and_once_after_it(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, mode: str, debug_logs: pytest.LogCaptureFixture
) -> None:
    settings = confirm_settings(sandbox_server, tmp_path)
    async with Client(build_server(settings), mode=mode, extensions=[APPS]) as client:  # type: ignore[arg-type]
        asked = await client.call_tool("create_text_to_image", IMAGE_ARGUMENTS)
        confirmation = confirmation_of(asked)
        answer = asked.structured_content
        assert answer is not None and answer["task_id"] is None and answer["status"] is None
        assert answer["estimated_cost"]["credits"] == 5 and "confirm" in answer["next_step"]
        # The token is for the player only: not in what the model reads.
        token = confirmation["token"]
        assert json.loads(result_text(asked)) == without_empty(answer) and token not in str(answer)
        assert confirmation["tool"] == CONFIRM_TOOL and confirmation["expires_in_seconds"] == 600
        assert creates(sandbox) == 0
        listed = await client.call_tool("list_tasks", {})
        assert listed.structured_content == {"tasks": [], "ledger_enabled": True}

        confirmed = await client.call_tool(CONFIRM_TOOL, {"confirmation_token": token})
        assert not confirmed.is_error, result_text(confirmed)
        task = confirmed.structured_content
        assert task is not None and task["status"] == "PENDING" and task["model"] == "gen4_image"
        assert task["estimated_cost"] == answer["estimated_cost"]

        again = await client.call_tool(CONFIRM_TOOL, {"confirmation_token": token})
        assert "not valid any more" in error_text(again)
    assert token not in debug_logs.text
    posts = sandbox.api_requests(method="POST")
    assert [p.created_task_id for p in posts] == [task["task_id"]]
    assert posts[0].json is not None and posts[0].json["promptText"] == IMAGE_ARGUMENTS["prompt_text"]


async def test_only_the_token_the_server_issued_confirms(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, mode: str
) -> None:
    settings = confirm_settings(sandbox_server, tmp_path)
    async with Client(build_server(settings), mode=mode, extensions=[APPS]) as client:  # type: ignore[arg-type]
        token = confirmation_of(await client.call_tool("create_text_to_image", IMAGE_ARGUMENTS))["token"]
        altered = token[:-1] + ("A" if token[-1] != "A" else "B")
        for guess in (secrets.token_urlsafe(32), altered, token + "x", "x" * 16):
            refused = await client.call_tool(CONFIRM_TOOL, {"confirmation_token": guess})
            assert "not valid any more" in error_text(refused)
        missing = await client.call_tool(CONFIRM_TOOL, {})
        assert missing.is_error
        assert creates(sandbox) == 0
        # The refusals did not use the real token up.
        confirmed = await client.call_tool(CONFIRM_TOOL, {"confirmation_token": token})
        assert not confirmed.is_error, result_text(confirmed)
    assert creates(sandbox) == 1


async def test_a_token_confirms_only_for_the_caller_it_was_issued_to(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    sandbox.config.api_key = None  # each caller's own key is accepted
    settings = confirm_settings(sandbox_server, tmp_path, byo_key=True, log_level="INFO")
    with HttpServer(settings) as server:
        async with connect(server, ALICE_KEY, extensions=[APPS]) as alice:
            token = confirmation_of(await alice.call_tool("create_text_to_image", IMAGE_ARGUMENTS))["token"]
            async with connect(server, BOB_KEY, extensions=[APPS]) as bob:
                refused = await bob.call_tool(CONFIRM_TOOL, {"confirmation_token": token})
                assert "not valid any more" in error_text(refused)
            assert creates(sandbox) == 0
            confirmed = await alice.call_tool(CONFIRM_TOOL, {"confirmation_token": token})
            assert not confirmed.is_error, result_text(confirmed)
    posts = sandbox.api_requests(method="POST")
    assert [p.headers["authorization"] for p in posts] == [f"Bearer {ALICE_KEY}"]


async def test_a_confirm_is_refused_when_the_input_file_changed_after_the_price_was_shown(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, mode: str
) -> None:
    settings = confirm_settings(sandbox_server, tmp_path)
    clip = tmp_path / "media" / "clip.mp4"
    shutil.copyfile(asset_path("sample_input.mp4"), clip)
    async with Client(build_server(settings), mode=mode, extensions=[APPS]) as client:  # type: ignore[arg-type]
        arguments = {"video_uri": str(clip), "prompt_text": "Make it snow"}
        token = confirmation_of(await client.call_tool("create_video_to_video", arguments))["token"]
        clip.write_bytes(asset_path("output.mp4").read_bytes())
        refused = await client.call_tool(CONFIRM_TOOL, {"confirmation_token": token})
        assert "changed since its price was shown" in error_text(refused)
        # Unchanged, the same local file confirms and is sent.
        token = confirmation_of(await client.call_tool("create_video_to_video", arguments))["token"]
        confirmed = await client.call_tool(CONFIRM_TOOL, {"confirmation_token": token})
        assert not confirmed.is_error, result_text(confirmed)
    assert creates(sandbox) == 1


async def test_clients_with_forms_are_asked_by_form_and_others_cannot_use_the_confirm_tool(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, mode: str
) -> None:
    settings = confirm_settings(sandbox_server, tmp_path)
    asked: list[str] = []

    async def accept(_context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        return ElicitResult(action="accept", content={"confirm": True})

    server = build_server(settings)
    async with Client(server, mode=mode, extensions=[APPS], elicitation_callback=accept) as client:  # type: ignore[arg-type]
        created = await client.call_tool("create_text_to_image", IMAGE_ARGUMENTS)
        assert not created.is_error and CONFIRMATION_META not in (created.meta or {})
    assert len(asked) == 1 and creates(sandbox) == 1

    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        refused = await client.call_tool("create_text_to_image", IMAGE_ARGUMENTS)
        assert "neither MCP elicitation nor MCP Apps" in error_text(refused)
        forged = await client.call_tool(CONFIRM_TOOL, {"confirmation_token": secrets.token_urlsafe(32)})
        assert "Only the Runway player" in error_text(forged)
    assert creates(sandbox) == 1


async def test_a_dry_run_is_never_held_for_the_player(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, mode: str
) -> None:
    settings = confirm_settings(sandbox_server, tmp_path)
    async with Client(build_server(settings), mode=mode, extensions=[APPS]) as client:  # type: ignore[arg-type]
        preview = await client.call_tool("create_text_to_image", {**IMAGE_ARGUMENTS, "dry_run": True})
    assert not preview.is_error and CONFIRMATION_META not in (preview.meta or {})
    assert preview.structured_content is not None and preview.structured_content["dry_run"] is True
    assert creates(sandbox) == 0


# The pending creates themselves -----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


COST = CostEstimate(model="gen4_image", endpoint="text_to_image", credits=5, usd_at_runway_prices=0.05, basis="x")


def issue(pending: PendingCreates, owner: str | None = None, prompt: str = "a") -> str:
    return pending.issue(
        Endpoint.TEXT_TO_IMAGE,
        {"prompt_text": prompt},
        idempotency_key=None,
        owner=owner,
        request_hash="h",
        cost=COST,
    )


def test_a_token_expires_and_is_kept_only_as_a_hash() -> None:
    clock = Clock()
    pending = PendingCreates(ttl_seconds=60, clock=clock)
    late, on_time = issue(pending), issue(pending)
    assert len(late) >= 43 and late != on_time  # 256 random bits, base64url
    assert all(late not in repr(value) and on_time not in repr(value) for value in vars(pending).values())
    clock.now += 59
    assert pending.claim(on_time, None).arguments == {"prompt_text": "a"}
    clock.now += 1
    with pytest.raises(Exception, match="not valid any more"):
        pending.claim(late, None)
    assert len(pending) == 0


def test_pending_creates_are_bounded_and_the_oldest_goes_first() -> None:
    pending = PendingCreates(capacity=3)
    tokens = [issue(pending, prompt=str(n)) for n in range(5)]
    assert len(pending) == 3
    for token in tokens[:2]:
        with pytest.raises(Exception, match="not valid any more"):
            pending.claim(token, None)
    assert [pending.claim(token, None).arguments["prompt_text"] for token in tokens[2:]] == ["2", "3", "4"]


def test_a_claim_by_another_owner_neither_succeeds_nor_uses_the_token_up() -> None:
    pending = PendingCreates()
    token = issue(pending, owner="alice")
    for stranger in ("bob", None):
        with pytest.raises(Exception, match="not valid any more"):
            pending.claim(token, stranger)
    assert pending.claim(token, "alice").owner == "alice"
