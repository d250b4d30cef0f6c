"""The local record of every task this server creates: a small SQLite file that survives restarts.

Tasks cost the user money, so the ledger is what lets an agent find a task again after a crash, a
restart or a lost reply, and what makes an idempotent create return the original task. It is a side
record, never a gate: if the file cannot be opened or written (missing permissions, a corrupt file,
a locked database, a full disk) the ledger logs one warning, carries on disabled (or skips that one
operation) and every method answers with a neutral value instead of raising.

All SQLite work runs on one worker thread at a time (an anyio limiter of one over a connection
opened with `check_same_thread=False`), so the event loop never blocks on disk.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final, TypeVar

import anyio
import anyio.to_thread

from runway_mcp.store.records import TaskRecord, dump_json, load_json, sanitize_params

__all__ = ["SCHEMA_VERSION", "Ledger"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1
DEFAULT_BUSY_TIMEOUT_SECONDS: Final = 2.0
# A status this process stored moments ago is not written again (see `Ledger.update_status`). The
# window bounds how long another process's older write can outlive ours; the cap bounds the memory.
UNCHANGED_STATUS_WINDOW_SECONDS: Final = 60.0
_UNCHANGED_STATUS_MEMO_SIZE: Final = 1024
# At most this many created tasks are held in memory while the file cannot take them.
_UNWRITTEN_CAP: Final = 10_000

_SCHEMA: Final = f"""
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY, endpoint TEXT NOT NULL, model TEXT NOT NULL, prompt TEXT,
    params TEXT NOT NULL DEFAULT '{{}}', created_at REAL NOT NULL,
    status TEXT NOT NULL, progress REAL, outputs TEXT NOT NULL DEFAULT '[]',
    failure TEXT, failure_code TEXT, updated_at REAL, downloads TEXT NOT NULL DEFAULT '[]',
    idempotency_key TEXT, request_hash TEXT, owner TEXT
);
-- coalesce: SQLite treats NULLs as distinct in a unique index, and the stdio server has no owner.
CREATE UNIQUE INDEX IF NOT EXISTS tasks_owner_idempotency_key
    ON tasks (coalesce(owner, ''), idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_created_at ON tasks (created_at);
PRAGMA user_version = {SCHEMA_VERSION};
COMMIT;
"""

_INSERT: Final = """
INSERT INTO tasks (task_id, endpoint, model, prompt, params, created_at, status, progress, outputs,
                   failure, failure_code, updated_at, downloads, idempotency_key, request_hash, owner)
VALUES (:task_id, :endpoint, :model, :prompt, :params, :created_at, :status, :progress, :outputs,
        :failure, :failure_code, :updated_at, :downloads, :idempotency_key, :request_hash, :owner)
ON CONFLICT (task_id) DO NOTHING
"""

T = TypeVar("T")


def _record_from_row(row: sqlite3.Row) -> TaskRecord:
    columns = dict(zip(row.keys(), row, strict=True))
    columns["params"] = load_json(row["params"], dict, {})
    columns["outputs"] = [str(url) for url in load_json(row["outputs"], list, [])]
    columns["downloads"] = [str(path) for path in load_json(row["downloads"], list, [])]
    return TaskRecord(**columns)


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        # WAL lets readers and the writer proceed together; where a filesystem cannot do WAL,
        # SQLite keeps its rollback journal and the ledger still works.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"schema version {version} is newer than this runway-mcp understands ({SCHEMA_VERSION})"
            )
        if version < SCHEMA_VERSION:
            conn.executescript(_SCHEMA)
    except BaseException:
        conn.close()
        raise
    return conn


class Ledger:
    """The task ledger. Build one with `await Ledger.open(path)`; it never raises after that."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self.disabled_reason: str | None = None if path is not None else "no ledger path was given"
        self._limiter = anyio.CapacityLimiter(1)
        self._warned = False
        # task id -> (the status fields last stored by this process, when, on time.monotonic)
        self._stored: OrderedDict[str, tuple[tuple[object, ...], float]] = OrderedDict()
        # task id -> a token of the last update started for it, while one is in flight
        self._latest_update: dict[str, object] = {}
        # Created tasks the file could not take when they were made (a lock held too long): kept here,
        # answered from here, and written with the next created task, the next download or at close
        # (not on status polls, which stay one write or none). A created task is never dropped.
        self._unwritten: dict[str, TaskRecord] = {}

    @classmethod
    async def open(cls, path: Path | None, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_SECONDS) -> Ledger:
        """Open (creating if needed) the ledger at `path`; None gives a disabled ledger. Never raises.

        `busy_timeout` is how long, in seconds, one operation waits for another process's lock
        before that operation is skipped.
        """
        ledger = cls(path)
        if path is None:
            return ledger
        try:
            ledger._conn = await anyio.to_thread.run_sync(_connect, path, busy_timeout, limiter=ledger._limiter)
        except Exception as exc:  # the promise is that a ledger problem never stops the server
            ledger.disabled_reason = f"cannot open {path}: {_describe(exc)}"
            ledger._report(f"Task ledger is off, tasks will not be recorded locally: {ledger.disabled_reason}")
        return ledger

    @property
    def enabled(self) -> bool:
        """True while the ledger has an open database to record into."""
        return self._conn is not None

    @property
    def path(self) -> Path | None:
        """The database file, or None when no path was given."""
        return self._path

    async def record_created(self, record: TaskRecord) -> None:
        """Record a newly created task. A task id already recorded is left as it is.

        Its params are sanitised here as well, so media bytes never reach the file. If another
        task of the same owner already holds the idempotency key, this one is recorded without it.
        """
        if self._conn is None:
            return
        if len(self._unwritten) < _UNWRITTEN_CAP:
            self._unwritten[record.task_id] = record
        await self._write_unwritten()

    async def _write_unwritten(self) -> None:
        """Write the created tasks still held in memory; those the file takes are forgotten here."""
        pending = list(self._unwritten.values())

        def work(conn: sqlite3.Connection) -> bool:
            for record in pending:
                _insert(conn, record)
            return True

        with anyio.CancelScope(shield=True):  # the tasks were paid for: a cancelled caller must not lose them
            written = await self._call("record a created task", work, neutral=False)
        if written:
            for record in pending:
                if self._unwritten.get(record.task_id) is record:
                    del self._unwritten[record.task_id]

    async def update_status(
        self,
        task_id: str,
        *,
        status: str,
        progress: float | None,
        outputs: Sequence[str] | None,
        failure: str | None,
        failure_code: str | None,
    ) -> None:
        """Store the last known status of a task; `outputs=None` keeps the outputs already stored.

        An unknown task id is a no-op. A status this ledger stored for the task within the last
        `UNCHANGED_STATUS_WINDOW_SECONDS` is not written again, so polling a task costs a disk write
        (and a worker-thread hop) only when something worth keeping changed, or once a minute:
        - progress alone does not count: nothing reads it back from the ledger (listings show the
          status), and a running task's progress moves on every poll;
        - nor do output links whose query alone differs: the upstream signs them afresh on every
          read, and a stored link at most that window older expires no sooner in practice (links
          last 24-48 hours).
        So `updated_at` and `progress` are as of the last write, at most that window behind a read.
        """
        if self._conn is None:
            return  # disabled or closed: nothing to write, so no trip to the worker thread
        fields = (status, _link_identities(outputs), failure, failure_code)
        now = time.monotonic()
        stored = self._stored.get(task_id)
        if stored is not None and stored[0] == fields and now - stored[1] < UNCHANGED_STATUS_WINDOW_SECONDS:
            return
        row = {
            "task_id": task_id,
            "status": status,
            "progress": progress,
            "outputs": None if outputs is None else dump_json(list(outputs)),
            "failure": failure,
            "failure_code": failure_code,
            "updated_at": time.time(),
        }
        sql = """
            UPDATE tasks SET status = :status, progress = :progress, outputs = coalesce(:outputs, outputs),
                failure = :failure, failure_code = :failure_code, updated_at = :updated_at
            WHERE task_id = :task_id
        """
        self._stored.pop(task_id, None)
        mine = self._latest_update[task_id] = object()
        # Shielded like every write (see `_write`).
        with anyio.CancelScope(shield=True):
            stored_now = await self._call(
                "update a task's status", lambda conn: conn.execute(sql, row).rowcount == 1, neutral=False
            )
        if self._latest_update.get(task_id) is not mine:
            return  # a later update of this task is on its way: only the last one may be remembered
        del self._latest_update[task_id]
        # Remembered only when a row took it: an update that found no row (a task not recorded yet)
        # must not stop the same status from being written once the record exists.
        if stored_now:
            self._stored[task_id] = (fields, now)
            while len(self._stored) > _UNCHANGED_STATUS_MEMO_SIZE:
                self._stored.popitem(last=False)

    async def add_downloads(self, task_id: str, paths: Sequence[str]) -> None:
        """Append local file paths to a task's downloads, skipping ones already listed."""
        if self._unwritten:
            await self._write_unwritten()
        await self._write("add downloads", lambda conn: _append_downloads(conn, task_id, [str(p) for p in paths]))

    async def get(self, task_id: str, owner: str | None = None) -> TaskRecord | None:
        """The task with this id, or None. With `owner`, only a task that owner created."""
        sql = "SELECT * FROM tasks WHERE task_id = :task_id AND (:owner IS NULL OR owner = :owner)"
        rows = await self._read("look up a task", sql, {"task_id": task_id, "owner": owner})
        if rows:
            return rows[0]
        held = self._unwritten.get(task_id)
        return held if held is not None and (owner is None or held.owner == owner) else None

    async def list_recent(
        self, *, status: str | None = None, limit: int = 20, owner: str | None = None
    ) -> list[TaskRecord]:
        """The most recently created tasks, newest first, optionally of one status and/or owner."""
        sql = """
            SELECT * FROM tasks
            WHERE (:status IS NULL OR status = :status) AND (:owner IS NULL OR owner = :owner)
            ORDER BY created_at DESC, rowid DESC LIMIT :limit
        """
        rows = await self._read("list tasks", sql, {"status": status, "owner": owner, "limit": max(0, limit)})
        held = [
            r
            for r in self._unwritten.values()
            if (status is None or r.status == status) and (owner is None or r.owner == owner)
        ]
        if not held:
            return rows
        return sorted([*rows, *held], key=lambda r: r.created_at, reverse=True)[: max(0, limit)]

    async def find_idempotent(self, idempotency_key: str, owner: str | None = None) -> TaskRecord | None:
        """The task this owner created with this idempotency key, or None.

        Keys belong to one owner, so `owner=None` means "the caller without an owner" (stdio),
        not "any owner": one caller's key never returns another caller's task.
        """
        sql = "SELECT * FROM tasks WHERE coalesce(owner, '') = coalesce(:owner, '') AND idempotency_key = :key"
        rows = await self._read("look up an idempotency key", sql, {"key": idempotency_key, "owner": owner})
        return rows[0] if rows else None

    async def count_created_since(self, since: float, owner: str | None = None) -> int:
        """How many tasks were created at or after `since` (unix seconds), by `owner` or by anyone."""
        sql = "SELECT count(*) FROM tasks WHERE created_at >= :since AND (:owner IS NULL OR owner = :owner)"
        params = {"since": since, "owner": owner}
        return await self._call("count tasks", lambda conn: int(conn.execute(sql, params).fetchone()[0]), neutral=0)

    async def aclose(self) -> None:
        """Close the database. Safe to call twice; every method is a no-op afterwards."""
        if self._unwritten and self._conn is not None:
            await self._write_unwritten()
        if self.disabled_reason is None:
            self.disabled_reason = "the ledger was closed"
        with anyio.CancelScope(shield=True):
            try:
                await anyio.to_thread.run_sync(self._drop_connection, limiter=self._limiter)
            except Exception as exc:
                self._report(f"Task ledger did not close cleanly: {_describe(exc)}")

    async def _read(self, action: str, sql: str, params: Mapping[str, Any]) -> list[TaskRecord]:
        def query(conn: sqlite3.Connection) -> list[TaskRecord]:
            return [_record_from_row(row) for row in conn.execute(sql, params)]

        return await self._call(action, query, neutral=[])

    async def _write(self, action: str, work: Callable[[sqlite3.Connection], object]) -> None:
        # Shielded: the task was already paid for, so a cancelled caller must not cost us its record.
        # The busy timeout bounds how long this can hold up the cancellation.
        with anyio.CancelScope(shield=True):
            await self._call(action, work, neutral=None)

    async def _call(self, action: str, work: Callable[[sqlite3.Connection], T], *, neutral: T) -> T:
        def job() -> T:
            # Read the connection on the worker thread: a close queued ahead of us may have run.
            conn = self._conn
            return neutral if conn is None else work(conn)

        try:
            return await anyio.to_thread.run_sync(job, limiter=self._limiter)
        except Exception as exc:  # a ledger problem must never fail the tool call around it
            self._report(f"Task ledger could not {action}, carrying on without it: {_describe(exc)}")
            return neutral

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _report(self, message: str) -> None:
        level = logging.DEBUG if self._warned else logging.WARNING
        self._warned = True
        logger.log(level, message)


def _insert(conn: sqlite3.Connection, record: TaskRecord) -> None:
    row = {
        **asdict(record),
        "params": dump_json(sanitize_params(record.params)),
        "outputs": dump_json(list(record.outputs)),
        "downloads": dump_json(list(dict.fromkeys(record.downloads))),
    }
    try:
        conn.execute(_INSERT, row)
    except sqlite3.IntegrityError:
        # Task id clashes are ignored by the insert, so this is the per-owner idempotency key. The
        # task exists upstream and was paid for: keep its record, leave the key with the first task.
        logger.warning(
            "Task %s reuses idempotency key %r already held by another task; recorded without the key",
            record.task_id,
            record.idempotency_key,
        )
        conn.execute(_INSERT, {**row, "idempotency_key": None})


def _append_downloads(conn: sqlite3.Connection, task_id: str, paths: list[str]) -> None:
    # IMMEDIATE takes the write lock before reading, so another process cannot interleave.
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = conn.execute("SELECT downloads FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        if found is not None:
            merged = list(dict.fromkeys([*load_json(found["downloads"], list, []), *paths]))
            conn.execute("UPDATE tasks SET downloads = ? WHERE task_id = ?", (dump_json(merged), task_id))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _link_identities(outputs: Sequence[str] | None) -> tuple[str, ...] | None:
    """Output links without their query and fragment: what stays the same when a link is re-signed."""
    if outputs is None:
        return None
    return tuple(url.split("#", 1)[0].split("?", 1)[0] for url in outputs)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
