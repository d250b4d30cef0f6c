"""The create journal (store/journal.py) on both of its stores: an SQLite file, and a real PostgreSQL server.

Every journal test runs once per store. A store makes as many backends as a test wants: each is
another process (SQLite: another connection to the same file) or another host (PostgreSQL: another
connection pool to the same database). Each PostgreSQL test gets a database of its own, reached
with a password in its URL (the throwaway server trusts every local connection, so any password
works) that must never show in a description or a message.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from runway_mcp.config import Settings, SettingsError
from runway_mcp.store.backend import Backend, Busy, SqliteBackend, Transaction
from runway_mcp.store.journal import (
    Attempt,
    CapReached,
    Decision,
    Journal,
    JournalUnavailable,
    KeyTaken,
    Proceed,
    State,
    migrate,
)
from tests.pg import PostgresCluster, free_port

pytestmark = pytest.mark.anyio

PG_PASSWORD = "pg-canary-Zq8vR2"
LOCKED_TIMEOUT = 0.3  # how long a backend waits for a write lock another writer holds, in these tests


@dataclass
class Store:
    """One store, and what a test needs to act on it from outside the journal."""

    kind: str
    new_backend: Callable[..., Backend]
    # Another writer holding the store's write lock until the block ends.
    hold_write_lock: Callable[[], contextlib.AbstractContextManager[None]]
    # Several journals may share one backend at once (PostgreSQL's pool); SQLite's connection may not.
    shareable: bool
    backends: list[Backend] = field(default_factory=list)

    def backend(self, **options: Any) -> Backend:
        backend = self.new_backend(**options)
        self.backends.append(backend)
        return backend

    def journal(
        self, backend: Backend | None = None, *, clock: Callable[[], float] = time.time, lease_seconds: float = 60.0
    ) -> Journal:
        """A journal over `backend` (a new one by default), migrated, with this clock."""
        backend = backend or self.backend()
        backend.run(migrate, write=True)
        return Journal(backend, lease_seconds=lease_seconds, clock=clock)

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.backend().run(lambda tx: tx.execute(sql, params), write=False)


@contextlib.contextmanager
def sqlite_write_lock(path: Path) -> Iterator[None]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


@contextlib.contextmanager
def postgres_write_lock(url: str) -> Iterator[None]:
    import psycopg

    from runway_mcp.store.postgres import JOURNAL_LOCK_KEY

    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": JOURNAL_LOCK_KEY})
        # Outcomes are written without the journal's lock: hold the table's rows too (reads still pass).
        conn.execute("LOCK TABLE create_attempts IN SHARE MODE")
        yield
        conn.rollback()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        path = tmp_path / "journal.sqlite3"
        made = Store(
            "sqlite", lambda **options: SqliteBackend(path, **options), lambda: sqlite_write_lock(path), shareable=False
        )
        database = None
    else:
        from runway_mcp.store.postgres import PostgresBackend

        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        database = cluster.create_database()
        url = cluster.database_url(database, password=PG_PASSWORD)
        made = Store(
            "postgres",
            lambda **options: PostgresBackend(url, **options),
            lambda: postgres_write_lock(url),
            shareable=True,
        )
    try:
        yield made
    finally:
        for backend in made.backends:
            backend.close()
        if database is not None:
            cluster.drop_database(database)


def attempt(key: str | None = "key-1", *, owner: str | None = "alice", prompt: str = "make it snow") -> Attempt:
    return Attempt(
        owner=owner,
        idempotency_key=key,
        endpoint="video_to_video",
        model="gen4_aleph",
        prompt=prompt,
        params={"promptText": prompt, "videoUri": "https://example.com/in.mp4", "seed": 7},
        request_hash="h-" + prompt,
    )


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def proceed(journal: Journal, item: Attempt, **cap: Any) -> str:
    decision = await journal.begin(item, cap=cap.get("cap"), cap_per_owner=cap.get("cap_per_owner", False))
    assert isinstance(decision, Proceed), decision
    return decision.attempt_id


# Migrations, and the life of one attempt -----------------------------------------------------------------


async def test_migrations_are_applied_once_however_many_journals_open(store: Store) -> None:
    async def open_one() -> None:
        journal = await Journal.open(store.backend, lease_seconds=60)
        assert journal.available, journal.unavailable_reason
        await journal.aclose()

    await open_one()
    async with anyio.create_task_group() as group:  # several "processes" starting at once
        for _ in range(4):
            group.start_soon(open_one)
    await open_one()
    assert store.rows("SELECT version FROM journal_schema") == [{"version": 1}]
    assert store.rows("SELECT count(*) AS n FROM create_attempts") == [{"n": 0}]


async def test_begin_records_an_attempt_in_flight_and_finish_records_its_outcome(store: Store) -> None:
    clock = Clock()
    journal = store.journal(clock=clock)
    attempt_id = await proceed(journal, attempt())
    row = await journal.lookup("alice", "key-1")
    assert row is not None
    assert (row.attempt_id, row.state, row.task_id, row.finished_at) == (attempt_id, "in_flight", None, None)
    assert (row.owner, row.endpoint, row.model, row.prompt, row.request_hash) == (
        "alice",
        "video_to_video",
        "gen4_aleph",
        "make it snow",
        "h-make it snow",
    )
    assert row.params == {"promptText": "make it snow", "videoUri": "https://example.com/in.mp4", "seed": 7}
    assert (row.started_at, row.lease_until) == (clock.now, clock.now + 60.0)

    clock.now += 2.5
    await journal.finish(attempt_id, "created", task_id="task-123", detail="upstream said 200")
    row = await journal.lookup("alice", "key-1")
    assert row is not None
    assert (row.state, row.task_id, row.detail, row.finished_at) == (
        "created",
        "task-123",
        "upstream said 200",
        clock.now,
    )
    listed = await journal.attempts(owner="alice", states=["created"], limit=10)
    assert [r.attempt_id for r in listed] == [attempt_id]
    assert await journal.attempts(owner="bob", states=["created"], limit=10) == []
    assert len(await journal.attempts(owner=None, states=["created", "in_flight"], limit=10, everyone=True)) == 1
    assert journal.shared_across_processes


@pytest.mark.parametrize("state", ["in_flight", "created", "in_doubt"])
async def test_a_key_whose_attempt_is_in_flight_created_or_in_doubt_is_taken(store: Store, state: State) -> None:
    journal = store.journal()
    first = await proceed(journal, attempt())
    if state != "in_flight":
        await journal.finish(first, state, task_id="task-1" if state == "created" else None)

    again = await store.journal().begin(attempt(prompt="another prompt"), cap=None, cap_per_owner=False)
    assert isinstance(again, KeyTaken)
    assert (again.earlier.attempt_id, again.earlier.state, again.earlier.prompt) == (first, state, "make it snow")
    # Keys belong to their owner, and an attempt without a key never collides.
    await proceed(journal, attempt(owner="bob"))
    await proceed(journal, attempt(None))
    await proceed(journal, attempt(None))


async def test_not_created_frees_the_key(store: Store) -> None:
    journal = store.journal()
    first = await proceed(journal, attempt())
    await journal.finish(first, "not_created", detail="refused: 400")
    second = await proceed(journal, attempt())
    assert second != first
    row = await journal.lookup("alice", "key-1")
    assert row is not None and (row.attempt_id, row.state) == (second, "in_flight")
    refused = await journal.attempts(owner="alice", states=["not_created"], limit=10)
    assert [(r.attempt_id, r.detail) for r in refused] == [(first, "refused: 400")]


# The daily cap ---------------------------------------------------------------------------------------------


async def test_the_cap_counts_in_flight_created_and_in_doubt_but_not_not_created(store: Store) -> None:
    clock = Clock()
    journal = store.journal(clock=clock)
    ids = [await proceed(journal, attempt(f"k{i}"), cap=3) for i in range(3)]
    await journal.finish(ids[1], "created", task_id="t1")
    await journal.finish(ids[2], "in_doubt", detail="timed out")

    assert await journal.begin(attempt("k3"), cap=3, cap_per_owner=False) == CapReached(3)
    assert await journal.begin(attempt(None), cap=3, cap_per_owner=False) == CapReached(3)
    await journal.finish(ids[0], "not_created")
    await proceed(journal, attempt("k3"), cap=3)
    assert await journal.begin(attempt("k4"), cap=3, cap_per_owner=False) == CapReached(3)
    # A refused attempt recorded nothing.
    assert store.rows("SELECT count(*) AS n FROM create_attempts") == [{"n": 4}]

    # The window is the last 24 hours.
    clock.now += 86_400 + 1
    await proceed(journal, attempt("k5"), cap=3)


async def test_the_cap_is_per_owner_or_for_everyone(store: Store) -> None:
    journal = store.journal()
    for i in range(2):
        await proceed(journal, attempt(f"a{i}", owner="alice"), cap=2, cap_per_owner=True)
    assert await journal.begin(attempt("a2", owner="alice"), cap=2, cap_per_owner=True) == CapReached(2)
    await proceed(journal, attempt("b0", owner="bob"), cap=2, cap_per_owner=True)
    assert await journal.begin(attempt("b1", owner="bob"), cap=3, cap_per_owner=False) == CapReached(3)
    assert await journal.begin(attempt("c0", owner=None), cap=3, cap_per_owner=False) == CapReached(3)
    await proceed(journal, attempt("c0", owner=None), cap=1, cap_per_owner=True)
    assert await journal.begin(attempt("c1", owner=None), cap=1, cap_per_owner=True) == CapReached(1)


# Stale attempts --------------------------------------------------------------------------------------------


async def test_an_in_flight_attempt_past_its_lease_becomes_in_doubt_at_the_next_begin(store: Store) -> None:
    clock = Clock()
    journal = store.journal(clock=clock, lease_seconds=30)
    stale = await proceed(journal, attempt())

    clock.now += 29
    await proceed(journal, attempt("other"))
    row = await journal.lookup("alice", "key-1")
    assert row is not None and row.state == "in_flight"

    clock.now += 2  # the first attempt's lease has run out; the second's has not
    other_host = store.journal(clock=clock, lease_seconds=30)
    await proceed(other_host, attempt("third"))
    row = await journal.lookup("alice", "key-1")
    assert row is not None
    assert (row.attempt_id, row.state, row.finished_at) == (stale, "in_doubt", clock.now)
    assert row.detail and "stopped" in row.detail
    other = await journal.lookup("alice", "other")
    assert other is not None and other.state == "in_flight"
    # Still counted and still holding its key: it may have been billed.
    taken = await journal.begin(attempt(), cap=None, cap_per_owner=False)
    assert isinstance(taken, KeyTaken) and taken.earlier.state == "in_doubt"
    assert await journal.begin(attempt("fourth"), cap=3, cap_per_owner=False) == CapReached(3)


# A store that cannot be written -------------------------------------------------------------------------


async def test_an_outcome_the_store_cannot_take_is_kept_and_written_at_the_next_write(store: Store) -> None:
    journal = store.journal(store.backend(busy_timeout=LOCKED_TIMEOUT))
    attempt_id = await proceed(journal, attempt())
    with store.hold_write_lock():
        with anyio.fail_after(30):
            await journal.finish(attempt_id, "created", task_id="task-9")  # never raises
        row = await journal.lookup("alice", "key-1")  # reads still work
        assert row is not None and row.state == "in_flight"
        with pytest.raises(JournalUnavailable) as caught:
            await journal.begin(attempt("k2"), cap=None, cap_per_owner=False)
        assert journal.description in str(caught.value)
        assert PG_PASSWORD not in str(caught.value)

    await proceed(journal, attempt("k2"))
    row = await journal.lookup("alice", "key-1")
    assert row is not None and (row.state, row.task_id) == ("created", "task-9")


async def test_an_outcome_kept_in_memory_is_written_when_the_journal_closes(store: Store) -> None:
    journal = store.journal(store.backend(busy_timeout=LOCKED_TIMEOUT))
    attempt_id = await proceed(journal, attempt())
    with store.hold_write_lock():
        await journal.finish(attempt_id, "in_doubt", detail="connection reset")
    await journal.aclose()
    await journal.aclose()
    rows = store.rows("SELECT state, detail FROM create_attempts")
    assert rows == [{"state": "in_doubt", "detail": "connection reset"}]


def test_run_now_says_busy_at_once_while_another_writer_holds_the_lock(store: Store) -> None:
    backend = store.backend(busy_timeout=10)
    backend.run(migrate, write=True)
    count = "SELECT count(*) AS n FROM create_attempts"
    with store.hold_write_lock():
        started = time.monotonic()
        with pytest.raises(Busy):
            backend.run_now(lambda tx: tx.execute(count), write=True)
        assert time.monotonic() - started < 5
        assert backend.run_now(lambda tx: tx.execute(count), write=False) == [{"n": 0}]
    assert backend.run_now(lambda tx: tx.execute(count), write=True) == [{"n": 0}]
    assert backend.quick is (store.kind == "sqlite")


# Concurrency: one key, many senders ----------------------------------------------------------------------


def concurrent_journals(store: Store, count: int) -> list[Journal]:
    """`count` journals: over two backends (two hosts) when a backend can be shared, else one backend each."""
    if store.shareable:
        hosts = [store.backend(), store.backend()]
        return [store.journal(hosts[i % 2]) for i in range(count)]
    return [store.journal() for _ in range(count)]


async def begin_at_once(journals: list[Journal], attempts: list[Attempt], *, cap: int | None) -> list[Decision]:
    """Each journal begins its attempt, all at the same time."""
    decisions: list[Decision] = []

    async def begin(journal: Journal, item: Attempt) -> None:
        decisions.append(await journal.begin(item, cap=cap, cap_per_owner=False))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for journal, item in zip(journals, attempts, strict=True):
                group.start_soon(begin, journal, item)
    return decisions


async def test_concurrent_begins_with_one_key_proceed_exactly_once(store: Store) -> None:
    decisions = await begin_at_once(concurrent_journals(store, 20), [attempt()] * 20, cap=None)
    winners = [d for d in decisions if isinstance(d, Proceed)]
    assert len(winners) == 1, decisions
    taken = [d for d in decisions if isinstance(d, KeyTaken)]
    assert len(taken) == 19 and {d.earlier.attempt_id for d in taken} == {winners[0].attempt_id}
    assert store.rows("SELECT count(*) AS n FROM create_attempts") == [{"n": 1}]


async def test_concurrent_begins_never_pass_the_cap(store: Store) -> None:
    decisions = await begin_at_once(concurrent_journals(store, 20), [attempt(f"k{i}") for i in range(20)], cap=5)
    assert sum(isinstance(d, Proceed) for d in decisions) == 5
    assert sum(isinstance(d, CapReached) for d in decisions) == 15
    assert store.rows("SELECT count(*) AS n FROM create_attempts") == [{"n": 5}]


# PostgreSQL specifics ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "converted"),
    [
        (
            "SELECT * FROM t WHERE a = :a AND b <> 'x' LIMIT :limit",
            "SELECT * FROM t WHERE a = %(a)s AND b <> 'x' LIMIT %(limit)s",
        ),
        (
            "SELECT :v::text, '50% :not_a_param', 'it''s :x', \"odd:col\" -- :y %\nFROM t",
            "SELECT %(v)s::text, '50%% :not_a_param', 'it''s :x', \"odd:col\" -- :y %%\nFROM t",
        ),
        ("SELECT 7 % 2, :s0, :s1", "SELECT 7 %% 2, %(s0)s, %(s1)s"),
    ],
)
def test_placeholders_become_psycopg_ones_and_nothing_else_changes(sql: str, converted: str) -> None:
    from runway_mcp.store.postgres import to_psycopg

    assert to_psycopg(sql) == converted


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://runway:p%40ss@db.example.com:5432/runway", "postgresql://runway:***@db.example.com:5432/runway"),
        (
            "postgres://runway@db/runway?sslmode=require&password=x",
            "postgres://runway@db/runway?sslmode=require&password=***",
        ),
        ("postgresql:///runway?host=/var/run/postgresql", "postgresql:///runway?host=/var/run/postgresql"),
        ("postgresql://runway:un/encoded@db/runway", "postgresql://runway:***@db/runway"),
        ("postgresql://runway:pw@h1:5432,h2:5433/runway", "postgresql://runway:***@h1:5432,h2:5433/runway"),
    ],
)
def test_a_postgres_url_is_shown_without_its_password(url: str, shown: str) -> None:
    from runway_mcp.store.postgres import mask_url

    assert mask_url(url) == shown


def pg_store(request: pytest.FixtureRequest) -> tuple[PostgresCluster, str]:
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    database = cluster.create_database()
    request.addfinalizer(lambda: cluster.drop_database(database))
    return cluster, cluster.database_url(database, password=PG_PASSWORD)


def test_postgres_backend_describes_itself_without_the_password(request: pytest.FixtureRequest) -> None:
    from runway_mcp.store.postgres import PostgresBackend

    _, url = pg_store(request)
    backend = PostgresBackend(url)
    try:
        assert backend.description == url.replace(PG_PASSWORD, "***")
        assert PG_PASSWORD not in backend.description
        assert backend.shared_across_processes
        assert backend.run(lambda tx: tx.execute("SELECT 1 + :n AS two, '100%' AS pct", {"n": 1}), write=True) == [
            {"two": 2, "pct": "100%"}
        ]
    finally:
        backend.close()


async def test_an_unreachable_server_fails_fast_with_a_clear_message() -> None:
    from runway_mcp.store.postgres import PostgresBackend, PostgresUnavailable

    url = f"postgresql://runway:{PG_PASSWORD}@127.0.0.1:{free_port()}/runway"
    started = time.monotonic()
    with pytest.raises(PostgresUnavailable) as caught:
        PostgresBackend(url, connect_timeout=1)
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert f"postgresql://runway:***@127.0.0.1:{url.rsplit(':', 1)[1].split('/')[0]}/runway" in message
    assert "refused" in message.lower() and PG_PASSWORD not in message

    journal = await Journal.open(lambda: PostgresBackend(url, connect_timeout=1), lease_seconds=60)
    assert not journal.available
    assert journal.unavailable_reason and "PostgresUnavailable" in journal.unavailable_reason
    assert PG_PASSWORD not in journal.unavailable_reason
    with pytest.raises(PostgresUnavailable, match="not a usable database URL") as bad:
        PostgresBackend(f"postgresql://runway:{PG_PASSWORD}@[::1/runway")  # libpq's message quotes the URL
    assert PG_PASSWORD not in str(bad.value)


def test_a_lost_connection_is_replaced_before_the_next_transaction(request: pytest.FixtureRequest) -> None:
    from runway_mcp.store.postgres import PostgresBackend

    cluster, url = pg_store(request)
    backend = PostgresBackend(url, min_size=1, max_size=1)
    try:
        backend.run(migrate, write=True)

        def pid(tx: Transaction) -> int:
            value: int = tx.execute("SELECT pg_backend_pid() AS pid")[0]["pid"]
            return value

        for write in (True, False):
            before = backend.run(pid, write=write)
            assert cluster.admin("SELECT pg_terminate_backend(%(pid)s)", {"pid": before}) == [(True,)]
            after = backend.run(pid, write=write)  # the dead connection is found, dropped, and replaced
            assert after != before
    finally:
        backend.close()


def test_a_write_is_never_retried_once_one_of_its_statements_ran(request: pytest.FixtureRequest) -> None:
    import psycopg

    from runway_mcp.store.postgres import PostgresBackend

    cluster, url = pg_store(request)
    backend = PostgresBackend(url)
    calls = 0

    def work(tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        tx.execute("CREATE TABLE IF NOT EXISTS marks (n INTEGER)")
        (own,) = tx.execute("SELECT pg_backend_pid() AS pid")
        cluster.admin("SELECT pg_terminate_backend(%(pid)s)", {"pid": own["pid"]})
        tx.execute("INSERT INTO marks (n) VALUES (1)")

    try:
        with pytest.raises(psycopg.OperationalError):
            backend.run(work, write=True)
        assert calls == 1
        assert cluster.admin("SELECT to_regclass('marks') IS NULL AS gone", database=url.rsplit("/", 1)[1]) == [(True,)]
        assert backend.run(lambda tx: tx.execute("SELECT 1 AS one"), write=True) == [{"one": 1}]
    finally:
        backend.close()


async def test_postgres_begin_repeated_after_a_lost_answer_records_the_attempt_once(
    request: pytest.FixtureRequest,
) -> None:
    """The fast path retries a begin whose connection died: the repeat finds its own row and proceeds."""
    from runway_mcp.store.postgres import JOURNAL_LOCK_KEY, PostgresBackend
    from runway_mcp.store.postgres_fast import FastPath

    _, url = pg_store(request)
    backend = PostgresBackend(url)
    backend.run(migrate, write=True)
    fast = await FastPath.open(url, lock_key=JOURNAL_LOCK_KEY, connect_timeout=5)
    item = attempt()
    try:
        now = time.time()
        ask = {"attempt_id": "a-1", "holder": "h/1/x", "now": now, "lease_until": now + 60, "since": now - 86400}
        assert await fast.begin(item, cap=1, everyone=True, **ask) == ("proceed", 0)
        assert await fast.begin(item, cap=1, everyone=True, **ask) == ("proceed", 0)  # the same call again
        assert await fast.begin(item, cap=None, everyone=True, **{**ask, "attempt_id": "a-2"}) == ("taken", 0)
        other = attempt("key-2")
        assert await fast.begin(other, cap=1, everyone=True, **{**ask, "attempt_id": "a-3"}) == ("cap", 1)
        rows = backend.run(lambda tx: tx.execute("SELECT attempt_id, state FROM create_attempts"), write=False)
        assert rows == [{"attempt_id": "a-1", "state": "in_flight"}]
    finally:
        await fast.aclose()
        backend.close()


async def test_postgres_journal_survives_its_connections_being_cut(request: pytest.FixtureRequest) -> None:
    """Every connection of the journal is killed between creates: the next begin and finish still land, once."""
    cluster, url = pg_store(request)
    from runway_mcp.store.postgres import PostgresBackend

    journal = await Journal.open(lambda: PostgresBackend(url), lease_seconds=60)
    database = url.rsplit("/", 1)[1]
    kill = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %(db)s AND pid <> pg_backend_pid()"
    try:
        for n in range(3):
            killed = cluster.admin(kill, {"db": database})
            assert n > 0 or (killed and all(row == (True,) for row in killed))  # at first, both pools' connections
            attempt_id = await proceed(journal, attempt(f"key-{n}"))
            cluster.admin(kill, {"db": database})
            await journal.finish(attempt_id, "created", task_id=f"task-{n}")
        rows = await journal.attempts(owner="alice", states=["created", "in_flight"], limit=10)
        assert sorted((row.idempotency_key, row.state, row.task_id) for row in rows) == [
            (f"key-{n}", "created", f"task-{n}") for n in range(3)
        ]
        assert loopback_queries(cluster, url) == []  # cut once, it is not reopened: the pool serves
    finally:
        await journal.aclose()


def loopback_activity(cluster: PostgresCluster, url: str) -> list[tuple[int, str, Any]]:
    """(pid, last statement, when it started) of each of the journal's loopback connections to this database."""
    from runway_mcp.store.loopback import APPLICATION_NAME

    rows = cluster.admin(
        "SELECT pid, query, query_start FROM pg_stat_activity WHERE datname = %(db)s AND application_name = %(app)s",
        {"db": url.split("?")[0].rsplit("/", 1)[1], "app": APPLICATION_NAME},
    )
    return [(row[0], row[1], row[2]) for row in rows]


