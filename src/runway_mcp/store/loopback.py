"""A connection to a PostgreSQL server on this host, for the journal's two statements run on the event loop.

On loopback a statement's round trip is a tenth of a millisecond, and what psycopg does around it
(adapting sixteen parameters, building a cursor and its rows, the server parsing and planning the
text again) costs as much again. The journal's `begin` and `finish` are fixed statements with plain
values, so here they are prepared once on the server and run through libpq directly (psycopg's own
binding, `psycopg.pq`): the values go as text, the answer comes back as text. That took
the journal's time per create from 0.44-0.50 ms to 0.29-0.35 ms here (benchmark `journal`).

Anything unusual hands the statement back to the caller (`None`), which runs it on its async pool
through psycopg as usual: a value with a NUL character (libpq would cut it), a lock another writer
holds, an error, a lost connection, or this connection busy with another call's statement. After
anything but a lock wait or a busy connection, this connection is closed for good; the pool serves
from then on.

The answer is waited for right here for a few milliseconds (`SYNC_WAIT_SECONDS`), then on the event
loop: a server that stalls (its disk, say, or a process stopped) holds up this one call, not the
whole server.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import select
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

import anyio
import psycopg
from psycopg import pq

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.pq.abc import PGconn, PGresult

__all__ = ["APPLICATION_NAME", "Loopback", "Statement"]

logger = logging.getLogger(__name__)

# How the connection shows in pg_stat_activity, for an administrator (and the tests).
APPLICATION_NAME: Final = "runway-mcp journal (loopback)"
# How long the event loop itself waits for an answer before it waits for it as one task among others.
SYNC_WAIT_SECONDS: Final = 0.005
# SQLSTATE of a lock wait cut short by `lock_timeout`: another writer holds the lock; the pool may wait.
LOCK_NOT_AVAILABLE: Final = b"55P03"


class Statement:
    """A statement by its ordered, typed arguments: the pool's `%(name)s` text and the prepared `$n` text."""

    def __init__(self, name: str, template: str, arguments: Sequence[tuple[str, str]]) -> None:
        self.name = name.encode()
        self.names = tuple(arg for arg, _ in arguments)
        self.named = template.format(", ".join(f"%({arg})s::{kind}" for arg, kind in arguments))
        self.positional = template.format(", ".join(f"${n}::{kind}" for n, (_, kind) in enumerate(arguments, 1)))


