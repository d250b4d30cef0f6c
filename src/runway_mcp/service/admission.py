"""Whether a create may be sent: idempotency keys and the daily cap, decided through the create journal.

Every create is first recorded in the journal (`store/journal.py`), in one transaction with the
checks below, so they hold across every process that shares the journal:
- a key already `created` replays that task, with nothing sent;
- a key `in_doubt` (a create that may or may not have been billed) is refused: only a person can
  tell, from the provider's dashboard; a new key sends anyway;
- a key in flight in another call or process is waited for (bounded), then replayed or reported;
- RUNWAY_MCP_MAX_TASKS_PER_DAY counts every attempt that may have cost money in the last 24 hours:
  per caller in bring-your-own-key mode (each caller's own money), for everyone otherwise.
When the journal cannot record the attempt, a create that carries a key or runs under a cap is
refused before sending (the promise could not be kept); any other create may still be sent,
unrecorded, and its answer says so. A store that can still be read replays the keys it holds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import anyio

from runway_mcp.errors import BudgetExceededError, InputError
from runway_mcp.store.attempts import Attempt, AttemptRow, CapReached, Proceed
from runway_mcp.store.journal import Journal, JournalUnavailable
from runway_mcp.store.ledger import Ledger

logger = logging.getLogger(__name__)

WAIT_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Send:
    """Send the create. `attempt_id` is its journal entry, or None when it could not be recorded."""

    attempt_id: str | None


@dataclass(frozen=True)
class Replay:
    """The key's original task: answer with it, send nothing."""

    task_id: str


class Admission:
    """Admits creates through the journal; see the module docstring for the rules."""

    def __init__(
        self,
        journal: Journal,
        ledger: Ledger,
        *,
        cap: int | None,
        cap_per_owner: bool,
        wait_seconds: float,
    ) -> None:
        self.journal = journal
        self.ledger = ledger
        self.cap = cap
        self.cap_per_owner = cap_per_owner
        self.wait_seconds = wait_seconds

    async def admit(self, attempt: Attempt) -> Send | Replay:
        """Record the attempt and say whether to send it, or replay; raise when it must not be sent."""
        if (replay := await self._recorded_before_the_journal(attempt)) is not None:
            return replay
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                decision = await self.journal.begin(attempt, cap=self.cap, cap_per_owner=self.cap_per_owner)
            except JournalUnavailable as exc:
                return await self._unrecorded(attempt, exc)
            if isinstance(decision, Proceed):
                return Send(decision.attempt_id)
            if isinstance(decision, CapReached):
                raise self._cap_reached(decision.counted)
            earlier = decision.earlier
            if earlier.state != "in_flight":
                return self._settled(attempt, earlier)
            if time.monotonic() >= deadline:
                raise InputError(
                    [
                        f"idempotency_key: {attempt.idempotency_key!r} belongs to a create that is still being sent "
                        f"(started {time.time() - earlier.started_at:.0f} s ago by another call). Nothing new was "
                        "sent. Call again in a minute to get its task, or list_tasks to see it."
                    ]
                )
            await anyio.sleep(WAIT_POLL_SECONDS)

    def _settled(self, attempt: Attempt, earlier: AttemptRow) -> Replay:
        """A key whose earlier attempt is created (replay) or in doubt (refuse)."""
        key = attempt.idempotency_key
        if earlier.request_hash != attempt.request_hash:
            raise _reused_key(
                key, f"task {earlier.task_id}" if earlier.task_id else f"a create that is {earlier.state}"
            )
        if earlier.state == "created" and earlier.task_id:
            return Replay(earlier.task_id)
        raise InputError(
            [
                f"idempotency_key: {key!r} belongs to a create whose outcome is unknown (in doubt): "
                f"{earlier.detail or 'its answer was lost'} It may have been created and billed. Nothing was "
                "sent now. Check the provider's dashboard (or list_tasks) before creating it again; to submit "
                "anyway, use a new idempotency_key."
            ]
        )

    async def _recorded_before_the_journal(self, attempt: Attempt) -> Replay | None:
        """A key the ledger holds from before the journal existed still replays its task."""
        if attempt.idempotency_key is None:
            return None
        found = await self.ledger.find_idempotent(attempt.idempotency_key, attempt.owner)
        if found is None:
            return None
        if found.request_hash != attempt.request_hash:
            raise _reused_key(attempt.idempotency_key, f"task {found.task_id}")
        return Replay(found.task_id)

    async def _unrecorded(self, attempt: Attempt, problem: JournalUnavailable) -> Send | Replay:
        """The journal cannot record: replay what it can still read, refuse what needs it, else send unrecorded."""
        key = attempt.idempotency_key
        if key is not None:
            try:
                earlier = await self.journal.lookup(attempt.owner, key)
            except JournalUnavailable:
                earlier = None
            if earlier is not None and earlier.state != "in_flight":
                return self._settled(attempt, earlier)
        needs = "idempotency_key" if key is not None else "RUNWAY_MCP_MAX_TASKS_PER_DAY" if self.cap is not None else ""
        if needs:
            raise InputError(
                [
                    f"This create was not sent: {needs} needs the create journal, which cannot record it now "
                    f"({problem}). Nothing was sent and nothing was spent. Make the server's data directory "
                    "(RUNWAY_MCP_DATA_DIR) or database (RUNWAY_MCP_DATABASE_URL) writable and reachable, then "
                    "try again" + (", or send it without an idempotency_key." if key is not None else ".")
                ]
            )
        logger.warning("create sent without a journal entry: %s", problem)
        return Send(None)

    def _cap_reached(self, counted: int) -> BudgetExceededError:
        whose = "your" if self.cap_per_owner else "this server's"
        return BudgetExceededError(
            f"The daily budget is used up: {counted} of {self.cap} tasks were created in the last 24 hours with "
            f"{whose} key (RUNWAY_MCP_MAX_TASKS_PER_DAY; creates whose outcome is unknown count too). Nothing was "
            "sent and nothing was spent. Try again later or ask the server's owner to raise the limit."
        )


def _reused_key(key: str | None, what: str) -> InputError:
    """A key already used for a different request: the error says which, and how to go on."""
    return InputError(
        [
            f"idempotency_key: {key!r} was already used for a different request ({what}). Use a new key for a new "
            "request, or repeat the original parameters exactly to get the original task back."
        ]
    )