def loopback_queries(cluster: PostgresCluster, url: str, *, started: bool = False) -> list[Any]:
    """The last statement of each loopback connection (with when it started, if `started`: a statement run
    again shows as the same text, but with a later start)."""
    return [(query, start) if started else query for _, query, start in loopback_activity(cluster, url)]


async def test_on_this_host_begin_and_finish_run_as_prepared_statements_on_one_connection(
    request: pytest.FixtureRequest,
) -> None:
    from runway_mcp.store import postgres_fast
    from runway_mcp.store.postgres import PostgresBackend

    cluster, url = pg_store(request)
    journal = await Journal.open(lambda: PostgresBackend(url), lease_seconds=60)
    try:
        attempt_id = await proceed(journal, attempt())
        assert loopback_queries(cluster, url) == [postgres_fast._BEGIN.positional]
        await journal.finish(attempt_id, "created", task_id="task-1")
        assert loopback_queries(cluster, url) == [postgres_fast._FINISH.positional]
        taken = await journal.begin(attempt(), cap=None, cap_per_owner=False)  # the answer read back as text
        assert isinstance(taken, KeyTaken) and (taken.earlier.state, taken.earlier.task_id) == ("created", "task-1")
        capped = await journal.begin(attempt("key-2"), cap=1, cap_per_owner=False)
        assert capped == CapReached(1)
    finally:
        await journal.aclose()


