"""Which tasks were created moments ago, and which were deleted by cancel_task.

Runway answers `task_not_exist` for a task created a few seconds ago: it is not visible yet. Reporting
that as "not found" would make an agent create the task again and pay twice, so a task this server
created within the grace period (`fresh_task_grace_seconds`, 120 s by default) reads as PENDING instead. A task that
cancel_task deleted must not read as PENDING, and its "not found" says why.

Bounds: creations are remembered for the grace period, deletions for 24 hours (at least the grace
period); each memory holds at most `max_entries` (default 4096) tasks, oldest dropped first. Past
that the ledger answers (its records carry the creation time and the DELETED status).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from runway_mcp.service.bounded import DAY_SECONDS, DEFAULT_MAX_ENTRIES, RecentMap
from runway_mcp.store.ledger import Ledger

# The ledger's status for a finished task that cancel_task deleted upstream (not a Runway status).
DELETED = "DELETED"


class FreshTasks:
    """Creations within `grace_seconds`, and deletions, as this process and the ledger saw them."""

    def __init__(
        self,
        grace_seconds: float,
        ledger: Ledger,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.grace_seconds = grace_seconds
        self.ledger = ledger
        self._clock = clock
        self._created: RecentMap[str, None] = RecentMap(max_age=grace_seconds, max_entries=max_entries, clock=clock)
        self._deleted: RecentMap[str, None] = RecentMap(
            max_age=max(DAY_SECONDS, grace_seconds), max_entries=max_entries, clock=clock
        )

    @property
    def remembered(self) -> int:
        """How many creations and deletions are held in memory now."""
        return len(self._created) + len(self._deleted)

    def created(self, task_id: str, at: float | None = None) -> None:
        """Note a task this process created at `at` (default: now)."""
        self._created.put(task_id, None, at)

    def deleted(self, task_id: str) -> None:
        """Note a task cancel_task deleted upstream."""
        self._deleted.put(task_id, None)
        self._created.pop(task_id)

    def was_deleted(self, task_id: str) -> bool:
        return self._deleted.stamp(task_id) is not None

    async def is_fresh(self, task_id: str) -> bool:
        """A task created moments ago (not visible upstream yet) rather than a wrong or deleted id."""
        if self.was_deleted(task_id):
            return False
        if self._created.stamp(task_id) is not None:
            return True
        record = await self.ledger.get(task_id)
        return (
            record is not None and record.status != DELETED and self._clock() - record.created_at <= self.grace_seconds
        )
