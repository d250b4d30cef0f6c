"""The client for CometAPI's Runway routes (or Runway's own API): requests, keys and retries.

Retry policy (see the reference's "Errors"):
- Reads (GET) are repeated on 429, 5xx (502, 503, 504, 524 above all), connection failures,
  timeouts and unreadable gateway answers (HTML pages, empty or malformed bodies), with exponential backoff, jitter and `Retry-After`, within
  `retry_budget_seconds` in total.
- A create is repeated ONLY when it certainly did not reach the upstream (no connection was
  ever established) or the upstream explicitly refused it with 429. After a timeout, a dropped
  connection or a 5xx it may already have created a billed task, so it is never repeated: the
  error says so.
- A connection refused, or a host name that does not exist, is not repeated at all: it is almost
  always a wrong base URL, and it is reported at once, naming the variable to check.

How an answer becomes a value or an error is `runway_mcp.upstream.responses`; the HTTP clients
themselves are built in `runway_mcp.upstream.transport`. In bring-your-own-key mode the caller's key
is handed in by whoever builds this client: the upstream layer knows nothing of MCP or its auth.
"""

from __future__ import annotations

import json
import logging
import math
import random
import socket
import time
from collections.abc import AsyncIterable, Callable, Mapping
from typing import Any, Final, Protocol

import anyio
import httpx
from pydantic import SecretStr

from runway_mcp.config import Settings
from runway_mcp.errors import (
    AmbiguousCreateError,
    BadResponseError,
    ConfigurationError,
    InputError,
    RateLimitedError,
    UnavailableError,
    UpstreamError,
)
from runway_mcp.models import Task, task_id_problem
from runway_mcp.upstream.responses import Answer, check_answer, host_of, read_answer
from runway_mcp.upstream.task_shapes import normalise_task

logger = logging.getLogger("runway_mcp.upstream.client")

# Errors raised before a single byte of the request could have left this machine.
NEVER_SENT_ERRORS: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
BACKOFF_CAP_SECONDS: Final = 8.0
# getaddrinfo's answers that mean the name does not exist (not that the resolver is briefly unavailable).
UNKNOWN_HOST_CODES: Final = frozenset(
    getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)
)


def connect_failure(exc: BaseException) -> str | None:
    """ "connection refused" or "unknown host" when `exc` was caused by one of them, else None.

    Neither gets better by waiting a few seconds, so neither is retried.
    """
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror) and cause.errno in UNKNOWN_HOST_CODES:
            return "unknown host"
        cause = cause.__cause__ or cause.__context__
    return None


class StreamingBody(Protocol):
    """A request body produced piece by piece, whose exact length is known in advance."""

    @property
    def content_length(self) -> int: ...

    def __aiter__(self) -> Any: ...


def _no_caller_key() -> SecretStr | None:
    return None


def _check_task_id(task_id: str) -> None:
    """Every path to tasks/{id} checks the id the way the tools' argument schema does, whoever called."""
    problem = task_id_problem(task_id)
    if problem is not None:
        raise InputError([problem])


