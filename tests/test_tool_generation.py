"""The create tools are made from the catalog: a model or a parameter added there reaches the tools as it is.

These tests change the catalog (monkeypatched `MODELS`), build the server through the public
`build_server`, and read the tools a client sees over the in-memory protocol, in both client modes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from runway_mcp import catalog
from runway_mcp.catalog import DATA_URI_LIMIT_BYTES, MB, URL_ASSET_LIMIT_BYTES, Endpoint, ModelSpec, Param, models_for
from runway_mcp.config import Settings
from runway_mcp.tools.create import ROUTES
from runway_mcp.tools.server import build_server

pytestmark = pytest.mark.anyio

NEW_PARAM = Param("grain", "filmGrain", "integer", minimum=2, maximum=7, about="How much film grain to add.")
NEW_MODEL = ModelSpec(
    name="upscale_grainy",
    endpoint=Endpoint.VIDEO_UPSCALE,
    summary="An upscaler that also adds film grain.",
    params=(*models_for(Endpoint.VIDEO_UPSCALE)[0].params, NEW_PARAM),
)


def model_choices(schema: dict[str, Any]) -> list[Any] | None:
    """The models a create tool offers; None when it offers one only (nothing to choose, so not listed)."""
    model = schema["properties"].get("model")
    return None if model is None else list(model["enum"])


async def tool_schemas(settings: Settings, mode: str) -> dict[str, dict[str, Any]]:
    uncached = settings.model_copy(update={"schema_cache": False})
    async with Client(build_server(uncached), mode=mode) as client:  # type: ignore[arg-type]
        return {tool.name: tool.input_schema for tool in (await client.list_tools()).tools}


async def test_a_model_and_a_parameter_added_to_the_catalog_reach_the_tool(
    settings: Settings, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (await tool_schemas(settings, mode))["create_upscale"]
    upscalers = [m.name for m in models_for(Endpoint.VIDEO_UPSCALE)]
    image_upscalers = [m.name for m in models_for(Endpoint.IMAGE_UPSCALE)]
    assert "grain" not in before["properties"]

    monkeypatch.setattr(catalog, "MODELS", (*catalog.MODELS, NEW_MODEL))
    after = (await tool_schemas(settings, mode))["create_upscale"]

    assert model_choices(before) == [*upscalers, *image_upscalers]
    assert model_choices(after) == [*upscalers, "upscale_grainy", *image_upscalers]
    grain = after["properties"]["grain"]
    assert (grain["type"], grain["minimum"], grain["maximum"]) == ("integer", 2, 7)
    assert grain["description"] == "How much film grain to add. Only upscale_grainy."
    assert "grain" not in after.get("required", [])


async def test_a_limit_changed_in_the_catalog_changes_the_bounds_and_the_words(
    settings: Settings, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    aleph = next(m for m in catalog.MODELS if m.name == "gen4_aleph")
    longer = dataclasses.replace(
        aleph,
        params=tuple(dataclasses.replace(p, max_utf16=4321) if p.name == "prompt_text" else p for p in aleph.params),
    )
    monkeypatch.setattr(catalog, "MODELS", tuple(longer if m is aleph else m for m in catalog.MODELS))
    prompt = (await tool_schemas(settings, mode))["create_video_to_video"]["properties"]["prompt_text"]
    assert prompt["maxLength"] == 4321
    assert "Max chars: 4321 for gen4_aleph; 1000 for aleph2" in prompt["description"]


async def test_every_limit_the_words_state_is_the_catalogs(settings: Settings, mode: str) -> None:
    schemas = await tool_schemas(settings, mode)
    """Each model's limits are in the schema or, where models differ, in the words; media limits in list_models."""
    for route in ROUTES:
        properties = schemas[route.tool]["properties"]
        for model in (m for endpoint in route.endpoints for m in models_for(endpoint)):
            for param in model.params:
                if param.advanced:  # named in `options`; its limits are in list_models and the error for a wrong value
                    assert param.name in properties["options"]["description"]
                    continue
                prop = properties[param.name]
                if param.max_utf16:
                    assert param.max_utf16 == prop.get("maxLength") or str(param.max_utf16) in prop["description"]
                for bound in (param.minimum, param.maximum, *param.choices):
                    if isinstance(bound, int | float) and param.kind in ("integer", "number"):
                        stated = str(int(bound) if float(bound).is_integer() else bound)
                        assert bound in (prop.get("minimum"), prop.get("maximum")) or stated in prop["description"], (
                            model.name,
                            param.name,
                        )
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        listed = (await client.call_tool("list_models", {})).structured_content
    assert listed is not None
    for kind in ("video", "image"):
        assert f"{URL_ASSET_LIMIT_BYTES[kind] // MB} MB" in listed["media_inputs"]
        assert f"{DATA_URI_LIMIT_BYTES[kind] // MB} MB" in listed["media_inputs"]


def test_every_route_has_its_create_tool_words() -> None:
    served = [endpoint for route in ROUTES for endpoint in route.endpoints]
    assert sorted(served) == sorted(Endpoint) and len(served) == len(set(served))


async def test_the_tool_requires_what_every_model_requires_and_what_the_route_names(
    settings: Settings, mode: str
) -> None:
    schemas = await tool_schemas(settings, mode)
    for route in ROUTES:
        models = [m for endpoint in route.endpoints for m in models_for(endpoint)]
        by_all = {p.name for p in models[0].params if all((q := m.param(p.name)) and q.required for m in models)}
        assert set(schemas[route.tool].get("required", [])) == by_all | set(route.always_required), route.tool


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(base_url="http://127.0.0.1:9", data_dir=tmp_path / "data", ledger_enabled=False)
