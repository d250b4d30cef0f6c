"""Poll pacing: back-to-back waits on one task never poll faster than the interval.

An agent often calls wait_for_task again the moment the previous call returns. Without a memory of the
last look, each call would poll at once and the task would be polled faster than Runway asks
(RUNWAY_MCP_POLL_INTERVAL), so the next wait first pauses for the rest of the interval.

Bound: a last-poll time older than one interval delays nothing, so it is dropped; at most
`max_entries` (default 4096) tasks are remembered, oldest dropped first. A finished task is forgotten.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from runway_mcp.service.bounded import DEFAULT_MAX_ENTRIES, RecentMap


class PollPacing:
    """The last poll time of each task, kept for one `interval`."""

    def __init__(
        self,
        interval: float,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._last: RecentMap[str, None] = RecentMap(max_age=interval, max_entries=max_entries, clock=clock)

    @property
    def remembered(self) -> int:
        """How many tasks' last poll times are held in memory now."""
        return len(self._last)

    def delay(self, task_id: str) -> float:
        """Seconds to pause before polling `task_id`, so polls stay one interval apart (0: poll now)."""
        last = self._last.stamp(task_id)
        return 0.0 if last is None else max(self.interval - (self._clock() - last), 0.0)

    def polled(self, task_id: str) -> None:
        """Note that `task_id` was polled just now."""
        self._last.put(task_id, None)

    def forget(self, task_id: str) -> None:
        """Drop a task that needs no more pacing (it is finished)."""
        self._last.pop(task_id)
