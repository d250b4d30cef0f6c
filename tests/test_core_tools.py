"""create_video_to_video and get_task through the real MCP protocol, against the sandbox over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from runway_mcp.catalog import GEN4_ALEPH_RATIOS, SEED_MAX, Endpoint, models_for
from runway_mcp.sandbox import Sandbox, SandboxServer
from runway_mcp.tools.server import build_server
from tests.support import CANARY_KEY, SEED_ARGUMENTS, VIDEO, error_text, make_settings, without_empty

# What the upstream receives for SEED_ARGUMENTS.
SEED_BODY = {
    "videoUri": "https://media.w3.org/2010/05/sintel/trailer.mp4",
    "promptText": "Make the motion feel cinematic.",
    "model": "gen4_aleph",
    "references": [{"type": "image", "uri": "https://res.cloudinary.com/demo/image/upload/dog.jpg"}],
    "ratio": "1280:720",
}
pytestmark = pytest.mark.anyio


async def wait_until_terminal(client: Client, task_id: str, limit: float = 15.0) -> dict[str, Any]:
    with anyio.fail_after(limit):
        while True:
            result = await client.call_tool("get_task", {"task_id": task_id})
            assert not result.is_error, error_text(result)
            task = result.structured_content
            assert task is not None
            if task["terminal"]:
                return task
            await anyio.sleep(0.2)


async def test_tools_are_listed_with_truthful_annotations_and_described_constraints(client: Client) -> None:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert {"create_video_to_video", "get_task", "wait_for_task", "cancel_task", "download_task_output"} <= set(tools)

    create = tools["create_video_to_video"]
    assert create.annotations is not None
    assert create.annotations.read_only_hint is False
    assert create.annotations.idempotent_hint is False
    assert create.annotations.open_world_hint is True
    assert create.annotations.destructive_hint is False
    assert "credits" in (create.description or "")
    props = create.input_schema["properties"]
    assert set(create.input_schema["required"]) == {"video_uri", "prompt_text"}
    for name, prop in props.items():
        assert prop.get("description") or "enum" in prop, f"{name} has no description"
    v2v = models_for(Endpoint.VIDEO_TO_VIDEO)
    assert props["prompt_text"]["maxLength"] == max(m.param("prompt_text").max_utf16 for m in v2v)  # type: ignore[union-attr]
    assert (props["seed"]["minimum"], props["seed"]["maximum"]) == (0, SEED_MAX)
    assert props["model"]["enum"] == [m.name for m in v2v]
    assert props["references"]["maxItems"] == max(p.max_items for m in v2v if (p := m.param("references")) is not None)
    # Too many ratios to list in every definition: a string, and list_models (or the error) names each model's.
    assert props["ratio"]["type"] == "string" and "list_models" in props["ratio"]["description"]
    assert props["model"]["default"] == "gen4_aleph"
    assert set(props["public_figure_threshold"]["enum"]) == {"auto", "low"}
    assert create.output_schema is not None and "task_id" in create.output_schema["properties"]

    get = tools["get_task"]
    assert get.annotations is not None
    assert get.annotations.read_only_hint is True and get.annotations.idempotent_hint is True
    assert get.output_schema is not None
    assert set(get.output_schema["properties"]) >= {
        "task_id",
        "status",
        "progress",
        "output",
        "failure",
        "failure_code",
        "retryable",
        "created_at",
        "poll_after_seconds",
    }
    cancel = tools["cancel_task"]
    assert cancel.annotations is not None and cancel.annotations.destructive_hint is True


async def test_seed_request_reaches_upstream_exactly_once_field_by_field(client: Client, sandbox: Sandbox) -> None:
    result = await client.call_tool("create_video_to_video", SEED_ARGUMENTS)
    assert not result.is_error, error_text(result)

    posts = sandbox.api_requests(method="POST")
    assert len(posts) == 1
    request = posts[0]
    assert request.path == "/runwayml/v1/video_to_video"
    assert request.headers["authorization"] == f"Bearer {CANARY_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-runway-version"] == "2024-11-06"
    assert request.json == SEED_BODY
    assert int(request.headers["content-length"]) == len(request.body)

    created = result.structured_content
    assert created is not None
    assert created["task_id"] == sandbox.task_ids()[0]
    assert created["status"] == "PENDING"
    assert created["model"] == "gen4_aleph"
    assert "wait_for_task" in created["next_step"]
    assert created["poll_after_seconds"] >= 0


async def test_optional_fields_are_omitted_not_sent_as_null(client: Client, sandbox: Sandbox) -> None:
    result = await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "Snow"})
    assert not result.is_error, error_text(result)
    body = sandbox.api_requests(method="POST")[0].json
    assert body == {"videoUri": VIDEO, "promptText": "Snow", "model": "gen4_aleph"}


async def test_all_optional_fields_are_sent_in_camel_case(client: Client, sandbox: Sandbox) -> None:
    arguments = {
        "video_uri": VIDEO,
        "prompt_text": "Snow",
        "seed": SEED_MAX,
        "public_figure_threshold": "low",
        "ratio": "960:960",
    }
    result = await client.call_tool("create_video_to_video", arguments)
    assert not result.is_error, error_text(result)
    body = sandbox.api_requests(method="POST")[0].json
    assert body == {
        "videoUri": VIDEO,
        "promptText": "Snow",
        "model": "gen4_aleph",
        "seed": SEED_MAX,
        "ratio": "960:960",
        "contentModeration": {"publicFigureThreshold": "low"},
    }


TINY_PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

INVALID_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("prompt over 1000 UTF-16 units", {"prompt_text": "\U0001f600" * 501}, "prompt_text"),
    ("empty prompt", {"prompt_text": ""}, "prompt_text"),
    ("blank prompt", {"prompt_text": "   "}, "prompt_text"),
    ("seed below range", {"seed": -1}, "seed"),
    ("seed above range", {"seed": SEED_MAX + 1}, "seed"),
    ("seed not an integer", {"seed": 1.5}, "seed"),
    (
        "two references",
        {"references": [{"uri": "https://a.example/x.png"}, {"uri": "https://a.example/y.png"}]},
        "references",
    ),
    ("unknown ratio", {"ratio": "1920:1080"}, "ratio"),
    ("unknown moderation level", {"public_figure_threshold": "high"}, "public_figure_threshold"),
    ("unknown model", {"model": "gen3a_turbo"}, "model"),
    ("plain http URL", {"video_uri": "http://example.com/clip.mp4"}, "video_uri"),
    ("IPv4 host", {"video_uri": "https://93.184.216.34/clip.mp4"}, "video_uri"),
    ("IPv6 host", {"video_uri": "https://[2606:2800:220:1::]/clip.mp4"}, "video_uri"),
    ("URL over 2048 characters", {"video_uri": "https://example.com/" + "a" * 2040 + ".mp4"}, "video_uri"),
    ("image data URI for the video", {"video_uri": TINY_PNG}, "video_uri"),
    ("data URI without base64", {"video_uri": "data:video/mp4,AAAA"}, "video_uri"),
    ("data URI without a media type", {"video_uri": "data:;base64,AAAA"}, "video_uri"),
    ("relative path", {"video_uri": "clip.mp4"}, "video_uri"),
    ("video data URI as a reference", {"references": [{"uri": "data:video/mp4;base64,AAAA"}]}, "references[0].uri"),
    ("GIF reference", {"references": [{"uri": "data:image/gif;base64,R0lGODlhAQABAAAAACw="}]}, "references[0].uri"),
]


@pytest.mark.parametrize(("case", "overrides", "field"), INVALID_CALLS, ids=[c[0] for c in INVALID_CALLS])
async def test_invalid_input_is_refused_naming_the_field_and_nothing_is_sent(
    client: Client, sandbox: Sandbox, case: str, overrides: dict[str, Any], field: str
) -> None:
    arguments = {"video_uri": VIDEO, "prompt_text": "Snow", **overrides}
    result = await client.call_tool("create_video_to_video", arguments)
    text = error_text(result)
    assert field in text, f"{case}: {text}"
    assert sandbox.requests == [], f"{case}: something was sent upstream"


async def test_every_problem_is_named_in_one_error(client: Client, sandbox: Sandbox) -> None:
    arguments = {
        "video_uri": "http://example.com/a.mp4",
        "prompt_text": "\U0001f600" * 600,
        "references": [{"uri": "data:image/gif;base64,R0lGODlhAQABAAAAACw="}],
    }
    text = error_text(await client.call_tool("create_video_to_video", arguments))
    for field in ("video_uri", "prompt_text", "references[0].uri"):
        assert field in text
    assert "1200" in text  # the prompt's length as the upstream counts it
    assert sandbox.requests == []


async def test_oversized_video_data_uri_is_refused_before_sending(client: Client, sandbox: Sandbox) -> None:
    payload = "A" * ((16 * 1024 * 1024 // 3 + 2) * 4)  # decodes to just over 16 MiB
    result = await client.call_tool(
        "create_video_to_video", {"video_uri": f"data:video/mp4;base64,{payload}", "prompt_text": "Snow"}
    )
    text = error_text(result)
    assert "video_uri" in text and "16" in text
    assert sandbox.requests == []


async def test_prompt_of_exactly_1000_utf16_units_is_accepted(client: Client, sandbox: Sandbox) -> None:
    prompt = "\U0001f600" * 500  # 500 code points, 1000 UTF-16 units
    result = await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": prompt})
    assert not result.is_error, error_text(result)
    assert sandbox.api_requests(method="POST")[0].json["promptText"] == prompt


async def test_a_task_is_followed_from_creation_to_its_output(
    client: Client, sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    created = (await client.call_tool("create_video_to_video", SEED_ARGUMENTS)).structured_content
    assert created is not None
    first = await client.call_tool("get_task", {"task_id": created["task_id"]})
    assert not first.is_error, error_text(first)
    # The sandbox answers task_not_exist for a fresh task; a task we just created reads as PENDING.
    assert first.structured_content is not None
    assert first.structured_content["status"] == "PENDING"
    assert "not visible" in first.structured_content["next_step"]

    seen: set[str] = set()
    with anyio.fail_after(15):
        while True:
            task = (await client.call_tool("get_task", {"task_id": created["task_id"]})).structured_content
            assert task is not None
            seen.add(task["status"])
            if task["status"] == "RUNNING":
                assert 0 <= task["progress"] <= 1
            if task["terminal"]:
                break
            await anyio.sleep(0.1)
    assert task["status"] == "SUCCEEDED"
    assert "RUNNING" in seen
    assert len(task["output"]) == 1 and task["output"][0].startswith(f"{sandbox_server.url}/_sandbox/media/")
    assert task["progress"] == 1.0
    assert task["created_at"]
    assert task["poll_after_seconds"] is None
    assert "download_task_output" in task["next_step"]


@pytest.mark.parametrize("shape", ["envelope", "alternate"])
async def test_gateway_envelope_shape_is_understood(client: Client, sandbox: Sandbox, shape: str) -> None:
    sandbox.config.task_shape = shape  # type: ignore[assignment]
    created = (await client.call_tool("create_video_to_video", SEED_ARGUMENTS)).structured_content
    assert created is not None
    task = await wait_until_terminal(client, created["task_id"])
    assert task["status"] == "SUCCEEDED"
    assert task["output"]
    assert task["task_id"] == created["task_id"]


async def test_failed_task_reports_code_and_whether_to_retry(client: Client, sandbox: Sandbox) -> None:
    created = (
        await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "sandbox:unsafe edit"})
    ).structured_content
    assert created is not None
    task = await wait_until_terminal(client, created["task_id"])
    assert task["status"] == "FAILED"
    assert task["failure_code"] == "SAFETY.INPUT.TEXT"
    assert task["failure"]
    assert task["retryable"] is False

    created = (
        await client.call_tool(
            "create_video_to_video", {"video_uri": VIDEO, "prompt_text": "sandbox:fail=INTERNAL.BAD_OUTPUT.CODE01"}
        )
    ).structured_content
    assert created is not None
    task = await wait_until_terminal(client, created["task_id"])
    assert (task["failure_code"], task["retryable"]) == ("INTERNAL.BAD_OUTPUT.CODE01", True)


async def test_unknown_task_id_is_a_clear_not_found_error(client: Client, sandbox: Sandbox) -> None:
    text = error_text(await client.call_tool("get_task", {"task_id": "00000000-0000-0000-0000-000000000000"}))
    assert "No task" in text
    assert "few seconds" in text


async def test_task_id_with_path_characters_is_refused_before_sending(client: Client, sandbox: Sandbox) -> None:
    result = await client.call_tool("get_task", {"task_id": "../video_to_video"})
    assert result.is_error
    assert sandbox.requests == []


async def test_server_starts_and_lists_tools_without_a_key_and_says_which_variable_to_set(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, mode: str
) -> None:
    settings = make_settings(sandbox_server.url, tmp_path, api_key=None)
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        assert len((await client.list_tools()).tools) >= 5
        text = error_text(await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "x"}))
        assert "COMETAPI_KEY" in text
        text = error_text(await client.call_tool("get_task", {"task_id": "abc"}))
        assert "COMETAPI_KEY" in text
    assert sandbox.requests == []


async def test_instructions_explain_the_workflow_and_the_cost(client: Client) -> None:
    instructions = client.instructions or ""
    for needle in ("create", "wait_for_task", "download_task_output", "credits", "confirm"):
        assert needle in instructions.lower() or needle in instructions


async def test_structured_content_matches_the_text_content(client: Client, sandbox: Sandbox) -> None:
    result = await client.call_tool("create_video_to_video", SEED_ARGUMENTS)
    text = next(block.text for block in result.content if block.type == "text")
    structured = result.structured_content
    assert structured is not None and structured["progress"] is None and structured["failure"] is None
    # The text is the same answer, compact, without the members that say nothing (null or empty).
    assert "\n" not in text and ": " not in text.partition('"next_step"')[0]
    assert json.loads(text) == without_empty(structured)
    assert len(text.encode()) <= 700


async def test_a_ratio_the_model_does_not_take_is_refused_with_its_valid_values(
    client: Client, sandbox: Sandbox
) -> None:
    result = await client.call_tool("create_video_to_video", {**SEED_ARGUMENTS, "ratio": "1:1"})
    text = error_text(result)
    assert result.is_error and text.startswith("Invalid input, nothing was sent")
    assert all(ratio in text for ratio in GEN4_ALEPH_RATIOS)
    assert sandbox.api_requests(method="POST") == []
