"""The journal's two hot writes on PostgreSQL, each one statement on the event loop.

Every create runs `Journal.begin` before it is sent and `Journal.finish` after. Through the
generic path (`store/postgres.py`) each is a transaction of several statements on a worker thread:
about 1.5 ms per create on loopback, half a create's own round trip. Here:

- `begin` is one call of a server-side function (`BEGIN_FUNCTION`, installed on open): it takes
  the journal's advisory lock, looks up the key, counts the cap and inserts the attempt, in one
  statement and one round trip. It decides as `Journal.begin`'s generic transaction does (the
  journal's tests run both). It does not turn stale in-flight attempts in doubt: both states count
  toward the cap and hold a key alike, and the journal expires them before it reads a taken key's
  attempt. It is idempotent for one attempt id: a call repeated after a lost connection finds its
  own row and proceeds, so it can be retried safely.
- `finish` is one `UPDATE` by attempt id (in a function too, see `_FINISH_DEFINITION`): idempotent.

Both run on psycopg's async connections (a small pool of their own), so no worker thread is woken;
on a server on this host, first right on the event loop as prepared statements (`store/loopback.py`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final, Literal

from runway_mcp.store.attempts import insert_values
from runway_mcp.store.backend import DEFAULT_BUSY_TIMEOUT_SECONDS
from runway_mcp.store.loopback import Loopback, Statement

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg.rows import DictRow
    from psycopg_pool import AsyncConnectionPool

    from runway_mcp.store.attempts import Attempt

__all__ = ["BEGIN_FUNCTION", "FINISH_FUNCTION", "FastPath"]

logger = logging.getLogger(__name__)

# The version is in the name: servers of different versions on one database each call their own.
# Change a definition below, and the number must change too: an installed function is never replaced.
BEGIN_FUNCTION: Final = "runway_mcp_journal_begin_v1"
FINISH_FUNCTION: Final = "runway_mcp_journal_finish_v2"
FastDecision = Literal["proceed", "taken", "cap"]
# SQLSTATE classes of a connection that is gone: connection exceptions, and the server shutting it down.
LOST_CONNECTION_STATES: Final = ("08", "57P")
POOL_MAX_SIZE: Final = 4
# On a server on this host each statement first runs right on the event loop (as the SQLite journal
# does): no task switch, no wake-up, for an answer within a few milliseconds (a later one is awaited as
# a task: store/loopback.py). Its lock wait is cut to this, so it never waits on another writer; a
# statement that would wait goes to the async pool, which waits as long as `busy_timeout`.
INLINE_LOCK_TIMEOUT: Final = "1ms"

# S608: the only interpolation is BEGIN_FUNCTION, a constant; every value goes in as a parameter.
_DEFINITION: Final = f"""
CREATE OR REPLACE FUNCTION {BEGIN_FUNCTION}(
    p_attempt_id TEXT, p_owner TEXT, p_key TEXT, p_endpoint TEXT, p_model TEXT, p_prompt TEXT,
    p_params TEXT, p_request_hash TEXT, p_now DOUBLE PRECISION, p_holder TEXT,
    p_lease_until DOUBLE PRECISION, p_cap INTEGER, p_everyone BOOLEAN, p_since DOUBLE PRECISION,
    p_lock_key BIGINT, p_lock_timeout TEXT)
RETURNS TABLE (decision TEXT, counted BIGINT) LANGUAGE plpgsql AS $body$
DECLARE
    n BIGINT;
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    PERFORM pg_advisory_xact_lock(p_lock_key);
    -- Each statement below takes its snapshot after the lock: it sees every earlier writer's commit.
    IF EXISTS (SELECT 1 FROM create_attempts WHERE attempt_id = p_attempt_id) THEN
        RETURN QUERY SELECT 'proceed'::TEXT, 0::BIGINT;  -- this very call, repeated after a lost answer
        RETURN;
    END IF;
    IF p_key IS NOT NULL AND EXISTS (SELECT 1 FROM create_attempts
            WHERE owner = p_owner AND idempotency_key = p_key AND state <> 'not_created') THEN
        RETURN QUERY SELECT 'taken'::TEXT, 0::BIGINT;
        RETURN;
    END IF;
    IF p_cap IS NOT NULL THEN
        SELECT count(*) INTO n FROM create_attempts
            WHERE state <> 'not_created' AND started_at >= p_since AND (p_everyone OR owner = p_owner);
        IF n >= p_cap THEN
            RETURN QUERY SELECT 'cap'::TEXT, n;
            RETURN;
        END IF;
    END IF;
    INSERT INTO create_attempts (attempt_id, owner, idempotency_key, endpoint, model, prompt, params,
            request_hash, state, started_at, holder, lease_until)
        VALUES (p_attempt_id, p_owner, p_key, p_endpoint, p_model, p_prompt, p_params,
            p_request_hash, 'in_flight', p_now, p_holder, p_lease_until);
    RETURN QUERY SELECT 'proceed'::TEXT, 0::BIGINT;
END
$body$"""  # noqa: S608

# `finish` as a function too, so that its settings hold inside the statement's own transaction (a session
# setting would not survive a transaction-pooling proxy such as PgBouncer): its wait for row locks is
# bounded, and its commit does not wait for the server's disk. An outcome lost in a crash of the database
# server leaves its attempt in flight, which turns in doubt when its lease runs out: the safe side, and a
# create is not slowed by a flush that only a crash of the database itself would need. (`begin` does wait:
# an attempt must be on disk before its request can leave.)
_FINISH_DEFINITION: Final = f"""
CREATE OR REPLACE FUNCTION {FINISH_FUNCTION}(
    p_attempt_id TEXT, p_state TEXT, p_task_id TEXT, p_detail TEXT, p_at DOUBLE PRECISION, p_lock_timeout TEXT)