async def test_a_statement_the_loopback_cannot_run_goes_through_the_pool_and_the_loopback_stays(
    request: pytest.FixtureRequest,
) -> None:
    """A lock another writer holds past the loopback's 1 ms, and a value libpq would cut (a NUL character):
    the pool runs the statement (waiting for the lock, refusing the NUL clearly); the loopback serves on."""
    from runway_mcp.store import postgres_fast
    from runway_mcp.store.postgres import PostgresBackend

    cluster, url = pg_store(request)
    journal = await Journal.open(lambda: PostgresBackend(url, busy_timeout=30), lease_seconds=60)
    try:
        await proceed(journal, attempt("key-0"))  # the first begin also looks for dead senders (the generic path)
        ((_, before),) = loopback_queries(cluster, url, started=True)
        decisions: list[Decision] = []

        async def begin() -> None:
            decisions.append(await journal.begin(attempt(), cap=None, cap_per_owner=False))

        async with anyio.create_task_group() as group:
            with postgres_write_lock(url):
                group.start_soon(begin)
                await anyio.sleep(0.5)
                assert decisions == []  # waiting on the pool for the lock, not failed and not run
                ((query, tried),) = loopback_queries(cluster, url, started=True)
                assert query == postgres_fast._BEGIN.positional and tried > before  # tried here first, 1 ms
        assert len(decisions) == 1 and isinstance(decisions[0], Proceed)

        with pytest.raises(JournalUnavailable, match="NUL"):
            await journal.begin(attempt("nul\x00key"), cap=None, cap_per_owner=False)
        await journal.finish(decisions[0].attempt_id, "created", task_id="task-1")
        assert loopback_queries(cluster, url) == [postgres_fast._FINISH.positional]
        row = await journal.lookup("alice", "key-1")
        assert row is not None and (row.state, row.task_id) == ("created", "task-1")
        assert store_count(cluster, url) == 2
    finally:
        await journal.aclose()


