"""The process's stdio, held by the front and then handed to the SDK's stdio transport.

At start the front keeps private copies of fds 0 and 1 and points fd 0 at the null device and fd 1
at stderr, as the SDK's transport does itself, so stray output from any code misses the wire.
After the hand-over the SDK's transport serves `sys.stdin.buffer` and `sys.stdout.buffer` in place
when they are not backed by fds 0 and 1 (a behaviour pinned by tests/test_stdio_front.py); for
that moment `sys.stdin` and `sys.stdout` are stand-ins whose `buffer` is `Inbound` or `Outbound`
and whose every other attribute is the original stream's (a stray `print` still goes to stderr).

`Inbound` gives the transport the requests the front replays, then what the client sent that
the front did not take, then stdin itself; `Outbound` writes to stdout, passing each line through
a watcher until the watcher has seen what it was waiting for, and is a plain write after that.

Standard library only.
"""

from __future__ import annotations

import io
import os
import sys

TYPE_CHECKING = False  # typing costs the front milliseconds; mypy reads the imports below
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol, TextIO

    class Observer(Protocol):
        def observe(self, data: bytes) -> bool:
            """Take the next bytes the client sent; False once nothing more needs to be seen."""

    class LineWatcher(Protocol):
        def on_line(self, line: bytes) -> list[bytes]:
            """What to write for one line the SDK wrote (nothing, the line, or the line and more)."""

        def written(self) -> None:
            """Called once the lines are out."""

        def finished(self) -> bool:
            """True once no more lines need to be looked at."""


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def claim_stdio() -> tuple[int, int] | None:
    """Private copies of fds 0 and 1 (closed on exec); fd 0 then reads the null device and fd 1 writes to stderr."""
    try:
        import fcntl
    except ImportError:  # Windows: no front
        return None
    try:
        in_fd = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    except OSError:
        return None
    try:
        out_fd = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    except OSError:
        os.close(in_fd)
        return None
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        try:
            os.dup2(2, 1)
        except OSError:
            sink = os.open(os.devnull, os.O_WRONLY)
            os.dup2(sink, 1)
            os.close(sink)
    except OSError:
        release_stdio(in_fd, out_fd)
        return None
    return in_fd, out_fd


def release_stdio(in_fd: int, out_fd: int) -> None:
    """Point fds 0 and 1 back at the wire and close the private copies (only while nothing reads them)."""
    for fd, private in ((0, in_fd), (1, out_fd)):
        try:
            os.dup2(private, fd)
            os.close(private)
        except OSError:
            pass


class Inbound(io.RawIOBase):
    """stdin for the SDK's transport: `replay`, then `live` and stdin itself, which `observer` sees first."""

    def __init__(self, fd: int, replay: bytes, live: bytes, observer: Observer | None) -> None:
        super().__init__()
        self._fd = fd
        self._replay = replay
        self._live = live
        self._observer = observer

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        if self._replay:  # the front has seen these already
            data, self._replay = self._replay[:size], self._replay[size:]
            buffer[: len(data)] = data
            return len(data)
        if self._live:
            data, self._live = self._live[:size], self._live[size:]
        elif self._observer is None:
            return os.readv(self._fd, [buffer])
        else:
            data = os.read(self._fd, size)
        if self._observer is not None and not self._observer.observe(data):
            self._observer = None
        buffer[: len(data)] = data
        return len(data)


class Outbound(io.RawIOBase):
    """stdout for the SDK's transport: first waits for `before` (the front's answers to be out), then passes
    each line through `watcher` until it is finished, then straight out."""

    def __init__(self, fd: int, watcher: LineWatcher | None, before: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._fd = fd
        self._watcher = watcher
        self._before = before
        self._partial = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = len(data)
        if self._before is not None:
            self._before()
            self._before = None
        if self._watcher is None:
            write_all(self._fd, bytes(data))
            return size
        self._partial += data
        out: list[bytes] = []
        while (end := self._partial.find(b"\n")) >= 0:
            line = bytes(self._partial[: end + 1])
            del self._partial[: end + 1]
            out += self._watcher.on_line(line)
        if out:
            write_all(self._fd, b"".join(out))
        self._watcher.written()
        if not self._partial and self._watcher.finished():
            self._watcher = None
        return size


class StandIn:
    """Stands in for sys.stdin or sys.stdout: `buffer` is ours, every other attribute the original stream's."""

    def __init__(self, original: TextIO, buffer: io.RawIOBase) -> None:
        self._original = original
        self.buffer = buffer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


def install(inbound: Inbound, outbound: Outbound) -> Callable[[], None]:
    """Put the stand-ins in place for the SDK's transport; returns what puts the originals back."""
    from typing import TextIO, cast  # the SDK has loaded typing by now

    stdin, stdout = sys.stdin, sys.stdout
    sys.stdin = cast(TextIO, StandIn(stdin, inbound))
    sys.stdout = cast(TextIO, StandIn(stdout, outbound))

    def restore() -> None:
        sys.stdin, sys.stdout = stdin, stdout

    return restore
