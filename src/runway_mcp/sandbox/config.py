"""The sandbox's knobs: how the simulated upstream behaves, which faults to inject, what it saw."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

TaskShape = Literal["runway", "envelope", "alternate"]
ErrorStyle = Literal["runway", "cometapi"]
FaultKind = Literal[
    "status",
    "html",
    "redirect",
    "empty",
    "malformed_json",
    "wrong_shape",
    "huge_body",
    "drop_connection",
    "reset_mid_response",
    "delay",
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


@dataclass
class SandboxConfig:
    """How the simulated upstream behaves. Every duration is in seconds of `clock`."""

    api_key: str | None = None
    """If set, only `Authorization: Bearer <api_key>` is accepted; if None any non-empty bearer is."""
    not_visible_seconds: float = 1.0
    """A fresh task answers `task_not_exist` for this long after creation."""
    pending_seconds: float = 1.0
    """Then PENDING (or THROTTLED) for this long."""
    running_seconds: float = 6.0
    """Then RUNNING with `progress` rising 0..1, then SUCCEEDED (or FAILED)."""
    task_shape: TaskShape = "runway"
    """Shape of GET tasks/{id}: the plain Runway task, the gateway envelope, or alternating per request."""
    error_style: ErrorStyle = "runway"
    """Shape of 400 validation errors: Runway's `issues` body or CometAPI's error envelope."""
    supports_cancel: bool = False
    """CometAPI does not document DELETE tasks/{id}; when False that route answers like an unknown route."""
    output_url_ttl_seconds: float = 86400.0
    """Output URLs expire after this long (403 afterwards); GET the task again for fresh ones."""
    output_base_url: str | None = None
    """Base for output URLs; default: the base URL the request came in on."""
    output_video: bytes | None = None
    """The MP4 served for every video output; default: the small real clip `assets/output.mp4`. Tests set their
    own (another size or codec, or a damaged file, as a CDN might hold)."""
    output_image: bytes | None = None
    """The PNG served for every image output; default: `assets/sample.png`."""
    cometapi_forwards_new_models: bool = False
    """Accept Runway's newer video_to_video models (aleph2, seedance2*, gemini_omni_flash) on `/runwayml/v1`.
    They are always accepted on the Runway-direct `/v1` prefix."""
    credit_balance: int = 5000
    """What GET /v1/organization reports as the organization's `creditBalance` (Runway direct only)."""
    clock: Callable[[], float] = time.monotonic
    """Injectable, so tests can drive time by hand."""


@dataclass
class Fault:
    """One injected misbehaviour, applied to the next `times` matching API requests."""

    kind: FaultKind
    method: str | None = None
    """HTTP method to match; None matches any."""
    path: str | None = None
    """Substring of the request path to match; None matches any API route (never a media URL)."""
    times: int = 1
    """How many matching requests it applies to; -1 = forever."""
    status: int = 500
    """Status for `status`, `html` and `huge_body`."""
    retry_after: float | None = None
    """Adds a `Retry-After` header (seconds)."""
    delay_seconds: float = 0.0
    """Real seconds to sleep before acting; `delay` sleeps and then answers normally."""
    after_create: bool = False
    """Handle the request normally first (a create makes its billed task), then answer with the fault."""
    message: str | None = None
    """For `status`: the error message in CometAPI's envelope (e.g. one that echoes the bearer token)."""

    def to_json(self) -> dict[str, Any]:
        """The fault as the JSON object `POST /_sandbox/faults` takes."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Any) -> Fault:
        """Build a fault from JSON, raising ValueError with a readable reason when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("a fault must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
        if data.get("kind") not in FAULT_KINDS:
            raise ValueError(f"kind must be one of: {', '.join(FAULT_KINDS)}")
        checks: dict[str, tuple[type, ...]] = {
            "method": (str, type(None)),
            "path": (str, type(None)),
            "times": (int,),
            "status": (int,),
            "retry_after": (int, float, type(None)),
            "delay_seconds": (int, float),
            "after_create": (bool,),
        }
        for name, types in checks.items():
            value = data.get(name)
            if name in data and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
                raise ValueError(f"{name} has the wrong type")
        return cls(**data)


@dataclass
class RecordedRequest:
    """One API request as the sandbox received it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    """Lower-cased header names."""
    body: bytes
    json: Any | None
    """The parsed JSON body, when it parsed."""
    time: float
    """`clock()` when the request arrived."""
    fault: str | None = None
    """Kind of the fault injected into this request, if any."""
    created_task_id: str | None = None
