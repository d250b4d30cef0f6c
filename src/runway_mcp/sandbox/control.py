"""Control routes under `/_sandbox/`, for users in another process (a server spawned over stdio, benchmarks).

They need no auth and are not recorded. Recorded requests are listed with the bearer token masked
(`Bearer ***` plus its last 4 characters), long strings in the JSON body shortened, and the raw
body left out unless `?body=1` asks for it as base64.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from runway_mcp.sandbox.config import Fault, RecordedRequest

if TYPE_CHECKING:
    from runway_mcp.sandbox.app import Sandbox

_SHORT_STRING: Final = 200


def routes(sandbox: Sandbox) -> list[BaseRoute]:
    """The control routes bound to one sandbox."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "tasks": len(sandbox.task_ids()), "requests": len(sandbox.requests)})

    async def add_faults(request: Request) -> JSONResponse:
        try:
            payload = json.loads(await request.body())
            items = payload if isinstance(payload, list) else [payload]
            faults = [Fault.from_json(item) for item in items]
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            return JSONResponse({"error": str(exc)}, 400)
        for fault in faults:
            sandbox.add_fault(fault)
        return list_faults_response()

    async def clear_faults(request: Request) -> JSONResponse:
        sandbox.clear_faults()
        return list_faults_response()

    async def list_faults(request: Request) -> JSONResponse:
        return list_faults_response()

    def list_faults_response() -> JSONResponse:
        return JSONResponse({"faults": [f.to_json() for f in sandbox.fault_book.pending()]})

    async def list_requests(request: Request) -> JSONResponse:
        with_body = request.query_params.get("body") in ("1", "true")
        return JSONResponse([request_json(r, with_body=with_body) for r in sandbox.api_requests()])

    async def reset(request: Request) -> JSONResponse:
        sandbox.reset()
        return JSONResponse({"status": "reset"})

    async def list_tasks(request: Request) -> JSONResponse:
        now = sandbox.now()
        return JSONResponse([task.summary(now) for task in sandbox.task_book.all()])

    return [
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/_sandbox/faults", add_faults, methods=["POST"]),
        Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
        Route("/_sandbox/faults", list_faults, methods=["GET"]),
        Route("/_sandbox/requests", list_requests, methods=["GET"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/tasks", list_tasks, methods=["GET"]),
    ]


def request_json(request: RecordedRequest, *, with_body: bool) -> dict[str, Any]:
    """One recorded request as the control route lists it."""
    headers = dict(request.headers)
    if "authorization" in headers:
        headers["authorization"] = _mask(headers["authorization"])
    item: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": request.query,
        "headers": headers,
        "body_length": len(request.body),
        "json": _shorten(request.json),
        "time": request.time,
        "fault": request.fault,
        "created_task_id": request.created_task_id,
    }
    if with_body:
        item["body_base64"] = base64.b64encode(request.body).decode("ascii")
    return item


def _mask(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    return f"{scheme} ***{token[-4:]}" if len(token) > 8 else f"{scheme} ***"


def _shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _SHORT_STRING:
        return f"{value[:64]}...[{len(value)} chars]"
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    return value
