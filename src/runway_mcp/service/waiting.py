"""Waiting for a task: when to poll, and progress notifications a client can rely on.

Runway asks clients not to expect a task to change more often than every 5 seconds, so after a
quick first look the next poll starts one interval (5 s by default) after the previous one
answered: never sooner, and no later, so a task's end is seen within one interval of it (plus
the latency of that one request). No jitter is added: it would push detection past the interval,
and each wait begins when an agent calls it, which already spreads polls out. Each poll sends a
progress notification, so a client that resets its timeout on progress keeps waiting. MCP
requires progress values to increase with every notification, which `ProgressTracker` guarantees.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from runway_mcp.models import Task

GetTask = Callable[[], Awaitable[Task]]
OnPoll = Callable[[Task, float, str], Awaitable[None]]


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
    interval: float,
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
        if time.monotonic() + interval > deadline:
            # No further poll fits before the deadline: answer now rather than sleep for nothing.
            return task, False
        await anyio.sleep(interval)
