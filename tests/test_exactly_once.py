"""Exactly-once spending (issue 14): a paid create is journalled before it leaves, and never sent twice.

Through the real MCP protocol: the SDK's Client over the in-memory transport in both modes, and the real
`runway-mcp` command over stdio; the sandbox on real loopback HTTP is the upstream. The promises:
- a create whose answer is lost (a 5xx, a dropped connection, a 200 without an id, a read timeout, all
  after the upstream took it) says it may or may not exist, is listed as IN_DOUBT with its request, and
  its idempotency key is refused from then on (a new key sends it again);
- a create the client stops waiting for (a cancelled call, stdin closed) still runs to its end, is
  recorded, and its key replays the task;
- a create whose server was killed mid-request is in doubt for the next server on the same data dir.
"""

from __future__ import annotations

import dataclasses
import json
import re
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult

from runway_mcp.config import Settings
from runway_mcp.sandbox import Fault, Sandbox, SandboxServer
from runway_mcp.tools.server import build_server
from tests.support import (
    VIDEO,
    StdioServer,
    error_text,
    make_settings,
    open_stdio_server,
    raw_result_text,
    result_text,
    stdio_env,
    wait_until,
)

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CREATE = "create_video_to_video"
CREATE_PATH = "/video_to_video"
CALL_SECONDS = 30.0
READ_TIMEOUT = 0.5
# How long the sandbox holds a create's answer while the client goes away (well under the read timeout).
HOLD_SECONDS = 1.5
EXIT_SECONDS = 30.0
MAY_OR_MAY_NOT = re.compile(r"may or may not have been created")
LIVE_STATUSES = {"PENDING", "THROTTLED", "RUNNING", "SUCCEEDED"}

# Answers that are lost after the upstream took the create (and billed it).
AMBIGUOUS: dict[str, Fault] = {
    "http_502_after_the_create": Fault(kind="status", status=502, after_create=True),
    "connection_dropped_after_the_create": Fault(kind="drop_connection", after_create=True),
    "200_without_an_id": Fault(kind="empty", after_create=True),
    # The sandbox sleeps, then creates and answers: the server has stopped reading by then.
    "read_timeout_after_sending": Fault(kind="delay", delay_seconds=READ_TIMEOUT * 3),
}


def create_posts(sandbox: Sandbox) -> list[Any]:
    return sandbox.api_requests(method="POST", path_contains=CREATE_PATH)


def hold_the_create(sandbox: Sandbox) -> None:
    """The next create is taken at once but answered only after HOLD_SECONDS."""
    sandbox.add_fault(Fault(kind="delay", method="POST", path=CREATE_PATH, delay_seconds=HOLD_SECONDS))


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    with anyio.fail_after(CALL_SECONDS):
        return await client.call_tool(tool, arguments)


async def listed(client: Client) -> list[dict[str, Any]]:
    result = await call(client, "list_tasks", {"limit": 200})
    assert not result.is_error and result.structured_content is not None, result_text(result)
    tasks: list[dict[str, Any]] = result.structured_content["tasks"]
    return tasks


def entries_for(tasks: list[dict[str, Any]], prompt: str) -> list[dict[str, Any]]:
    return [t for t in tasks if t.get("prompt") == prompt]


def assert_in_doubt_entry(tasks: list[dict[str, Any]], prompt: str) -> None:
    """Exactly one IN_DOUBT entry for this prompt, with no task id and the request that was sent."""
    doubts = [t for t in entries_for(tasks, prompt) if t["status"] == "IN_DOUBT"]
    assert len(doubts) == 1, f"expected one IN_DOUBT entry for {prompt!r} in {json.dumps(tasks, indent=1)}"
    (entry,) = doubts
    assert entry["task_id"] is None
    request = entry["request"]
    assert isinstance(request, dict) and prompt in json.dumps(request), f"the request is not listed: {entry}"
    assert VIDEO in json.dumps(request)


def assert_refused_in_doubt(text: str) -> None:
    assert "in doubt" in text, text
    assert "new idempotency_key" in text, text


