"""Every tool that calls the upstream, under every fault the sandbox can inject.

For each (target, fault, persistence) the call must end in a success (after retries) or a clear tool error,
never a crash; a create is never sent twice (only a 429, which refuses it, may be answered by a resend);
a create that may have been billed is never reported as "nothing was created"; a successful create is in the
ledger exactly once; and the server answers the next call normally. The set of tools is read from the server
itself, so a new tool that talks to the upstream fails `test_the_matrix_covers_every_upstream_tool` until it
is added here (a create tool: to CREATE_ARGUMENTS in tests/support.py).

With RUNWAY_MCP_PROVIDER=runway a create may first ask for an upload slot (a large local file); that leg is in
the matrix too. The in-memory servers (CometAPI and Runway providers, each also against a closed port) serve
the whole module, with small timeouts and retry budgets, so the ~500 cases take under a minute.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult

from runway_mcp.config import Settings
from runway_mcp.sandbox import Fault, Sandbox, SandboxServer, asset_bytes
from runway_mcp.sandbox.config import FAULT_KINDS
from runway_mcp.tools.routes import ROUTE_OF, pick_endpoint
from runway_mcp.tools.server import build_server
from tests.support import (
    CREATE_ARGUMENTS,
    FAULTS,
    INSTANT_TASKS,
    MAX_RETRIES,
    MEDIA_PATH,
    READ_TIMEOUT,
    assert_clear_error,
    assert_clear_outcome,
    closed_port_url,
    make_settings,
    minimal_arguments,
    result_text,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

READ_TOOLS = ("get_task", "wait_for_task", "cancel_task", "download_task_output")
# Runway-direct tools: the matrix's server is on CometAPI, where they send nothing (checked below); under
# Runway they reach the upstream through the same client as every other tool.
DIRECT_ONLY_TOOLS = {"create_audio": {"prompt_text": "Hello"}, "get_credit_balance": {}}
TASK_RESOURCE = "runway://tasks/{task_id}"
OUTPUT_BYTES = asset_bytes("output.mp4")
LARGE_VIDEO_BYTES = 17 * 1024 * 1024  # over the 16 MiB data-URI limit

DOWNLOAD_TIMEOUT = 1.0
CALL_LIMIT_SECONDS = 20.0
MATRIX_SETTINGS: dict[str, Any] = {
    "read_timeout": READ_TIMEOUT,
    "connect_timeout": 1.0,
    "max_retries": MAX_RETRIES,
    "retry_backoff_seconds": 0.01,
    "retry_budget_seconds": 5.0,
    "download_timeout_seconds": DOWNLOAD_TIMEOUT,
    "poll_interval_seconds": 0.05,
    "log_level": "WARNING",
}


def upstream_tool_names(tools: list[Any]) -> set[str]:
    """Tools whose annotations say they reach the outside world (the upstream)."""
    return {t.name for t in tools if t.annotations is None or t.annotations.open_world_hint is not False}


# The faults


@dataclass(frozen=True)
class FaultCase:
    name: str
    fault: Fault | None
    """None: the upstream's port is closed (connection refused)."""
    persistent: bool

    @property
    def id(self) -> str:
        return f"{self.name}-{'persistent' if self.persistent else 'once'}"

    def retried_on_reads(self) -> bool:
        """Whether a read that meets this fault once is expected to succeed on its retry."""
        return not self.persistent and self.name not in ("redirect_301", "wrong_shape_json")

    def applied(self, method: str, path: str, *, after_create: bool = False) -> Fault:
        assert self.fault is not None
        return dataclasses.replace(
            self.fault, method=method, path=path, times=-1 if self.persistent else 1, after_create=after_create
        )


# A closed port refuses every time: there is no "once" for it.
CASES = [
    FaultCase(name, fault, persistent)
    for name, fault in FAULTS.items()
    for persistent in (False, True)
    if fault is not None or persistent
]
# Kinds where the sandbox handles the request first and then answers badly: the task exists and is billed.
AFTER_CREATE = [
    c
    for c in CASES
    if c.fault is not None and c.fault.kind not in ("delay", "redirect") and c.name != "http_429_retry_after"
]


def test_the_matrix_covers_every_fault_kind_the_sandbox_can_inject() -> None:
    injected = {f.kind for f in FAULTS.values() if f is not None}
    assert injected == set(FAULT_KINDS), f"fault kinds not in the matrix: {set(FAULT_KINDS) - injected}"


# The servers: one set for the whole module


@dataclass
class Servers:
    client: Client
    settings: Settings
    """The settings of `client`'s server."""
    refused_client: Client
    """A server whose upstream port is closed."""
    runway_client: Client
    """A server with RUNWAY_MCP_PROVIDER=runway, which uploads large local files first."""
    runway_refused_client: Client
    large_video: Path
    """A local file over the data-URI limit, so the runway server uploads it."""


@dataclass
class Matrix(Servers):
    sandbox: Sandbox


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fault-matrix")


@pytest.fixture(scope="module")
async def servers(sandbox_server: SandboxServer, module_tmp: Path) -> AsyncIterator[Servers]:
    refused_url = closed_port_url()
    settings = make_settings(sandbox_server.url, module_tmp / "main", **MATRIX_SETTINGS)
    runway = make_settings(sandbox_server.url, module_tmp / "runway", provider="runway", **MATRIX_SETTINGS)
    (large_video,) = runway.allowed_roots()
    large_video.mkdir(parents=True)
    large_video /= "long take.mp4"
    large_video.write_bytes(OUTPUT_BYTES + os.urandom(LARGE_VIDEO_BYTES - len(OUTPUT_BYTES)))
    async with (
        Client(build_server(settings)) as client,
        Client(build_server(make_settings(refused_url, module_tmp / "refused", **MATRIX_SETTINGS))) as refused,
        Client(build_server(runway)) as runway_client,
        Client(build_server(runway.model_copy(update={"base_url": refused_url}))) as runway_refused,
    ):
        yield Servers(client, settings, refused, runway_client, runway_refused, large_video)


@pytest.fixture
def matrix(servers: Servers, sandbox: Sandbox) -> Matrix:
    """The module's servers with this test's (freshly reset) sandbox, whose tasks finish at once."""
    sandbox.config = dataclasses.replace(sandbox.config, **INSTANT_TASKS)
    return Matrix(**vars(servers), sandbox=sandbox)


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    with anyio.fail_after(CALL_LIMIT_SECONDS):
        return await client.call_tool(tool, arguments)


async def new_task(m: Matrix) -> str:
    result = await call(m.client, "create_video_to_video", CREATE_ARGUMENTS["create_video_to_video"])
    assert not result.is_error, result_text(result)
    assert result.structured_content is not None
    task_id: str = result.structured_content["task_id"]
    return task_id


async def ledger_count(m: Matrix, task_id: str) -> int:
    listing = await call(m.client, "list_tasks", {"limit": 200})
    assert listing.structured_content is not None
    return sum(1 for t in listing.structured_content["tasks"] if t["task_id"] == task_id)


async def assert_still_serving(m: Matrix) -> None:
    """With the faults gone, the same server creates and reads a task normally."""
    m.sandbox.clear_faults()
    task_id = await new_task(m)
    result = await call(m.client, "get_task", {"task_id": task_id})
    assert not result.is_error, result_text(result)
    assert result.structured_content is not None and result.structured_content["status"] == "SUCCEEDED"


# The set of tools under test comes from the server


async def test_the_matrix_covers_every_upstream_tool(matrix: Matrix) -> None:
    tools = (await matrix.client.list_tools()).tools
    covered = set(CREATE_ARGUMENTS) | set(READ_TOOLS) | set(DIRECT_ONLY_TOOLS)
    missing = upstream_tool_names(tools) - covered
    assert not missing, f"tools that call the upstream but are not in the fault matrix: {sorted(missing)}"
    assert covered <= {t.name for t in tools}, (
        f"the matrix names tools the server lacks: {covered - {t.name for t in tools}}"
    )
    templates = {t.uri_template for t in (await matrix.client.list_resource_templates()).resource_templates}
    assert templates <= {TASK_RESOURCE}, f"resource templates not in the fault matrix: {templates - {TASK_RESOURCE}}"


