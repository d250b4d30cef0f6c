"""The task ledger over real SQLite files: what it keeps, who sees it, and how it fails soft."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import sqlite3
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from runway_mcp.config import default_ledger_path
from runway_mcp.store.ledger import Ledger
from runway_mcp.store.records import TaskRecord, canonical_request_hash, sanitize_params

LOGGER = "runway_mcp.store.ledger"


def make_record(task_id: str, **changes: Any) -> TaskRecord:
    base = TaskRecord(
        task_id=task_id,
        endpoint="video_to_video",
        model="gen4_aleph",
        prompt="make it snow",
        params={"promptText": "make it snow", "videoUri": "https://example.com/in.mp4"},
        created_at=1_700_000_000.0,
        status="PENDING",
    )
    return replace(base, **changes)


def media_payload() -> bytes:
    # Not a repeating pattern, so no short slice of it can turn up in the file by chance.
    return b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(3000))


def data_uri(media_type: str, payload: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(payload).decode()}"


def ledger_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


def database_bytes(path: Path) -> bytes:
    """The database file and any WAL or journal beside it, as raw bytes."""
    return b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name))


async def assert_neutral(ledger: Ledger) -> None:
    """Every method answers without raising, with None / [] / 0."""
    await ledger.record_created(make_record("t-neutral"))
    await ledger.update_status(
        "t-neutral", status="RUNNING", progress=0.5, outputs=None, failure=None, failure_code=None
    )
    await ledger.add_downloads("t-neutral", ["/tmp/out.mp4"])
    assert await ledger.get("t-neutral") is None
    assert await ledger.list_recent() == []
    assert await ledger.find_idempotent("key") is None
    assert await ledger.count_created_since(0) == 0
    await ledger.aclose()


@pytest.mark.anyio
async def test_round_trip_of_every_field(tmp_path: Path) -> None:
    record = TaskRecord(
        task_id="t-1",
        endpoint="video_to_video",
        model="gen4_aleph",
        prompt="turn the sky purple ✨",
        params={"promptText": "turn the sky purple ✨", "seed": 42, "references": [{"type": "image"}]},
        created_at=1_700_000_123.25,
        status="SUCCEEDED",
        progress=1.0,
        outputs=["https://cdn.example.com/a.mp4", "https://cdn.example.com/b.mp4"],
        failure="none",
        failure_code="NONE.CODE",
        updated_at=1_700_000_200.5,
        downloads=["/videos/a.mp4"],
        idempotency_key="key-1",
        request_hash="ab" * 32,
        owner="owner-hash",
    )
    ledger = await Ledger.open(tmp_path / "tasks.sqlite3")
    assert ledger.enabled
    assert ledger.disabled_reason is None
    await ledger.record_created(record)
    assert await ledger.get("t-1") == record
    await ledger.aclose()


@pytest.mark.anyio
async def test_rows_survive_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "tasks.sqlite3"
    first = await Ledger.open(path)
    await first.record_created(make_record("t-1"))
    await first.update_status(
        "t-1", status="SUCCEEDED", progress=None, outputs=["https://x/o.mp4"], failure=None, failure_code=None
    )
    await first.add_downloads("t-1", ["/d/o.mp4"])
    await first.aclose()

    second = await Ledger.open(path)
    found = await second.get("t-1")
    assert found is not None
    assert (found.status, found.outputs, found.downloads) == ("SUCCEEDED", ["https://x/o.mp4"], ["/d/o.mp4"])
    assert found.updated_at is not None
    await second.aclose()


@pytest.mark.anyio
async def test_update_status_keeps_outputs_when_none_and_ignores_unknown_tasks(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "tasks.sqlite3")
    await ledger.record_created(make_record("t-1"))
    await ledger.update_status(
        "t-1", status="SUCCEEDED", progress=None, outputs=["https://x/1.mp4"], failure=None, failure_code=None
    )
    await ledger.update_status(
        "t-1", status="FAILED", progress=None, outputs=None, failure="bad", failure_code="INTERNAL"
    )
    await ledger.update_status("unknown", status="RUNNING", progress=0.1, outputs=None, failure=None, failure_code=None)
    found = await ledger.get("t-1")
    assert found is not None
    assert (found.status, found.outputs, found.failure, found.failure_code) == (
        "FAILED",
        ["https://x/1.mp4"],
        "bad",
        "INTERNAL",
    )
    assert await ledger.get("unknown") is None
    await ledger.aclose()


@pytest.mark.anyio
async def test_add_downloads_appends_without_duplicates(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "tasks.sqlite3")
    await ledger.record_created(make_record("t-1", downloads=["/a.mp4"]))
    await ledger.add_downloads("t-1", ["/b.mp4", "/a.mp4"])
    await ledger.add_downloads("t-1", ["/b.mp4", "/c.mp4", "/c.mp4"])
    await ledger.add_downloads("unknown", ["/z.mp4"])
    found = await ledger.get("t-1")
    assert found is not None
    assert found.downloads == ["/a.mp4", "/b.mp4", "/c.mp4"]
    assert await ledger.get("unknown") is None
    await ledger.aclose()


@pytest.mark.anyio
async def test_list_recent_is_newest_first_with_status_filter_and_limit(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "tasks.sqlite3")
    for i, status in enumerate(["SUCCEEDED", "FAILED", "SUCCEEDED", "RUNNING", "SUCCEEDED"]):
        await ledger.record_created(make_record(f"t-{i}", created_at=1000.0 + i, status=status))

    assert [r.task_id for r in await ledger.list_recent()] == ["t-4", "t-3", "t-2", "t-1", "t-0"]
    assert [r.task_id for r in await ledger.list_recent(status="SUCCEEDED")] == ["t-4", "t-2", "t-0"]
    assert [r.task_id for r in await ledger.list_recent(limit=2)] == ["t-4", "t-3"]
    assert [r.task_id for r in await ledger.list_recent(status="SUCCEEDED", limit=1)] == ["t-4"]
    assert await ledger.list_recent(limit=0) == []
    assert await ledger.list_recent(status="CANCELLED") == []
    assert await ledger.count_created_since(1002.0) == 3
    await ledger.aclose()


@pytest.mark.anyio
async def test_owners_see_only_their_own_tasks(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "tasks.sqlite3")
    await ledger.record_created(make_record("a-1", owner="alice", idempotency_key="k", created_at=10.0))
    await ledger.record_created(make_record("a-2", owner="alice", created_at=20.0))
    await ledger.record_created(make_record("b-1", owner="bob", idempotency_key="k", created_at=30.0))

    assert await ledger.get("b-1", owner="alice") is None
    assert await ledger.get("b-1", owner="bob") is not None
    assert await ledger.get("b-1") is not None
    assert [r.task_id for r in await ledger.list_recent(owner="alice")] == ["a-2", "a-1"]
    assert [r.task_id for r in await ledger.list_recent()] == ["b-1", "a-2", "a-1"]
    assert await ledger.count_created_since(0, owner="alice") == 2
    assert await ledger.count_created_since(0, owner="bob") == 1
    assert await ledger.count_created_since(0) == 3
    assert await ledger.count_created_since(0, owner="carol") == 0

    alice_k = await ledger.find_idempotent("k", owner="alice")
    bob_k = await ledger.find_idempotent("k", owner="bob")
    assert (alice_k and alice_k.task_id, bob_k and bob_k.task_id) == ("a-1", "b-1")
    assert await ledger.find_idempotent("k", owner="carol") is None
    # A key is scoped to its owner: the caller without an owner does not see other callers' keys.
    assert await ledger.find_idempotent("k") is None
    await ledger.aclose()


@pytest.mark.anyio
async def test_idempotency_key_is_unique_per_owner(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ledger = await Ledger.open(tmp_path / "tasks.sqlite3")
    await ledger.record_created(make_record("a-1", owner="alice", idempotency_key="k"))
    await ledger.record_created(make_record("b-1", owner="bob", idempotency_key="k"))
    await ledger.record_created(make_record("a-2", owner="alice", idempotency_key="k"))
    await ledger.record_created(make_record("n-1", idempotency_key="k"))
    await ledger.record_created(make_record("n-2", idempotency_key="k"))

    first = await ledger.find_idempotent("k", owner="alice")
    assert first is not None and first.task_id == "a-1"
    unowned = await ledger.find_idempotent("k")
    assert unowned is not None and unowned.task_id == "n-1"
    # The later tasks were created upstream (and paid for): kept, but without the clashing key.
    for task_id in ("a-2", "n-2"):
        later = await ledger.get(task_id)
        assert later is not None and later.idempotency_key is None
    assert await ledger.count_created_since(0) == 5
    assert len(ledger_warnings(caplog)) == 2
    await ledger.aclose()


@pytest.mark.anyio
async def test_recording_a_task_id_twice_keeps_the_first(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "tasks.sqlite3")
    await ledger.record_created(make_record("t-1", prompt="first"))
    await ledger.record_created(make_record("t-1", prompt="second"))
    found = await ledger.get("t-1")
    assert found is not None and found.prompt == "first"
    await ledger.aclose()


def test_sanitize_params_summarises_nested_data_uris() -> None:
    video, image = media_payload(), media_payload()[:1001]
    params: dict[str, Any] = {
        "videoUri": data_uri("video/mp4", video),
        "references": [{"type": "image", "uri": data_uri("image/png", image)}],
        "promptText": "data: not a uri",
        "seed": 7,
        "plain": "https://example.com/in.mp4",
    }
    clean = sanitize_params(params)
    assert clean["videoUri"] == {
        "data_uri": {"media_type": "video/mp4", "bytes": len(video), "sha256": hashlib.sha256(video).hexdigest()}
    }
    assert clean["references"][0]["uri"] == {
        "data_uri": {"media_type": "image/png", "bytes": 1001, "sha256": hashlib.sha256(image).hexdigest()}
    }
    assert {k: clean[k] for k in ("promptText", "seed", "plain")} == {
        "promptText": "data: not a uri",
        "seed": 7,
        "plain": "https://example.com/in.mp4",
    }
    assert params["videoUri"].startswith("data:")  # the input is not modified
    assert sanitize_params(clean) == clean


def test_sanitize_params_sizes_every_padding_length() -> None:
    for size in range(7):
        payload = bytes(range(size))
        summary = sanitize_params({"u": data_uri("image/jpeg", payload)})["u"]["data_uri"]
        assert (summary["bytes"], summary["sha256"]) == (size, hashlib.sha256(payload).hexdigest())


def test_invalid_base64_is_still_never_kept() -> None:
    one = sanitize_params({"u": "data:image/png;base64,not*base64"})["u"]["data_uri"]
    other = sanitize_params({"u": "data:image/png;base64,also*not"})["u"]["data_uri"]
    assert one["bytes"] is None and one["invalid_base64"] is True
    assert one["sha256"] != other["sha256"]


@pytest.mark.anyio
async def test_media_bytes_never_reach_the_database_file(tmp_path: Path) -> None:
    payload = media_payload()
    encoded = base64.b64encode(payload).decode()
    path = tmp_path / "tasks.sqlite3"
    ledger = await Ledger.open(path)
    params = {"videoUri": data_uri("video/mp4", payload), "nested": {"refs": [data_uri("image/png", payload)]}}
    await ledger.record_created(make_record("t-1", params=params))
    found = await ledger.get("t-1")
    assert found is not None
    assert found.params["videoUri"]["data_uri"]["bytes"] == len(payload)
    assert found.params["nested"]["refs"][0]["data_uri"]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert encoded[:64] not in str(found.params)
    await ledger.aclose()

    on_disk = database_bytes(path)
    assert encoded[:64].encode() not in on_disk
    assert payload[:64] not in on_disk


def test_canonical_request_hash_ignores_key_order_and_sees_values() -> None:
    uri = data_uri("video/mp4", media_payload())
    body = {"model": "gen4_aleph", "promptText": "snow", "videoUri": uri, "refs": [{"a": 1, "b": 2}]}
    reordered = {"refs": [{"b": 2, "a": 1}], "videoUri": uri, "promptText": "snow", "model": "gen4_aleph"}
    same = canonical_request_hash("video_to_video", body)
    assert same == canonical_request_hash("video_to_video", reordered)
    assert len(same) == 64 and int(same, 16) >= 0
    assert same != canonical_request_hash("video_to_video", {**body, "promptText": "rain"})
    assert same != canonical_request_hash("image_to_video", body)
    other_media = data_uri("video/mp4", media_payload()[1:])
    assert same != canonical_request_hash("video_to_video", {**body, "videoUri": other_media})


@pytest.mark.anyio
async def test_corrupt_file_opens_disabled_with_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    path = tmp_path / "tasks.sqlite3"
    junk = b"this is not a database, it is a shopping list\n" * 200
    path.write_bytes(junk)

    ledger = await Ledger.open(path)
    assert not ledger.enabled
    assert ledger.disabled_reason is not None and "not a database" in ledger.disabled_reason
    assert ledger.path == path
    await assert_neutral(ledger)
    warnings = ledger_warnings(caplog)
    assert len(warnings) == 1 and "off" in warnings[0].getMessage()
    assert path.read_bytes() == junk  # the user's file is left alone


@pytest.mark.anyio
@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
async def test_read_only_directory_opens_disabled(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    locked_dir = tmp_path / "readonly"
    locked_dir.mkdir()
    locked_dir.chmod(0o500)
    try:
        ledger = await Ledger.open(locked_dir / "tasks.sqlite3")
        assert not ledger.enabled
        await assert_neutral(ledger)
    finally:
        locked_dir.chmod(0o700)
    assert len(ledger_warnings(caplog)) == 1


@pytest.mark.anyio
async def test_uncreatable_directory_opens_disabled(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("a regular file cannot hold a database")
    ledger = await Ledger.open(not_a_dir / "sub" / "tasks.sqlite3")
    assert not ledger.enabled
    assert ledger.disabled_reason is not None
    await assert_neutral(ledger)
    assert len(ledger_warnings(caplog)) == 1


@pytest.mark.anyio
async def test_missing_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "tasks.sqlite3"
    ledger = await Ledger.open(path)
    assert ledger.enabled
    await ledger.record_created(make_record("t-1"))
    await ledger.aclose()
    assert path.is_file()


@pytest.mark.anyio
async def test_newer_schema_opens_disabled(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "tasks.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    ledger = await Ledger.open(path)
    assert not ledger.enabled
    assert ledger.disabled_reason is not None and "newer" in ledger.disabled_reason
    assert len(ledger_warnings(caplog)) == 1


@pytest.mark.anyio
async def test_locked_database_write_gives_up_in_bounded_time(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    path = tmp_path / "tasks.sqlite3"
    ledger = await Ledger.open(path, busy_timeout=0.2)
    await ledger.record_created(make_record("t-before"))

    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        await ledger.record_created(make_record("t-locked"))
        await ledger.update_status(
            "t-before", status="RUNNING", progress=0.5, outputs=None, failure=None, failure_code=None
        )
        assert time.monotonic() - started < 3.0
    finally:
        other.execute("ROLLBACK")
        other.close()

    warnings = ledger_warnings(caplog)
    assert len(warnings) == 1 and "locked" in warnings[0].getMessage()
    assert [r.levelno for r in caplog.records if r.name == LOGGER].count(logging.DEBUG) == 1
    # The ledger stays on: the lock was one operation's problem, not the file's.
    assert ledger.enabled
    # A created task is never dropped: held in memory while the file was locked, written at the next write.
    assert await ledger.get("t-locked") is not None
    await ledger.record_created(make_record("t-after"))
    assert await ledger.get("t-after") is not None
    await ledger.aclose()
    reopened = await Ledger.open(path)
    assert await reopened.get("t-locked") is not None
    await reopened.aclose()


@pytest.mark.anyio
async def test_concurrent_writes_all_land(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "tasks.sqlite3")
    async with anyio.create_task_group() as tg:
        for i in range(200):
            tg.start_soon(ledger.record_created, make_record(f"t-{i:03}", created_at=float(i)))
    assert await ledger.count_created_since(0) == 200
    listed = await ledger.list_recent(limit=1000)
    assert [r.task_id for r in listed] == [f"t-{i:03}" for i in reversed(range(200))]
    await ledger.aclose()


@pytest.mark.anyio
async def test_disabled_and_closed_ledgers_are_safe_to_use(tmp_path: Path) -> None:
    no_file = await Ledger.open(None)
    assert not no_file.enabled and no_file.path is None and no_file.disabled_reason
    await assert_neutral(no_file)

    closed = await Ledger.open(tmp_path / "tasks.sqlite3")
    await closed.record_created(make_record("t-1"))
    await closed.aclose()
    assert not closed.enabled
    await assert_neutral(closed)  # closes a second time too


def test_default_ledger_path(tmp_path: Path) -> None:
    assert default_ledger_path(tmp_path) == tmp_path / "tasks.sqlite3"
    fallback = default_ledger_path()
    assert fallback.name == "tasks.sqlite3" and "runway-mcp" in fallback.parent.name


def stored_updated_at(path: Path, task_id: str) -> float | None:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT updated_at FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
    return None if row is None else row[0]


def stamp_updated_at(path: Path, task_id: str, value: float) -> None:
    """Another process touching the row: the way to see whether the next update writes it."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("UPDATE tasks SET updated_at = ? WHERE task_id = ?", (value, task_id))
    finally:
        conn.close()


async def set_status(
    ledger: Ledger, task_id: str, status: str, *, progress: float | None = None, outputs: list[str] | None = None
) -> None:
    await ledger.update_status(
        task_id, status=status, progress=progress, outputs=outputs, failure=None, failure_code=None
    )


@pytest.mark.anyio
async def test_an_unchanged_status_is_not_written_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "tasks.sqlite3"
    ledger = await Ledger.open(path, busy_timeout=0.1)
    await ledger.record_created(make_record("t-1"))
    link = "https://cdn.example.com/t-1/out.mp4"

    await set_status(ledger, "t-1", "SUCCEEDED", outputs=[f"{link}?exp=100&sig=aa"])
    assert stored_updated_at(path, "t-1") is not None
    stamp_updated_at(path, "t-1", 1.0)
    # The upstream signs its links afresh on every read: only the query differs, so nothing is written.
    await set_status(ledger, "t-1", "SUCCEEDED", outputs=[f"{link}?exp=101&sig=bb"])
    assert stored_updated_at(path, "t-1") == 1.0, "the same status, stored moments ago, was written again"
    await set_status(ledger, "t-1", "SUCCEEDED", outputs=[f"{link}?exp=102&sig=cc#t=3"])
    assert stored_updated_at(path, "t-1") == 1.0, "a fragment made the same link look new"

    # Anything else that differs is written: another link, or outputs=None ("keep them").
    await set_status(ledger, "t-1", "SUCCEEDED", outputs=["https://cdn.example.com/t-1/other.mp4?exp=101"])
    assert stored_updated_at(path, "t-1") != 1.0
    stamp_updated_at(path, "t-1", 1.0)
    await set_status(ledger, "t-1", "SUCCEEDED", outputs=None)
    assert stored_updated_at(path, "t-1") != 1.0

    # A write that failed is not remembered as stored: the next identical update tries again.
    stamp_updated_at(path, "t-1", 2.0)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        await set_status(ledger, "t-1", "FAILED")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert stored_updated_at(path, "t-1") == 2.0
    await set_status(ledger, "t-1", "FAILED")
    assert stored_updated_at(path, "t-1") != 2.0

    # Past the window, the same status is written again, so another process's older write cannot
    # outlive it for long, and the stored links are refreshed.
    stamp_updated_at(path, "t-1", 3.0)
    monkeypatch.setattr("runway_mcp.store.ledger.UNCHANGED_STATUS_WINDOW_SECONDS", 0.0)
    await set_status(ledger, "t-1", "FAILED")
    assert stored_updated_at(path, "t-1") != 3.0
    await ledger.aclose()


