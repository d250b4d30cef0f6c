"""Bring-your-own-key mode: is a caller's key one the upstream accepts? Asked once, remembered a while.

A key the upstream refuses must never hold a session (issue 17: 10,000 junk keys opened 10,000 sessions
and locked real users out). So the first time a key is seen, the upstream is asked with the cheapest
authenticated read both providers have: `GET tasks/<an id no task has>`. The gateway checks the key
before it looks for the task, so a refused key answers 401/403 and an accepted one "no such task"
(CometAPI's `task_not_exist`, Runway's 404). The verdict is kept for a while, by the key's owner id
(a one-way hash, never the key), in a table bounded in size and time.

When the upstream cannot say (it is down, slow, rate limiting, or this server already has as many
checks in flight as it allows), the verdict is "unconfirmed": the caller is let in, but sessions of
unconfirmed keys share one small allowance (`runway_mcp.remote.limits`). Real users keep working
through an upstream outage (their calls report the outage clearly), and junk keys get at most that
allowance instead of every session the server has. Unconfirmed verdicts are kept only briefly, so a
key is checked again as soon as the upstream answers.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal

import anyio
from pydantic import SecretStr

from runway_mcp.config import Settings

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger("runway_mcp.remote.keycheck")

Verdict = Literal["accepted", "refused", "unconfirmed"]

# A well-formed task id that names no task: the probe reads it.
PROBE_TASK_ID: Final = "00000000-0000-4000-8000-000000000000"
VERDICT_SECONDS: Final[dict[Verdict, float]] = {"accepted": 600.0, "refused": 600.0, "unconfirmed": 30.0}
MAX_VERDICTS: Final = 10_000
PROBES_AT_ONCE: Final = 8
# How long a request waits for a free probe before its key counts as unconfirmed.
PROBE_QUEUE_SECONDS: Final = 5.0
PROBE_CONNECT_SECONDS: Final = 5.0
PROBE_READ_SECONDS: Final = 10.0
WARN_EVERY_SECONDS: Final = 60.0


class Verdicts:
    """Verdicts by owner id, each until it expires; the least recently used go first past `max_entries`."""

    def __init__(self, max_entries: int = MAX_VERDICTS, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, tuple[Verdict, float]] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, owner: str) -> Verdict | None:
        entry = self._entries.get(owner)
        if entry is None:
            return None
        verdict, expires = entry
        if self._clock() >= expires:
            del self._entries[owner]
            return None
        self._entries.move_to_end(owner)
        return verdict

    def put(self, owner: str, verdict: Verdict) -> None:
        self._entries[owner] = (verdict, self._clock() + VERDICT_SECONDS[verdict])
        self._entries.move_to_end(owner)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


class KeyChecker:
    """Asks the upstream whether a key is accepted, at most once per key at a time and `PROBES_AT_ONCE` in all."""

    def __init__(self, settings: Settings, verdicts: Verdicts | None = None) -> None:
        # A probe is one quick look: no retries, short timeouts, never the server's own key.
        self._settings = settings.model_copy(
            update={
                "max_retries": 0,
                "retry_budget_seconds": 0.0,
                "connect_timeout": min(settings.connect_timeout, PROBE_CONNECT_SECONDS),
                "read_timeout": min(settings.read_timeout, PROBE_READ_SECONDS),
                "byo_key": True,
            }
        )
        self.verdicts = verdicts or Verdicts()
        self._slots = anyio.Semaphore(PROBES_AT_ONCE)
        self._in_flight: dict[str, anyio.Event] = {}
        self._http: httpx.AsyncClient | None = None
        self._warned_at = -WARN_EVERY_SECONDS

    def __repr__(self) -> str:
        return f"KeyChecker({len(self.verdicts)} verdicts)"

    async def verdict(self, key: str, owner: str) -> Verdict:
        """The verdict on `key` (whose owner id is `owner`): remembered, or asked of the upstream now."""
        known = self.verdicts.get(owner)
        if known is not None:
            return known
        pending = self._in_flight.get(owner)
        if pending is not None:  # the same new key on several requests at once: one probe answers all
            with anyio.move_on_after(PROBE_QUEUE_SECONDS + PROBE_CONNECT_SECONDS + PROBE_READ_SECONDS):
                await pending.wait()
            return self.verdicts.get(owner) or "unconfirmed"
        done = self._in_flight[owner] = anyio.Event()
        try:
            verdict = await self._checked(key)
            self.verdicts.put(owner, verdict)
            return verdict
        finally:
            del self._in_flight[owner]
            done.set()

    async def _checked(self, key: str) -> Verdict:
        acquired = False
        with anyio.move_on_after(PROBE_QUEUE_SECONDS):
            await self._slots.acquire()
            acquired = True
        if not acquired:
            if time.monotonic() - self._warned_at > WARN_EVERY_SECONDS:  # a flood would fill the log otherwise
                self._warned_at = time.monotonic()
                logger.warning("too many new keys to check at once: some are let in unconfirmed")
            return "unconfirmed"
        try:
            return await self._probe(key)
        finally:
            self._slots.release()

    async def _probe(self, key: str) -> Verdict:
        from runway_mcp.errors import (
            AuthenticationError,
            NotFoundError,
            NotSupportedError,
            RejectedError,
            RunwayMCPError,
        )
        from runway_mcp.upstream.client import RunwayClient

        secret = SecretStr(key)
        client = RunwayClient(self._settings, self._client(), caller_key=lambda: secret)
        try:
            await client.get_task(PROBE_TASK_ID)
        except AuthenticationError:
            logger.debug("the upstream refused a caller's key")
            return "refused"
        except (NotFoundError, RejectedError, NotSupportedError):
            return "accepted"  # it looked past the key: the key is good
        except RunwayMCPError as exc:
            logger.info("could not confirm a caller's key with the upstream (%s)", type(exc).__name__)
            return "unconfirmed"
        return "accepted"  # a task by that id exists: odd, but the key was accepted

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            from runway_mcp.upstream.transport import make_http_client

            self._http = make_http_client(self._settings)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
