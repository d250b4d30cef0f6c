"""The whole life of a task: waiting with progress, cancelling, downloading, the ledger, idempotency."""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from runway_mcp.config import Settings
from runway_mcp.models import Task, TaskStatus
from runway_mcp.sandbox import Fault, Sandbox, SandboxServer
from runway_mcp.service import waiting
from runway_mcp.tools.server import build_server
from runway_mcp.upstream.task_shapes import build_task
from tests.support import SEED_ARGUMENTS, VIDEO, error_text, make_settings

pytestmark = pytest.mark.anyio


async def create(client: Client, **overrides: Any) -> str:
    result = await client.call_tool("create_video_to_video", {**SEED_ARGUMENTS, **overrides})
    assert not result.is_error, error_text(result)
    assert result.structured_content is not None
    task_id: str = result.structured_content["task_id"]
    return task_id


def task_gets(sandbox: Sandbox, task_id: str) -> int:
    return len(sandbox.api_requests(method="GET", path_contains=f"/tasks/{task_id}"))


# Waiting ------------------------------------------------------------------------------------------


async def test_wait_reports_progress_on_every_poll_and_returns_the_finished_task(
    client: Client, sandbox: Sandbox
) -> None:
    task_id = await create(client)
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    result = await client.call_tool(
        "wait_for_task", {"task_id": task_id, "timeout_seconds": 20}, progress_callback=on_progress
    )
    assert not result.is_error, error_text(result)
    task = result.structured_content
    assert task is not None and task["status"] == "SUCCEEDED" and task["output"]

    assert len(updates) == task_gets(sandbox, task_id)  # one notification per poll
    values = [p for p, _, _ in updates]
    assert values == sorted(values) and len(set(values)) == len(values)  # strictly increasing, as MCP requires
    assert all(0 <= v <= 1 for v in values) and values[-1] == 1.0
    assert all(total == 1.0 for _, total, _ in updates)
    messages = [m for _, _, m in updates]
    assert messages[-1] == "SUCCEEDED"
    assert any(m and m.startswith("RUNNING ") and m.endswith("%") for m in messages)


async def test_wait_respects_the_poll_interval(sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path) -> None:
    settings = make_settings(sandbox_server.url, tmp_path, poll_interval_seconds=0.5)
    sandbox.config.running_seconds = 2.5
    async with Client(build_server(settings)) as client:
        task_id = await create(client)
        await client.call_tool("wait_for_task", {"task_id": task_id, "timeout_seconds": 20})
    gets = sandbox.api_requests(method="GET", path_contains=task_id)
    gaps = [later.time - earlier.time for earlier, later in itertools.pairwise(gets)]
    assert gaps and min(gaps) >= 0.5  # never faster than the interval


async def test_polls_wait_exactly_one_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """No jitter: after each answer the next poll waits the interval itself, no more, so a task's end
    is seen within one interval of it. Checked on the schedule, not the clock."""
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(waiting.anyio, "sleep", record)
    statuses = iter([TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.RUNNING, TaskStatus.SUCCEEDED])

    async def get() -> Task:
        return build_task(task_id="t", status=next(statuses))

    async def on_poll(_task: Task, _value: float, _message: str) -> None:
        return None

    task, finished = await waiting.wait_for(get, timeout_seconds=60, interval=5.0, on_poll=on_poll)
    assert finished and task.status is TaskStatus.SUCCEEDED
    assert slept == [5.0, 5.0, 5.0]