class Loopback:
    """Prepared statements on one synchronous connection to a server on this host. Build with `Loopback.connect`."""

    def __init__(self, conn: Connection[Any]) -> None:
        self._conn: Connection[Any] | None = conn
        self._encoding = conn.info.encoding
        self._prepared: set[bytes] = set()
        self._busy = False  # a statement's answer is being waited for
        self._closing = False
        # Waits for the answer by descriptor: poll() where there is one (select() refuses descriptors past 1023).
        self._poll = select.poll() if hasattr(select, "poll") else None
        if self._poll is not None:
            self._poll.register(conn.pgconn.socket, select.POLLIN)

    @classmethod
    def connect(cls, url: str, kwargs: dict[str, Any]) -> Loopback | None:
        """A connection when the server is on this host (a Unix socket or a loopback address), else None."""
        try:
            conn: Connection[Any] = psycopg.connect(url, **kwargs, application_name=APPLICATION_NAME)
        except psycopg.Error:
            return None
        if on_this_host(conn.info.host):
            return cls(conn)
        conn.close()
        return None

    @property
    def usable(self) -> bool:
        return self._conn is not None

    async def run(self, statement: Statement, values: dict[str, Any]) -> list[dict[str, str | None]] | None:
        """The statement's rows (each value as text), or None: the caller runs it elsewhere."""
        if self._conn is None or self._busy:
            return None
        try:
            arguments = [self._text(values[name]) for name in statement.names]
        except ValueError:
            return None  # a NUL character: psycopg refuses it on the pool, with a clear error
        self._busy = True
        try:
            if statement.name not in self._prepared:
                prepared = await self._exchange(lambda c: c.send_prepare(statement.name, statement.positional.encode()))
                if prepared.status != pq.ExecStatus.COMMAND_OK:
                    self._give_up(prepared.get_error_message())
                    return None
                self._prepared.add(statement.name)
            # NULL is None, as libpq takes it (psycopg's stub leaves None out of this signature).
            result = await self._exchange(
                lambda c: c.send_query_prepared(statement.name, cast("list[bytes]", arguments))
            )
        except Exception as exc:  # the connection is gone (psycopg raises when libpq reports a failure)
            self._give_up(f"{type(exc).__name__}: {exc}")
            return None
        except BaseException:  # cancelled while waiting: the answer is still on its way, so nothing can follow it
            self._give_up("a statement's wait was cancelled")
            raise
        finally:
            self._busy = False
            if self._closing:
                self.close()
        if result.status == pq.ExecStatus.FATAL_ERROR:
            if result.error_field(pq.DiagnosticField.SQLSTATE) == LOCK_NOT_AVAILABLE:
                return None
            self._give_up(result.get_error_message())
            return None
        names = [(result.fname(column) or b"").decode() for column in range(result.nfields)]
        return [
            {name: self._str(result.get_value(row, column)) for column, name in enumerate(names)}
            for row in range(result.ntuples)
        ]

    async def _exchange(self, send: Callable[[PGconn], None]) -> PGresult:
        """Send one command and read its one result: for `SYNC_WAIT_SECONDS` right here, then as a task.

        psycopg keeps its connections non-blocking, so a long command may not be written at once: it is
        flushed as the socket takes it. Every read waits until libpq has a whole result (`is_busy`), so
        nothing here blocks on the server.
        """
        assert self._conn is not None
        pgconn = self._conn.pgconn
        send(pgconn)
        deadline = time.monotonic() + SYNC_WAIT_SECONDS
        while unsent := pgconn.flush():  # 1 while part of the command is still in libpq's buffer
            await self._wait(pgconn.socket, deadline, writable=unsent > 0)
            pgconn.consume_input()
        results = []
        while True:
            while pgconn.is_busy():
                await self._wait(pgconn.socket, deadline, writable=False)
                pgconn.consume_input()  # raises when the connection is gone
            result = pgconn.get_result()
            if result is None:
                break
            results.append(result)
        if not results:
            raise RuntimeError("the server answered nothing")
        failed = [r for r in results if r.status == pq.ExecStatus.FATAL_ERROR]  # the one worth reporting
        return failed[0] if failed else results[0]

    async def _wait(self, socket: int, deadline: float, *, writable: bool) -> None:
        """Until the socket can be read (or written): right here until `deadline`, then as a task."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            await (anyio.wait_writable(socket) if writable else anyio.wait_readable(socket))
        elif self._poll is not None:
            self._poll.modify(socket, select.POLLIN | (select.POLLOUT if writable else 0))
            self._poll.poll(remaining * 1000)
        else:
            select.select([socket], [socket] if writable else [], [], remaining)

    def close(self) -> None:
        if self._busy:  # a statement's answer is still awaited: closed when it comes (`run`'s finally)
            self._closing = True
            return
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _give_up(self, why: str) -> None:
        logger.info("the journal's loopback connection is closed (%s); its statements now go through the pool", why)
        self.close()

    def _text(self, value: Any) -> bytes | None:
        """A value as PostgreSQL reads it in text form (each parameter's type is cast in the statement)."""
        if value is None:
            return None
        if isinstance(value, bool):
            return b"t" if value else b"f"
        text = repr(value) if isinstance(value, float) else str(value)  # repr: a float's exact digits
        if "\x00" in text:
            raise ValueError("a NUL character")
        return text.encode(self._encoding)

    def _str(self, value: bytes | None) -> str | None:
        return None if value is None else value.decode(self._encoding)


def on_this_host(host: str) -> bool:
    """A Unix socket (a directory path) or a loopback address: a round trip costs microseconds."""
    if host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
