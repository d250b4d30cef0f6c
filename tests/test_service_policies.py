"""The task service's policies as plain units, without MCP: what each rule does and that its memory stays bounded.

Every unit takes a clock, so expiry is tested by moving a fake clock, never by sleeping.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from runway_mcp.errors import BudgetExceededError, InputError, NotFoundError
from runway_mcp.service.admission import Admission, Replay, Send
from runway_mcp.service.bounded import DAY_SECONDS, RecentMap
from runway_mcp.service.freshness import DELETED, FreshTasks
from runway_mcp.service.ownership import OwnerScope
from runway_mcp.service.pacing import PollPacing
from runway_mcp.store.backend import SqliteBackend
from runway_mcp.store.journal import Attempt, Journal
from runway_mcp.store.ledger import Ledger
from runway_mcp.store.records import TaskRecord

pytestmark = pytest.mark.anyio


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def no_ledger() -> Ledger:
    """A disabled ledger: every lookup answers None / 0, so only the units' own memory counts."""
    return Ledger(None)


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    opened = await Ledger.open(tmp_path / "tasks.sqlite3")
    assert opened.enabled
    yield opened
    await opened.aclose()


def record(
    task_id: str,
    *,
    created_at: float,
    status: str = "PENDING",
    owner: str | None = None,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> TaskRecord:
    return TaskRecord(
        task_id=task_id,
        endpoint="text_to_video",
        model="gen4.5",
        prompt=None,
        params={},
        created_at=created_at,
        status=status,
        owner=owner,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )


# RecentMap ------------------------------------------------------------------------------------------


def test_recent_map_keeps_at_most_max_entries_dropping_the_oldest(clock: FakeClock) -> None:
    memory: RecentMap[str, int] = RecentMap(max_age=DAY_SECONDS, max_entries=3, clock=clock)
    for n in range(10):
        memory.put(f"k{n}", n)
        clock.advance(1)
    assert len(memory) == 3
    assert memory.get("k0") is None
    assert memory.get("k9") == 9


def test_recent_map_forgets_entries_older_than_max_age(clock: FakeClock) -> None:
    memory: RecentMap[str, int] = RecentMap(max_age=10, max_entries=100, clock=clock)
    memory.put("old", 1)
    clock.advance(10)
    assert memory.get("old") == 1
    clock.advance(1)
    assert memory.get("old") is None and memory.stamp("old") is None
    memory.put("new", 2)
    assert len(memory) == 1


# Admission: idempotency keys and the daily cap, through the create journal ---------------------------


def attempt(key: str | None = None, *, request_hash: str = "h1", owner: str | None = None) -> Attempt:
    return Attempt(
        owner=owner,
        idempotency_key=key,
        endpoint="video_to_video",
        model="gen4_aleph",
        prompt="snow",
        params={"promptText": "snow"},
        request_hash=request_hash,
    )


@pytest.fixture
async def journal(clock: FakeClock) -> AsyncIterator[Journal]:
    opened = await Journal.open(lambda: SqliteBackend(None), lease_seconds=60, clock=clock)
    assert opened.available
    yield opened
    await opened.aclose()


def admission(journal: Journal, ledger: Ledger, *, cap: int | None = None, per_owner: bool = False) -> Admission:
    return Admission(journal, ledger, cap=cap, cap_per_owner=per_owner, wait_seconds=5)


async def sent(unit: Admission, what: Attempt) -> str:
    admitted = await unit.admit(what)
    assert isinstance(admitted, Send) and admitted.attempt_id is not None
    return admitted.attempt_id


async def test_a_created_key_replays_its_task(journal: Journal, no_ledger: Ledger) -> None:
    unit = admission(journal, no_ledger)
    await journal.finish(await sent(unit, attempt("k")), "created", task_id="task-1")
    assert await unit.admit(attempt("k")) == Replay("task-1")
    with pytest.raises(InputError, match="different request"):
        await unit.admit(attempt("k", request_hash="h2"))


async def test_an_in_doubt_key_is_refused_and_a_new_key_sends(journal: Journal, no_ledger: Ledger) -> None:
    unit = admission(journal, no_ledger)
    await journal.finish(await sent(unit, attempt("k")), "in_doubt", detail="HTTP 502 after sending.")
    with pytest.raises(InputError, match="in doubt") as refused:
        await unit.admit(attempt("k"))
    assert "HTTP 502 after sending." in str(refused.value) and "new idempotency_key" in str(refused.value)
    await sent(unit, attempt("k2"))


async def test_a_key_not_created_may_be_sent_again(journal: Journal, no_ledger: Ledger) -> None:
    unit = admission(journal, no_ledger)
    await journal.finish(await sent(unit, attempt("k")), "not_created", detail="HTTP 400")
    await sent(unit, attempt("k"))


async def test_a_key_in_flight_is_waited_for_then_replayed(journal: Journal, no_ledger: Ledger) -> None:
    unit = admission(journal, no_ledger)
    first = await sent(unit, attempt("k"))
    outcome: list[Send | Replay] = []

    async def second() -> None:
        outcome.append(await unit.admit(attempt("k")))

    async with anyio.create_task_group() as group:
        group.start_soon(second)
        await anyio.sleep(0.3)
        assert outcome == []  # still waiting: the first is in flight
        await journal.finish(first, "created", task_id="task-1")
    assert outcome == [Replay("task-1")]


async def test_waiting_for_a_key_in_flight_is_bounded(journal: Journal, no_ledger: Ledger) -> None:
    unit = Admission(journal, no_ledger, cap=None, cap_per_owner=False, wait_seconds=0)
    await sent(unit, attempt("k"))
    with pytest.raises(InputError, match="still being sent"):
        await unit.admit(attempt("k"))


async def test_a_create_left_in_flight_past_its_lease_becomes_in_doubt(
    journal: Journal, no_ledger: Ledger, clock: FakeClock
) -> None:
    unit = admission(journal, no_ledger)
    await sent(unit, attempt("k"))
    clock.advance(61)
    with pytest.raises(InputError, match="in doubt"):
        await unit.admit(attempt("k"))


async def test_the_cap_counts_every_create_that_may_have_cost_money(journal: Journal, no_ledger: Ledger) -> None:
    unit = admission(journal, no_ledger, cap=2)
    await journal.finish(await sent(unit, attempt()), "not_created")
    await journal.finish(await sent(unit, attempt()), "created", task_id="t1")
    await journal.finish(await sent(unit, attempt()), "in_doubt")
    with pytest.raises(BudgetExceededError, match="2 of 2"):
        await unit.admit(attempt())


async def test_the_cap_is_per_caller_in_bring_your_own_key_mode(journal: Journal, no_ledger: Ledger) -> None:
    unit = admission(journal, no_ledger, cap=1, per_owner=True)
    await sent(unit, attempt(owner="alice"))
    await sent(unit, attempt(owner="bob"))
    with pytest.raises(BudgetExceededError):
        await unit.admit(attempt(owner="alice"))
    shared = admission(journal, no_ledger, cap=2)
    with pytest.raises(BudgetExceededError):
        await shared.admit(attempt(owner="carol"))


async def test_the_cap_forgets_creates_older_than_a_day(journal: Journal, no_ledger: Ledger, clock: FakeClock) -> None:
    unit = admission(journal, no_ledger, cap=1)
    await journal.finish(await sent(unit, attempt()), "created", task_id="t1")
    clock.advance(DAY_SECONDS + 1)
    await sent(unit, attempt())


async def test_without_a_journal_keys_and_caps_are_refused_and_the_rest_is_sent_unrecorded(
    no_ledger: Ledger,
) -> None:
    broken = Journal(None, lease_seconds=60, unavailable_reason="disk full")
    with pytest.raises(InputError, match="idempotency_key needs the create journal") as refused:
        await admission(broken, no_ledger).admit(attempt("k"))
    assert "disk full" in str(refused.value) and "Nothing was sent" in str(refused.value)
    with pytest.raises(InputError, match="RUNWAY_MCP_MAX_TASKS_PER_DAY needs the create journal"):
        await admission(broken, no_ledger, cap=5).admit(attempt())
    assert await admission(broken, no_ledger).admit(attempt()) == Send(None)


class ReadOnly(SqliteBackend):
    """An SQLite journal whose every write fails, as a read-only file or database role would."""

    def run(self, work: Any, *, write: bool) -> Any:
        if write:
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return super().run(work, write=write)

    def run_now(self, work: Any, *, write: bool) -> Any:
        return self.run(work, write=write)


async def test_a_journal_that_can_only_be_read_still_replays_its_keys(tmp_path: Path, no_ledger: Ledger) -> None:
    path = tmp_path / "journal.sqlite3"
    writable = await Journal.open(lambda: SqliteBackend(path), lease_seconds=60)
    await writable.finish(await sent(admission(writable, no_ledger), attempt("k")), "created", task_id="task-1")
    await writable.aclose()

    read_only = await Journal.open(lambda: ReadOnly(path), lease_seconds=60)
    assert read_only.available
    unit = admission(read_only, no_ledger)
    assert await unit.admit(attempt("k")) == Replay("task-1")
    with pytest.raises(InputError, match="readonly"):
        await unit.admit(attempt("other-key"))
    assert await unit.admit(attempt()) == Send(None)
    await read_only.aclose()


async def test_a_key_the_ledger_held_before_the_journal_still_replays(journal: Journal, ledger: Ledger) -> None:
    await ledger.record_created(record("old-task", created_at=1.0, idempotency_key="k", request_hash="h1"))
    assert await admission(journal, ledger).admit(attempt("k")) == Replay("old-task")


async def test_two_processes_on_one_file_send_a_key_once(tmp_path: Path, no_ledger: Ledger) -> None:
    path = tmp_path / "journal.sqlite3"
    journals = [await Journal.open(lambda: SqliteBackend(path), lease_seconds=60) for _ in range(2)]
    outcomes: list[Send | Replay] = []

    async def create(unit: Admission) -> None:
        admitted = await unit.admit(attempt("k"))
        outcomes.append(admitted)
        if isinstance(admitted, Send) and admitted.attempt_id is not None:
            await anyio.sleep(0.1)  # the create's round trip
            await unit.journal.finish(admitted.attempt_id, "created", task_id="task-1")

    async with anyio.create_task_group() as group:
        for n in range(10):
            group.start_soon(create, admission(journals[n % 2], no_ledger))
    for opened in journals:
        await opened.aclose()
    assert sum(isinstance(o, Send) for o in outcomes) == 1
    assert outcomes.count(Replay("task-1")) == 9


# Freshness ------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_task_is_fresh_for_the_grace_period(no_ledger: Ledger, clock: FakeClock) -> None:
    fresh = FreshTasks(120, no_ledger, clock=clock)
    fresh.created("t")
    assert await fresh.is_fresh("t")
    assert not await fresh.is_fresh("other")
    clock.advance(121)
    assert not await fresh.is_fresh("t")


@pytest.mark.anyio
async def test_a_deleted_task_is_never_fresh_and_is_remembered_for_a_day(no_ledger: Ledger, clock: FakeClock) -> None:
    fresh = FreshTasks(120, no_ledger, clock=clock)
    fresh.created("t")
    fresh.deleted("t")
    assert fresh.was_deleted("t")
    assert not await fresh.is_fresh("t")
    clock.advance(DAY_SECONDS + 1)
    assert not fresh.was_deleted("t")


@pytest.mark.anyio
async def test_a_deletion_outweighs_a_ledger_that_missed_it(ledger: Ledger, clock: FakeClock) -> None:
    fresh = FreshTasks(120, ledger, clock=clock)
    await ledger.record_created(record("t", created_at=clock()))
    fresh.created("t", clock())
    fresh.deleted("t")  # the ledger's update to DELETED was skipped (a locked file, a full disk)
    assert not await fresh.is_fresh("t")


@pytest.mark.anyio
async def test_the_ledger_answers_for_fresh_and_deleted_tasks(ledger: Ledger, clock: FakeClock) -> None:
    fresh = FreshTasks(120, ledger, clock=clock)
    await ledger.record_created(record("recent", created_at=clock() - 10))
    await ledger.record_created(record("gone", created_at=clock() - 10, status=DELETED))
    await ledger.record_created(record("old", created_at=clock() - 500))
    assert await fresh.is_fresh("recent")
    assert not await fresh.is_fresh("gone")
    assert not await fresh.is_fresh("old")


@pytest.mark.anyio
async def test_fresh_and_deleted_memories_are_bounded(no_ledger: Ledger, clock: FakeClock) -> None:
    fresh = FreshTasks(120, no_ledger, max_entries=3, clock=clock)
    for n in range(10):
        fresh.created(f"t{n}")
        fresh.deleted(f"d{n}")
    assert fresh.remembered == 6
    assert not await fresh.is_fresh("t0") and await fresh.is_fresh("t9")
    assert not fresh.was_deleted("d0") and fresh.was_deleted("d9")


# Poll pacing ----------------------------------------------------------------------------------------


def test_a_poll_delays_the_next_by_the_rest_of_the_interval(clock: FakeClock) -> None:
    pacing = PollPacing(5.0, clock=clock)
    assert pacing.delay("t") == 0.0
    pacing.polled("t")
    assert pacing.delay("t") == 5.0
    clock.advance(2.0)
    assert pacing.delay("t") == 3.0
    assert pacing.delay("other") == 0.0
    clock.advance(3.0)
    assert pacing.delay("t") == 0.0


def test_a_finished_task_is_forgotten(clock: FakeClock) -> None:
    pacing = PollPacing(5.0, clock=clock)
    pacing.polled("t")
    pacing.forget("t")
    assert pacing.delay("t") == 0.0 and pacing.remembered == 0


def test_pacing_entries_expire_after_one_interval(clock: FakeClock) -> None:
    pacing = PollPacing(5.0, clock=clock)
    for n in range(10):
        pacing.polled(f"t{n}")
    clock.advance(6.0)
    pacing.polled("latest")
    assert pacing.remembered == 1


def test_pacing_memory_is_capped(clock: FakeClock) -> None:
    pacing = PollPacing(5.0, max_entries=3, clock=clock)
    for n in range(10):
        pacing.polled(f"t{n}")
    assert pacing.remembered == 3


# Owner scoping --------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_caller_may_only_touch_its_own_tasks(ledger: Ledger, clock: FakeClock) -> None:
    scope = OwnerScope(ledger)
    await ledger.record_created(record("alice-task", created_at=clock(), owner="alice"))
    await scope.check("alice-task", "alice")
    await scope.check("alice-task", None)  # stdio: no owner, no check
    for task_id, owner in (("alice-task", "bob"), ("no-such-task", "alice")):
        with pytest.raises(NotFoundError) as caught:
            await scope.check(task_id, owner)
        assert str(caught.value) == f"No task with id {task_id!r} was created by this caller on this server."
