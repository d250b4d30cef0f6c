"""The simulated upstream: `Sandbox` holds the state and serves CometAPI's Runway routes as an ASGI app."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from runway_mcp.sandbox import control
from runway_mcp.sandbox.config import Fault, RecordedRequest, SandboxConfig
from runway_mcp.sandbox.creates import DIRECT_ENDPOINTS, validate_create
from runway_mcp.sandbox.errors import (
    VERSIONING_DOC_URL,
    Issue,
    envelope_response,
    issues_response,
    task_not_exist_response,
)
from runway_mcp.sandbox.faults import (
    ConnectionRegistry,
    FaultBook,
    drop_connection,
    fault_response,
    reset_mid_response,
)
from runway_mcp.sandbox.media import MEDIA_PATH, UrlSigner, access_denied, media_response
from runway_mcp.sandbox.organization import organization_json
from runway_mcp.sandbox.tasks import Prefix, Task, TaskBook, marker_text, parse_markers
from runway_mcp.sandbox.uploads import UPLOAD_PATH, UploadBook, receive_form, runway_uri_issues, slot_answer
from runway_mcp.sandbox.validation import ENDPOINTS

logger = logging.getLogger("runway_mcp.sandbox")

API_PREFIXES: Final[dict[str, Prefix]] = {"/runwayml/v1/": "cometapi", "/v1/": "runway"}
RUNWAY_VERSIONS: Final = ("2024-11-06", "2024-09-13")
_TASK_PATH: Final = re.compile(r"tasks/([^/]+)")


class Sandbox:
    """A local, faithful stand-in for CometAPI's Runway routes: state plus the ASGI `app` serving it."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.requests: list[RecordedRequest] = []
        self.task_book = TaskBook()
        self.fault_book = FaultBook()
        self.uploads = UploadBook()
        self.connections = ConnectionRegistry()
        """Filled by the server protocol of `SandboxServer` / `serve()`; lets faults drop connections."""
        self._lock = threading.Lock()
        self._signer = UrlSigner()
        self._shape_turns = itertools.count()
        self._epoch_clock: Callable[[], float] | None = None
        self._epoch = 0.0
        self.app = Starlette(
            routes=[
                *control.routes(self),
                Route(MEDIA_PATH + "/{name}", _MediaEndpoint(self), methods=["GET"]),
                Route(UPLOAD_PATH + "/{upload_id}", self._receive_upload, methods=["POST"]),
                Route("/{path:path}", _ApiEndpoint(self)),
            ]
        )

    def add_fault(self, fault: Fault) -> None:
        """Inject a fault into the next matching requests (see `Fault`)."""
        self.fault_book.add(fault)
        logger.info("sandbox: fault added: %s", fault)

    def clear_faults(self) -> None:
        """Remove every pending fault."""
        self.fault_book.clear()

    def reset(self) -> None:
        """Forget tasks, uploads, recorded requests and faults."""
        self.uploads.clear()
        self.task_book.clear()
        self.fault_book.clear()
        with self._lock:
            self.requests.clear()
            self._shape_turns = itertools.count()

    def task_ids(self) -> list[str]:
        """Ids of the tasks created since the last reset, in order."""
        return self.task_book.created_ids()

    def api_requests(self, method: str | None = None, path_contains: str | None = None) -> list[RecordedRequest]:
        """Recorded API requests, optionally only those with this method and/or path substring."""
        with self._lock:
            snapshot = list(self.requests)
        return [
            r
            for r in snapshot
            if (method is None or r.method == method.upper()) and (path_contains is None or path_contains in r.path)
        ]

    def now(self) -> float:
        """The sandbox clock."""
        return self.config.clock()

    def unix_now(self) -> float:
        """Wall-clock unix time, moving with the sandbox clock (for createdAt, unix times, URL expiry)."""
        clock = self.config.clock
        with self._lock:
            # Re-anchored whenever the clock changes: tests swap `config` on a running sandbox.
            if self._epoch_clock is not clock:
                self._epoch_clock, self._epoch = clock, time.time() - clock()
            return self._epoch + clock()

    def record(self, request: RecordedRequest) -> None:
        """Append one API request to `requests`."""
        with self._lock:
            self.requests.append(request)

    def handle(self, request: RecordedRequest, base_url: str) -> Response:
        """Answer one API request as the upstream would (no faults involved)."""
        prefix = next((p for p in API_PREFIXES if request.path.startswith(p)), None)
        if prefix is None:
            return _not_found(request)
        refusal = self._check_auth(request.headers)
        if refusal is not None:
            return refusal
        rest = request.path[len(prefix) :]
        task_match = _TASK_PATH.fullmatch(rest)
        on_runway = API_PREFIXES[prefix] == "runway"
        if request.method == "POST" and (rest in ENDPOINTS or (on_runway and rest in DIRECT_ENDPOINTS)):
            return self._create(request, API_PREFIXES[prefix], rest)
        if request.method == "GET" and rest == "organization" and on_runway:
            return self._version_refusal(request, required=True) or JSONResponse(
                organization_json(self.config, self.task_book.all(), self.now())
            )
        if request.method == "POST" and rest == "uploads" and API_PREFIXES[prefix] == "runway":
            return self._start_upload(request, base_url)
        if task_match and request.method == "GET":
            return self._version_refusal(request, required=False) or self._show(task_match[1], base_url)
        if task_match and request.method == "DELETE" and self.config.supports_cancel:
            return self._version_refusal(request, required=False) or self._cancel(task_match[1])
        return _not_found(request)

    def _check_auth(self, headers: dict[str, str]) -> Response | None:
        scheme, _, token = headers.get("authorization", "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return envelope_response(401, "Unauthorized: no API key provided (Authorization: Bearer <key>)")
        if self.config.api_key is not None and token != self.config.api_key:
            return envelope_response(401, "Invalid token")
        return None

    def _version_refusal(self, request: RecordedRequest, *, required: bool) -> Response | None:
        version = request.headers.get("x-runway-version")
        if version in RUNWAY_VERSIONS or (version is None and not required):
            return None
        expected = "|".join(f'"{v}"' for v in RUNWAY_VERSIONS)
        if version is None:
            message = f"Missing required header X-Runway-Version: expected one of {expected}"
        else:
            message = f"Invalid X-Runway-Version header: expected one of {expected}"
        issue = Issue(("X-Runway-Version",), message, "invalid_value", {"values": list(RUNWAY_VERSIONS)})
        return issues_response(
            [issue], self.config.error_style, error="Validation of headers failed", doc_url=VERSIONING_DOC_URL
        )

    def _create(self, request: RecordedRequest, prefix: Prefix, endpoint: str) -> Response:
        refusal = self._version_refusal(request, required=True)
        if refusal is not None:
            return refusal
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = request.json if content_type == "application/json" else None
        if body is None:
            reason = "not valid JSON" if content_type == "application/json" else "not sent as application/json"
            message = f"Invalid input: expected object, received undefined (the request body is {reason})"
            issue = Issue((), message, "invalid_type", {"expected": "object"})
            return issues_response([issue], self.config.error_style)
        gateway_checks_references = prefix == "cometapi" and endpoint == "text_to_image"
        if gateway_checks_references and isinstance(body, dict) and not body.get("referenceImages"):
            return envelope_response(
                400,
                "referenceImages must contain at least one reference image",
                param="referenceImages",
                code="reference_images_empty",
            )
        allow_newer = prefix == "runway" or self.config.cometapi_forwards_new_models
        issues = validate_create(endpoint, body, allow_newer=allow_newer)
        issues += runway_uri_issues(self.uploads, body, prefix_allows=prefix == "runway")
        if issues:
            return issues_response(issues, self.config.error_style)
        markers = parse_markers(marker_text(body))
        task = self.task_book.create(
            endpoint=endpoint,
            model=body["model"],
            prefix=prefix,
            created=self.now(),
            created_unix=self.unix_now(),
            not_visible_seconds=self.config.not_visible_seconds,
            pending_seconds=self.config.pending_seconds,
            running_seconds=(
                self.config.running_seconds if markers.running_seconds is None else markers.running_seconds
            ),
            markers=markers,
        )
        request.created_task_id = task.id
        logger.info("sandbox: created task %s (%s, %s)", task.id, endpoint, task.model)
        return JSONResponse({"id": task.id})

    def _start_upload(self, request: RecordedRequest, base_url: str) -> Response:
        answer, issues = slot_answer(self.uploads, request.json, base_url)
        if issues:
            return issues_response(issues, self.config.error_style)
        return JSONResponse(answer)

    async def _receive_upload(self, request: Request) -> Response:
        return await receive_form(self.uploads, request)

    def _show(self, task_id: str, base_url: str) -> Response:
        now = self.now()
        task = self.task_book.find(task_id, now)
        if task is None:
            return task_not_exist_response()
        shape = self.config.task_shape
        if shape == "alternate":
            shape = "runway" if next(self._shape_turns) % 2 == 0 else "envelope"
        base = self.config.output_base_url or base_url
        expires = int(self.unix_now() + self.config.output_url_ttl_seconds)

        def output_url(t: Task) -> str:
            return self._signer.url(base, t.id, t.output_kind, expires)

        if shape == "envelope":
            return JSONResponse(task.envelope_json(now, output_url))
        return JSONResponse(task.runway_json(now, output_url))

    def _cancel(self, task_id: str) -> Response:
        now = self.now()
        task = self.task_book.find(task_id, now)
        if task is None:
            return task_not_exist_response()
        self.task_book.cancel_or_delete(task, now)
        return Response(status_code=204)

    def check_media_url(self, name: str, exp: str | None, sig: str | None) -> str | None:
        """None when a media URL's signature is valid and unexpired, else why not."""
        return self._signer.check(name, exp, sig, self.unix_now())


def _not_found(request: RecordedRequest) -> Response:
    return envelope_response(404, f"Invalid URL ({request.method} {request.path})")


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _parse_json(body: bytes) -> Any | None:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _base_url(scope: Scope) -> str:
    return str(Request(scope).base_url).rstrip("/")


async def _respond(
    sandbox: Sandbox,
    fault: Fault | None,
    answer: Callable[[], Response],
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Send the normal `answer`, or the fault's instead: before computing it, or after (`after_create`)."""
    if fault is not None and fault.delay_seconds > 0:
        await asyncio.sleep(fault.delay_seconds)
    if fault is None or fault.kind == "delay":
        await answer()(scope, receive, send)
        return
    if fault.after_create:
        answer()
    await _answer_with_fault(sandbox, fault, scope, receive, send)


async def _answer_with_fault(sandbox: Sandbox, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
    logger.info("sandbox: injecting %s into %s %s", fault.kind, scope["method"], scope["path"])
    if fault.kind == "drop_connection":
        await drop_connection(scope, receive, sandbox.connections)
    elif fault.kind == "reset_mid_response":
        await reset_mid_response(scope, receive, send, sandbox.connections)
    else:
        await fault_response(fault, _base_url(scope), scope["path"])(scope, receive, send)


class _ApiEndpoint:
    """Every non-control route: records the request, applies faults, then answers as the upstream."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sandbox = self.sandbox
        if scope["path"].startswith("/_sandbox/"):
            await JSONResponse({"error": "unknown sandbox control route or method"}, 405)(scope, receive, send)
            return
        body = await _read_body(receive)
        request = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            body=body,
            json=_parse_json(body),
            time=sandbox.now(),
        )
        fault = sandbox.fault_book.take(request.method, request.path, is_media=False)
        request.fault = fault.kind if fault else None
        sandbox.record(request)
        logger.debug("sandbox: %s %s (%d bytes)", request.method, request.path, len(body))
        await _respond(sandbox, fault, lambda: sandbox.handle(request, _base_url(scope)), scope, receive, send)


class _MediaEndpoint:
    """Signed output URLs; faults reach them only when a fault's `path` names the media path."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        fault = self.sandbox.fault_book.take(request.method, scope["path"], is_media=True)
        await _respond(self.sandbox, fault, lambda: self._answer(request), scope, receive, send)

    def _answer(self, request: Request) -> Response:
        name = request.path_params["name"]
        reason = self.sandbox.check_media_url(name, request.query_params.get("exp"), request.query_params.get("sig"))
        if reason:
            return access_denied("AccessDenied", reason)
        config = self.sandbox.config
        return media_response(name, request.method, {"mp4": config.output_video, "png": config.output_image})