@pytest.mark.anyio
async def test_an_update_that_found_no_row_is_not_remembered(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "tasks.sqlite3")
    await set_status(ledger, "t-1", "RUNNING", progress=0.5)  # not recorded yet: a no-op
    await ledger.record_created(make_record("t-1"))
    await set_status(ledger, "t-1", "RUNNING", progress=0.5)
    found = await ledger.get("t-1")
    assert found is not None and (found.status, found.progress) == ("RUNNING", 0.5)
    await ledger.aclose()


@pytest.mark.anyio
async def test_progress_alone_is_not_written_again_within_the_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tasks.sqlite3"
    ledger = await Ledger.open(path)
    await ledger.record_created(make_record("t-1"))
    await set_status(ledger, "t-1", "RUNNING", progress=0.1)
    stamp_updated_at(path, "t-1", 1.0)
    await set_status(ledger, "t-1", "RUNNING", progress=0.2)
    assert stored_updated_at(path, "t-1") == 1.0
    await set_status(ledger, "t-1", "SUCCEEDED")  # a new status is written at once
    found = await ledger.get("t-1")
    assert found is not None and found.status == "SUCCEEDED"
    monkeypatch.setattr("runway_mcp.store.ledger.UNCHANGED_STATUS_WINDOW_SECONDS", 0.0)
    await set_status(ledger, "t-1", "SUCCEEDED", progress=1.0)  # past the window: written, progress too
    found = await ledger.get("t-1")
    assert found is not None and found.progress == 1.0
    await ledger.aclose()


