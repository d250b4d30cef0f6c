"""Runway direct's extra routes through the shared tools, the options object, audio outputs, the credit balance.

Every test goes through the official client in memory against the sandbox over real HTTP; a server is
started with `RUNWAY_MCP_PROVIDER=runway` (the `direct` client) or CometAPI (the `client` fixture).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client

from runway_mcp.catalog import MODELS, Endpoint
from runway_mcp.sandbox import Sandbox, SandboxServer
from runway_mcp.tools.create import TOOL_FOR
from runway_mcp.tools.routes import ROUTES
from runway_mcp.tools.server import build_server
from tests.support import CANARY_KEY, error_text, make_settings

pytestmark = pytest.mark.anyio

IMAGE = "https://media.example.com/still.png"
VIDEO = "https://media.example.com/clip.mp4"
SURFACE_LIMIT = 12 * 1024  # issue 16: every route offered, the definitions a model reads stay within 12 KB


@pytest.fixture
async def direct(sandbox_server: SandboxServer, tmp_path: Path, mode: str) -> AsyncIterator[Client]:
    settings = make_settings(sandbox_server.url, tmp_path, provider="runway")
    async with Client(build_server(settings), mode=mode) as connected:  # type: ignore[arg-type]
        yield connected


async def posted(client: Client, sandbox: Sandbox, tool: str, arguments: dict[str, Any]) -> tuple[str, Any]:
    """Call a create tool; the one request the upstream got: its path and body."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, error_text(result)
    (request,) = sandbox.api_requests(method="POST")
    return request.path, request.json


@pytest.mark.parametrize(
    ("tool", "arguments", "path", "body"),
    [
        (
            "create_image_to_video",
            {"prompt_text": "A fox in snow", "model": "veo3", "ratio": "1280:720", "duration": 8},
            "/v1/text_to_video",
            {"model": "veo3", "promptText": "A fox in snow", "ratio": "1280:720", "duration": 8},
        ),
        (
            "create_image_to_video",
            {"prompt_text": "A fox", "prompt_image": IMAGE, "model": "seedance2"},
            "/v1/image_to_video",
            {"model": "seedance2", "promptImage": IMAGE, "promptText": "A fox"},
        ),
        (
            "create_image_to_video",
            {"prompt_text": "A fox"},
            "/v1/text_to_video",
            {"model": "seedance2", "promptText": "A fox"},
        ),
        (
            "create_upscale",
            {"image_uri": IMAGE, "options": {"scale_factor": 4, "flavor": "photo"}},
            "/v1/image_upscale",
            {"model": "magnific_precision_upscaler_v2", "imageUri": IMAGE, "scaleFactor": 4, "flavor": "photo"},
        ),
        ("create_upscale", {"video_uri": VIDEO}, "/v1/video_upscale", {"model": "upscale_v1", "videoUri": VIDEO}),
        (
            "create_audio",
            {"prompt_text": "Rain on a tin roof", "kind": "sound_effect"},
            "/v1/sound_effect",
            {"model": "seed_audio", "promptText": "Rain on a tin roof"},
        ),
        (
            "create_audio",
            {"prompt_text": "Hello", "model": "eleven_multilingual_v2", "voice": "Maya"},
            "/v1/text_to_speech",
            {
                "model": "eleven_multilingual_v2",
                "promptText": "Hello",
                "voice": {"type": "runway-preset", "presetId": "Maya"},
            },
        ),
        (
            "create_text_to_image",
            {"prompt_text": "A lighthouse", "ratio": "auto", "model": "gpt_image_2", "options": {"output_count": 3}},
            "/v1/text_to_image",
            {"model": "gpt_image_2", "promptText": "A lighthouse", "ratio": "auto", "outputCount": 3},
        ),
    ],
)
async def test_a_call_goes_to_the_route_its_model_switch_or_input_picks(
    direct: Client, sandbox: Sandbox, tool: str, arguments: dict[str, Any], path: str, body: dict[str, Any]
) -> None:
    assert await posted(direct, sandbox, tool, arguments) == (path, body)
    assert sandbox.task_ids()  # the sandbox accepted it


@pytest.mark.parametrize(
    ("tool", "arguments", "needles"),
    [
        (
            "create_audio",
            {"prompt_text": "x", "kind": "sound_effect", "model": "eleven_multilingual_v2"},
            ["does not make sound_effect", "eleven_text_to_sound_v2"],
        ),
        ("create_upscale", {"image_uri": IMAGE, "options": {"scale_factor": 3}}, ["scale_factor", "2 or 4 or 8 or 16"]),
        ("create_upscale", {"image_uri": IMAGE, "options": {"grain": 3}}, ["options.grain", "smart_grain"]),
        (
            "create_upscale",
            {"video_uri": VIDEO, "options": {"flavor": "photo"}},
            ["flavor", "upscale_v1 does not take", "magnific"],
        ),
        (
            "create_upscale",
            {"video_uri": VIDEO, "model": "magnific_video_upscaler_creative", "options": {"flavor": "photo"}},
            ["flavor", "vivid, natural"],
        ),
        (
            "create_text_to_image",
            {"prompt_text": "x", "ratio": "1024:1024", "model": "seedream5_pro", "options": {"quality": "high"}},
            ["quality", "gpt_image_2"],
        ),
        (
            "create_text_to_image",
            {"prompt_text": "x", "ratio": "1024:1024", "model": "gemini_image3_pro", "options": {"output_count": 2}},
            ["output_count", "1 or 4"],
        ),
        ("create_audio", {"prompt_text": "x", "options": {"pitch_rate": 20}}, ["pitch_rate", "-12 to 12"]),
        ("create_audio", {"prompt_text": "x", "pitch_rate": 2}, ["pitch_rate: a setting", "options={'pitch_rate'"]),
        ("create_audio", {"prompt_text": "x", "model": "eleven_multilingual_v2"}, ["voice: required"]),
        (
            "create_audio",
            {"prompt_text": "x", "model": "eleven_text_to_sound_v2", "duration": 31},
            ["duration", "at most 30"],
        ),
        (
            "create_image_to_video",
            {"prompt_text": "x", "model": "gen4.5", "ratio": "1104:832", "duration": 5},
            ["1280:720, 720:1280"],
        ),
        (
            "create_image_to_video",
            {"prompt_text": "x", "model": "gen3a_turbo"},
            ["prompt_image: required for gen3a_turbo"],
        ),
    ],
)
async def test_each_invalid_value_is_refused_before_sending_naming_what_is_valid(
    direct: Client, sandbox: Sandbox, tool: str, arguments: dict[str, Any], needles: list[str]
) -> None:
    text = error_text(await direct.call_tool(tool, arguments))
    for needle in needles:
        assert needle in text, text
    assert sandbox.requests == []