async def test_a_stalled_server_holds_up_its_create_and_not_the_event_loop(request: pytest.FixtureRequest) -> None:
    """The loopback's statements wait on the event loop for a few milliseconds at most: with the server's
    process stopped, other tasks still run, and the begin completes once the server goes on."""
    import os
    import signal

    from runway_mcp.store import postgres_fast
    from runway_mcp.store.postgres import PostgresBackend

    cluster, url = pg_store(request)
    journal = await Journal.open(lambda: PostgresBackend(url), lease_seconds=60)
    try:
        await proceed(journal, attempt("key-0"))  # the first begin also looks for dead senders (the generic path)
        ((pid, _, before),) = loopback_activity(cluster, url)
        decisions: list[Decision] = []
        ticks: list[float] = []

        async def begin() -> None:
            decisions.append(await journal.begin(attempt(), cap=None, cap_per_owner=False))

        os.kill(pid, signal.SIGSTOP)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(begin)
                started = time.monotonic()
                while time.monotonic() - started < 2:  # other work, while the begin waits for the stopped server
                    await anyio.sleep(0.01)
                    ticks.append(time.monotonic())
                assert decisions == []
                os.kill(pid, signal.SIGCONT)
        finally:
            os.kill(pid, signal.SIGCONT)
        gaps = [later - earlier for earlier, later in zip([started, *ticks], ticks, strict=False)]
        assert max(gaps) < 1.0, f"the event loop was held for {max(gaps):.2f} s"
        assert len(decisions) == 1 and isinstance(decisions[0], Proceed)
        ((query, after),) = loopback_queries(cluster, url, started=True)
        assert query == postgres_fast._BEGIN.positional and after > before  # this begin was answered on the loopback
    finally:
        await journal.aclose()