class RunwayClient:
    """Speaks to `{base_url}{api_prefix}/...`; every failure comes out as an `UpstreamError`."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient | Callable[[], httpx.AsyncClient],
        *,
        caller_key: Callable[[], SecretStr | None] = _no_caller_key,
    ) -> None:
        self._settings = settings
        self._http = http
        """The client, or a function giving it (created on first use, see `HttpClients`)."""
        self._caller_key = caller_key
        """The key of the caller being served, or None: used in bring-your-own-key mode, always redacted."""

    def __repr__(self) -> str:
        return f"RunwayClient(provider={self._settings.provider!r}, base_url={self._settings.base_url!r})"

    @property
    def settings(self) -> Settings:
        return self._settings

    def url(self, route: str) -> str:
        return f"{self._settings.base_url}{self._settings.api_prefix}/{route.lstrip('/')}"

    def _headers(self, *, create: bool) -> dict[str, str]:
        if self._settings.byo_key:
            # Each caller pays with their own key; the server's key is never used for anyone.
            key = self._caller_key()
            if key is None or not key.get_secret_value():
                raise ConfigurationError(
                    "This server uses each caller's own API key, and this request carried none. Configure "
                    "your MCP client to send your CometAPI key as its bearer token (Authorization: Bearer <key>)."
                )
        else:
            key = self._settings.api_key
            if key is None or not key.get_secret_value():
                raise ConfigurationError(
                    f"No API key is configured. Set the {self._settings.key_variable} environment variable "
                    "in the MCP client's configuration for this server, then restart the server."
                )
        headers = {"Authorization": f"Bearer {key.get_secret_value()}", "Accept": "application/json"}
        if create or self._settings.runway_version:
            headers["X-Runway-Version"] = self._settings.runway_version
        if create:
            headers["Content-Type"] = "application/json"
        return headers

    async def create_task(self, route: str, body: Mapping[str, Any] | StreamingBody) -> str:
        """POST a create route once (see the module's retry policy); return the new task's id."""
        headers = self._headers(create=True)
        content: bytes | AsyncIterable[bytes]
        if isinstance(body, Mapping):
            content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        else:
            content = body
            headers["Content-Length"] = str(body.content_length)
        answer = await self._send("POST", route, headers=headers, content=content, create=True)
        task_id = answer.payload.get("id") if isinstance(answer.payload, Mapping) else None
        if not isinstance(task_id, str) or not task_id:
            raise AmbiguousCreateError(
                "The upstream accepted the create request but its answer had no task id "
                f"(HTTP {answer.status}). A task may have been created and billed; do not resubmit "
                "without checking the provider's dashboard.",
                status=answer.status,
            )
        return task_id

    async def start_upload(self, filename: str) -> dict[str, Any]:
        """POST uploads (Runway direct): an ephemeral upload slot. Free, so it is retried like a read."""
        headers = self._headers(create=True)
        content = json.dumps({"filename": filename, "type": "ephemeral"}).encode()
        answer = await self._send("POST", "uploads", headers=headers, content=content, optional_route=True)
        slot = answer.payload
        if not (
            isinstance(slot, Mapping)
            and isinstance(slot.get("uploadUrl"), str)
            and isinstance(slot.get("runwayUri"), str)
            and isinstance(slot.get("fields"), Mapping)
        ):
            raise BadResponseError("The upload slot the upstream returned lacks uploadUrl, fields or runwayUri.")
        return dict(slot)

    async def get_task(self, task_id: str) -> Task:
        """GET tasks/{id} with retries, normalised from either documented response shape."""
        _check_task_id(task_id)
        answer = await self._send("GET", f"tasks/{task_id}", headers=self._headers(create=False), task_id=task_id)
        return normalise_task(answer.payload, task_id)

    async def get_organization(self) -> dict[str, Any]:
        """GET organization (Runway direct): the credit balance, tier limits and usage. Free, retried like a read."""
        answer = await self._send("GET", "organization", headers=self._headers(create=False), optional_route=True)
        payload = answer.payload
        balance = payload.get("creditBalance") if isinstance(payload, Mapping) else None
        if not isinstance(balance, int | float) or isinstance(balance, bool):
            raise BadResponseError("The organization the upstream returned has no numeric creditBalance.")
        return dict(payload)

    async def delete_task(self, task_id: str) -> None:
        """DELETE tasks/{id}: cancels a running task or deletes a finished one (Runway direct)."""
        _check_task_id(task_id)
        await self._send(
            "DELETE", f"tasks/{task_id}", headers=self._headers(create=False), task_id=task_id, optional_route=True
        )

    async def _send(
        self,
        method: str,
        route: str,
        *,
        headers: dict[str, str],
        content: bytes | AsyncIterable[bytes] | None = None,
        create: bool = False,
        task_id: str | None = None,
        optional_route: bool = False,
    ) -> Answer:
        url = self.url(route)
        deadline = time.monotonic() + self._settings.retry_budget_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = await self._attempt(method, url, headers, content)
                return check_answer(
                    answer, self._settings, task_id=task_id, optional_route=optional_route, redact=self._redact
                )
            except NEVER_SENT_ERRORS as exc:
                failure: UpstreamError = UnavailableError(self._transport_message(exc, sent=False))
                if connect_failure(exc):
                    raise failure from None
            except httpx.TransportError as exc:
                if create:
                    raise AmbiguousCreateError(self._transport_message(exc, sent=True)) from None
                failure = UnavailableError(self._transport_message(exc, sent=False))
            except RateLimitedError as exc:
                failure = exc
            except (UnavailableError, BadResponseError) as exc:
                if exc.definite_refusal:
                    raise
                if create:
                    raise self._ambiguous(exc) from None
                failure = exc
            delay = self._backoff(attempt, failure.retry_after)
            if attempt > self._settings.max_retries or time.monotonic() + delay > deadline:
                if attempt > 1:
                    failure.message += f" (gave up after {attempt} attempts)"
                    failure.args = (failure.message,)
                raise failure
            logger.info("%s %s failed (%s); retry %d in %.1fs", method, route, type(failure).__name__, attempt, delay)
            await anyio.sleep(delay)

    async def _attempt(
        self, method: str, url: str, headers: dict[str, str], content: bytes | AsyncIterable[bytes] | None
    ) -> Answer:
        http = self._http if isinstance(self._http, httpx.AsyncClient) else self._http()
        request = http.build_request(method, url, headers=headers, content=content)
        response = await http.send(request, stream=True)
        try:
            return await read_answer(response)
        finally:
            await response.aclose()

    @staticmethod
    def _ambiguous(exc: UpstreamError) -> AmbiguousCreateError:
        return AmbiguousCreateError(
            f"{exc.message} The create request reached the upstream, so the task may or may not have "
            "been created (and billed). It was NOT resubmitted automatically. Check with the user or the "
            "provider's dashboard before creating it again.",
            status=exc.status,
        )

    def _transport_message(self, exc: httpx.TransportError, *, sent: bool) -> str:
        host = host_of(self._settings.base_url)
        if isinstance(exc, NEVER_SENT_ERRORS):
            definite = connect_failure(exc)
            advice = self._settings.base_url_advice()
            return (
                f"The request to the upstream ({host}) could not connect ({definite or type(exc).__name__}). It "
                "never left this machine, so nothing was created and nothing was spent. "
                + (f"The base URL is probably wrong: {advice}." if definite else f"If this persists, {advice}.")
            )
        what = "timed out" if isinstance(exc, httpx.TimeoutException) else "lost the connection"
        message = f"The request to the upstream ({host}) {what} ({type(exc).__name__})."
        if sent:
            message += (
                " The create request may have reached the upstream, so the task may or may not have been "
                "created (and billed). It was NOT resubmitted automatically. Check with the user or the "
                "provider's dashboard before creating it again."
            )
        return message

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
            return retry_after
        delay: float = min(self._settings.retry_backoff_seconds * 2.0 ** (attempt - 1), BACKOFF_CAP_SECONDS)
        return delay * random.uniform(0.75, 1.25)  # noqa: S311 - jitter, not cryptography

    def _redact(self, text: str) -> str:
        """The text with every key this request could carry (the server's, the caller's) blanked out."""
        for key in (self._settings.api_key, self._caller_key()):
            secret = key.get_secret_value() if key else ""
            if secret:
                text = text.replace(secret, "[redacted]")
        return text
