"""The create journal: every attempt to create a paid task, written before the request can leave.

A retried create must never be billed twice, and the daily cap must hold across processes. So an
attempt is recorded, and one unit of the cap reserved, in one transaction of a store that every
process shares (`store/backend.py`), before anything is sent. Its state then says what happened:

- `in_flight`: recorded, and the request may be on its way;
- `created`: the upstream answered with a task id;
- `not_created`: the upstream certainly did not create it (refused, or the request never left);
- `in_doubt`: it may or may not have been created (and billed): an ambiguous answer, or the
  process sending it stopped before recording the outcome (its lease ran out, or, on this host,
  its process is gone).

In-flight, created and in-doubt attempts count toward the cap; only `not_created` frees its key.
No secret is ever stored: the parameters are sanitised (media shortened) before they get here.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

import anyio
import anyio.to_thread

from runway_mcp.store.backend import Backend, Busy, Transaction

__all__ = ["Attempt", "AttemptRow", "CapReached", "Journal", "JournalUnavailable", "KeyTaken", "Proceed"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
State = Literal["in_flight", "created", "not_created", "in_doubt"]
DAY_SECONDS: Final = 86400.0
# This process, as other processes see it in the journal: host, pid, and a token for this run.
HOLDER: Final = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:12]}"

# Versioned migrations, applied in order, each once; the versions applied are kept in the store.
MIGRATIONS: Final[tuple[tuple[int, tuple[str, ...]], ...]] = (
    (
        1,
        (
            """CREATE TABLE IF NOT EXISTS create_attempts (
                attempt_id TEXT PRIMARY KEY, owner TEXT NOT NULL, idempotency_key TEXT,
                endpoint TEXT NOT NULL, model TEXT NOT NULL, prompt TEXT, params TEXT NOT NULL,
                request_hash TEXT NOT NULL, state TEXT NOT NULL, task_id TEXT, detail TEXT,
                started_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION,
                holder TEXT NOT NULL, lease_until DOUBLE PRECISION NOT NULL)""",
            """CREATE UNIQUE INDEX IF NOT EXISTS create_attempts_key ON create_attempts (owner, idempotency_key)
                WHERE idempotency_key IS NOT NULL AND state <> 'not_created'""",
            "CREATE INDEX IF NOT EXISTS create_attempts_started ON create_attempts (started_at)",
            "CREATE INDEX IF NOT EXISTS create_attempts_state ON create_attempts (state)",
        ),
    ),
)


class JournalUnavailable(Exception):
    """The journal could not record or read an attempt; the message says why."""


@dataclass(frozen=True)
class Attempt:
    """A create about to be sent: who, where, and the sanitised request with its hash."""

    owner: str | None
    idempotency_key: str | None
    endpoint: str
    model: str
    prompt: str | None
    params: dict[str, Any]
    request_hash: str


@dataclass(frozen=True)
class AttemptRow(Attempt):
    """An attempt as the journal holds it: the attempt, and what became of it."""

    attempt_id: str
    state: State
    task_id: str | None
    detail: str | None
    started_at: float
    finished_at: float | None
    lease_until: float


@dataclass(frozen=True)
class Proceed:
    """The attempt is recorded (and, under a cap, counted): send it, then `finish` it."""

    attempt_id: str


@dataclass(frozen=True)
class KeyTaken:
    """The idempotency key already belongs to an attempt that is created, in flight or in doubt."""

    earlier: AttemptRow


@dataclass(frozen=True)
class CapReached:
    """`counted` attempts in the last 24 hours already reach the cap; nothing was recorded."""

    counted: int


Decision = Proceed | KeyTaken | CapReached
# An attempt's recorded outcome: state, task id, detail, when.
Outcome = tuple[State, str | None, str | None, float]


def _row(values: dict[str, Any]) -> AttemptRow:
    params = json.loads(values["params"]) if values.get("params") else {}
    return AttemptRow(
        attempt_id=values["attempt_id"],
        owner=values["owner"] or None,
        idempotency_key=values["idempotency_key"],
        endpoint=values["endpoint"],
        model=values["model"],
        prompt=values["prompt"],
        params=params if isinstance(params, dict) else {},
        request_hash=values["request_hash"],
        state=values["state"],
        task_id=values["task_id"],
        detail=values["detail"],
        started_at=float(values["started_at"]),
        finished_at=None if values["finished_at"] is None else float(values["finished_at"]),
        lease_until=float(values["lease_until"]),
    )


def holder_is_gone(holder: str) -> bool:
    """True when `holder` is a process on this host that no longer runs (another host's: never known)."""
    host, _, rest = holder.partition("/")
    pid_text = rest.partition("/")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or holder == HOLDER:
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists but is not ours to signal
    return False


def migrate(tx: Transaction) -> None:
    """Apply the migrations this store has not had yet."""
    tx.execute("CREATE TABLE IF NOT EXISTS journal_schema (version INTEGER PRIMARY KEY)")
    applied = {int(row["version"]) for row in tx.execute("SELECT version FROM journal_schema")}
    for version, statements in MIGRATIONS:
        if version in applied:
            continue
        for statement in statements:
            tx.execute(statement)
        tx.execute("INSERT INTO journal_schema (version) VALUES (:version)", {"version": version})


def _schema_version(tx: Transaction) -> int:
    rows = tx.execute("SELECT max(version) AS version FROM journal_schema")
    return int(rows[0]["version"] or 0) if rows else 0


STOPPED: Final = "The server sending this create stopped before its answer was recorded."
# At most this many outcomes are held in memory while the store cannot take them (then the oldest
# attempts stay in flight and turn in doubt when their lease runs out: safe, if less precise).
UNWRITTEN_CAP: Final = 10_000
# How often a process looks for in-flight creates whose sender on this host is gone (between, the lease rules).
HOLDER_CHECK_SECONDS: Final = 5.0


def _expire_stale(tx: Transaction, now: float, *, check_holders: bool) -> None:
    """In-flight attempts whose lease ran out, or (with `check_holders`) whose sender is gone, become in doubt."""
    expire = {"now": now, "detail": STOPPED}
    tx.execute(
        "UPDATE create_attempts SET state = 'in_doubt', finished_at = :now, detail = :detail "
        "WHERE state = 'in_flight' AND lease_until < :now",
        expire,
    )
    if not check_holders:
        return
    for row in tx.execute("SELECT attempt_id, holder FROM create_attempts WHERE state = 'in_flight'"):
        if holder_is_gone(row["holder"]):
            tx.execute(
                "UPDATE create_attempts SET state = 'in_doubt', finished_at = :now, detail = :detail "
                "WHERE attempt_id = :attempt_id AND state = 'in_flight'",
                {**expire, "attempt_id": row["attempt_id"]},
            )


def _find_key(tx: Transaction, owner: str | None, key: str) -> AttemptRow | None:
    rows = tx.execute(
        "SELECT * FROM create_attempts WHERE owner = :owner AND idempotency_key = :key AND state <> 'not_created'",
        {"owner": owner or "", "key": key},
    )
    return _row(rows[0]) if rows else None


class Journal:
    """The create journal over one backend. Build it with `Journal.open`; see the module docstring."""

    def __init__(
        self,
        backend: Backend | None,
        *,
        lease_seconds: float,
        unavailable_reason: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._backend = backend
        self.lease_seconds = lease_seconds
        self.unavailable_reason = unavailable_reason if backend is None else None
        self._clock = clock
        self._limiter = anyio.CapacityLimiter(1)
        # Outcomes the store could not take when they happened: written at the next chance.
        self._unwritten: dict[str, Outcome] = {}
        self._holders_checked_at = float("-inf")

    @classmethod
    async def open(
        cls, make_backend: Callable[[], Backend], *, lease_seconds: float, clock: Callable[[], float] = time.time
    ) -> Journal:
        """Open the backend and apply its migrations; on failure the journal is unavailable (never raises)."""

        def start() -> Backend:
            backend = make_backend()
            try:
                backend.run(migrate, write=True)
            except Exception:
                # A store that can be read but not written (a read-only file or role) still answers for
                # the keys it holds, when its schema is current; every write then fails, and says why.
                try:
                    if backend.run(_schema_version, write=False) == MIGRATIONS[-1][0]:
                        logger.warning("The create journal %s can only be read", backend.description)
                        return backend
                except Exception as unreadable:
                    logger.debug("the create journal cannot be read either: %s", unreadable)
                backend.close()
                raise
            except BaseException:
                backend.close()
                raise
            return backend

        try:
            backend = await anyio.to_thread.run_sync(start)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            logger.warning("The create journal cannot be used: %s", reason)
            return cls(None, lease_seconds=lease_seconds, unavailable_reason=reason, clock=clock)
        return cls(backend, lease_seconds=lease_seconds, clock=clock)

    @property
    def available(self) -> bool:
        return self._backend is not None

    @property
    def description(self) -> str:
        return self._backend.description if self._backend is not None else "unavailable"

    @property
    def shared_across_processes(self) -> bool:
        return self._backend is not None and self._backend.shared_across_processes

    async def begin(self, attempt: Attempt, *, cap: int | None, cap_per_owner: bool) -> Decision:
        """Record the attempt and count it toward the cap, or say why not. Raises JournalUnavailable."""

        def work(tx: Transaction) -> Decision:
            now = self._clock()
            _expire_stale(tx, now, check_holders=self._holder_check_due())
            if attempt.idempotency_key is not None:
                earlier = _find_key(tx, attempt.owner, attempt.idempotency_key)
                if earlier is not None:
                    return KeyTaken(earlier)
            if cap is not None:
                counted = int(
                    tx.execute(
                        "SELECT count(*) AS n FROM create_attempts WHERE state <> 'not_created' "
                        "AND started_at >= :since AND (:everyone = 1 OR owner = :owner)",
                        {
                            "since": now - DAY_SECONDS,
                            "everyone": 0 if cap_per_owner else 1,
                            "owner": attempt.owner or "",
                        },
                    )[0]["n"]
                )
                if counted >= cap:
                    return CapReached(counted)
            attempt_id = uuid.uuid4().hex
            tx.execute(
                "INSERT INTO create_attempts (attempt_id, owner, idempotency_key, endpoint, model, prompt, params, "
                "request_hash, state, started_at, holder, lease_until) VALUES (:attempt_id, :owner, :key, :endpoint, "
                ":model, :prompt, :params, :request_hash, 'in_flight', :now, :holder, :lease_until)",
                {
                    "attempt_id": attempt_id,
                    "owner": attempt.owner or "",
                    "key": attempt.idempotency_key,
                    "endpoint": attempt.endpoint,
                    "model": attempt.model,
                    "prompt": attempt.prompt,
                    "params": json.dumps(attempt.params, separators=(",", ":"), sort_keys=True, default=str),
                    "request_hash": attempt.request_hash,
                    "now": now,
                    "holder": HOLDER,
                    "lease_until": now + self.lease_seconds,
                },
            )
            return Proceed(attempt_id)

        return await self._run(work, lock=True, action="record this create")

    async def lookup(self, owner: str | None, key: str) -> AttemptRow | None:
        """The attempt holding this key (created, in flight or in doubt), read only. Raises JournalUnavailable."""
        return await self._run(lambda tx: _find_key(tx, owner, key), lock=False, flush=False, action="look up the key")

    async def finish(
        self, attempt_id: str, state: State, *, task_id: str | None = None, detail: str | None = None
    ) -> None:
        """Record an attempt's outcome. Never raises: an outcome the store cannot take now is kept and retried."""
        if self._backend is None:
            return  # no store to write it to, now or later: the attempt was never recorded either
        if len(self._unwritten) < UNWRITTEN_CAP:
            self._unwritten[attempt_id] = (state, task_id, detail, self._clock())
        with anyio.CancelScope(shield=True):
            try:
                await self._run(lambda tx: None, lock=False, action="record a create's outcome")
            except JournalUnavailable as exc:
                logger.warning(
                    "create %s: outcome %s kept in memory until the journal frees: %s", attempt_id, state, exc
                )

    async def attempts(
        self, *, owner: str | None, states: Sequence[State], limit: int, everyone: bool = False
    ) -> list[AttemptRow]:
        """The newest attempts in these states (of `owner`, unless `everyone`). Empty when unavailable."""
        # Placeholders only (":s0, :s1"): the states themselves go in as parameters.
        marks = ", ".join(f":s{i}" for i in range(len(states)))
        sql = (
            f"SELECT * FROM create_attempts WHERE state IN ({marks}) AND (:everyone = 1 OR owner = :owner) "  # noqa: S608
            "ORDER BY started_at DESC LIMIT :limit"
        )
        params: dict[str, Any] = {f"s{i}": s for i, s in enumerate(states)}
        params |= {"everyone": 1 if everyone else 0, "owner": owner or "", "limit": max(0, limit)}

        def listing(tx: Transaction) -> list[AttemptRow]:
            return [_row(r) for r in tx.execute(sql, params)]

        def expire_then_list(tx: Transaction) -> list[AttemptRow]:
            _expire_stale(tx, self._clock(), check_holders=True)  # a dead sender's create is listed as in doubt
            return listing(tx)

        try:
            return await self._run(expire_then_list, lock=False, action="list")
        except JournalUnavailable:
            pass
        try:
            return await self._run(listing, lock=False, flush=False, action="list")  # a store that can only be read
        except JournalUnavailable:
            return []

    async def aclose(self) -> None:
        """Write what is pending, then close. Safe to call twice."""
        backend, self._backend = self._backend, None
        if backend is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                pending = dict(self._unwritten)
                await anyio.to_thread.run_sync(
                    lambda: backend.run(lambda tx: _write_outcomes(tx, pending), write=True), limiter=self._limiter
                )
                self._forget(pending)
            except Exception as exc:
                logger.warning("The create journal could not record %d outcome(s): %s", len(self._unwritten), exc)
            await anyio.to_thread.run_sync(backend.close, limiter=self._limiter)
        self.unavailable_reason = "the journal was closed"

    def _forget(self, written: dict[str, Outcome]) -> None:
        for attempt_id, outcome in written.items():
            if self._unwritten.get(attempt_id) == outcome:
                del self._unwritten[attempt_id]

    def _holder_check_due(self) -> bool:
        now = time.monotonic()
        if now - self._holders_checked_at < HOLDER_CHECK_SECONDS:
            return False
        self._holders_checked_at = now
        return True

    async def _run(self, work: Callable[[Transaction], T], *, lock: bool, action: str, flush: bool = True) -> T:
        """Run `work` in one transaction, first recording every outcome still pending (unless not `flush`).

        `lock` takes the store's write lock first: for a check and the write it decides on (`begin`).
        """
        backend = self._backend
        if backend is None:
            raise JournalUnavailable(f"the create journal is unavailable ({self.unavailable_reason})")
        pending = dict(self._unwritten) if flush else {}

        def transaction(tx: Transaction) -> T:
            _write_outcomes(tx, pending)
            return work(tx)

        try:
            done, now = self._run_now(backend, transaction, write=lock)
            if done:
                result: T = now
            else:
                result = await anyio.to_thread.run_sync(
                    lambda: backend.run(transaction, write=lock), limiter=self._limiter
                )
        except Exception as exc:
            raise JournalUnavailable(
                f"the create journal ({backend.description}) could not {action}: {type(exc).__name__}: {exc}"
            ) from None
        self._forget(pending)
        return result

    def _run_now(self, backend: Backend, transaction: Callable[[Transaction], T], *, write: bool) -> tuple[bool, Any]:
        """A quick store's transaction right here, when nothing else holds it: a worker thread's hop would
        cost more than the transaction. `(False, None)` when it would have to wait for a lock."""
        if not backend.quick or self._limiter.borrowed_tokens:
            return False, None
        try:
            return True, backend.run_now(transaction, write=write)
        except Busy:
            return False, None


def _write_outcomes(tx: Transaction, outcomes: dict[str, Outcome]) -> None:
    for attempt_id, (state, task_id, detail, at) in outcomes.items():
        tx.execute(
            "UPDATE create_attempts SET state = :state, task_id = :task_id, detail = :detail, finished_at = :at "
            "WHERE attempt_id = :attempt_id",
            {"state": state, "task_id": task_id, "detail": detail, "at": at, "attempt_id": attempt_id},
        )
