"""The journal's table of create attempts: its schema, its rows, and the SQL every path shares.

`store/journal.py` decides with these inside one transaction of a backend (`store/backend.py`);
`store/postgres_fast.py` decides the same in a server-side function.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any, Final, Literal

from runway_mcp.store.backend import Transaction

__all__ = [
    "DAY_SECONDS",
    "HOLDER",
    "MIGRATIONS",
    "STOPPED",
    "Attempt",
    "AttemptRow",
    "CapReached",
    "Decision",
    "KeyTaken",
    "Outcome",
    "Proceed",
    "State",
    "expire_stale",
    "find_key",
    "holder_is_gone",
    "insert_values",
    "migrate",
    "params_json",
    "row_of",
    "schema_version",
    "write_outcomes",
]

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


def insert_values(attempt: Attempt, *, attempt_id: str, holder: str, now: float, lease_until: float) -> dict[str, Any]:
    """The values of a new in-flight attempt's row, by the names both insert paths use."""
    return {
        "attempt_id": attempt_id,
        "owner": attempt.owner or "",
        "key": attempt.idempotency_key,
        "endpoint": attempt.endpoint,
        "model": attempt.model,
        "prompt": attempt.prompt,
        "params": params_json(attempt),
        "request_hash": attempt.request_hash,
        "now": now,
        "holder": holder,
        "lease_until": lease_until,
    }


def params_json(attempt: Attempt) -> str:
    """An attempt's parameters as the journal stores them."""
    return json.dumps(attempt.params, separators=(",", ":"), sort_keys=True, default=str)


def row_of(values: dict[str, Any]) -> AttemptRow:
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


def schema_version(tx: Transaction) -> int:
    rows = tx.execute("SELECT max(version) AS version FROM journal_schema")
    return int(rows[0]["version"] or 0) if rows else 0


STOPPED: Final = "The server sending this create stopped before its answer was recorded."


def expire_stale(tx: Transaction, now: float, *, check_holders: bool) -> None:
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


def find_key(tx: Transaction, owner: str | None, key: str) -> AttemptRow | None:
    rows = tx.execute(
        "SELECT * FROM create_attempts WHERE owner = :owner AND idempotency_key = :key AND state <> 'not_created'",
        {"owner": owner or "", "key": key},
    )
    return row_of(rows[0]) if rows else None


def write_outcomes(tx: Transaction, outcomes: dict[str, Outcome]) -> None:
    for attempt_id, (state, task_id, detail, at) in outcomes.items():
        tx.execute(
            "UPDATE create_attempts SET state = :state, task_id = :task_id, detail = :detail, finished_at = :at "
            "WHERE attempt_id = :attempt_id",
            {"state": state, "task_id": task_id, "detail": detail, "at": at, "attempt_id": attempt_id},
        )