@pytest.fixture
def doubt_settings(sandbox_server: SandboxServer, sandbox: Sandbox, tmp_path: Path) -> Settings:
    """Settings with a short read timeout, so a delayed answer is a read timeout."""
    return make_settings(sandbox_server.url, tmp_path, read_timeout=READ_TIMEOUT, retry_budget_seconds=2.0)


# 1. Every lost answer, with and without a key


@pytest.mark.parametrize("keyed", [True, False], ids=["with_key", "without_key"])
@pytest.mark.parametrize("fault_name", list(AMBIGUOUS))
async def test_a_create_whose_answer_is_lost_is_in_doubt_and_its_key_is_never_resent(
    sandbox: Sandbox, doubt_settings: Settings, mode: str, fault_name: str, keyed: bool
) -> None:
    prompt = f"Lost answer: {fault_name}, {mode}, keyed={keyed}"
    arguments = {"video_uri": VIDEO, "prompt_text": prompt}
    key = {"idempotency_key": f"doubt-{fault_name}-{mode}"} if keyed else {}
    sandbox.add_fault(dataclasses.replace(AMBIGUOUS[fault_name], method="POST", path=CREATE_PATH))
    async with Client(build_server(doubt_settings), mode=mode) as client:  # type: ignore[arg-type]
        first = await call(client, CREATE, arguments | key)
        text = error_text(first)
        assert MAY_OR_MAY_NOT.search(text), text
        assert len(create_posts(sandbox)) == 1
        # The upstream did create it (a delayed one a moment later): "in doubt" is the honest answer.
        await wait_until(lambda: len(sandbox.task_ids()) == 1, 10, "the sandbox created the task")

        tasks = await listed(client)
        assert_in_doubt_entry(tasks, prompt)
        assert [t for t in tasks if t["task_id"] is not None] == [], f"a task was listed as created: {tasks}"

        if keyed:
            again = await call(client, CREATE, arguments | key)
            assert_refused_in_doubt(error_text(again))
            assert len(create_posts(sandbox)) == 1, "a create in doubt was sent again under its key"
            fresh = await call(client, CREATE, arguments | {"idempotency_key": f"{key['idempotency_key']}-new"})
        else:
            # Without a key each call is a new create: the entry in doubt does not block it.
            fresh = await call(client, CREATE, arguments)
        assert not fresh.is_error, result_text(fresh)
        assert fresh.structured_content is not None
        assert fresh.structured_content["idempotent_replay"] is False
        assert len(create_posts(sandbox)) == 2
        assert fresh.structured_content["task_id"] == sandbox.task_ids()[1]
        # The entry in doubt stays listed beside the new task.
        tasks = await listed(client)
        assert_in_doubt_entry(tasks, prompt)
        assert [t["task_id"] for t in entries_for(tasks, prompt) if t["task_id"]] == [sandbox.task_ids()[1]]


# 2. The client cancels the call while the create is on its way


