"""The create journal in PostgreSQL (`RUNWAY_MCP_DATABASE_URL`), shared by every process on every host.

`PostgresBackend` implements `store/backend.py`'s `Backend` with psycopg 3's synchronous API and a
small connection pool. A write transaction first takes a transaction-level advisory lock with a
fixed key, so the journal's check-then-insert is one atomic step across hosts (SQLite gets the same
from BEGIN IMMEDIATE). Waiting for that lock is bounded by `busy_timeout` (PostgreSQL's
`lock_timeout`), and a transaction left idle by a stalled holder is ended by the server after
`IDLE_IN_TRANSACTION_SECONDS`, which frees the lock for everyone else.

A pooled connection may have been cut since its last use (a server restart, a proxy's idle
timeout). When the first statement fails on a broken connection, before the journal's work ran any
statement, the transaction is tried again on another connection (as many times as the pool holds
connections, each of which may have been cut); never after.

Only this module imports psycopg, and only the store code that finds a database URL imports it,
so a server without one never loads it.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode

from runway_mcp.store.backend import DEFAULT_BUSY_TIMEOUT_SECONDS, Busy, Transaction

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import DictRow
    from psycopg_pool import ConnectionPool

    from runway_mcp.store.postgres_fast import FastPath

__all__ = ["JOURNAL_LOCK_KEY", "PostgresBackend", "PostgresUnavailable", "mask_url", "to_psycopg"]

T = TypeVar("T")

# The advisory lock every write transaction of the journal takes: one 64-bit key, "runwayjl" in ASCII.
JOURNAL_LOCK_KEY: Final = 0x72756E776179_6A6C
DEFAULT_CONNECT_TIMEOUT_SECONDS: Final = 5.0
IDLE_IN_TRANSACTION_SECONDS: Final = 60.0
POOL_MIN_SIZE: Final = 1
POOL_MAX_SIZE: Final = 4
# How long the pool keeps retrying (with backoff) to replace a lost connection before it leaves
# that to the next transaction. Short, so a database that comes back is used within seconds, not
# after a backoff that grew during a long outage.
RECONNECT_SECONDS: Final = 10.0
# Query parameters of a connection URL whose values are secrets.
SECRET_PARAMETERS: Final = frozenset({"password", "sslpassword"})

# What the placeholder conversion must step over: string literals, quoted identifiers and comments
# (copied, with their `%` doubled), `::` casts, `:name` parameters, and a bare `%`.
_SQL_TOKEN: Final = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|::|:([A-Za-z_][A-Za-z0-9_]*)|%""")


class PostgresUnavailable(RuntimeError):
    """The database cannot be reached; the message names it (without its password) and why."""


