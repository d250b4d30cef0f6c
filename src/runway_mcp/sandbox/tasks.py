"""Simulated tasks: their lifecycle by clock, the prompt markers that steer them, and both answer shapes."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

Prefix = Literal["cometapi", "runway"]
Status = Literal["PENDING", "THROTTLED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]

_FAIL_MARKER: Final = re.compile(r"sandbox:fail=([A-Za-z0-9_.]+)")
_SECONDS_MARKER: Final = re.compile(r"sandbox:seconds=(\d+(?:\.\d*)?|\.\d+)")

FAILURE_TEXTS: Final = {
    "SAFETY.INPUT.TEXT": "The prompt did not pass content moderation.",
    "SAFETY.INPUT.IMAGE": "An input image did not pass content moderation.",
    "SAFETY.INPUT.VIDEO": "The input video did not pass content moderation.",
    "SAFETY.OUTPUT.VIDEO": "The generated video did not pass content moderation.",
    "ASSET.INVALID": "An input asset is invalid or in an unsupported format.",
    "INTERNAL.BAD_OUTPUT.CODE01": "The model produced an unusable output. Trying again may help.",
    "INTERNAL": "An internal error occurred.",
    "THIRD_PARTY.UNAVAILABLE": "A model provider is temporarily unavailable. Try again later.",
}

# The gateway's outer status vocabulary for each Runway status.
ENVELOPE_STATUS: Final[dict[Status, str]] = {
    "PENDING": "QUEUED",
    "THROTTLED": "QUEUED",
    "RUNNING": "IN_PROGRESS",
    "SUCCEEDED": "SUCCESS",
    "FAILED": "FAILURE",
    "CANCELLED": "CANCELLED",
}


@dataclass(frozen=True)
class Markers:
    """What a prompt asks of the sandbox (see the package docstring)."""

    failure_code: str | None = None
    throttled: bool = False
    running_seconds: float | None = None


def parse_markers(text: str) -> Markers:
    """Read `sandbox:fail=CODE`, `sandbox:unsafe`, `sandbox:throttle` and `sandbox:seconds=N` from a prompt."""
    fail = _FAIL_MARKER.search(text)
    seconds = _SECONDS_MARKER.search(text)
    code = fail.group(1) if fail else ("SAFETY.INPUT.TEXT" if "sandbox:unsafe" in text else None)
    return Markers(code, "sandbox:throttle" in text, float(seconds.group(1)) if seconds else None)


def marker_text(body: dict[str, Any]) -> str:
    """Where markers are read: promptText, else (routes without a prompt) the main input URL."""
    for candidate in (body.get("promptText"), body.get("videoUri"), (body.get("character") or {}).get("uri")):
        if isinstance(candidate, str):
            return candidate
    return ""


@dataclass
class Task:
    """One created task. Times are in the sandbox clock; `created_unix` is the matching wall time."""

    id: str
    endpoint: str
    model: str
    prefix: Prefix
    created: float
    created_unix: float
    not_visible_seconds: float
    pending_seconds: float
    running_seconds: float
    markers: Markers
    cancelled_at: float | None = None

    @property
    def output_kind(self) -> Literal["mp4", "png", "wav"]:
        """File type of the output: an image for the image routes, audio for the audio ones, else a video."""
        if self.endpoint in ("text_to_image", "image_upscale"):
            return "png"
        return "wav" if self.endpoint in ("text_to_speech", "sound_effect") else "mp4"

    def visible(self, now: float) -> bool:
        """False while the gateway still answers task_not_exist for it."""
        return now - self.created >= self.not_visible_seconds

    def _running_from(self) -> float:
        return self.not_visible_seconds + self.pending_seconds

    def _ends_at(self) -> float:
        # Input-safety failures are decided before any generation runs.
        code = self.markers.failure_code
        early = code is not None and code.startswith("SAFETY.INPUT")
        return self._running_from() + (0.0 if early else self.running_seconds)

    def status(self, now: float) -> tuple[Status, float | None]:
        """Status at `now`, with progress (0..1) while RUNNING."""
        if self.cancelled_at is not None and now >= self.cancelled_at:
            return "CANCELLED", None
        elapsed = now - self.created
        if elapsed < self._running_from():
            return ("THROTTLED" if self.markers.throttled else "PENDING"), None
        if elapsed < self._ends_at():
            return "RUNNING", round((elapsed - self._running_from()) / self.running_seconds, 4)
        return ("FAILED" if self.markers.failure_code else "SUCCEEDED"), None

    def runway_json(self, now: float, output_url: Callable[[Task], str]) -> dict[str, Any]:
        """The task as Runway's GET /v1/tasks/{id} returns it."""
        status, progress = self.status(now)
        body: dict[str, Any] = {"id": self.id, "status": status, "createdAt": iso_utc(self.created_unix)}
        if progress is not None:
            body["progress"] = progress
        if status == "SUCCEEDED":
            body["output"] = [output_url(self)]
        if status == "FAILED":
            code = self.markers.failure_code or "INTERNAL"
            body["failure"] = FAILURE_TEXTS.get(code, f"The task failed ({code}).")
            body["failureCode"] = code
        return body

    def envelope_json(self, now: float, output_url: Callable[[Task], str]) -> dict[str, Any]:
        """The task wrapped in the gateway envelope some CometAPI answers use."""
        inner = self.runway_json(now, output_url)
        status, progress = self.status(now)
        started = now - self.created >= self._running_from()
        finished = status in ("SUCCEEDED", "FAILED", "CANCELLED")
        if status == "CANCELLED" and self.cancelled_at is not None:
            finish_offset = self.cancelled_at - self.created
        else:
            finish_offset = self._ends_at()
        percent = 100 if finished else int((progress or 0.0) * 100)
        return {
            "code": "success",
            "message": "",
            "data": {
                "task_id": self.id,
                "action": self.endpoint.upper(),
                "status": ENVELOPE_STATUS[status],
                "fail_reason": inner.get("failure", ""),
                "submit_time": int(self.created_unix),
                "start_time": int(self.created_unix + self._running_from()) if started else 0,
                "finish_time": int(self.created_unix + finish_offset) if finished else 0,
                "progress": f"{percent}%",
                "data": inner,
            },
        }

    def summary(self, now: float) -> dict[str, Any]:
        """What GET /_sandbox/tasks reports for this task."""
        status, progress = self.status(now)
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "model": self.model,
            "prefix": self.prefix,
            "visible": self.visible(now),
            "status": status,
            "progress": progress,
            "createdAt": iso_utc(self.created_unix),
            "failureCode": self.markers.failure_code,
        }


def iso_utc(unix: float) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, like Runway's `createdAt`."""
    return datetime.fromtimestamp(unix, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TaskBook:
    """All tasks the sandbox created, safe to use from the server thread and a test thread at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._created: list[str] = []

    def create(self, **fields: Any) -> Task:
        """Create a task with a fresh uuid4 id."""
        task = Task(id=str(uuid.uuid4()), **fields)
        with self._lock:
            self._tasks[task.id] = task
            self._created.append(task.id)
        return task

    def find(self, task_id: str, now: float) -> Task | None:
        """The task, if it exists and the gateway already shows it."""
        with self._lock:
            task = self._tasks.get(task_id)
        return task if task is not None and task.visible(now) else None

    def cancel_or_delete(self, task: Task, now: float) -> None:
        """Runway's DELETE: cancel a task still in flight, delete a finished one."""
        with self._lock:
            if task.status(now)[0] in ("PENDING", "THROTTLED", "RUNNING"):
                task.cancelled_at = now
            else:
                self._tasks.pop(task.id, None)

    def created_ids(self) -> list[str]:
        """Ids of every task created since the last reset, in order (deleted ones included)."""
        with self._lock:
            return list(self._created)

    def all(self) -> list[Task]:
        """Every task not deleted, in creation order."""
        with self._lock:
            return [self._tasks[i] for i in self._created if i in self._tasks]

    def clear(self) -> None:
        """Forget every task."""
        with self._lock:
            self._tasks.clear()
            self._created.clear()