async def test_a_database_in_another_encoding_decides_alike_on_both_paths(
    request: pytest.FixtureRequest, postgres_cluster: PostgresCluster
) -> None:
    """An SQL_ASCII database hands text back as bytes unless the client asks for UTF-8: a begin with a
    non-ASCII prompt must proceed, and the same key must then be taken, on the loopback and on the pool."""
    from runway_mcp.store.postgres import PostgresBackend

    name = f"ascii_{time.time_ns()}"
    postgres_cluster.admin(
        f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'"
    )
    request.addfinalizer(lambda: postgres_cluster.drop_database(name))
    url = postgres_cluster.database_url(name, password=PG_PASSWORD)
    journal = await Journal.open(lambda: PostgresBackend(url, busy_timeout=30), lease_seconds=60)
    try:
        first = await proceed(journal, attempt("clé", prompt="neige sur la ville, 雪"))
        assert isinstance(await journal.begin(attempt("clé"), cap=None, cap_per_owner=False), KeyTaken)

        decisions: list[Decision] = []

        async def begin(key: str) -> None:
            decisions.append(await journal.begin(attempt(key, prompt="café"), cap=None, cap_per_owner=False))

        async with anyio.create_task_group() as group:
            with postgres_write_lock(url):  # these two wait on the pool
                group.start_soon(begin, "clé")
                group.start_soon(begin, "thé")
                await anyio.sleep(0.5)
        assert sorted(type(d).__name__ for d in decisions) == ["KeyTaken", "Proceed"]
        await journal.finish(first, "created", task_id="task-1")
        row = await journal.lookup("alice", "clé")
        assert row is not None and (row.prompt, row.state, row.task_id) == (
            "neige sur la ville, 雪",
            "created",
            "task-1",
        )
    finally:
        await journal.aclose()


