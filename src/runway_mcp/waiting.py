"""Waiting for a task: when to poll, and progress notifications a client can rely on.

Runway asks clients not to expect a task to change more often than every 5 seconds, so after a
quick first look the poll interval never drops below the configured interval (5 s by default);
jitter is only ever added, never subtracted. Each poll sends a progress notification, so a client
that resets its timeout on progress keeps waiting. MCP requires progress values to increase with
every notification, which `ProgressTracker` guarantees.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio

from runway_mcp.schemas import Task

GetTask = Callable[[], Awaitable[Task]]
OnPoll = Callable[[Task, float, str], Awaitable[None]]


@dataclass
class PollSchedule:
    """The gap before each next poll: `interval` plus up to `jitter` seconds."""

    interval: float
    jitter: float = 1.0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        return self.interval + self.rng.uniform(0, self.jitter)


@dataclass
class ProgressTracker:
    """Maps task progress to strictly increasing values in 0..1 for progress notifications."""

    last: float = -1.0

    def advance(self, task: Task) -> float:
        # Never reach 1.0 before the task is done; keep a gap for the final notification.
        value = 1.0 if task.terminal else min(task.progress or 0.0, 0.99)
        if value <= self.last:
            value = min(self.last + 0.0001, 0.9999) if not task.terminal else max(self.last, 1.0)
        self.last = value
        return value


def progress_message(task: Task) -> str:
    """`RUNNING 42%`, `PENDING`, `SUCCEEDED`: what a client shows beside the progress bar."""
    if task.progress is not None and not task.terminal:
        return f"{task.status.value} {task.progress * 100:.0f}%"
    return task.status.value


async def wait_for(
    get: GetTask,
    *,
    timeout_seconds: float,
    schedule: PollSchedule,
    on_poll: OnPoll,
) -> tuple[Task, bool]:
    """Poll until the task is terminal or the timeout passes; return (last task, finished?).

    The first look happens at once. Cancellation (the client cancelling the tool call) propagates
    out of the sleep immediately, so polling stops at once.
    """
    deadline = time.monotonic() + timeout_seconds
    tracker = ProgressTracker()
    while True:
        task = await get()
        await on_poll(task, tracker.advance(task), progress_message(task))
        if task.terminal:
            return task, True
        delay = schedule.next_delay()
        if time.monotonic() + delay > deadline:
            # No further poll fits before the deadline: answer now rather than sleep for nothing.
            return task, False
        await anyio.sleep(delay)
