"""The daily budget (RUNWAY_MCP_MAX_TASKS_PER_DAY): refuse a create before anything is sent or spent.

A shared server's owner pays for every task, so a cap on tasks per 24 hours is checked before the
upstream sees a request. The count comes from the ledger (it survives restarts) or, when the ledger is
off or behind, from the creation times this process remembers; the larger wins. A lock makes the check
and the create one step, so concurrent creates cannot both slip under the cap; it is taken only when a
cap is set, so an uncapped server creates in parallel.

Bound: the remembered times are those of the last 24 hours, and at most `limit` of them (a create is
refused once `limit` are counted, so more are never needed). Nothing is remembered without a cap.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext

import anyio

from runway_mcp.errors import BudgetExceededError
from runway_mcp.service.bounded import DAY_SECONDS
from runway_mcp.store.ledger import Ledger


class DailyBudget:
    """At most `limit` tasks per 24 hours (None: no cap)."""

    def __init__(self, limit: int | None, ledger: Ledger, *, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.ledger = ledger
        self._clock = clock
        # maxlen 0 without a cap: the times are not needed, so none are kept.
        self._times: deque[float] = deque(maxlen=limit or 0)
        self._lock: AbstractAsyncContextManager[object] = anyio.Lock() if limit else nullcontext()

    @property
    def remembered(self) -> int:
        """How many creation times are held in memory now."""
        return len(self._times)

    @asynccontextmanager
    async def reserve(self, owner: str | None) -> AsyncIterator[None]:
        """Check the budget and hold it (when capped) while the caller creates; call `record` inside."""
        async with self._lock:
            await self.check(owner)
            yield

    async def check(self, owner: str | None) -> None:
        """Raise BudgetExceededError when `limit` tasks were created in the last 24 hours."""
        limit = self.limit
        if limit is None:
            return
        since = self._clock() - DAY_SECONDS
        counted = await self.ledger.count_created_since(since, owner) if self.ledger.enabled else 0
        self._prune(since)
        created = max(counted, sum(1 for at in self._times if at >= since))
        if created >= limit:
            raise BudgetExceededError(
                f"The daily budget of this server is used up: {created} of {limit} tasks were created in the last "
                "24 hours (RUNWAY_MCP_MAX_TASKS_PER_DAY). Nothing was sent and nothing was spent. Try again later "
                "or ask the server's owner to raise the limit."
            )

    def record(self, at: float | None = None) -> None:
        """Count a task created at `at` (default: now)."""
        self._prune(self._clock() - DAY_SECONDS)
        self._times.append(self._clock() if at is None else at)

    def _prune(self, since: float) -> None:
        while self._times and self._times[0] < since:
            self._times.popleft()
