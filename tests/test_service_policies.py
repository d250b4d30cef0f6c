"""The task service's policies as plain units, without MCP: what each rule does and that its memory stays bounded.

Every unit takes a clock, so expiry is tested by moving a fake clock, never by sleeping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from runway_mcp.errors import BudgetExceededError, InputError, NotFoundError
from runway_mcp.service.bounded import DAY_SECONDS, RecentMap
from runway_mcp.service.budget import DailyBudget
from runway_mcp.service.freshness import DELETED, FreshTasks
from runway_mcp.service.idempotency import Idempotency
from runway_mcp.service.ownership import OwnerScope
from runway_mcp.service.pacing import PollPacing
from runway_mcp.store.ledger import Ledger
from runway_mcp.store.records import TaskRecord


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


# Idempotency ----------------------------------------------------------------------------------------


async def submit_once(unit: Idempotency, key: str, request_hash: str, task_id: str) -> str | None:
    """One create under `key`: the original task id found, or None after remembering `task_id`."""
    async with unit.claim(key, None, request_hash) as claim:
        if claim.original is None:
            claim.remember(task_id)
        return claim.original


@pytest.mark.anyio
async def test_same_key_and_request_gives_the_original_task(no_ledger: Ledger, clock: FakeClock) -> None:
    unit = Idempotency(no_ledger, clock=clock)
    assert await submit_once(unit, "k", "hash-a", "task-1") is None
    assert await submit_once(unit, "k", "hash-a", "task-2") == "task-1"


@pytest.mark.anyio
async def test_same_key_with_a_different_request_is_refused(no_ledger: Ledger, clock: FakeClock) -> None:
    unit = Idempotency(no_ledger, clock=clock)
    await submit_once(unit, "k", "hash-a", "task-1")
    with pytest.raises(InputError) as caught:
        await submit_once(unit, "k", "hash-b", "task-2")
    assert caught.value.problems == [
        "idempotency_key: 'k' was already used for a different request (task task-1). Use a new key for a new "
        "request, or repeat the original parameters exactly to get the original task back."
    ]
    assert unit.locks == 0


@pytest.mark.anyio
async def test_keys_belong_to_one_owner(no_ledger: Ledger, clock: FakeClock) -> None:
    unit = Idempotency(no_ledger, clock=clock)
    async with unit.claim("k", "alice", "h") as claim:
        claim.remember("task-alice")
    async with unit.claim("k", "bob", "h") as claim:
        assert claim.original is None


@pytest.mark.anyio
async def test_the_ledger_is_consulted_before_the_memory(ledger: Ledger, clock: FakeClock) -> None:
    unit = Idempotency(ledger, clock=clock)
    await submit_once(unit, "k", "h", "remembered-only")
    await ledger.record_created(record("from-ledger", created_at=clock(), idempotency_key="k", request_hash="h"))
    assert await submit_once(unit, "k", "h", "task-new") == "from-ledger"


@pytest.mark.anyio
async def test_concurrent_creates_under_one_key_run_one_at_a_time(no_ledger: Ledger, clock: FakeClock) -> None:
    unit = Idempotency(no_ledger, clock=clock)
    first_inside, release = anyio.Event(), anyio.Event()
    seen: list[str | None] = []

    async def first() -> None:
        async with unit.claim("k", None, "h") as claim:
            first_inside.set()
            await release.wait()
            claim.remember("task-1")

    async def second() -> None:
        seen.append(await submit_once(unit, "k", "h", "task-2"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        await first_inside.wait()
        tg.start_soon(second)
        await anyio.wait_all_tasks_blocked()
        assert seen == [] and unit.locks == 1
        release.set()
    assert seen == ["task-1"]


@pytest.mark.anyio
async def test_a_lock_is_dropped_once_no_create_holds_or_waits_for_it(no_ledger: Ledger, clock: FakeClock) -> None:
    unit = Idempotency(no_ledger, clock=clock)
    for n in range(50):
        await submit_once(unit, f"key-{n}", "h", f"task-{n}")
    assert unit.locks == 0

    holding, release = anyio.Event(), anyio.Event()

    async def hold() -> None:
        async with unit.claim("busy", None, "h"):
            holding.set()
            await release.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(hold)
        await holding.wait()
        # A waiter that is cancelled while it waits must not leave the lock behind either.
        async with anyio.create_task_group() as waiters:
            waiters.start_soon(submit_once, unit, "busy", "h", "never")
            await anyio.wait_all_tasks_blocked()
            waiters.cancel_scope.cancel()
        assert unit.locks == 1
        release.set()
    assert unit.locks == 0


@pytest.mark.anyio
async def test_remembered_keys_are_bounded_in_number_and_age(no_ledger: Ledger, clock: FakeClock) -> None:
    unit = Idempotency(no_ledger, max_keys=3, max_age=60, clock=clock)
    for n in range(10):
        await submit_once(unit, f"key-{n}", "h", f"task-{n}")
    assert unit.remembered == 3
    assert await submit_once(unit, "key-0", "h", "again-0") is None
    assert await submit_once(unit, "key-9", "h", "again-9") == "task-9"
    clock.advance(61)
    assert await submit_once(unit, "key-9", "h", "later-9") is None


# Daily budget ---------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_no_limit_never_refuses_and_remembers_nothing(no_ledger: Ledger, clock: FakeClock) -> None:
    budget = DailyBudget(None, no_ledger, clock=clock)
    for _ in range(100):
        async with budget.reserve(None):
            budget.record()
    assert budget.remembered == 0


@pytest.mark.anyio
async def test_the_limit_refuses_from_memory_when_the_ledger_is_off(no_ledger: Ledger, clock: FakeClock) -> None:
    budget = DailyBudget(2, no_ledger, clock=clock)
    for _ in range(2):
        async with budget.reserve(None):
            budget.record()
    with pytest.raises(BudgetExceededError) as caught:
        async with budget.reserve(None):
            pytest.fail("the create ran over the budget")
    assert str(caught.value) == (
        "The daily budget of this server is used up: 2 of 2 tasks were created in the last 24 hours "
        "(RUNWAY_MCP_MAX_TASKS_PER_DAY). Nothing was sent and nothing was spent. Try again later or ask the "
        "server's owner to raise the limit."
    )


@pytest.mark.anyio
async def test_the_limit_counts_the_ledger(ledger: Ledger, clock: FakeClock) -> None:
    budget = DailyBudget(2, ledger, clock=clock)
    for n in range(2):
        await ledger.record_created(record(f"task-{n}", created_at=clock() - 60))
    with pytest.raises(BudgetExceededError):
        await budget.check(None)


@pytest.mark.anyio
async def test_creations_older_than_a_day_no_longer_count_and_are_dropped(no_ledger: Ledger, clock: FakeClock) -> None:
    budget = DailyBudget(1, no_ledger, clock=clock)
    budget.record()
    with pytest.raises(BudgetExceededError):
        await budget.check(None)
    clock.advance(DAY_SECONDS + 1)
    await budget.check(None)
    assert budget.remembered == 0


@pytest.mark.anyio
async def test_remembered_times_never_exceed_the_limit(no_ledger: Ledger, clock: FakeClock) -> None:
    budget = DailyBudget(3, no_ledger, clock=clock)
    for _ in range(10):
        budget.record()
        clock.advance(1)
    assert budget.remembered == 3


@pytest.mark.anyio
async def test_concurrent_creates_cannot_both_slip_under_the_limit(no_ledger: Ledger, clock: FakeClock) -> None:
    budget = DailyBudget(1, no_ledger, clock=clock)
    first_inside, release = anyio.Event(), anyio.Event()
    outcomes: list[str] = []

    async def first() -> None:
        async with budget.reserve(None):
            first_inside.set()
            await release.wait()
            budget.record()

    async def second() -> None:
        try:
            async with budget.reserve(None):
                outcomes.append("created")
        except BudgetExceededError:
            outcomes.append("refused")

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        await first_inside.wait()
        tg.start_soon(second)
        await anyio.wait_all_tasks_blocked()
        release.set()
    assert outcomes == ["refused"]


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