async def test_tools_and_resources_that_claim_no_upstream_make_no_request(matrix: Matrix) -> None:
    # The matrix trusts open_world_hint=False; this checks it, and that static resources stay local too.
    tools = (await matrix.client.list_tools()).tools
    local = [t for t in tools if t.name not in upstream_tool_names(tools)]
    assert local, "expected some local tools (list_tasks at least)"
    for tool in local:
        result = await call(matrix.client, tool.name, minimal_arguments(tool.input_schema))
        assert_clear_outcome(result, tool.name)
    for resource in (await matrix.client.list_resources()).resources:
        await matrix.client.read_resource(str(resource.uri))
    for prompt in (await matrix.client.list_prompts()).prompts:
        arguments = {a.name: "x" for a in prompt.arguments or [] if a.required}
        await matrix.client.get_prompt(prompt.name, arguments)
    assert matrix.sandbox.requests == []


# Creates


MAY_HAVE_BEEN_CREATED = re.compile(r"may (or may not )?have been created")


def create_route(tool: str) -> str:
    return "/" + pick_endpoint(ROUTE_OF[tool], CREATE_ARGUMENTS[tool]).value


@pytest.mark.parametrize("tool", sorted(DIRECT_ONLY_TOOLS))
async def test_runway_direct_tools_send_nothing_through_cometapi(matrix: Matrix, tool: str) -> None:
    result = await call(matrix.client, tool, DIRECT_ONLY_TOOLS[tool])
    assert result.is_error and "RUNWAY_MCP_PROVIDER=runway" in result_text(result)
    assert matrix.sandbox.requests == []


def refused_by_429(case: FaultCase) -> bool:
    return case.fault is not None and case.fault.kind == "status" and case.fault.status == 429


async def check_create(m: Matrix, tool: str, case: FaultCase, *, after_create: bool) -> None:
    client = m.refused_client if case.fault is None else m.client
    if case.fault is not None:
        m.sandbox.add_fault(case.applied("POST", create_route(tool), after_create=after_create))
    result = await call(client, tool, CREATE_ARGUMENTS[tool])
    succeeded = assert_clear_outcome(result, tool)
    if case.name == "read_timeout":
        # The upstream carries on after the client stopped listening: let it finish before counting.
        with anyio.fail_after(5):
            while not m.sandbox.task_ids():
                await anyio.sleep(0.02)
    posts = m.sandbox.api_requests(method="POST")
    created = m.sandbox.task_ids()
    accepted_posts = [p for p in posts if not (refused_by_429(case) and p.fault is not None)]
    assert len(accepted_posts) <= 1, f"the create was sent {len(accepted_posts)} times"
    assert len(created) <= 1
    if succeeded:
        assert result.structured_content is not None
        assert created == [result.structured_content["task_id"]]
        assert await ledger_count(m, created[0]) == 1
    else:
        text = result_text(result)
        if created:
            assert MAY_HAVE_BEEN_CREATED.search(text), f"a billed task was reported without saying it may exist: {text}"
        if "nothing was created" in text.lower() or "it certainly was not" in text.lower():
            assert not created, f"said nothing was created, but the upstream created {created}"
    expected_success = refused_by_429(case) and not case.persistent
    assert succeeded == expected_success, result_text(result)
    if case.fault is None:
        assert posts == [] and "could not connect" in result_text(result)
        assert "may or may not" not in result_text(result)
        assert not (await call(client, "list_tasks", {})).is_error
    await assert_still_serving(m)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("tool", sorted(CREATE_ARGUMENTS))