@pytest.mark.anyio
async def test_the_last_of_concurrent_updates_wins(tmp_path: Path) -> None:
    # A status equal to the one stored must still be written when another update is in flight,
    # or the one in flight would land last.
    ledger = await Ledger.open(tmp_path / "tasks.sqlite3")
    await ledger.record_created(make_record("t-1"))
    await set_status(ledger, "t-1", "RUNNING")
    async with anyio.create_task_group() as tg:
        tg.start_soon(partial(set_status, ledger, "t-1", "FAILED"))
        await anyio.lowlevel.checkpoint()  # the first update is on its way to the worker thread
        tg.start_soon(partial(set_status, ledger, "t-1", "RUNNING"))
    found = await ledger.get("t-1")
    assert found is not None and found.status == "RUNNING"
    await ledger.aclose()


@pytest.mark.anyio
async def test_an_update_in_flight_is_not_skipped_over(tmp_path: Path) -> None:
    # A (SUCCEEDED) is being written while B (CANCELLED) waits its turn. When A lands, C repeats A's
    # status: C must still be written, after B, because it is the last call.
    ledger = await Ledger.open(tmp_path / "tasks.sqlite3")
    await ledger.record_created(make_record("t-1"))
    await set_status(ledger, "t-1", "RUNNING")
    a_landed = anyio.Event()

    async def update_a() -> None:
        await set_status(ledger, "t-1", "SUCCEEDED")
        a_landed.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(update_a)
        await anyio.lowlevel.checkpoint()  # A is on its way to the worker thread
        tg.start_soon(partial(set_status, ledger, "t-1", "CANCELLED"))
        await a_landed.wait()
        await set_status(ledger, "t-1", "SUCCEEDED")
    found = await ledger.get("t-1")
    assert found is not None and found.status == "SUCCEEDED"
    await ledger.aclose()
