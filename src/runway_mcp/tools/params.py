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
        description="The task_id a create tool returned, e.g. 12a01a5e-ab55-4aa7-b002-7b873546cf76.",
    ),
]
WaitSeconds = Annotated[
    float,
    Field(
        ge=0,
        le=3600,
        description=(
            "Seconds to wait for the task after submitting it (default 0: return at once). Up to about 50 "
            "fits inside common client time limits; the server caps it at RUNWAY_MCP_MAX_WAIT_SECONDS (300 s). "
            "The task keeps running either way."
        ),
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Field(
        min_length=1,
        max_length=200,
        description=(
            "Optional key that makes retrying safe: calling again with the same key and the same parameters "
            "returns the original task instead of paying for a new one (also after a server restart). Use a "
            "new key for each distinct request, e.g. 'restyle-beach-clip-1'."
        ),
    ),
]
DryRun = Annotated[
    bool,
    Field(
        description=(
            "true: check everything and return the exact request that would be sent, with its estimated cost, "
            "without sending it (free). Use it to show the user what a create will do and cost."
        )
    ),
]
