"""The front: answers a client's static requests from the manifest on a thread while the SDK loads.

It reads the client's lines in order and answers each one the manifest holds an answer for
(after a notification, it just keeps it). At the first line it cannot answer - a tool call, an
unknown request, anything it does not recognise - it stops reading: that line and everything
after it wait for the SDK, in order, so nothing is answered out of turn. At the hand-over the
SDK gets every line the front took, the requests it answered under private ids (their answers
are compared with what the front sent, never sent again), then the rest.

Answers go out through a writer thread of their own, so a client that sends a burst before it
reads never stops the front from reading, nor the hand-over from happening; the SDK's first write
waits until the front's answers are all out.

If the client closes stdin having been answered everything it asked, there is no one left to
serve, and the process ends there (once those answers are out) without waiting for the SDK.

Standard library only: this runs before the SDK is imported.
"""

from __future__ import annotations

import _thread
import json
import os
import select
import stat
import sys

try:
    from _queue import SimpleQueue  # what queue.SimpleQueue is, without importing threading
except ImportError:  # pragma: no cover - another interpreter
    from queue import SimpleQueue

from runway_mcp.front import manifest as manifests
from runway_mcp.front.protocol import MAX_STATIC_LINE, Session, answer_line, with_id
from runway_mcp.front.streams import claim_stdio, write_all

TYPE_CHECKING = False  # typing costs the front milliseconds; mypy reads the imports below
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

READ_SIZE = 1 << 16
ANSWERED = "from the stdio manifest before the SDK was ready"
# While the front answers, the SDK imports on the main thread: a client's request should not wait the
# default 5 ms for the interpreter. Restored as soon as the front stops answering.
FRONT_SWITCH_INTERVAL = 0.001


class Sent:
    """A request the front answered: its key, method and the result it sent."""

    __slots__ = ("key", "method", "result")

    def __init__(self, key: str, method: str, result: str) -> None:
        self.key = key
        self.method = method
        self.result = result


class Handover:
    """What the SDK takes over: the lines to replay, the client's bytes not yet taken, the front's answers,
    and `answers_out`, which returns once every answer the front gave has been written."""

    def __init__(
        self,
        replay: bytes,
        live: bytes,
        sent: dict[str, Sent],
        session: Session,
        answered: list[str],
        answers_out: Callable[[], None],
    ) -> None:
        self.replay = replay
        self.live = live
        self.sent = sent
        self.session = session
        self.answered = answered
        self.answers_out = answers_out


class Front:
    """The client's stdio until the SDK is ready; `hand_over` ends it."""

    def __init__(self, manifest: manifests.Manifest, in_fd: int, out_fd: int, *, debug: bool = False) -> None:
        self.manifest = manifest
        self._debug = debug
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.session = Session()
        self._replay = bytearray()
        self._live = b""
        self._sent: dict[str, Sent] = {}
        self._answered: list[str] = []
        self._nonce = os.urandom(6).hex()
        self._wake_read, self._wake_write = os.pipe()
        self._stopped = _thread.allocate_lock()
        self._written = _thread.allocate_lock()
        self._out: SimpleQueue[bytes | None] = SimpleQueue()
        self._running = False
        self._switch_interval = sys.getswitchinterval()

    def start(self) -> None:
        self._stopped.acquire()
        self._written.acquire()
        self._running = True
        sys.setswitchinterval(FRONT_SWITCH_INTERVAL)
        _thread.start_new_thread(self._write_answers, ())
        _thread.start_new_thread(self._run, ())

    def hand_over(self) -> Handover:
        """Stop answering (at a line's end) and give the SDK everything, in order."""
        if self._running:
            os.write(self._wake_write, b"x")
            self._stopped.acquire()
            self._out.put(None)
            self._running = False
        os.close(self._wake_read)
        os.close(self._wake_write)
        return Handover(bytes(self._replay), self._live, self._sent, self.session, self._answered, self._answers_out)

    def _answers_out(self) -> None:
        if self._written.locked():
            with self._written:
                pass

    def _write_answers(self) -> None:
        try:
            while (answer := self._out.get()) is not None:
                write_all(self.out_fd, answer)
        finally:
            self._written.release()

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            sys.setswitchinterval(self._switch_interval)
            self._stopped.release()

    def _serve(self) -> None:
        poller = select.poll()
        poller.register(self.in_fd, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        pending = bytearray()
        ended = False
        while True:
            if any(fd == self._wake_read for fd, _ in poller.poll()):
                break
            chunk = os.read(self.in_fd, READ_SIZE)
            if not chunk:
                ended = True
                break
            pending += chunk
            if not self._take_lines(pending) or len(pending) > MAX_STATIC_LINE:
                break
        self._live = bytes(pending)
        if ended and not self._live.strip():
            # The client closed stdin and will hold every answer it asked for once they are out.
            self._out.put(None)
            self._answers_out()
            if self._debug:  # logging is not set up yet: this is its DEBUG line, by hand
                note = f"DEBUG runway_mcp.front: answered {len(self._answered)} requests {ANSWERED}: {self._answered}"
                os.write(2, f"{note}; the client has closed stdin\n".encode())
            os._exit(0)

    def _take_lines(self, pending: bytearray) -> bool:
        """Take each complete line the front can; False at the first it cannot (left in `pending`)."""
        while (end := pending.find(b"\n")) >= 0:
            if not self._take(bytes(pending[: end + 1])):
                return False
            del pending[: end + 1]
        return True

    def _take(self, line: bytes) -> bool:
        message = self.session.classify(line)
        if message.kind == "notification":
            self.session.commit(message)
            self._replay += line
            return True
        answer = self.manifest.answers.get(message.key) if message.kind == "static" else None
        if answer is None or not _is_json(answer.result):
            return False
        self.session.commit(message)
        private = f"runway-mcp-front-{self._nonce}-{len(self._sent)}"
        self._replay += with_id(message.message, private)
        self._sent[private] = Sent(message.key, message.method, answer.result)
        self._out.put(answer_line(message.id, answer.result))
        self._answered.append(message.method)
        return True


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def start_front(environ: Mapping[str, str] = os.environ) -> Front | None:
    """Take stdio and start answering from the manifest; None where the front does not run.

    It does not run where the schema cache is off (`RUNWAY_MCP_CACHE_DIR=off`), where its directory
    cannot be worked out without the libraries, or where stdio cannot be claimed (or on Windows):
    the server then starts exactly as it did before the front existed. With no usable manifest it
    holds stdio without answering, and the SDK side learns the answers for the next start.
    """
    if not hasattr(select, "poll"):
        return None
    manifest = manifests.load(environ)
    if manifest.path is None:
        return None
    fds = claim_stdio()
    if fds is None:
        return None
    front = Front(manifest, *fds, debug=environ.get("RUNWAY_MCP_LOG_LEVEL", "").strip().upper() == "DEBUG")
    if manifest.answers and _pollable(fds[0]):
        front.start()
    return front


def _pollable(fd: int) -> bool:
    """A pipe, a socket or a file, as clients give: poll() on a terminal is unreliable on some systems."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISREG(mode)