@functools.lru_cache(maxsize=256)
def to_psycopg(sql: str) -> str:
    """`:name` parameters -> psycopg's `%(name)s`; every other `%` doubled; casts and literals kept."""

    def convert(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return f"%({match.group(1)})s"
        return match.group(0).replace("%", "%%")

    return _SQL_TOKEN.sub(convert, sql)


def _split(url: str) -> tuple[str, str, str, str, str]:
    """scheme://, user info, hosts and path, query, #fragment: split by hand, so no URL makes it raise."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    rest, hash_sign, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    # Up to the last `@`, even past a `/`: a password someone forgot to percent-encode stays hidden.
    userinfo, at, rest = rest.rpartition("@")
    return f"{scheme}{sep}", userinfo if at else "", rest, query, hash_sign + fragment


def mask_url(url: str) -> str:
    """The URL with its password (in the user part or a query parameter) shown as `***`."""
    head, userinfo, rest, query, fragment = _split(url)
    if ":" in userinfo:
        userinfo = f"{userinfo.partition(':')[0]}:***"
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(key, "***" if key.lower() in SECRET_PARAMETERS else value) for key, value in pairs], safe="*/:"
        )
    return f"{head}{userinfo}{'@' if userinfo else ''}{rest}{'?' if query else ''}{query}{fragment}"


def _secrets_of(url: str) -> list[str]:
    """The password(s) a URL carries, as written and percent-decoded, longest first."""
    _, userinfo, _, query, _ = _split(url)
    found = [userinfo.partition(":")[2]]
    found += [value for key, value in parse_qsl(query) if key.lower() in SECRET_PARAMETERS]
    variants = {form for secret in found if secret for form in (secret, unquote(secret), quote(secret, safe=""))}
    return sorted(variants, key=len, reverse=True)


class _PostgresTransaction:
    def __init__(self, conn: Connection[DictRow]) -> None:
        self._conn = conn
        self.statements_done = 0  # the journal's statements that ran; after one, never retry

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        # Always with a mapping, so psycopg reads the placeholders (and the doubled `%`) in it.
        cursor = self._conn.execute(to_psycopg(sql), dict(params or {}))
        self.statements_done += 1
        # Only a query's rows are waited for; any other statement stays in the pipeline until the next read.
        return cursor.fetchall() if sql.lstrip()[:6].upper().startswith(("SELECT", "WITH")) else []


class PostgresBackend:
    """The journal in a PostgreSQL database. Connects on construction; raises PostgresUnavailable if it cannot.

    `connect_timeout` bounds opening the pool here and waiting for a pooled connection later;
    `busy_timeout` bounds waiting for another writer's lock, as SQLite's does.
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_SECONDS,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT_SECONDS,
        min_size: int = POOL_MIN_SIZE,
        max_size: int = POOL_MAX_SIZE,
    ) -> None:
        import psycopg
        from psycopg.conninfo import conninfo_to_dict
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool, PoolTimeout

        self._url = url
        self._description = mask_url(url)
        self._secrets = _secrets_of(url)
        self._connect_timeout = connect_timeout
        self._busy_timeout = busy_timeout
        self._max_size = max_size
        self._psycopg_error = psycopg.Error
        self._operational_error = psycopg.OperationalError
        self._pool_timeout = PoolTimeout
        try:
            conninfo_to_dict(url)  # a malformed URL is refused here, not retried by the pool's workers
        except psycopg.Error as exc:
            raise PostgresUnavailable(f"{self._description} is not a usable database URL: {self._scrub(exc)}") from None
        kwargs: dict[str, Any] = {
            "row_factory": dict_row,
            "autocommit": False,
            "connect_timeout": max(1, round(connect_timeout)),
            # No server-side prepared statements, and only transaction-scoped settings (see _lock): the
            # journal then also works through a transaction-pooling proxy such as PgBouncer.
            "prepare_threshold": None,
            # Text in and out as UTF-8, whatever the database's own encoding: an SQL_ASCII database would
            # otherwise hand text back as bytes, and a decision read as bytes would be misread.
            "client_encoding": "utf8",
        }
        pool: ConnectionPool[Connection[DictRow]] = ConnectionPool(
            url,
            kwargs=kwargs,
            min_size=min_size,
            max_size=max_size,
            open=False,
            timeout=connect_timeout,
            reconnect_timeout=max(RECONNECT_SECONDS, connect_timeout),
            name="runway-mcp-journal",
        )
        try:
            pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout:
            pool.close()
            raise PostgresUnavailable(
                f"cannot connect to {self._description} within {connect_timeout:g} s: {self._why_unreachable()}"
            ) from None
        except BaseException:
            pool.close()
            raise
        self._pool: ConnectionPool[Connection[DictRow]] | None = pool

    @property
    def description(self) -> str:
        return self._description

    @property
    def shared_across_processes(self) -> bool:
        return True

    @property
    def quick(self) -> bool:
        return False  # every transaction is a network round trip or more: the journal runs it on a worker thread

    def run(self, work: Callable[[Transaction], T], *, write: bool) -> T:
        return self._transaction(work, write=write, wait=True)

    def run_now(self, work: Callable[[Transaction], T], *, write: bool) -> T:
        """`run`, but raise `Busy` at once when another writer holds the journal's lock."""
        return self._transaction(work, write=write, wait=False)

    def _transaction(self, work: Callable[[Transaction], T], *, write: bool, wait: bool) -> T:
        for attempt in range(1, self._max_size + 2):  # each pooled connection may be a dead one
            pool = self._pool
            if pool is None:
                raise PostgresUnavailable(f"the journal on {self._description} is closed")
            try:
                conn = pool.getconn()
            except self._pool_timeout:
                raise PostgresUnavailable(
                    f"no connection to {self._description} within {self._connect_timeout:g} s "
                    "(the server is down or unreachable, or every pooled connection is busy)"
                ) from None
            tx = _PostgresTransaction(conn)
            try:
                # Pipeline mode: statements go out without waiting, and the server is heard from only where
                # a result is read (a SELECT) and at the commit. A transaction is then two or three round
                # trips instead of one per statement. The lock's own row is read first, so a dead
                # connection shows before any statement of ours was sent (see the retry below).
                with conn.pipeline():
                    self._lock(conn, write=write, wait=wait)
                    result = work(tx)
                    conn.commit()
            except BaseException as exc:
                if not conn.broken:
                    with contextlib.suppress(self._psycopg_error):
                        conn.rollback()
                elif tx.statements_done == 0 and isinstance(exc, self._operational_error) and attempt <= self._max_size:
                    continue  # cut before anything of ours ran: once more, on another connection
                raise
            finally:
                pool.putconn(conn)  # a broken connection is discarded and replaced by the pool
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    async def open_fast_path(self) -> FastPath:
        """The journal's begin and finish as single statements on async connections (store/postgres_fast.py)."""
        from runway_mcp.store.postgres_fast import FastPath

        try:
            return await FastPath.open(
                self._url,
                lock_key=JOURNAL_LOCK_KEY,
                connect_timeout=self._connect_timeout,
                busy_timeout=self._busy_timeout,
            )
        except self._psycopg_error as exc:
            raise PostgresUnavailable(f"{self._description}: {self._scrub(exc)}") from None

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def _lock(self, conn: Connection[DictRow], *, write: bool, wait: bool) -> None:
        """Bound this transaction's waits; for `write`, take the journal's write lock (until commit or rollback)."""
        # One round trip: the settings first (left to right), then the lock, waiting or not.
        take = (
            "TRUE"
            if not write
            else "pg_advisory_xact_lock(%(key)s) IS NULL"
            if wait
            else "pg_try_advisory_xact_lock(%(key)s)"
        )
        row = conn.execute(
            "SELECT set_config('lock_timeout', %(lock)s, true) IS NOT NULL, "
            "set_config('idle_in_transaction_session_timeout', %(idle)s, true) IS NOT NULL, "
            f"{take} AS locked",
            {
                "lock": f"{max(1, round(self._busy_timeout * 1000))}ms",
                "idle": f"{round(IDLE_IN_TRANSACTION_SECONDS * 1000)}ms",
                "key": JOURNAL_LOCK_KEY,
            },
        ).fetchone()
        if write and not wait and (row is None or not row["locked"]):
            raise Busy("another writer holds the create journal's lock")

    def _why_unreachable(self) -> str:
        """One direct attempt to connect, for libpq's own reason (refused, unknown host, bad password...)."""
        import psycopg

        try:
            psycopg.connect(self._url, connect_timeout=max(1, round(self._connect_timeout))).close()
        except psycopg.Error as exc:
            return self._scrub(exc)
        return "the server answered too slowly"

    def _scrub(self, exc: BaseException) -> str:
        """An error's message on one line, without the URL's password."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text