async def cancel_once_sent(client: Client, sandbox: Sandbox, arguments: dict[str, Any], mode: str) -> None:
    """Start the create, and cancel the call once its POST reached the sandbox (whose answer is held)."""
    finished: list[CallToolResult] = []

    async def create() -> None:
        finished.append(await client.call_tool(CREATE, arguments))

    with anyio.fail_after(CALL_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(create)
            await wait_until(lambda: len(create_posts(sandbox)) == 1, 10, "the create reached the sandbox")
            assert sandbox.task_ids() == [], "the sandbox answered before the cancel: the test proves nothing"
            tg.cancel_scope.cancel()
    if mode == "legacy":
        # Over JSON-RPC the client abandons the call (notifications/cancelled) and hears nothing more.
        # In auto mode the in-memory call is a direct await of the handler, so the cancel only lands
        # once the shielded send is over, and the answer may still come back.
        assert finished == [], "the call was answered before it could be cancelled: the test proves nothing"


async def assert_replayed(client: Client, sandbox: Sandbox, arguments: dict[str, Any]) -> str:
    """A same-key retry replays the one task the sandbox created; nothing more is sent."""
    again = await call(client, CREATE, arguments)
    assert not again.is_error, result_text(again)
    assert again.structured_content is not None
    assert again.structured_content["idempotent_replay"] is True, again.structured_content
    task_ids = sandbox.task_ids()
    assert len(task_ids) == 1
    assert again.structured_content["task_id"] == task_ids[0]
    assert len(create_posts(sandbox)) == 1
    return task_ids[0]


def assert_listed_as_created(tasks: list[dict[str, Any]], prompt: str, task_id: str) -> None:
    entries = entries_for(tasks, prompt)
    assert len(entries) == 1, f"expected one entry for {prompt!r}: {json.dumps(tasks, indent=1)}"
    assert entries[0]["task_id"] == task_id
    assert entries[0]["status"] in LIVE_STATUSES, entries[0]


async def test_a_cancelled_create_still_completes_and_its_key_replays_it(
    sandbox: Sandbox, settings: Settings, mode: str
) -> None:
    prompt = f"Cancelled mid-create ({mode})"
    arguments = {"video_uri": VIDEO, "prompt_text": prompt, "idempotency_key": f"cancel-{mode}"}
    hold_the_create(sandbox)
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        await cancel_once_sent(client, sandbox, arguments, mode)
        # The same server: the retry waits for the create in flight, then replays it.
        task_id = await assert_replayed(client, sandbox, arguments)
        assert_listed_as_created(await listed(client), prompt, task_id)


async def test_a_cancelled_create_is_recorded_for_the_next_server_on_the_data_dir(
    sandbox: Sandbox, settings: Settings, mode: str
) -> None:
    prompt = f"Cancelled, then the client left ({mode})"
    arguments = {"video_uri": VIDEO, "prompt_text": prompt, "idempotency_key": f"cancel-leave-{mode}"}
    hold_the_create(sandbox)
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        await cancel_once_sent(client, sandbox, arguments, mode)
    # The client went away at once; the create it started must still have been recorded.
    assert len(sandbox.task_ids()) == 1, "the server stopped before the held create was answered"
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        tasks = await listed(client)
        assert_listed_as_created(tasks, prompt, sandbox.task_ids()[0])
        await assert_replayed(client, sandbox, arguments)


# 3 and 4. A real stdio server that loses its client, or is killed, mid-create


async def start_held_create(server: StdioServer, sandbox: Sandbox, arguments: dict[str, Any]) -> None:
    """Send a create over stdio and return once its POST reached the sandbox (which holds the answer)."""
    hold_the_create(sandbox)
    await server.start_tool_call(CREATE, arguments)
    await wait_until(
        lambda: len(create_posts(sandbox)) == 1, 20, f"the create reached the sandbox\n{server.log_text()}"
    )
    assert sandbox.task_ids() == [], "the sandbox answered already: the test proves nothing"


async def raw_listing(server: StdioServer) -> list[dict[str, Any]]:
    result = await server.call_tool("list_tasks", {"limit": 200})
    assert not result.get("isError"), raw_result_text(result)
    tasks: list[dict[str, Any]] = result["structuredContent"]["tasks"]
    return tasks


async def test_stdio_stdin_closed_mid_create_records_it_then_exits(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    env = stdio_env(sandbox_server, tmp_path, RUNWAY_MCP_READ_TIMEOUT="10")
    prompt = "stdin closed mid-create"
    arguments = {"video_uri": VIDEO, "prompt_text": prompt, "idempotency_key": "stdin-closed"}
    log = tmp_path / "server.log"
    async with open_stdio_server(env, log) as server:
        await start_held_create(server, sandbox, arguments)
        await server.close_stdin()
        code = await server.exit_code_within(EXIT_SECONDS)
        assert code is not None, f"the server still runs {EXIT_SECONDS:.0f} s after stdin closed\n{server.log_text()}"
    assert len(sandbox.task_ids()) == 1, "the server exited before the held create was answered"
    (task_id,) = sandbox.task_ids()
    async with open_stdio_server(env, log) as server:
        tasks = await raw_listing(server)
        entries = entries_for(tasks, prompt)
        assert [e["task_id"] for e in entries] == [task_id], f"{tasks}\n{server.log_text()}"
        assert entries[0]["status"] in LIVE_STATUSES
        again = await server.call_tool(CREATE, arguments)
        assert not again.get("isError"), raw_result_text(again)
        assert again["structuredContent"]["idempotent_replay"] is True
        assert again["structuredContent"]["task_id"] == task_id
    assert len(create_posts(sandbox)) == 1


async def kill_mid_create(sandbox: Sandbox, env: dict[str, str], log: Path, arguments: dict[str, Any]) -> None:
    """A stdio server killed (SIGKILL) while the sandbox holds its create; returns once it is gone."""
    async with open_stdio_server(env, log) as server:
        await start_held_create(server, sandbox, arguments)
        server.process.send_signal(signal.SIGKILL)
        assert await server.exit_code_within(10) == -signal.SIGKILL
    # The upstream carries on: the task exists (and is billed) although nobody heard of it.
    await wait_until(lambda: len(sandbox.task_ids()) == 1, 10, "the sandbox created the held task")


async def test_stdio_server_killed_mid_create_leaves_it_in_doubt_for_the_next(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    env = stdio_env(sandbox_server, tmp_path, RUNWAY_MCP_READ_TIMEOUT="10")
    prompt = "killed mid-create"
    arguments = {"video_uri": VIDEO, "prompt_text": prompt, "idempotency_key": "killed"}
    log = tmp_path / "server.log"
    await kill_mid_create(sandbox, env, log, arguments)
    async with open_stdio_server(env, log) as server:
        again = await server.call_tool(CREATE, arguments)
        assert again.get("isError"), f"a create in doubt was replayed or resent: {again}"
        assert_refused_in_doubt(raw_result_text(again))
        assert len(create_posts(sandbox)) == 1, "a create in doubt was sent again under its key"
        assert_in_doubt_entry(await raw_listing(server), prompt)
    assert len(create_posts(sandbox)) == 1


async def test_after_a_kill_list_tasks_alone_shows_the_create_in_doubt(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    # The first thing a user does after a crash: look at the list, before creating anything.
    env = stdio_env(sandbox_server, tmp_path, RUNWAY_MCP_READ_TIMEOUT="10")
    prompt = "killed, then listed"
    arguments = {"video_uri": VIDEO, "prompt_text": prompt, "idempotency_key": "killed-listed"}
    log = tmp_path / "server.log"
    await kill_mid_create(sandbox, env, log, arguments)
    async with open_stdio_server(env, log) as server:
        assert_in_doubt_entry(await raw_listing(server), prompt)
    assert len(create_posts(sandbox)) == 1


# 5. The journal cannot record: what needs it is refused before anything is sent


async def test_without_a_journal_keyed_and_capped_creates_are_refused_and_others_say_so(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path, mode: str
) -> None:
    settings = make_settings(sandbox_server.url, tmp_path)
    path = settings.ledger_path()
    assert path is not None
    path.mkdir(parents=True)  # a directory where the record's file should be: neither it nor the journal opens
    arguments = {"video_uri": VIDEO, "prompt_text": "Unrecorded"}
    async with Client(build_server(settings), mode=mode) as client:
        keyed = error_text(await client.call_tool(CREATE, {**arguments, "idempotency_key": "needs-the-journal"}))
        assert "idempotency_key needs the create journal" in keyed and "Nothing was sent" in keyed
        assert create_posts(sandbox) == []
        plain = await client.call_tool(CREATE, arguments)
        assert not plain.is_error, result_text(plain)
        assert plain.structured_content is not None
        assert "not recorded here" in plain.structured_content["next_step"]
        assert len(create_posts(sandbox)) == 1
    capped = make_settings(sandbox_server.url, tmp_path, max_tasks_per_day=10)
    async with Client(build_server(capped), mode=mode) as client:
        refused = error_text(await client.call_tool(CREATE, arguments))
        assert "RUNWAY_MCP_MAX_TASKS_PER_DAY needs the create journal" in refused
    assert len(create_posts(sandbox)) == 1