async def test_create_under_fault(matrix: Matrix, tool: str, case: FaultCase) -> None:
    await check_create(matrix, tool, case, after_create=False)


@pytest.mark.parametrize("case", AFTER_CREATE, ids=lambda c: c.id)
@pytest.mark.parametrize("tool", sorted(CREATE_ARGUMENTS))
async def test_create_that_reached_the_upstream_before_the_fault(matrix: Matrix, tool: str, case: FaultCase) -> None:
    await check_create(matrix, tool, case, after_create=True)
    assert len(matrix.sandbox.api_requests(method="POST")) == 2  # the billed one, and assert_still_serving's


# Reads: get_task, wait_for_task, cancel_task (GET then DELETE), download_task_output, the task resource

READ_TARGETS: list[tuple[str, str]] = [
    ("get_task", "GET"),
    ("wait_for_task", "GET"),
    ("cancel_task", "GET"),
    ("cancel_task", "DELETE"),
    ("download_task_output", "GET"),
]


def expected_read_outcome(case: FaultCase, method: str) -> str:
    """success, error, or either (where both answers are defensible) for a read meeting this fault."""
    if method == "DELETE" and case.name == "wrong_shape_json":
        return "either"  # a 2xx with any JSON: the upstream did take the DELETE
    if case.name == "wrong_shape_json" and not case.persistent:
        return "either"  # valid JSON of an unknown shape: retrying is allowed, reporting it is too
    return "success" if case.retried_on_reads() else "error"


def read_arguments(tool: str, task_id: str, m: Matrix) -> dict[str, Any]:
    if tool == "wait_for_task":
        return {"task_id": task_id, "timeout_seconds": 2}
    if tool == "download_task_output":
        return {"task_id": task_id, "directory": str(m.settings.output_directory() / task_id)}
    return {"task_id": task_id}


def check_read_success(tool: str, task_id: str, result: CallToolResult) -> None:
    content = result.structured_content
    assert content is not None and content["task_id"] == task_id
    if tool == "download_task_output":
        (saved,) = content["files"]
        data = Path(saved["path"]).read_bytes()
        assert data == OUTPUT_BYTES, f"the saved file is not the output ({len(data)} bytes of {data[:40]!r})"
        assert saved["sha256"] == hashlib.sha256(OUTPUT_BYTES).hexdigest()
    elif tool == "cancel_task":
        assert content["outcome"] == "deleted"
    else:
        assert content["status"] == "SUCCEEDED"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize(("tool", "method"), READ_TARGETS, ids=[f"{t}-{m}" for t, m in READ_TARGETS])
async def test_read_under_fault(matrix: Matrix, tool: str, method: str, case: FaultCase) -> None:
    m = matrix
    task_id = await new_task(m)
    mark = len(m.sandbox.requests)
    if case.fault is None:
        result = await call(m.refused_client, tool, read_arguments(tool, task_id, m))
        assert "could not connect (connection refused)" in assert_clear_error(result, tool)
        assert "gave up" not in result_text(result)  # a refusal is blamed on the base URL at once, not retried
    else:
        m.sandbox.add_fault(case.applied(method, "/tasks/"))
        result = await call(m.client, tool, read_arguments(tool, task_id, m))
        succeeded = assert_clear_outcome(result, tool)
        expected = expected_read_outcome(case, method)
        if expected != "either":
            assert succeeded == (expected == "success"), f"{case.id} on {method}: {result_text(result)}"
        seen = m.sandbox.api_requests()[mark:]
        faulted = [r for r in seen if r.fault]
        assert 1 <= len(faulted) <= MAX_RETRIES + 1, f"{len(faulted)} attempts"
        if succeeded:
            check_read_success(tool, task_id, result)
    assert [r for r in m.sandbox.api_requests()[mark:] if r.method == "POST"] == [], "a read created something"
    await assert_still_serving(m)


