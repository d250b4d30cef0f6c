"""Parameter types more than one tool takes: a task id, and what every create tool takes besides its route's."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from runway_mcp.models import TASK_ID_MAX_LENGTH, TASK_ID_PATTERN

TaskId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=TASK_ID_MAX_LENGTH,
        pattern=TASK_ID_PATTERN,
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=200,
        description="Reuse to retry at no extra charge.",
    ),
]
DryRun = Annotated[
    bool,
    Field(description="Price only; sends nothing."),
]