def test_a_long_statement_is_sent_whole_on_the_loopback(request: pytest.FixtureRequest) -> None:
    """psycopg keeps the connection non-blocking: a statement longer than the socket takes at once must
    still go out whole (over a Unix socket, whose buffer is the smallest), and be answered."""
    from runway_mcp.store import postgres_fast
    from runway_mcp.store.postgres import PostgresBackend

    cluster, url = pg_store(request)
    socket_url = f"{url}?host={cluster.root}"  # the server's Unix socket directory

    async def main() -> None:
        journal = await Journal.open(lambda: PostgresBackend(socket_url), lease_seconds=60)
        try:
            await proceed(journal, attempt("key-0"))  # the first begin also looks for dead senders
            ((_, before),) = loopback_queries(cluster, url, started=True)
            big = attempt("key-1", prompt="snow " * 400_000)  # 2 MB
            attempt_id = await proceed(journal, big)
            ((query, after),) = loopback_queries(cluster, url, started=True)
            assert query == postgres_fast._BEGIN.positional and after > before  # this begin, on the loopback
            await journal.finish(attempt_id, "created", task_id="task-1")
            assert loopback_queries(cluster, url) == [postgres_fast._FINISH.positional]
            row = await journal.lookup("alice", "key-1")
            assert row is not None and row.prompt == big.prompt and row.task_id == "task-1"
        finally:
            await journal.aclose()

    anyio.run(main)


