"""Exact prices: a local or data-URI input clip is measured before anything is sent, so credits is a number.

gen4_aleph costs 15 credits per second of output and its output is as long as its input, up to the
first 5 s; act_two costs 5 per second of its reference performance, up to 30 s. The clips are real,
made here with PyAV; what each test expects is computed from the clip's frames and the catalog.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from mcp import Client

from runway_mcp.catalog import MODELS
from runway_mcp.config import Settings
from runway_mcp.sandbox import Sandbox
from runway_mcp.sandbox.clips import write_clip
from tests.support import IMAGE, VIDEO, decode_data_uri, error_text

pytestmark = pytest.mark.anyio

ALEPH = next(m for m in MODELS if m.name == "gen4_aleph")
ACT_TWO = next(m for m in MODELS if m.name == "act_two")
FPS = 12


@pytest.fixture
def media_dir(settings: Settings) -> Path:
    (root,) = settings.allowed_roots()
    return root


def clip(folder: Path, frames: int, name: str = "clip.mp4") -> tuple[Path, float]:
    """A real clip of `frames` frames at 12 fps, and its length in seconds."""
    return write_clip(folder / name, seconds=frames / FPS, fps=FPS), frames / FPS


def data_uri(path: Path) -> str:
    return "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()


async def estimate(client: Client, **arguments: object) -> dict[str, object]:
    result = await client.call_tool("estimate_cost", {"endpoint": "video_to_video", **arguments})
    assert result.structured_content is not None, error_text(result)
    return dict(result.structured_content)


async def test_estimate_cost_reads_a_local_clip_and_a_data_uri(
    client: Client, sandbox: Sandbox, media_dir: Path
) -> None:
    path, seconds = clip(media_dir, 42)  # 3.5 s
    assert ALEPH.credits_per_second is not None
    expected = ALEPH.credits_per_second * seconds
    local = await estimate(client, video_uri=str(path))
    assert local["credits"] == pytest.approx(expected) == 52.5
    assert local["usd_at_runway_prices"] == pytest.approx(round(expected / 100, 2))
    assert local["basis"] == "15 credits/s x 3.5 s (the input clip's length)"
    inline = await estimate(client, video_uri=data_uri(path))
    assert inline["credits"] == local["credits"]
    assert sandbox.requests == []


async def test_a_clip_longer_than_the_model_uses_is_priced_for_what_it_uses(client: Client, media_dir: Path) -> None:
    path, seconds = clip(media_dir, 12 * 32)  # 32 s; act_two's output is at most 30 s
    assert ACT_TWO.max_output_seconds == 30 and seconds > 30
    priced = await estimate(client, endpoint="character_performance", video_uri=str(path))
    assert priced["credits"] == 5 * 30
    assert "act_two uses at most the first 30 s of the 32 s input" in str(priced["basis"])


async def test_dry_run_and_create_answers_carry_the_exact_price(
    client: Client, sandbox: Sandbox, media_dir: Path
) -> None:
    path, _ = clip(media_dir, 30)  # 2.5 s: 37.5 credits
    arguments = {"video_uri": str(path), "prompt_text": "Make it snow"}
    dry = await client.call_tool("create_video_to_video", {**arguments, "dry_run": True})
    assert dry.structured_content is not None, error_text(dry)
    assert dry.structured_content["estimated_cost"]["credits"] == 37.5
    assert sandbox.requests == []  # measuring sent nothing

    created = await client.call_tool("create_video_to_video", arguments)
    assert created.structured_content is not None, error_text(created)
    assert created.structured_content["estimated_cost"]["credits"] == 37.5
    (sent,) = sandbox.api_requests(method="POST")
    assert decode_data_uri(sent.json["videoUri"]) == ("video/mp4", path.read_bytes())  # the file went whole

    inline = await client.call_tool("create_video_to_video", {**arguments, "video_uri": data_uri(path)})
    assert inline.structured_content is not None, error_text(inline)
    assert inline.structured_content["estimated_cost"]["credits"] == 37.5


async def test_act_two_is_priced_by_its_reference_performance(client: Client, media_dir: Path) -> None:
    path, seconds = clip(media_dir, 18)  # 1.5 s at 5 credits/s
    dry = await client.call_tool(
        "create_character_performance",
        {"character_type": "image", "character_uri": IMAGE, "reference_video_uri": str(path), "dry_run": True},
    )
    assert dry.structured_content is not None, error_text(dry)
    assert ACT_TWO.credits_per_second == 5
    assert dry.structured_content["estimated_cost"]["credits"] == 5 * seconds


async def test_a_clip_whose_length_cannot_be_read_keeps_the_explanation(
    client: Client, sandbox: Sandbox, media_dir: Path
) -> None:
    damaged = media_dir / "damaged.mp4"
    damaged.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 50)
    for value, why in (
        (str(damaged), "its length could not be read"),
        (VIDEO, "a remote URL is not downloaded to measure it"),
    ):
        dry = await client.call_tool("create_video_to_video", {"video_uri": value, "prompt_text": "x", "dry_run": True})
        assert dry.structured_content is not None, error_text(dry)
        cost = dry.structured_content["estimated_cost"]
        assert cost["credits"] is None
        assert why in cost["basis"]
        assert "call estimate_cost with video_uri" in cost["basis"]  # a tool that takes it, named
    unmeasured = await estimate(client)
    assert unmeasured["credits"] is None and "no input clip was given to measure" in str(unmeasured["basis"])
    assert sandbox.requests == []


async def test_estimate_cost_checks_the_clip_like_a_create_does(client: Client, tmp_path: Path) -> None:
    outside, _ = clip(tmp_path, 12, "outside.mp4")  # not under the allowed directory
    refused = error_text(
        await client.call_tool("estimate_cost", {"endpoint": "video_to_video", "video_uri": str(outside)})
    )
    assert "outside the directories this server may read from" in refused
    image_route = await client.call_tool(
        "estimate_cost", {"endpoint": "text_to_image", "video_uri": "data:video/mp4;base64,AAAA"}
    )
    assert "gen4_image is not priced by a clip's length" in error_text(image_route)
