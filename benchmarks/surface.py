"""Scenario 8, surface: what every conversation pays to know the tools, and what a create answer costs it.

A model reads the tools' definitions (name, description, input schema) on every turn, and the text
of every answer. Both are measured in bytes of compact JSON, each against a baseline from this run:

- the definitions a client lists, against the same tools as the SDK would publish them without
  `tools/schema.py` (pydantic's schemas as they are: titles, null branches, definitions);
- a create answer's text, against the SDK's own rendering of the same structured content
  (indented JSON with every member, null ones included).

Targets: the definitions, with every route offered, at most 12 KB (12,288 bytes; issue 16, was 10 KB
for five routes in issue 15); a create answer at most 700 bytes.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import pydantic_core
from mcp.server.mcpserver.tools import Tool

from benchmarks.harness import Row, RunOptions, ScenarioResult, in_memory_server, in_memory_settings, running_sandbox
from benchmarks.harness import sandbox_config as make_sandbox_config
from runway_mcp.tools.server import tool_registry

DEFINITIONS_TARGET = 12 * 1024
ANSWER_TARGET = 700
EDIT = {"video_uri": "https://example.com/in.mp4", "prompt_text": "Make it look like a snowy night"}


def definition_bytes(name: str, description: str | None, schema: dict[str, Any]) -> int:
    document = {"name": name, "description": description, "inputSchema": schema}
    return len(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode())


def sdk_definitions() -> int:
    """The same tools, built as the SDK builds them (no compaction), in bytes."""
    registry = tool_registry()
    total = 0
    for spec in registry.specs:
        description = spec.description or inspect.cleandoc(spec.fn.__doc__ or "")
        tool = Tool.from_function(spec.fn, name=spec.name, description=description, annotations=spec.annotations)
        total += definition_bytes(tool.name, tool.description, tool.parameters)
    return total


async def run(options: RunOptions) -> ScenarioResult:
    result = ScenarioResult("surface", "Tool surface")
    with running_sandbox(make_sandbox_config()) as (server, _):
        settings = in_memory_settings(server.url, options.workdir / "surface")
        async with in_memory_server(settings) as client:
            tools = (await client.list_tools()).tools
            ours = sum(definition_bytes(t.name, t.description, t.input_schema) for t in tools)
            created = await client.call_tool("create_video_to_video", EDIT)
    if created.is_error or created.structured_content is None:
        raise RuntimeError(f"the create failed: {created.content}")
    answer = len(next(block.text for block in created.content if block.type == "text").encode())
    sdk_answer = len(pydantic_core.to_json(created.structured_content, indent=2))
    baseline = sdk_definitions()
    result.rows = [
        Row(
            f"Tool definitions a model reads, {len(tools)} tools (bytes)",
            ours,
            "count",
            baseline=baseline,
            baseline_label="the same tools as the SDK publishes them",
            ratio=round(ours / baseline, 3),
            target=f"<= {DEFINITIONS_TARGET} bytes",
            met=ours <= DEFINITIONS_TARGET,
        ),
        Row(
            "A create answer's text (bytes)",
            answer,
            "count",
            baseline=sdk_answer,
            baseline_label="the SDK's rendering of the same answer",
            ratio=round(answer / sdk_answer, 3),
            target=f"<= {ANSWER_TARGET} bytes",
            met=answer <= ANSWER_TARGET,
        ),
    ]
    result.figures = {"definition_bytes": ours, "sdk_definition_bytes": baseline, "answer_bytes": answer}
    result.notes.append("Runway's own MCP server lists 6.3 KB of definitions (measured in issue 15, not in this run).")
    return result