def store_count(cluster: PostgresCluster, url: str) -> int:
    rows = cluster.admin("SELECT count(*) FROM create_attempts", database=url.rsplit("/", 1)[1])
    return int(rows[0][0])


async def test_the_journal_waits_out_a_server_restart(postgres_cluster: PostgresCluster) -> None:
    """The server stops mid-attempt: the outcome is kept, begins fail cleanly, and all is written once it is back."""
    from runway_mcp.store.postgres import PostgresBackend

    cluster = PostgresCluster(postgres_cluster.binaries)  # a server of its own, to stop and start
    try:
        cluster.start()
        url = cluster.database_url("postgres", password=PG_PASSWORD)
        journal = await Journal.open(lambda: PostgresBackend(url, connect_timeout=1), lease_seconds=60)
        attempt_id = await proceed(journal, attempt())

        cluster.stop()
        with anyio.fail_after(30):
            await journal.finish(attempt_id, "created", task_id="task-7")
        with pytest.raises(JournalUnavailable) as caught:
            await journal.begin(attempt("k2"), cap=None, cap_per_owner=False)
        assert "postgres:***@127.0.0.1" in str(caught.value) and PG_PASSWORD not in str(caught.value)

        cluster.start()
        with anyio.fail_after(60):
            while True:  # the pool reconnects in the background, within seconds
                try:
                    await proceed(journal, attempt("k2"))
                    break
                except JournalUnavailable:
                    await anyio.sleep(0.2)
        row = await journal.lookup("alice", "key-1")
        assert row is not None and (row.state, row.task_id) == ("created", "task-7")
        await journal.aclose()
    finally:
        cluster.remove()


