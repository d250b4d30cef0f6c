"""After the hand-over: check the front's answers against the SDK's, and learn the answers it lacked.

The watcher sees both directions until it has what it waits for:

- every client line the front did not take, while they are static requests or notifications
  (`observe`): each static request's id is noted, so the SDK's answer to it can be learned;
- every line the SDK writes (`on_line`): an answer to a replayed request (a private id) is
  compared with what the front sent and never reaches the client; an answer to a noted request
  goes out as it is and is learned.

A replayed answer that differs from the front's is logged, replaces the manifest's, and a list
that changed is announced where the protocol allows: `notifications/*/list_changed` on a
handshake connection once the client has sent `notifications/initialized`; on a 2026-07-28
connection, where only a `subscriptions/listen` stream may carry it, the event goes to the
server's subscription bus as soon as the SDK acknowledges such a stream (a client opens one after
its first lists, so after the front's answers). The manifest is written whenever nothing is
outstanding and something changed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from runway_mcp.front.front import Sent
from runway_mcp.front.manifest import Manifest
from runway_mcp.front.protocol import (
    ANSWER_FRAME,
    LIST_CHANGED,
    MAX_STATIC_LINE,
    Session,
    answer_prefix,
    result_text,
)

logger = logging.getLogger("runway_mcp.front")

LISTEN_ACKNOWLEDGED = b'"notifications/subscriptions/acknowledged"'
NOTIFICATION_FRAME = b'{"jsonrpc":"2.0","method":'


class Watch:
    """Both sides of the hand-over; see the module's docstring."""

    def __init__(
        self,
        manifest: Manifest,
        sent: dict[str, Sent],
        session: Session,
        *,
        save: Callable[[Manifest], None] | None,
        announce_modern: Callable[[str], None],
    ) -> None:
        self.manifest = manifest
        self.session = session
        # Outstanding answers, by how the SDK's answer line begins: replayed requests, then noted ones.
        self._sent = {answer_prefix(private): answered for private, answered in sent.items()}
        self._save = save
        self._announce_modern = announce_modern
        self._noted: dict[bytes, tuple[str, str]] = {}
        self._observing = True
        self._pending = bytearray()
        self._announced: set[str] = set()
        self._for_listeners: list[str] = []  # announcements waiting for a subscriptions/listen stream
        self._lock = threading.Lock()

    # The client's side ----------------------------------------------------------------------------

    def observe(self, data: bytes) -> bool:
        with self._lock:
            if not self._observing:
                return False
            self._pending += data
            while self._observing and (end := self._pending.find(b"\n")) >= 0:
                message = self.session.classify(bytes(self._pending[: end + 1]))
                del self._pending[: end + 1]
                if message.kind == "other":
                    self._observing = False
                    self._pending.clear()
                    break
                self.session.commit(message)
                if message.kind == "static" and message.key not in self.manifest.answers:
                    self._noted[answer_prefix(message.id)] = (message.key, message.method)
            if len(self._pending) > MAX_STATIC_LINE:  # not a static request: the rest is not looked at
                self._observing = False
                self._pending.clear()
            return self._observing

    # The SDK's side -------------------------------------------------------------------------------

    def finished(self) -> bool:
        with self._lock:
            return not (self._observing or self._sent or self._noted or self._for_listeners)

    def on_line(self, line: bytes) -> list[bytes]:
        if self._for_listeners and LISTEN_ACKNOWLEDGED in line:
            with self._lock:
                waiting, self._for_listeners = self._for_listeners, []
            for notification in waiting:
                self._announce_modern(notification)
        if not (self._sent or self._noted) or line.startswith(NOTIFICATION_FRAME):
            return [line]
        with self._lock:
            found = self._outstanding(line)
            if found is None:
                return [line]
            prefix, answer = found
            sent, noted = self._sent.pop(prefix, None), self._noted.pop(prefix, None)
            if noted is not None and "result" in answer:
                self.manifest.learn(*noted, result_text(line, answer))
            return [line] if sent is None else self._verify(sent, line, answer)

    def _outstanding(self, line: bytes) -> tuple[bytes, dict[str, Any]] | None:
        """The key and the parsed answer if `line` answers an outstanding request; None for any other line.

        The SDK frames every answer alike (`protocol.ANSWER_FRAME`), so a line is parsed only when it begins
        like an answer to one of the few outstanding ids; anything framed otherwise is parsed to be sure.
        """
        if line.startswith(ANSWER_FRAME):
            prefix = next((p for p in (*self._sent, *self._noted) if line.startswith(p)), None)
            if prefix is None:
                return None
        try:
            answer = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(answer, dict) or "method" in answer or "id" not in answer:
            return None
        prefix = answer_prefix(answer["id"])
        return (prefix, answer) if prefix in self._sent or prefix in self._noted else None

    def written(self) -> None:
        """After the lines are out: write the manifest if something changed and nothing is outstanding."""
        with self._lock:
            if self.manifest.dirty and not (self._sent or self._noted):
                self._write_manifest()

    def _verify(self, sent: Sent, line: bytes, answer: dict[str, Any]) -> list[bytes]:
        if "result" in answer:
            text = result_text(line, answer)
            if text == sent.result or json.loads(text) == json.loads(sent.result):
                return []
            self.manifest.learn(sent.key, sent.method, text)
        else:
            self.manifest.forget(sent.key)
        logger.warning(
            "the answer to %s sent from the stdio manifest differs from the SDK's; the manifest is rebuilt", sent.method
        )
        return self._announce(sent.method)

    def _announce(self, method: str) -> list[bytes]:
        notification = LIST_CHANGED.get(method)
        if notification is None or notification in self._announced:
            return []
        self._announced.add(notification)
        if self.session.era == "modern":
            self._for_listeners.append(notification)
            return []
        if not self.session.initialized:
            return []
        return [json.dumps({"jsonrpc": "2.0", "method": notification}, separators=(",", ":")).encode() + b"\n"]

    def _write_manifest(self) -> None:
        if self._save is None:
            self.manifest.dirty = False
            return
        try:
            self._save(self.manifest)
        except OSError as exc:  # a manifest that cannot be written only costs the next start its speed
            logger.info("could not write the stdio manifest: %s", exc.strerror or type(exc).__name__)
