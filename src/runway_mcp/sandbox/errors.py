"""Error bodies as the upstream writes them: Runway's validation body and CometAPI's gateway envelope."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse

from runway_mcp.sandbox.config import ErrorStyle

RUNWAY_DOC_URL = "https://docs.dev.runwayml.com/api"
VERSIONING_DOC_URL = "https://docs.dev.runwayml.com/api-details/versioning/"

PathItem = str | int


@dataclass(frozen=True)
class Issue:
    """One problem with a request, in the style of Runway's (zod) validator."""

    path: tuple[PathItem, ...]
    message: str
    code: str = "custom"
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The issue as it appears in Runway's `issues` list."""
        return {"code": self.code, **self.details, "path": list(self.path), "message": self.message}

    def describe(self) -> str:
        """`path: message`, the form used in single-string error messages."""
        where = ".".join(str(p) for p in self.path)
        return f"{where}: {self.message}" if where else self.message


def request_id() -> str:
    """An id in the shape CometAPI appends to its error messages."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(8)


def envelope(message: str, *, param: str = "", code: str = "") -> dict[str, Any]:
    """CometAPI's error envelope; the message carries a request id like the real gateway's."""
    return {
        "error": {
            "message": f"{message} (request id: {request_id()})",
            "type": "comet_api_error",
            "param": param,
            "code": code,
        }
    }


def envelope_response(
    status: int,
    message: str,
    *,
    param: str = "",
    code: str = "",
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON response carrying CometAPI's error envelope."""
    return JSONResponse(envelope(message, param=param, code=code), status_code=status, headers=headers)


def issues_response(
    issues: Sequence[Issue],
    style: ErrorStyle,
    *,
    error: str = "Validation of body failed",
    doc_url: str = RUNWAY_DOC_URL,
) -> JSONResponse:
    """HTTP 400 listing every issue, in Runway's validation body or in CometAPI's envelope."""
    if style == "runway":
        body = {"error": error, "issues": [i.to_json() for i in issues], "docUrl": doc_url}
        return JSONResponse(body, status_code=400)
    first = issues[0].path[0] if issues and issues[0].path else ""
    text = f"{error}: " + "; ".join(i.describe() for i in issues)
    return envelope_response(400, text, param=str(first))


def task_not_exist_response() -> JSONResponse:
    """The gateway's answer for a task it does not know (yet): HTTP 400, not 404."""
    return JSONResponse({"code": "task_not_exist", "message": "task_not_exist", "data": None}, status_code=400)


class _Missing:
    """Stands for a field the request did not send, so checks report it as zod does ("undefined")."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def received_type(value: Any) -> str:
    """The JSON type name zod uses in "expected X, received Y"."""
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def invalid_type(path: tuple[PathItem, ...], expected: str, value: Any) -> Issue:
    """A zod `invalid_type` issue (`value` may be MISSING)."""
    return Issue(
        path,
        f"Invalid input: expected {expected}, received {received_type(value)}",
        "invalid_type",
        {"expected": expected},
    )
