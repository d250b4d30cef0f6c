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

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio
import anyio.to_thread

from runway_mcp.store.attempts import (
    DAY_SECONDS,
    HOLDER,
    MIGRATIONS,
    Attempt,
    AttemptRow,
    CapReached,
    Decision,
    KeyTaken,
    Outcome,
    Proceed,
    State,
    expire_stale,
    find_key,
    insert_values,
    migrate,
    row_of,
    schema_version,
    write_outcomes,
)
from runway_mcp.store.backend import Backend, Busy, Transaction

if TYPE_CHECKING:
    from runway_mcp.store.postgres_fast import FastPath

__all__ = [
    "Attempt",
    "AttemptRow",
    "CapReached",
    "Decision",
    "Journal",
    "JournalUnavailable",
    "KeyTaken",
    "Proceed",
    "State",
    "migrate",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class JournalUnavailable(Exception):
    """The journal could not record or read an attempt; the message says why."""


# At most this many outcomes are held in memory while the store cannot take them (then the oldest
# attempts stay in flight and turn in doubt when their lease runs out: safe, if less precise).
UNWRITTEN_CAP: Final = 10_000
# How often a process looks for in-flight creates whose sender on this host is gone (between, the lease rules).
HOLDER_CHECK_SECONDS: Final = 5.0


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
        # PostgreSQL's single-statement begin and finish (store/postgres_fast.py), opened once.
        self._fast: FastPath | None = None
        self._fast_tried = False
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
                    if backend.run(schema_version, write=False) == MIGRATIONS[-1][0]:
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
        journal = cls(backend, lease_seconds=lease_seconds, clock=clock)
        await journal._fast_path()  # opened now, not on the first create
        return journal

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
        check_holders = self._holder_check_due()
        fast = await self._fast_path()
        if fast is not None and not self._unwritten:
            if check_holders:  # a look for dead senders needs this process (os.kill): the generic path, now and then
                await self._run(
                    lambda tx: expire_stale(tx, self._clock(), check_holders=True), lock=True, action="check senders"
                )
            decision = await self._fast_begin(fast, attempt, cap=cap, cap_per_owner=cap_per_owner)
            if decision is not None:
                return decision

        def work(tx: Transaction) -> Decision:
            now = self._clock()
            expire_stale(tx, now, check_holders=check_holders)
            if attempt.idempotency_key is not None:
                earlier = find_key(tx, attempt.owner, attempt.idempotency_key)
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
                insert_values(
                    attempt, attempt_id=attempt_id, holder=HOLDER, now=now, lease_until=now + self.lease_seconds
                ),
            )
            return Proceed(attempt_id)

        return await self._run(work, lock=True, action="record this create")

    async def lookup(self, owner: str | None, key: str) -> AttemptRow | None:
        """The attempt holding this key (created, in flight or in doubt), read only. Raises JournalUnavailable."""
        return await self._run(lambda tx: find_key(tx, owner, key), lock=False, flush=False, action="look up the key")

    async def finish(
        self, attempt_id: str, state: State, *, task_id: str | None = None, detail: str | None = None
    ) -> None:
        """Record an attempt's outcome. Never raises: an outcome the store cannot take now is kept and retried."""
        if self._backend is None:
            return  # no store to write it to, now or later: the attempt was never recorded either
        outcome: Outcome = (state, task_id, detail, self._clock())
        if len(self._unwritten) < UNWRITTEN_CAP:
            self._unwritten[attempt_id] = outcome
        fast = self._fast
        with anyio.CancelScope(shield=True):
            if fast is not None and list(self._unwritten) == [attempt_id]:
                try:
                    await fast.finish(attempt_id, *outcome)
                    self._forget({attempt_id: outcome})
                except Exception as exc:
                    logger.warning(
                        "create %s: outcome %s kept in memory until the journal frees: %s: %s",
                        attempt_id, state, type(exc).__name__, exc,
                    )  # fmt: skip
                return
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
            return [row_of(r) for r in tx.execute(sql, params)]

        def expire_then_list(tx: Transaction) -> list[AttemptRow]:
            expire_stale(tx, self._clock(), check_holders=True)  # a dead sender's create is listed as in doubt
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
        fast, self._fast = self._fast, None
        if backend is None:
            return
        with anyio.CancelScope(shield=True):
            if fast is not None:
                with contextlib.suppress(Exception):
                    await fast.aclose()
            try:
                pending = dict(self._unwritten)
                await anyio.to_thread.run_sync(
                    lambda: backend.run(lambda tx: write_outcomes(tx, pending), write=True), limiter=self._limiter
                )
                self._forget(pending)
            except Exception as exc:
                logger.warning("The create journal could not record %d outcome(s): %s", len(self._unwritten), exc)
            await anyio.to_thread.run_sync(backend.close, limiter=self._limiter)
        self.unavailable_reason = "the journal was closed"

    async def _fast_path(self) -> FastPath | None:
        """The backend's fast path, opened on first use; None when it has none or it cannot be opened."""
        if not self._fast_tried and self._backend is not None:
            self._fast_tried = True
            open_fast_path = getattr(self._backend, "open_fast_path", None)
            if open_fast_path is not None:
                try:
                    self._fast = await open_fast_path()
                except Exception as exc:  # a read-only role, say: the generic path still works, or says why not
                    logger.warning("The create journal runs without its fast path: %s: %s", type(exc).__name__, exc)
        return self._fast

    async def _fast_begin(
        self, fast: FastPath, attempt: Attempt, *, cap: int | None, cap_per_owner: bool
    ) -> Decision | None:
        """`begin` in one statement; None when the key's holder changed before it could be read (then the
        generic path decides). Shielded like the generic path's worker thread: once recorded, the caller hears."""
        now = self._clock()
        attempt_id = uuid.uuid4().hex
        with anyio.CancelScope(shield=True):
            try:
                decision, counted = await fast.begin(
                    attempt, attempt_id=attempt_id, holder=HOLDER, now=now, lease_until=now + self.lease_seconds,
                    cap=cap, everyone=not cap_per_owner, since=now - DAY_SECONDS,
                )  # fmt: skip
            except Exception as exc:
                raise JournalUnavailable(
                    f"the create journal ({self.description}) could not record this create: {type(exc).__name__}: {exc}"
                ) from None
        if decision == "proceed":
            return Proceed(attempt_id)
        if decision == "cap":
            return CapReached(counted)
        key = attempt.idempotency_key
        assert key is not None  # "taken" is only ever said of a key

        def expire_then_find(tx: Transaction) -> AttemptRow | None:
            expire_stale(tx, self._clock(), check_holders=False)  # a lapsed lease reads as in doubt
            return find_key(tx, attempt.owner, key)

        earlier = await self._run(expire_then_find, lock=True, action="look up the key")
        return KeyTaken(earlier) if earlier is not None else None

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
            write_outcomes(tx, pending)
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
