"""The whole Runway surface through the catalog: every route and model, providers, dry runs, spending."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import ElicitResult

from runway_mcp.catalog import DEFAULT_MODELS, MODELS, Endpoint, ModelSpec, Param
from runway_mcp.config import Settings
from runway_mcp.pricing import estimate
from runway_mcp.sandbox import Sandbox, SandboxServer
from runway_mcp.tools.create import TOOL_FOR
from runway_mcp.tools.routes import ROUTE_OF, pick_endpoint, switch_for
from runway_mcp.tools.server import build_server
from tests.support import CANARY_KEY, error_text, make_settings

pytestmark = pytest.mark.anyio

VIDEO = "https://media.example.com/clip.mp4"
IMAGE = "https://media.example.com/still.png"


def example_value(param: Param) -> Any:
    """A valid value for a parameter, derived from its catalog entry."""
    if param.choices:
        return param.choices[-1]
    if param.kind == "text":
        return "A calm lake at dawn"
    if param.kind in ("integer", "number"):
        return int(param.maximum if param.maximum is not None else 1)
    if param.kind == "boolean":
        return True
    if param.kind == "media":
        return VIDEO if param.media == "video" else IMAGE
    if param.kind == "items":
        item: dict[str, Any] = {"uri": IMAGE}
        if param.item_keys == ("seconds", "at"):
            item["at"] = 0.5
        if "tag" in param.item_keys:
            item["tag"] = "style"
        return [item] * max(param.min_items, 1)
    raise AssertionError(param)


def full_arguments(spec: ModelSpec) -> dict[str, Any]:
    """Every parameter the model takes, each with a valid value (the character's media follows its type);
    the fine-tuning settings (`Param.advanced`) inside `options`, as the tool takes them."""
    arguments: dict[str, Any] = {"model": spec.name, **switch_for(spec.endpoint)}
    for param in spec.params:
        value = example_value(param)
        if param.media_from:
            value = VIDEO if arguments[param.media_from] == "video" else IMAGE
        with_value(arguments, param, value)
    return arguments


def with_value(arguments: dict[str, Any], param: Param, value: Any) -> dict[str, Any]:
    """`arguments` with one parameter set where the tool takes it: at the top, or in `options`."""
    if param.advanced:
        arguments["options"] = {**arguments.get("options", {}), param.name: value}
    else:
        arguments[param.name] = value
    return arguments


def given(arguments: dict[str, Any], name: str) -> Any:
    return arguments[name] if name in arguments else arguments["options"][name]


def expected_body(spec: ModelSpec, arguments: dict[str, Any]) -> dict[str, Any]:
    """The body the upstream should receive, built independently of service/requests.py from the catalog's wire paths."""
    body: dict[str, Any] = {"model": spec.name}
    for param in spec.params:
        value = given(arguments, param.name)
        if param.kind == "items" and param.item_type:
            value = [{"type": param.item_type, **item} for item in value]
        if param.name == "last_frame_image":
            body["promptImage"] = [
                {"uri": arguments["prompt_image"], "position": "first"},
                {"uri": value, "position": "last"},
            ]
            continue
        target = body
        *parents, leaf = param.wire.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    for path, constant in spec.constants:
        *parents, leaf = path.split(".")
        target = body
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = constant
    return body


@pytest.mark.parametrize("spec", MODELS, ids=lambda m: f"{m.endpoint.value}-{m.name}")
async def test_every_model_sends_exactly_its_documented_body(
    spec: ModelSpec, sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    # Models CometAPI is not known to forward are exercised against Runway's own routes.
    provider = "cometapi" if "cometapi" in spec.providers else "runway"
    settings = make_settings(sandbox_server.url, tmp_path, provider=provider)
    arguments = full_arguments(spec)
    async with Client(build_server(settings)) as client:
        result = await client.call_tool(TOOL_FOR[spec.endpoint], arguments)
    assert not result.is_error, error_text(result)
    (request,) = sandbox.api_requests(method="POST")
    prefix = "/runwayml/v1" if provider == "cometapi" else "/v1"
    assert request.path == f"{prefix}/{spec.endpoint.value}"
    assert request.json == expected_body(spec, arguments)
    assert sandbox.task_ids()  # the sandbox, reading the same docs independently, accepted it


@pytest.fixture
async def runway_client(sandbox_server: SandboxServer, tmp_path: Path, mode: str) -> AsyncIterator[Client]:
    """A client of a server whose provider is Runway direct: every model and route is offered."""
    settings = make_settings(sandbox_server.url, tmp_path, provider="runway")
    async with Client(build_server(settings), mode=mode) as connected:  # type: ignore[arg-type]
        yield connected


def provider_client(spec: ModelSpec, client: Client, runway_client: Client) -> Client:
    return client if "cometapi" in spec.providers else runway_client


@pytest.mark.parametrize("spec", MODELS, ids=lambda m: f"{m.endpoint.value}-{m.name}")
async def test_missing_required_parameters_are_named_before_anything_is_sent(
    spec: ModelSpec, client: Client, runway_client: Client, sandbox: Sandbox
) -> None:
    required = [p for p in spec.params if p.required]
    arguments = full_arguments(spec)
    route = ROUTE_OF[TOOL_FOR[spec.endpoint]]
    for param in required:
        trimmed = {k: v for k, v in arguments.items() if k != param.name}
        if pick_endpoint(route, trimmed) is not spec.endpoint:
            # Without it the call is another route's request (seedance2 with no image: text_to_video).
            assert param.name in {b.given for b in route.branches}
            continue
        result = await provider_client(spec, client, runway_client).call_tool(TOOL_FOR[spec.endpoint], trimmed)
        assert param.name in error_text(result)
    assert sandbox.requests == []


async def test_a_parameter_the_model_does_not_take_is_refused_with_the_models_that_do(
    client: Client, sandbox: Sandbox
) -> None:
    text = error_text(
        await client.call_tool(
            "create_video_to_video",
            {"video_uri": VIDEO, "prompt_text": "x", "keyframes": [{"uri": IMAGE, "at": 0.5}], "duration": 5},
        )
    )
    assert "keyframes: gen4_aleph does not take this parameter" in text and "aleph2" in text
    assert "duration" in text and "seedance2" in text
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("tool", "arguments", "needle"),
    [
        ("create_image_to_video", {"prompt_image": IMAGE, "prompt_text": "x", "duration": 7}, "5 or 10"),
        ("create_image_to_video", {"prompt_image": IMAGE, "model": "gen4_turbo"}, "ratio: required"),
        ("create_image_to_video", {"prompt_image": IMAGE, "model": "veo3", "ratio": "1280:720"}, "duration"),
        ("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "x" * 1001}, "over the limit of 1000"),
        ("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "x" * 3000, "model": "seedance2"}, None),
        (
            "create_video_to_video",
            {"video_uri": VIDEO, "prompt_text": "x", "model": "aleph2", "keyframes": [{"uri": IMAGE}]},
            "exactly one of seconds",
        ),
        (
            "create_character_performance",
            {"character_uri": "data:video/mp4;base64,AAAA", "character_type": "image", "reference_video_uri": VIDEO},
            "character_uri",
        ),
        (
            "create_text_to_image",
            {"prompt_text": "x", "ratio": "1920:1080", "reference_images": []},
            "reference_images",
        ),
    ],
)
async def test_per_model_rules(
    runway_client: Client, sandbox: Sandbox, tool: str, arguments: dict[str, Any], needle: str | None
) -> None:
    result = await runway_client.call_tool(tool, {**arguments, "dry_run": True})
    if needle is None:
        assert not result.is_error, error_text(result)
    else:
        assert needle in error_text(result)
    assert sandbox.requests == []


@pytest.mark.parametrize("provider", ["cometapi", "runway"])
async def test_list_models_lists_what_the_provider_serves_and_validation_accepts(
    client: Client, runway_client: Client, sandbox: Sandbox, provider: str
) -> None:
    client = client if provider == "cometapi" else runway_client
    listing = (await client.call_tool("list_models", {})).structured_content
    assert listing is not None and listing["provider"] == provider
    served = {(m.endpoint.value, m.name) for m in MODELS if provider in m.providers}
    assert {(m["endpoint"], m["name"]) for m in listing["models"]} == served
    documented = {"gen4_aleph", "gen3a_turbo", "gen4_image", "gen4_image_turbo", "upscale_v1", "act_two"}
    assert provider == "runway" or {n for _, n in served} == documented  # runway-via-cometapi.md, and nothing else
    for model in listing["models"]:
        assert model["default"] == (DEFAULT_MODELS[Endpoint(model["endpoint"])] == model["name"])
        assert model["tool"] == TOOL_FOR[Endpoint(model["endpoint"])]
        spec = next(m for m in MODELS if m.name == model["name"] and m.endpoint.value == model["endpoint"])
        arguments = full_arguments(spec)
        for param in model["parameters"]:
            for choice in param["choices"] or []:
                setting = next(p for p in spec.params if p.name == param["name"])
                call = with_value(copy.deepcopy(arguments), setting, choice)
                accepted = await client.call_tool(model["tool"], {**call, "dry_run": True})
                assert not accepted.is_error, f"{model['name']}.{param['name']}={choice}: {error_text(accepted)}"
    assert sandbox.requests == []
    resource = await client.read_resource("runway://models")
    assert "gen4_aleph" in resource.contents[0].text  # type: ignore[union-attr]


async def test_dry_run_shows_the_exact_request_and_cost_and_sends_nothing(client: Client, sandbox: Sandbox) -> None:
    arguments = {"video_uri": VIDEO, "prompt_text": "Snow", "ratio": "960:960"}
    preview = (await client.call_tool("create_video_to_video", {**arguments, "dry_run": True})).structured_content
    assert preview is not None
    assert sandbox.requests == []
    assert preview["dry_run"] is True and preview["task_id"] is None and preview["status"] is None
    assert preview["estimated_cost"]["basis"].startswith("15 credits/s of output")
    assert "CometAPI bills" in preview["estimated_cost"]["note"]
    request = preview["request_preview"]
    assert request["url"].endswith("/runwayml/v1/video_to_video")
    assert CANARY_KEY not in str(request)
    created = await client.call_tool("create_video_to_video", arguments)
    assert not created.is_error
    assert sandbox.api_requests(method="POST")[0].json == request["body"]


async def test_dry_run_shortens_media_data_to_type_size_and_hash(client: Client, sandbox: Sandbox) -> None:
    import base64
    import hashlib

    payload = bytes(range(256)) * 40
    uri = f"data:video/mp4;base64,{base64.b64encode(payload).decode()}"
    preview = (
        await client.call_tool("create_video_to_video", {"video_uri": uri, "prompt_text": "x", "dry_run": True})
    ).structured_content
    assert preview is not None
    shown = preview["request_preview"]["body"]["videoUri"]
    assert shown["data_uri"]["media_type"] == "video/mp4"
    assert shown["data_uri"]["bytes"] == len(payload)
    assert shown["data_uri"]["sha256"] == hashlib.sha256(payload).hexdigest()


async def test_estimate_cost_uses_the_catalog_prices(client: Client) -> None:
    aleph = (
        await client.call_tool("estimate_cost", {"endpoint": "video_to_video", "duration_seconds": 4})
    ).structured_content
    assert aleph is not None and aleph["credits"] == 60 and aleph["usd_at_runway_prices"] == 0.6
    longer = (
        await client.call_tool("estimate_cost", {"endpoint": "video_to_video", "duration_seconds": 10})
    ).structured_content
    assert longer is not None and longer["credits"] == 150  # the output is as long as the input
    image = (
        await client.call_tool("estimate_cost", {"endpoint": "text_to_image", "ratio": "1920:1080"})
    ).structured_content
    assert image is not None and image["credits"] == 8
    unknown = await client.call_tool("estimate_cost", {"endpoint": "video_to_video", "model": "nope"})
    assert "gen4_aleph" in error_text(unknown)
    spec = next(m for m in MODELS if m.name == "gen4_turbo")
    assert estimate(spec).credits == 50  # its default 10 s at 5 credits/s


async def test_daily_budget_refuses_before_sending(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    settings = make_settings(sandbox_server.url, tmp_path, max_tasks_per_day=2)
    arguments = {"video_uri": VIDEO, "prompt_text": "x"}
    async with Client(build_server(settings)) as client:
        for _ in range(2):
            assert not (await client.call_tool("create_video_to_video", arguments)).is_error
        text = error_text(await client.call_tool("create_video_to_video", arguments))
    async with Client(build_server(settings)) as client:  # the count survives a restart (it is in the ledger)
        again = error_text(await client.call_tool("create_video_to_video", arguments))
    assert "2 of 2" in text and "RUNWAY_MCP_MAX_TASKS_PER_DAY" in text and "Nothing was sent" in again
    assert len(sandbox.api_requests(method="POST")) == 2


async def test_daily_budget_holds_without_the_ledger(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    settings = make_settings(sandbox_server.url, tmp_path, max_tasks_per_day=1, ledger_enabled=False)
    async with Client(build_server(settings)) as client:
        assert not (await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "x"})).is_error
        assert "RUNWAY_MCP_MAX_TASKS_PER_DAY" in error_text(
            await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "y"})
        )
    assert len(sandbox.api_requests(method="POST")) == 1


async def test_idempotency_holds_without_the_ledger(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    settings = make_settings(sandbox_server.url, tmp_path, ledger_enabled=False)
    arguments = {"video_uri": VIDEO, "prompt_text": "x", "idempotency_key": "once"}
    async with Client(build_server(settings)) as client:
        first = (await client.call_tool("create_video_to_video", arguments)).structured_content
        second = (await client.call_tool("create_video_to_video", arguments)).structured_content
    assert first is not None and second is not None and first["task_id"] == second["task_id"]
    assert len(sandbox.api_requests(method="POST")) == 1


def confirming(action: str) -> Any:
    async def callback(context: Any, params: Any) -> ElicitResult:
        confirming.asked.append(params.message)  # type: ignore[attr-defined]
        return ElicitResult(action=action, content={"confirm": True} if action == "accept" else None)  # type: ignore[arg-type]

    return callback


@pytest.mark.parametrize(("action", "created"), [("accept", True), ("decline", False), ("cancel", False)])
async def test_spend_confirmation_through_elicitation(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, mode: str, action: str, created: bool
) -> None:
    confirming.asked = []  # type: ignore[attr-defined]
    settings = make_settings(sandbox_server.url, tmp_path, confirm_spend=True)
    async with Client(build_server(settings), mode=mode, elicitation_callback=confirming(action)) as client:  # type: ignore[arg-type]
        result = await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "x"})
        assert result.is_error is not created, error_text(result) if created else result
        if not created:
            assert "did not confirm" in error_text(result)
        # A dry run spends nothing, so it is never asked about.
        asked = len(confirming.asked)  # type: ignore[attr-defined]
        await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "x", "dry_run": True})
    assert asked == 1 and "15 credits" in confirming.asked[0]  # type: ignore[attr-defined]
    assert len(confirming.asked) == 1  # type: ignore[attr-defined]
    assert len(sandbox.api_requests(method="POST")) == (1 if created else 0)


async def test_spend_confirmation_degrades_to_a_refusal_without_elicitation(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, mode: str
) -> None:
    settings = make_settings(sandbox_server.url, tmp_path, confirm_spend=True)
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        text = error_text(await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "x"}))
    assert "cannot show confirmation prompts" in text
    assert sandbox.requests == []


async def test_provider_switch_changes_paths_and_key_variable(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        {
            "RUNWAY_MCP_PROVIDER": "runway",
            "RUNWAYML_API_SECRET": CANARY_KEY,
            "RUNWAYML_BASE_URL": sandbox_server.url,
            "RUNWAY_MCP_DATA_DIR": str(tmp_path),
            "RUNWAY_MCP_POLL_INTERVAL": "0.2",
        }
    )
    assert settings.key_variable == "RUNWAYML_API_SECRET"
    sandbox.config.supports_cancel = True
    async with Client(build_server(settings)) as client:
        created = (
            await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "x", "model": "aleph2"})
        ).structured_content
        assert created is not None
        cancelled = await client.call_tool("cancel_task", {"task_id": created["task_id"]})
        assert not cancelled.is_error, error_text(cancelled)
    paths = {(r.method, r.path.rsplit("/", 1)[0] if r.method != "POST" else r.path) for r in sandbox.requests}
    assert ("POST", "/v1/video_to_video") in paths and ("DELETE", "/v1/tasks") in paths
    assert all(r.headers["authorization"] == f"Bearer {CANARY_KEY}" for r in sandbox.requests)
    without_key = Settings.from_env({"RUNWAY_MCP_PROVIDER": "runway", "COMETAPI_KEY": "x"})
    async with Client(build_server(without_key)) as client:
        assert "RUNWAYML_API_SECRET" in error_text(await client.call_tool("get_task", {"task_id": "abc"}))


@pytest.mark.parametrize(
    "spec", [m for m in MODELS if "cometapi" not in m.providers], ids=lambda m: f"{m.endpoint.value}-{m.name}"
)
async def test_cometapi_refuses_runway_direct_models_and_routes_before_sending(
    client: Client, sandbox: Sandbox, spec: ModelSpec
) -> None:
    text = error_text(await client.call_tool(TOOL_FOR[spec.endpoint], full_arguments(spec)))
    assert f"model: {spec.name} on {spec.endpoint.value} needs Runway direct" in text
    assert "RUNWAY_MCP_PROVIDER=runway" in text
    served = [m.name for m in MODELS if m.endpoint is spec.endpoint and "cometapi" in m.providers]
    assert all(name in text for name in served) if served else "does not offer the" in text
    assert sandbox.requests == []


async def test_prompts_walk_through_create_wait_download(client: Client) -> None:
    prompts = {p.name for p in (await client.list_prompts()).prompts}
    assert {"restyle_clip", "animate_still", "upscale_task"} <= prompts
    restyle = await client.get_prompt("restyle_clip", {"video": VIDEO, "style": "noir"})
    text = restyle.messages[0].content.text  # type: ignore[union-attr]
    for step in ("create_video_to_video", "wait_for_task", "download_task_output", VIDEO, "noir"):
        assert step in text


async def test_every_create_tool_says_what_it_costs_and_is_truthfully_annotated(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    for endpoint in Endpoint:
        tool = tools[TOOL_FOR[endpoint]]
        assert tool.annotations is not None and tool.annotations.idempotent_hint is False
        assert tool.annotations.read_only_hint is False and tool.annotations.open_world_hint is True
        assert "credits" in (tool.description or "") and "wait_for_task" in (tool.description or "")
        properties = tool.input_schema["properties"]
        assert {"dry_run", "idempotency_key"} <= set(properties)
        assert tool.input_schema.get("additionalProperties") is False  # an unknown argument is refused
        assert "confirmation" not in properties  # filled by the server, never by the model
        for name, prop in properties.items():
            assert prop.get("description") or "enum" in prop, (
                f"{tool.name}.{name}"
            )  # the model choice speaks for itself
    for name in ("estimate_cost", "list_models"):
        assert tools[name].annotations is not None and tools[name].annotations.read_only_hint is True  # type: ignore[union-attr]