# Downloads: faults on the output file's own URL


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_download_under_fault_on_the_output_url(matrix: Matrix, case: FaultCase) -> None:
    m = matrix
    if case.fault is None:
        m.sandbox.config.output_base_url = closed_port_url()
    else:
        fault = case.applied("GET", MEDIA_PATH)
        if fault.kind == "delay":
            fault = dataclasses.replace(fault, delay_seconds=DOWNLOAD_TIMEOUT * 1.5)
        m.sandbox.add_fault(fault)
    task_id = await new_task(m)
    result = await call(m.client, "download_task_output", read_arguments("download_task_output", task_id, m))
    if assert_clear_outcome(result, "download_task_output"):
        check_read_success("download_task_output", task_id, result)
    directory = m.settings.output_directory() / task_id
    leftovers = [p.name for p in directory.iterdir()] if directory.exists() else []
    saved = [p for p in leftovers if not p.startswith(".")]
    assert not [p for p in leftovers if p.startswith(".partial")], "a partial download was left behind"
    assert len(saved) == (0 if result.is_error else 1)
    m.sandbox.config.output_base_url = None
    await assert_still_serving(m)


# The task resource


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_task_resource_under_fault(matrix: Matrix, case: FaultCase) -> None:
    m = matrix
    task_id = await new_task(m)
    mark = len(m.sandbox.requests)
    client = m.client
    if case.fault is None:
        client = m.refused_client
    else:
        m.sandbox.add_fault(case.applied("GET", "/tasks/"))
    try:
        with anyio.fail_after(CALL_LIMIT_SECONDS):
            contents = (await client.read_resource(f"runway://tasks/{task_id}")).contents
    except MCPError as exc:
        message = str(exc)
        uri = f"runway://tasks/{task_id}"
        assert message.strip() and "Traceback" not in message
        crashes = (f"Error reading resource {uri}", f"Error creating resource from template {uri}")
        assert message.strip() not in crashes, f"the resource crashed (the SDK's bare crash message): {message}"
        assert "internal error" not in message.lower(), message
        assert "cf-error-details" not in message
        assert expected_read_outcome(case, "GET") != "success", f"{case.id} was not retried: {message}"
    else:
        task = json.loads(contents[0].text)  # type: ignore[union-attr]
        assert task["task_id"] == task_id and task["status"] == "SUCCEEDED"
        assert expected_read_outcome(case, "GET") != "error", f"{case.id} ended in a success"
    assert [r for r in m.sandbox.api_requests()[mark:] if r.method == "POST"] == []
    await assert_still_serving(m)


# Uploads: with RUNWAY_MCP_PROVIDER=runway a large local file first gets an upload slot (POST uploads, free
# and retried like a read), then goes to storage, and only then is the create sent.


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_create_with_an_upload_under_fault_on_the_upload_slot(matrix: Matrix, case: FaultCase) -> None:
    m = matrix
    client = m.runway_refused_client
    if case.fault is not None:
        client = m.runway_client
        m.sandbox.add_fault(case.applied("POST", "/v1/uploads"))
    arguments = {"video_uri": str(m.large_video), "prompt_text": "Make it snow"}
    result = await call(client, "create_video_to_video", arguments)
    succeeded = assert_clear_outcome(result, "create_video_to_video")
    creates = m.sandbox.api_requests(method="POST", path_contains="/video_to_video")
    expected = "error" if case.fault is None else expected_read_outcome(case, "POST")
    if expected != "either":
        assert succeeded == (expected == "success"), f"{case.id}: {result_text(result)}"
    if succeeded:
        assert result.structured_content is not None
        (create,) = creates
        assert create.json["videoUri"].startswith("runway://") and len(create.body) < 1000
        assert m.sandbox.task_ids() == [result.structured_content["task_id"]]
    else:
        assert creates == [], "the create was sent although its upload failed"
        assert m.sandbox.task_ids() == []
        assert "may or may not" not in result_text(result), "a failed upload was reported as a possible task"
    slots = m.sandbox.api_requests(method="POST", path_contains="/v1/uploads")
    assert len(slots) <= MAX_RETRIES + 1
    await assert_still_serving(m)