RETURNS VOID LANGUAGE plpgsql AS $body$
BEGIN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    PERFORM set_config('synchronous_commit', 'off', true);
    UPDATE create_attempts SET state = p_state, task_id = p_task_id, detail = p_detail, finished_at = p_at
        WHERE attempt_id = p_attempt_id;
END
$body$"""  # noqa: S608

# The two calls, by their ordered arguments: psycopg's named form for the pool, a prepared one on loopback.
_BEGIN: Final = Statement(
    "runway_mcp_begin",
    f"SELECT decision, counted FROM {BEGIN_FUNCTION}({{}})",  # noqa: S608
    [
        ("attempt_id", "text"), ("owner", "text"), ("key", "text"), ("endpoint", "text"), ("model", "text"),
        ("prompt", "text"), ("params", "text"), ("request_hash", "text"), ("now", "float8"), ("holder", "text"),
        ("lease_until", "float8"), ("cap", "int4"), ("everyone", "bool"), ("since", "float8"),
        ("lock_key", "int8"), ("lock_timeout", "text"),
    ],
)  # fmt: skip
_FINISH: Final = Statement(
    "runway_mcp_finish",
    f"SELECT {FINISH_FUNCTION}({{}})",
    [("attempt_id", "text"), ("state", "text"), ("task_id", "text"), ("detail", "text"), ("at", "float8"),
     ("lock_timeout", "text")],
)  # fmt: skip


class FastPath:
    """`begin` and `finish` as single statements; build with `FastPath.open` once the schema is migrated."""

    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[DictRow]],
        *,
        lock_key: int,
        busy_timeout: float,
        loopback: Loopback | None = None,
    ) -> None:
        import psycopg

        self._pool = pool
        self._loopback = loopback
        self._lock_key = lock_key
        self._lock_timeout = f"{max(1, round(busy_timeout * 1000))}ms"
        self._operational_error = psycopg.OperationalError

    @classmethod
    async def open(
        cls, url: str, *, lock_key: int, connect_timeout: float, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_SECONDS
    ) -> FastPath:
        """Connect and install the function (under the journal's lock, so processes do not race). Raises on failure."""
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool

        kwargs: dict[str, Any] = {
            "row_factory": dict_row,
            "autocommit": True,  # each statement is its own transaction: one round trip, no BEGIN/COMMIT
            "connect_timeout": max(1, round(connect_timeout)),
            "prepare_threshold": None,
            "client_encoding": "utf8",  # as store/postgres.py's connections: text is str, whatever the database's
        }
        pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
            url,
            kwargs=kwargs,
            min_size=1,
            max_size=POOL_MAX_SIZE,
            open=False,
            timeout=connect_timeout,
            name="runway-mcp-fast",
        )
        try:
            await pool.open(wait=True, timeout=connect_timeout)
            async with pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%(key)s)", {"key": lock_key})
                for name, definition in ((BEGIN_FUNCTION, _DEFINITION), (FINISH_FUNCTION, _FINISH_DEFINITION)):
                    found = await conn.execute("SELECT to_regproc(%(name)s) IS NOT NULL AS found", {"name": name})
                    row = await found.fetchone()
                    if not (row and row["found"]):
                        await conn.execute(definition)
        except BaseException:
            await pool.close()
            raise
        return cls(pool, lock_key=lock_key, busy_timeout=busy_timeout, loopback=Loopback.connect(url, kwargs))

    async def begin(
        self, attempt: Attempt, *, attempt_id: str, holder: str, now: float, lease_until: float,
        cap: int | None, everyone: bool, since: float,
    ) -> tuple[FastDecision, int]:  # fmt: skip
        """Record the attempt unless its key is taken or the cap is reached: the decision and, for `cap`, the count."""
        params = insert_values(attempt, attempt_id=attempt_id, holder=holder, now=now, lease_until=lease_until) | {
            "cap": cap,
            "everyone": everyone,
            "since": since,
            "lock_key": self._lock_key,
            "lock_timeout": self._lock_timeout,
        }
        rows = await self._execute(_BEGIN, params)
        if not rows:
            raise RuntimeError(f"{BEGIN_FUNCTION} answered no row")
        return rows[0]["decision"], int(rows[0]["counted"])

    async def finish(self, attempt_id: str, state: str, task_id: str | None, detail: str | None, at: float) -> None:
        await self._execute(
            _FINISH,
            {
                "state": state,
                "task_id": task_id,
                "detail": detail,
                "at": at,
                "attempt_id": attempt_id,
                "lock_timeout": self._lock_timeout,
            },
        )

    async def aclose(self) -> None:
        if self._loopback is not None:
            self._loopback.close()
        await self._pool.close()

    async def _execute(self, statement: Statement, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run one idempotent statement: right here on loopback when it need not wait, else on the pool, again
        on another connection while the one used was lost."""
        if self._loopback is not None:
            rows = await self._loopback.run(statement, params | {"lock_timeout": INLINE_LOCK_TIMEOUT})
            if rows is not None:
                return rows
        tries = POOL_MAX_SIZE + 1  # each pooled connection may have been cut (a restart cuts them all)
        for attempt in range(1, tries + 1):
            async with self._pool.connection() as conn:
                try:
                    cursor = await conn.execute(statement.named, params)
                    return await cursor.fetchall() if cursor.description is not None else []
                except self._operational_error as exc:
                    # A lost connection (a restart, an administrator's cut, a proxy's idle timeout): once more.
                    # A lock wait that timed out, or any other refusal on a live connection, is the answer.
                    lost = conn.broken or (exc.sqlstate or "").startswith(LOST_CONNECTION_STATES)
                    if attempt == tries or not lost:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover
