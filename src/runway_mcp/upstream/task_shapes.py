"""Turn whatever the upstream answers for a task into one `Task`, and say what to do next.

CometAPI has been seen answering GET tasks/{id} in two shapes (see the reference):
1. Runway's task object: `{"id", "status", "createdAt", "progress", "output", "failure", "failureCode"}`
2. a gateway envelope `{"code": "success", "data": {"task_id", "status": "QUEUED", "progress": "42%",
   "fail_reason", "data": <Runway task or absent>}}` with its own status vocabulary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from runway_mcp.catalog import MIN_POLL_INTERVAL_SECONDS
from runway_mcp.errors import BadResponseError, NotFoundError
from runway_mcp.models import Task, TaskStatus

# The gateway's outer status vocabulary.
GATEWAY_STATUSES: dict[str, TaskStatus] = {
    "NOT_START": TaskStatus.PENDING,
    "SUBMITTED": TaskStatus.PENDING,
    "QUEUED": TaskStatus.PENDING,
    "IN_PROGRESS": TaskStatus.RUNNING,
    "SUCCESS": TaskStatus.SUCCEEDED,
    "FAILURE": TaskStatus.FAILED,
    "CANCELLED": TaskStatus.CANCELLED,
    "CANCELED": TaskStatus.CANCELLED,
}

# Failure codes whose cause is the input: the same request would fail again.
_PERMANENT_FAILURE_PREFIXES = ("SAFETY.", "ASSET.INVALID", "INPUT.")
# Failure codes of a passing fault on the provider's side.
_TRANSIENT_FAILURE_PREFIXES = ("INTERNAL", "THIRD_PARTY.")

TASK_NOT_EXIST = "task_not_exist"
_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%?\s*$")


def is_task_not_exist(payload: Any) -> bool:
    """True for the gateway's `{"code": "task_not_exist", ...}` answer (sent with HTTP 400 or 200)."""
    if not isinstance(payload, Mapping):
        return False
    code = payload.get("code")
    error = payload.get("error")
    if isinstance(error, Mapping):
        code = error.get("code") or code
        if TASK_NOT_EXIST in str(error.get("message", "")):
            return True
    return code == TASK_NOT_EXIST or payload.get("message") == TASK_NOT_EXIST


def _parse_progress(value: Any) -> float | None:
    """A float 0..1, or a percent string such as "42%", as a fraction 0..1."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        fraction = float(value)
    elif isinstance(value, str) and (match := _PERCENT.match(value)):
        fraction = float(match.group(1)) / 100
    else:
        return None
    if fraction > 1 and isinstance(value, int | float):  # a number given as a percentage
        fraction /= 100
    return min(max(fraction, 0.0), 1.0)


def _status(value: Any) -> TaskStatus | None:
    if not isinstance(value, str):
        return None
    upper = value.strip().upper()
    if upper in TaskStatus.__members__:
        return TaskStatus(upper)
    return GATEWAY_STATUSES.get(upper)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def failure_retryable(status: TaskStatus, failure_code: str | None) -> bool | None:
    """Whether a FAILED task may succeed if submitted again unchanged; None when unknown."""
    if status is not TaskStatus.FAILED or not failure_code:
        return None
    if failure_code.startswith(_PERMANENT_FAILURE_PREFIXES):
        return False
    if failure_code.startswith(_TRANSIENT_FAILURE_PREFIXES):
        return True
    return None


def normalise_task(payload: Any, requested_id: str) -> Task:
    """Build a `Task` from either documented response shape; raise for anything else."""
    if is_task_not_exist(payload):
        raise NotFoundError(not_found_message(requested_id))
    if not isinstance(payload, Mapping):
        raise BadResponseError("The upstream's task answer was not a JSON object.")
    if "code" in payload and isinstance(payload.get("data"), Mapping):
        return _from_envelope(payload, requested_id)
    if "status" in payload and ("id" in payload or "task_id" in payload):
        return _from_runway(payload, requested_id)
    if "code" in payload and payload.get("code") not in ("success", 0, "0", None):
        detail = str(payload.get("message") or payload.get("code"))
        raise BadResponseError(f"The upstream reported an error for this task: {detail}")
    raise BadResponseError(
        "The upstream's task answer had neither Runway's task fields (id, status) nor the gateway's "
        "envelope (code, data); the provider may have changed its format."
    )


def _from_runway(task: Mapping[str, Any], requested_id: str, fallback: TaskStatus | None = None) -> Task:
    status = _status(task.get("status")) or fallback
    if status is None:
        raise BadResponseError(f"The upstream reported an unknown task status {task.get('status')!r}.")
    return build_task(
        task_id=str(task.get("id") or task.get("task_id") or requested_id),
        status=status,
        progress=_parse_progress(task.get("progress")),
        output=_strings(task.get("output")),
        failure=_text(task.get("failure")),
        failure_code=_text(task.get("failureCode")),
        created_at=_text(task.get("createdAt")),
    )


def _from_envelope(envelope: Mapping[str, Any], requested_id: str) -> Task:
    code = envelope.get("code")
    if code not in ("success", 0, "0"):
        raise BadResponseError(f"The upstream reported an error for this task: {envelope.get('message') or code}")
    data: Mapping[str, Any] = envelope["data"]
    outer = _status(data.get("status"))
    inner_raw = data.get("data")
    inner = _from_runway(inner_raw, requested_id, outer) if isinstance(inner_raw, Mapping) else None
    if outer is None and inner is None:
        raise BadResponseError(f"The upstream reported an unknown task status {data.get('status')!r}.")
    # The two statuses can disagree while the gateway catches up: trust whichever is further along.
    status = max((s for s in (outer, inner.status if inner else None) if s), key=lambda s: s.rank)
    progress = inner.progress if inner and inner.progress is not None else _parse_progress(data.get("progress"))
    return build_task(
        task_id=str(data.get("task_id") or (inner.task_id if inner else None) or requested_id),
        status=status,
        progress=progress,
        output=(inner.output if inner else []) or _strings(data.get("result_url")),
        failure=(inner.failure if inner else None) or _text(data.get("fail_reason")),
        failure_code=inner.failure_code if inner else None,
        created_at=inner.created_at if inner else None,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def build_task(
    *,
    task_id: str,
    status: TaskStatus,
    progress: float | None = None,
    output: list[str] | None = None,
    failure: str | None = None,
    failure_code: str | None = None,
    created_at: str | None = None,
    not_visible_yet: bool = False,
) -> Task:
    """A `Task` with its guidance filled in."""
    if status is TaskStatus.SUCCEEDED:
        progress = 1.0
    elif status is not TaskStatus.RUNNING:
        progress = None
    return Task(
        task_id=task_id,
        status=status,
        terminal=status.terminal,
        progress=progress,
        output=output or [],
        failure=failure,
        failure_code=failure_code,
        retryable=failure_retryable(status, failure_code),
        created_at=created_at,
        poll_after_seconds=None if status.terminal else MIN_POLL_INTERVAL_SECONDS,
        next_step=next_step(task_id, status, failure_code, not_visible_yet=not_visible_yet),
    )


def next_step(task_id: str, status: TaskStatus, failure_code: str | None, *, not_visible_yet: bool = False) -> str:
    """One or two sentences telling the calling model what to do with a task in this state."""
    if status is TaskStatus.SUCCEEDED:
        return (
            "Done. The output URLs expire within 24-48 hours: save them now with download_task_output "
            f"(task_id={task_id!r}) or hand the links to the user; get_task returns fresh links later."
        )
    if status is TaskStatus.FAILED:
        retry = failure_retryable(status, failure_code)
        if retry is False:
            return "Failed because of the input (see failure). Change the prompt or media before trying again."
        if retry is True:
            return (
                "Failed on the provider's side. Submitting the same request again may work, but it "
                "spends credits again: ask the user first."
            )
        return "Failed (see failure). Tell the user; ask before submitting again, since each create spends credits."
    if status is TaskStatus.CANCELLED:
        return "Cancelled; nothing more will happen to this task."
    waiting = (
        "The task was just created and is not visible upstream yet (this takes a few seconds). "
        if not_visible_yet
        else ""
    )
    if status is TaskStatus.THROTTLED:
        waiting += "It is queued behind the account's concurrency limit. "
    return (
        f"{waiting}Follow it with wait_for_task (or get_task after {MIN_POLL_INTERVAL_SECONDS:.0f} s or more); "
        "videos take 1-5 min."
    )


def not_found_message(task_id: str) -> str:
    return (
        f"No task with id {task_id!r} was found upstream. Check the id (it is the task_id a create "
        "tool returned). A task created seconds ago can take a few seconds to become visible: if you "
        "just created it elsewhere, wait 5 seconds and ask again."
    )