async def test_an_audio_output_downloads_as_audio_with_no_contact_sheet(direct: Client, sandbox: Sandbox) -> None:
    sandbox.config = dataclasses.replace(sandbox.config, not_visible_seconds=0, pending_seconds=0, running_seconds=0)
    created = await direct.call_tool("create_audio", {"prompt_text": "Hello there"})
    assert created.structured_content is not None, error_text(created)
    task_id = created.structured_content["task_id"]
    waited = await direct.call_tool("wait_for_task", {"task_id": task_id, "timeout_seconds": 10})
    assert waited.structured_content is not None and waited.structured_content["status"] == "SUCCEEDED"
    result = await direct.call_tool("download_task_output", {"task_id": task_id})
    assert not result.is_error, error_text(result)
    assert result.structured_content is not None
    (saved,) = result.structured_content["files"]
    assert saved["path"].endswith(".wav") and saved["media_type"] == "audio/wav"
    assert Path(saved["path"]).read_bytes()[:4] == b"RIFF"
    assert "audio" in (saved["preview"] or "")  # says why there is no picture
    assert not [block for block in result.content if block.type == "image"]


async def test_the_credit_balance_comes_from_runways_organization(direct: Client, sandbox: Sandbox) -> None:
    tools = {t.name: t for t in (await direct.list_tools()).tools}
    annotations = tools["get_credit_balance"].annotations
    assert annotations is not None and annotations.read_only_hint is True and annotations.destructive_hint is False
    sandbox.config = dataclasses.replace(sandbox.config, credit_balance=1234)
    await posted(direct, sandbox, "create_upscale", {"video_uri": VIDEO})
    balance = (await direct.call_tool("get_credit_balance", {})).structured_content
    assert balance is not None
    assert balance["credit_balance"] == 1234 and balance["usd_at_runway_prices"] == 12.34
    assert balance["daily_generations"] == {"upscale_v1": 1}
    (request,) = sandbox.api_requests(method="GET", path_contains="organization")
    assert request.path == "/v1/organization" and request.headers["x-runway-version"]


async def test_cometapi_has_no_credit_balance_and_says_where_to_look(client: Client, sandbox: Sandbox) -> None:
    text = error_text(await client.call_tool("get_credit_balance", {}))
    assert "CometAPI" in text and "dashboard" in text and "RUNWAY_MCP_PROVIDER=runway" in text
    assert sandbox.requests == []


def test_the_sandbox_serves_the_organization_on_runways_prefix_only(sandbox_server: SandboxServer) -> None:
    headers = {"Authorization": f"Bearer {CANARY_KEY}", "X-Runway-Version": "2024-11-06"}
    with httpx.Client(base_url=sandbox_server.url) as http:
        runway = http.get("/v1/organization", headers=headers)
        comet = http.get("/runwayml/v1/organization", headers=headers)
        unversioned = http.get("/v1/organization", headers={"Authorization": headers["Authorization"]})
        route = http.post(
            "/runwayml/v1/text_to_speech", headers=headers, json={"model": "seed_audio", "promptText": "x"}
        )
    assert runway.status_code == 200 and isinstance(runway.json()["creditBalance"], int)
    assert set(runway.json()) == {"creditBalance", "tier", "usage"}
    assert comet.status_code == 404 and route.status_code == 404  # CometAPI documents neither
    assert unversioned.status_code == 400


@pytest.mark.parametrize("provider", ["cometapi", "runway"])
async def test_with_every_route_offered_the_definitions_stay_within_12_kb(
    sandbox_server: SandboxServer, tmp_path: Path, provider: str
) -> None:
    settings = make_settings(sandbox_server.url, tmp_path, provider=provider)
    async with Client(build_server(settings)) as client:
        tools = (await client.list_tools()).tools
    size = sum(
        len(
            json.dumps(
                {"name": t.name, "description": t.description, "inputSchema": t.input_schema},
                separators=(",", ":"),
                ensure_ascii=False,
            ).encode()
        )
        for t in tools
    )
    assert size <= SURFACE_LIMIT, size
    names = {t.name for t in tools}
    assert {route.tool for route in ROUTES} | {"get_task", "create_video_to_video", "get_credit_balance"} <= names
    assert {TOOL_FOR[endpoint] for endpoint in Endpoint} == {route.tool for route in ROUTES}
    assert len(MODELS) > len(ROUTES)