# Configuration, and what a server without a database loads -------------------------------------------------


def test_the_database_url_setting() -> None:
    url = f"postgresql://runway:{PG_PASSWORD}@db.example.com:5432/runway"
    settings = Settings.from_env({"RUNWAY_MCP_DATABASE_URL": url})
    assert settings.database_url is not None and settings.database_url.get_secret_value() == url
    assert PG_PASSWORD not in repr(settings) and PG_PASSWORD not in str(settings.model_dump())
    assert Settings.from_env({"RUNWAY_MCP_DATABASE_URL": "postgres://db/runway"}).database_url is not None
    assert Settings.from_env({}).database_url is None
    for wrong in (f"mysql://runway:{PG_PASSWORD}@db/runway", "db.example.com:5432/runway"):
        with pytest.raises(SettingsError, match="RUNWAY_MCP_DATABASE_URL") as caught:
            Settings.from_env({"RUNWAY_MCP_DATABASE_URL": wrong})
        assert PG_PASSWORD not in str(caught.value)


def test_psycopg_is_loaded_only_for_a_database() -> None:
    code = (
        "import sys, runway_mcp.cli, runway_mcp.tools.server, runway_mcp.store.journal, runway_mcp.store.postgres\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('psycopg', 'psycopg_pool', 'psycopg_binary'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
