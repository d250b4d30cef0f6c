"""Where the create journal lives: what a storage backend must do, and the SQLite one.

The journal's logic (`store/journal.py`) is plain SQL run inside one transaction at a time. A
backend only opens transactions: `run(work, write=True)` calls `work` with a `Transaction` while
holding the store's write lock, so a check and the row it decides to insert are one atomic step
for every process (and, with PostgreSQL, every host) that shares the store. Backends are
synchronous; the journal calls them on a worker thread.

SQL is written once, with `:name` parameters, in the dialect SQLite and PostgreSQL share.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT_SECONDS: Final = 5.0


class Transaction(Protocol):
    """One open transaction: run a statement, get its rows as dicts."""

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...


class Backend(Protocol):
    """A store the journal can run transactions in."""

    @property
    def description(self) -> str:
        """Where it is, for messages (never with a password)."""
        ...

    @property
    def shared_across_processes(self) -> bool:
        """False for a store that lives in this process's memory only."""
        ...

    def run(self, work: Callable[[Transaction], T], *, write: bool) -> T:
        """Run `work` in one transaction; `write` takes the store's write lock first. Raises on failure."""
        ...

    def run_now(self, work: Callable[[Transaction], T], *, write: bool) -> T:
        """`run`, but raise `Busy` at once instead of waiting for a lock; only for backends that are `quick`."""
        ...

    @property
    def quick(self) -> bool:
        """True when a transaction takes microseconds and never waits on the network (see `Journal._run`)."""
        ...

    def close(self) -> None: ...


class Busy(Exception):
    """The store's lock is held by someone else right now (from `run_now`)."""


class _SqliteTransaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        cursor = self._conn.execute(sql, dict(params or {}))
        if cursor.description is None:
            return []
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class SqliteBackend:
    """The journal in an SQLite file (every process on this host shares it), or in memory (`path=None`).

    A write transaction starts with BEGIN IMMEDIATE, which takes SQLite's one write lock before the
    first read, so two processes cannot both find a key free and both insert it. Waiting for that
    lock is bounded by `busy_timeout`; past it the transaction fails and the journal says so.
    """

    def __init__(self, path: Path | None, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_SECONDS) -> None:
        self._path = path
        self._busy_timeout = busy_timeout
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = ":memory:" if path is None else str(path)
        conn = sqlite3.connect(target, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            if path is not None:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    @property
    def description(self) -> str:
        return "memory (this process only)" if self._path is None else str(self._path)

    @property
    def shared_across_processes(self) -> bool:
        return self._path is not None

    @property
    def quick(self) -> bool:
        return True

    def run_now(self, work: Callable[[Transaction], T], *, write: bool) -> T:
        conn = self._conn
        if conn is None:
            raise sqlite3.ProgrammingError("the journal is closed")
        conn.execute("PRAGMA busy_timeout = 0")
        try:
            return self.run(work, write=write)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise Busy(str(exc)) from None
            raise
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")

    def run(self, work: Callable[[Transaction], T], *, write: bool) -> T:
        conn = self._conn
        if conn is None:
            raise sqlite3.ProgrammingError("the journal is closed")
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            result = work(_SqliteTransaction(conn))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