async def test_back_to_back_waits_keep_the_poll_interval(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    settings = make_settings(sandbox_server.url, tmp_path, poll_interval_seconds=0.5)
    async with Client(build_server(settings)) as client:
        task_id = await create(client, prompt_text="sandbox:seconds=30")
        for _ in range(3):  # an agent calling again as soon as each wait returns
            await client.call_tool("wait_for_task", {"task_id": task_id, "timeout_seconds": 0.8})
    gets = sandbox.api_requests(method="GET", path_contains=task_id)
    gaps = [later.time - earlier.time for earlier, later in itertools.pairwise(gets)]
    assert len(gets) >= 3 and min(gaps) >= 0.5


async def test_a_real_upstream_is_never_polled_faster_than_every_5_seconds(tmp_path: Path) -> None:
    fast = make_settings("https://api.cometapi.com", tmp_path, poll_interval_seconds=0.5)
    assert fast.effective_poll_interval == 5.0
    local = make_settings("http://127.0.0.1:9", tmp_path, poll_interval_seconds=0.5)
    assert local.effective_poll_interval == 0.5


async def test_wait_timeout_returns_the_running_task_with_a_call_again_hint(client: Client, sandbox: Sandbox) -> None:
    task_id = await create(client, prompt_text="slow one sandbox:seconds=30")
    result = await client.call_tool("wait_for_task", {"task_id": task_id, "timeout_seconds": 1.5})
    assert not result.is_error, error_text(result)
    task = result.structured_content
    assert task is not None
    assert task["status"] in ("PENDING", "RUNNING") and task["terminal"] is False
    assert "wait_for_task" in task["next_step"] and "again" in task["next_step"]


async def test_cancelling_the_wait_stops_polling_at_once(settings: Settings, sandbox: Sandbox) -> None:
    async with Client(build_server(settings), mode="legacy") as client:
        task_id = await create(client, prompt_text="slow one sandbox:seconds=60")
        polled = anyio.Event()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            polled.set()

        async with anyio.create_task_group() as group:

            async def wait() -> None:
                await client.call_tool(
                    "wait_for_task", {"task_id": task_id, "timeout_seconds": 30}, progress_callback=on_progress
                )

            group.start_soon(wait)
            with anyio.fail_after(10):
                await polled.wait()
            group.cancel_scope.cancel()  # the client gives up: it sends notifications/cancelled
        gets_at_cancel = task_gets(sandbox, task_id)
        await anyio.sleep(1.5)  # several poll intervals (0.2 s) later
        assert task_gets(sandbox, task_id) == gets_at_cancel
        # The session still serves calls.
        assert not (await client.call_tool("get_task", {"task_id": task_id})).is_error


async def test_an_argument_a_create_tool_does_not_take_is_refused_before_sending(
    client: Client, sandbox: Sandbox
) -> None:
    """A misspelt or retired argument (dryRun, wait_seconds) must not be dropped: the call would then be paid."""
    result = await client.call_tool("create_video_to_video", {**SEED_ARGUMENTS, "dryRun": True, "wait_seconds": 20})
    assert result.is_error
    text = error_text(result)
    assert text.startswith("Invalid input, nothing was sent and no credits were spent:")
    assert "dryRun: not an argument of this tool (did you mean dry_run?)" in text
    assert "wait_seconds: not an argument of this tool" in text
    assert sandbox.api_requests(method="POST") == []
    # The free tools ignore one, as they cannot spend anything.
    task_id = await create(client)
    assert not (await client.call_tool("get_task", {"task_id": task_id, "verbose": True})).is_error


# Cancelling ---------------------------------------------------------------------------------------


async def test_cancel_stops_a_running_task(client: Client, sandbox: Sandbox) -> None:
    sandbox.config.supports_cancel = True
    task_id = await create(client, prompt_text="sandbox:seconds=60")
    with anyio.fail_after(10):
        while (await client.call_tool("get_task", {"task_id": task_id})).structured_content["status"] != "RUNNING":  # type: ignore[index]
            await anyio.sleep(0.1)
    result = await client.call_tool("cancel_task", {"task_id": task_id})
    assert not result.is_error, error_text(result)
    assert result.structured_content is not None
    assert result.structured_content["outcome"] == "cancelled"
    assert result.structured_content["previous_status"] == "RUNNING"
    assert len(sandbox.api_requests(method="DELETE", path_contains=task_id)) == 1
    task = (await client.call_tool("get_task", {"task_id": task_id})).structured_content
    assert task is not None and task["status"] == "CANCELLED"


async def test_cancel_right_after_create_waits_for_the_task_to_become_visible(client: Client, sandbox: Sandbox) -> None:
    sandbox.config.supports_cancel = True
    sandbox.config.not_visible_seconds = 0.6
    task_id = await create(client, prompt_text="sandbox:seconds=60")
    result = await client.call_tool("cancel_task", {"task_id": task_id})
    assert not result.is_error, error_text(result)
    assert result.structured_content is not None and result.structured_content["outcome"] == "cancelled"
    assert len(sandbox.api_requests(method="DELETE", path_contains=task_id)) >= 2  # retried while invisible
    task = (await client.call_tool("get_task", {"task_id": task_id})).structured_content
    assert task is not None and task["status"] == "CANCELLED"


async def test_cancel_of_a_finished_task_deletes_it(client: Client, sandbox: Sandbox) -> None:
    sandbox.config.supports_cancel = True
    task_id = await create(client)
    await client.call_tool("wait_for_task", {"task_id": task_id, "timeout_seconds": 20})
    result = await client.call_tool("cancel_task", {"task_id": task_id})
    assert result.structured_content is not None
    assert result.structured_content["outcome"] == "deleted"
    assert result.structured_content["previous_status"] == "SUCCEEDED"


async def test_cancel_on_a_provider_without_the_route_says_it_is_not_supported(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.config.supports_cancel = False
    task_id = await create(client, prompt_text="sandbox:seconds=60")
    text = error_text(await client.call_tool("cancel_task", {"task_id": task_id}))
    assert "not supported by the provider" in text
    assert "cometapi" in text


# Downloading --------------------------------------------------------------------------------------


async def finished(client: Client, **overrides: Any) -> str:
    task_id = await create(client, **overrides)
    result = await client.call_tool("wait_for_task", {"task_id": task_id, "timeout_seconds": 20})
    assert result.structured_content is not None and result.structured_content["status"] == "SUCCEEDED"
    return task_id


async def test_download_saves_the_real_video_and_links_it(client: Client, sandbox: Sandbox, settings: Settings) -> None:
    task_id = await finished(client)
    result = await client.call_tool("download_task_output", {"task_id": task_id})
    assert not result.is_error, error_text(result)
    assert result.structured_content is not None
    files = result.structured_content["files"]
    assert len(files) == 1
    saved = Path(files[0]["path"])
    assert saved.parent == settings.output_dir
    data = saved.read_bytes()
    assert data[4:8] == b"ftyp"  # a real MP4 from the sandbox
    assert files[0]["bytes"] == len(data)
    assert files[0]["sha256"] == hashlib.sha256(data).hexdigest()
    links = [block for block in result.content if block.type == "resource_link"]
    assert [link.uri for link in links] == [saved.as_uri()]
    assert not [p for p in saved.parent.iterdir() if p.name.startswith(".partial")]


async def test_download_never_overwrites_an_existing_file(client: Client, sandbox: Sandbox, tmp_path: Path) -> None:
    task_id = await finished(client)
    target = tmp_path / "mine"
    target.mkdir()
    existing = target / f"{task_id}-0.mp4"
    existing.write_bytes(b"precious")
    first = await client.call_tool("download_task_output", {"task_id": task_id, "directory": str(target)})
    second = await client.call_tool("download_task_output", {"task_id": task_id, "directory": str(target)})
    assert existing.read_bytes() == b"precious"
    assert first.structured_content is not None and second.structured_content is not None
    paths = {first.structured_content["files"][0]["path"], second.structured_content["files"][0]["path"]}
    assert len(paths) == 2 and str(existing) not in paths


async def test_download_over_the_size_cap_leaves_nothing_behind(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    settings = make_settings(sandbox_server.url, tmp_path, max_download_mb=0.001)  # about 1 KB
    async with Client(build_server(settings)) as client:
        task_id = await finished(client)
        text = error_text(await client.call_tool("download_task_output", {"task_id": task_id}))
    assert "larger than the download limit" in text
    out = settings.output_dir
    assert out is not None
    assert not out.exists() or list(out.iterdir()) == []


async def test_download_refetches_the_task_when_a_link_has_expired(
    client: Client, sandbox: Sandbox, settings: Settings
) -> None:
    task_id = await finished(client)
    sandbox.add_fault(Fault(kind="status", method="GET", path="/_sandbox/media/", status=403))
    gets_before = task_gets(sandbox, task_id)
    result = await client.call_tool("download_task_output", {"task_id": task_id})
    assert not result.is_error, error_text(result)
    assert task_gets(sandbox, task_id) == gets_before + 2  # one look before, one refresh after the 403


async def test_plain_http_outputs_are_refused_unless_the_host_is_allowed(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    # Outputs on another host than the (loopback) upstream itself: only HTTPS may be fetched from there.
    sandbox.config.output_base_url = sandbox_server.url.replace("127.0.0.1", "localhost")
    settings = make_settings(sandbox_server.url, tmp_path, insecure_download_hosts=())
    async with Client(build_server(settings)) as client:
        task_id = await finished(client)
        text = error_text(await client.call_tool("download_task_output", {"task_id": task_id}))
        assert "only HTTPS" in text
        assert not sandbox.api_requests(path_contains="/_sandbox/media/")
        allowed = make_settings(sandbox_server.url, tmp_path, insecure_download_hosts=("localhost",))
    async with Client(build_server(allowed)) as client:
        result = await client.call_tool("download_task_output", {"task_id": task_id})
        assert not result.is_error, error_text(result)


async def test_outputs_of_a_loopback_upstream_download_without_configuration(
    sandbox: Sandbox, sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    # `runway-mcp sandbox` in one terminal, the server in another: downloads just work.
    settings = make_settings(sandbox_server.url, tmp_path, insecure_download_hosts=())
    async with Client(build_server(settings)) as client:
        task_id = await finished(client)
        result = await client.call_tool("download_task_output", {"task_id": task_id})
    assert not result.is_error, error_text(result)


async def test_a_relative_download_directory_is_refused_before_any_upstream_call(
    client: Client, sandbox: Sandbox
) -> None:
    text = error_text(await client.call_tool("download_task_output", {"task_id": "abc", "directory": "out/here"}))
    assert "absolute path" in text
    assert sandbox.requests == []


async def test_download_of_an_unfinished_task_says_to_wait(client: Client, sandbox: Sandbox) -> None:
    task_id = await create(client, prompt_text="sandbox:seconds=60")
    text = error_text(await client.call_tool("download_task_output", {"task_id": task_id}))
    assert "nothing to download yet" in text and "wait_for_task" in text


# The ledger ---------------------------------------------------------------------------------------


async def test_tasks_are_listed_newest_first_and_survive_a_restart(settings: Settings, sandbox: Sandbox) -> None:
    async with Client(build_server(settings)) as client:
        first = await create(client, prompt_text="first")
        second = await create(client, prompt_text="second")
        await client.call_tool("wait_for_task", {"task_id": second, "timeout_seconds": 20})
    async with Client(build_server(settings), mode="legacy") as client:  # a new server process, same data dir
        listing = (await client.call_tool("list_tasks", {})).structured_content
        assert listing is not None and listing["ledger_enabled"] is True
        assert [t["task_id"] for t in listing["tasks"]] == [second, first]
        assert listing["tasks"][0]["status"] == "SUCCEEDED" and listing["tasks"][0]["outputs"]
        assert listing["tasks"][1]["prompt"] == "first"
        only = (await client.call_tool("list_tasks", {"status": "SUCCEEDED"})).structured_content
        assert only is not None and [t["task_id"] for t in only["tasks"]] == [second]
        resource = await client.read_resource("runway://tasks")
        assert second in resource.contents[0].text  # type: ignore[union-attr]
        one = await client.read_resource(f"runway://tasks/{second}")
        assert '"SUCCEEDED"' in one.contents[0].text  # type: ignore[union-attr]


async def test_what_get_task_saw_is_listed_at_once(client: Client, sandbox: Sandbox) -> None:
    """The status get_task saw is in the ledger by the time it replies, so the next call lists it."""
    sandbox.config.pending_seconds, sandbox.config.running_seconds = 0.3, 0.6
    task_id = await create(client)
    seen: list[str] = []
    for _ in range(400):
        task = (await client.call_tool("get_task", {"task_id": task_id})).structured_content
        listing = (await client.call_tool("list_tasks", {})).structured_content
        assert task is not None and listing is not None
        (listed,) = [t for t in listing["tasks"] if t["task_id"] == task_id]
        assert listed["status"] == task["status"], (
            f"listed {listed['status']} right after get_task saw {task['status']}"
        )
        seen.append(task["status"])
        if task["status"] == "SUCCEEDED":
            assert listed["outputs"] == task["output"]
            break
        await anyio.sleep(0.01)
    assert {"PENDING", "RUNNING", "SUCCEEDED"} <= set(seen), seen


async def test_a_corrupt_ledger_does_not_stop_the_server_or_lose_the_task(
    settings: Settings, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    path = settings.ledger_path()
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(4096))
    async with Client(build_server(settings)) as client:
        task_id = await create(client)
        result = await client.call_tool("wait_for_task", {"task_id": task_id, "timeout_seconds": 20})
        assert result.structured_content is not None and result.structured_content["status"] == "SUCCEEDED"
        listing = (await client.call_tool("list_tasks", {})).structured_content
        assert listing is not None and listing == {"tasks": [], "ledger_enabled": False}
    assert any("ledger" in r.getMessage().lower() for r in caplog.records if r.levelname == "WARNING")


async def test_a_data_uri_is_recorded_as_type_size_and_hash_never_its_bytes(
    client: Client, sandbox: Sandbox, settings: Settings
) -> None:
    payload = os.urandom(3000)
    import base64

    encoded = base64.b64encode(payload).decode()
    task_id = await create(client, video_uri=f"data:video/mp4;base64,{encoded}")
    path = settings.ledger_path()
    assert path is not None
    raw = b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))
    assert encoded[:64].encode() not in raw
    assert hashlib.sha256(payload).hexdigest().encode() in raw
    assert task_id.encode() in raw


# No double spending -------------------------------------------------------------------------------


async def test_same_idempotency_key_and_parameters_returns_the_original_task_even_after_a_restart(
    settings: Settings, sandbox: Sandbox
) -> None:
    arguments = {**SEED_ARGUMENTS, "idempotency_key": "beach-clip-1"}
    async with Client(build_server(settings)) as client:
        first = (await client.call_tool("create_video_to_video", arguments)).structured_content
        again = (await client.call_tool("create_video_to_video", arguments)).structured_content
    async with Client(build_server(settings), mode="legacy") as client:
        after_restart = (await client.call_tool("create_video_to_video", arguments)).structured_content
    assert first is not None and again is not None and after_restart is not None
    assert first["task_id"] == again["task_id"] == after_restart["task_id"]
    assert (first["idempotent_replay"], again["idempotent_replay"], after_restart["idempotent_replay"]) == (
        False,
        True,
        True,
    )
    assert len(sandbox.api_requests(method="POST")) == 1


async def test_concurrent_calls_with_one_key_create_one_task(client: Client, sandbox: Sandbox) -> None:
    arguments = {**SEED_ARGUMENTS, "idempotency_key": "burst"}
    ids: list[str] = []

    async def call() -> None:
        result = await client.call_tool("create_video_to_video", arguments)
        assert result.structured_content is not None
        ids.append(result.structured_content["task_id"])

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(call)
    assert len(set(ids)) == 1
    assert len(sandbox.api_requests(method="POST")) == 1


async def test_same_key_with_different_parameters_is_refused(client: Client, sandbox: Sandbox) -> None:
    await client.call_tool("create_video_to_video", {**SEED_ARGUMENTS, "idempotency_key": "k1"})
    text = error_text(
        await client.call_tool(
            "create_video_to_video", {**SEED_ARGUMENTS, "prompt_text": "Different", "idempotency_key": "k1"}
        )
    )
    assert "idempotency_key" in text and "different request" in text
    assert len(sandbox.api_requests(method="POST")) == 1


async def test_without_a_key_each_call_is_a_new_paid_task(client: Client, sandbox: Sandbox) -> None:
    await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "x"})
    await client.call_tool("create_video_to_video", {"video_uri": VIDEO, "prompt_text": "x"})
    assert len(sandbox.api_requests(method="POST")) == 2
