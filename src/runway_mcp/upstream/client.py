"""The client for CometAPI's Runway routes (or Runway's own API): requests, retries, error mapping.

Retry policy (see the reference's "Errors"):
- Reads (GET) are repeated on 429, 5xx (502, 503, 504, 524 above all), connection failures,
  timeouts and unreadable gateway answers (HTML pages, empty or malformed bodies), with exponential backoff, jitter and `Retry-After`, within
  `retry_budget_seconds` in total.
- A create is repeated ONLY when it certainly did not reach the upstream (no connection was
  ever established) or the upstream explicitly refused it with 429. After a timeout, a dropped
  connection or a 5xx it may already have created a billed task, so it is never repeated: the
  error says so.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import ssl
import time
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import anyio
import httpx

from runway_mcp import __version__
from runway_mcp.config import Settings
from runway_mcp.errors import (
    AmbiguousCreateError,
    AuthenticationError,
    BadResponseError,
    ConfigurationError,
    NotFoundError,
    NotSupportedError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
    UpstreamError,
)
from runway_mcp.models import Task
from runway_mcp.remote.caller import caller_api_key
from runway_mcp.upstream.task_shapes import is_task_not_exist, normalise_task, not_found_message

logger = logging.getLogger("runway_mcp.upstream.client")

# Errors raised before a single byte of the request could have left this machine.
NEVER_SENT_ERRORS: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
# API answers are small JSON documents; anything bigger is not one and is not read further.
MAX_RESPONSE_BYTES: Final = 1024 * 1024
BACKOFF_CAP_SECONDS: Final = 8.0


class StreamingBody(Protocol):
    """A request body produced piece by piece, whose exact length is known in advance."""

    @property
    def content_length(self) -> int: ...

    def __aiter__(self) -> Any: ...


def make_http_client(settings: Settings, **overrides: Any) -> httpx.AsyncClient:
    """The one HTTP client the server keeps for its lifetime (connections are reused).

    Keep-alive matches the pool size, so a burst of calls reuses its connections instead of closing
    and reopening them (each reopen is a new TCP and TLS handshake with the upstream).
    """
    options: dict[str, Any] = {
        "timeout": httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
        "limits": httpx.Limits(max_connections=20, max_keepalive_connections=20, keepalive_expiry=15),
        "follow_redirects": False,  # a redirect means a wrong base URL; following it could replay a create
        "headers": {"User-Agent": f"runway-mcp/{__version__}"},
        "trust_env": True,
    }
    options.update(overrides)
    return httpx.AsyncClient(**options)


def make_download_client(settings: Settings, **overrides: Any) -> httpx.AsyncClient:
    """A separate client for output downloads: no API headers, a long read timeout, no redirects followed blindly."""
    options: dict[str, Any] = {
        "timeout": httpx.Timeout(settings.download_timeout_seconds, connect=settings.connect_timeout),
        "follow_redirects": False,
        "headers": {"User-Agent": f"runway-mcp/{__version__}"},
    }
    options.update(overrides)
    return httpx.AsyncClient(**options)


class HttpClients:
    """The upstream and download clients, each created on first use and sharing one TLS context.

    MCP clients spawn the server when they launch, and building TLS contexts and clients was most of
    its start-up; nothing needs them before the first upstream call.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._tls: ssl.SSLContext | None = None
        self._api: httpx.AsyncClient | None = None
        self._downloads: httpx.AsyncClient | None = None

    def _context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = httpx.create_ssl_context(trust_env=True)
        return self._tls

    def api(self) -> httpx.AsyncClient:
        if self._api is None:
            self._api = make_http_client(self._settings, verify=self._context())
        return self._api

    def downloads(self) -> httpx.AsyncClient:
        if self._downloads is None:
            self._downloads = make_download_client(self._settings, verify=self._context())
        return self._downloads

    async def aclose(self) -> None:
        for client in (self._api, self._downloads):
            if client is not None:
                await client.aclose()


@dataclass(frozen=True)
class _Answer:
    status: int
    payload: Any
    headers: httpx.Headers


class RunwayClient:
    """Speaks to `{base_url}{api_prefix}/...`; every failure comes out as an `UpstreamError`."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient | Callable[[], httpx.AsyncClient]) -> None:
        self._settings = settings
        self._http = http
        """The client, or a function giving it (created on first use, see `HttpClients`)."""

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
            key = caller_api_key()
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
        answer = await self._send("GET", f"tasks/{task_id}", headers=self._headers(create=False), task_id=task_id)
        return normalise_task(answer.payload, task_id)

    async def delete_task(self, task_id: str) -> None:
        """DELETE tasks/{id}: cancels a running task or deletes a finished one (Runway direct)."""
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
    ) -> _Answer:
        url = self.url(route)
        deadline = time.monotonic() + self._settings.retry_budget_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = await self._attempt(method, url, headers, content)
                return self._check(answer, task_id=task_id, optional_route=optional_route)
            except NEVER_SENT_ERRORS as exc:
                failure: UpstreamError = UnavailableError(self._transport_message(exc, sent=False))
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
    ) -> _Answer:
        http = self._http if isinstance(self._http, httpx.AsyncClient) else self._http()
        request = http.build_request(method, url, headers=headers, content=content)
        response = await http.send(request, stream=True)
        try:
            raw = await _read_capped(response, MAX_RESPONSE_BYTES)
        finally:
            await response.aclose()
        payload: Any = None
        if raw is None:
            payload = _TooLarge
        elif raw.strip():
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = _NotJson(raw[:200].decode("utf-8", "replace"), response.headers.get("content-type", ""))
        return _Answer(response.status_code, payload, response.headers)

    def _check(self, answer: _Answer, *, task_id: str | None, optional_route: bool) -> _Answer:
        status, payload = answer.status, answer.payload
        if 200 <= status < 300 and not isinstance(payload, _NotJson) and payload is not _TooLarge:
            if payload is None and status != 204:
                raise BadResponseError(f"The upstream answered HTTP {status} with an empty body instead of JSON.")
            return answer
        if task_id is not None and is_task_not_exist(payload):
            raise NotFoundError(not_found_message(task_id), status=status)
        if payload is _TooLarge:
            raise BadResponseError(
                f"The upstream answered HTTP {status} with a body over {MAX_RESPONSE_BYTES // 1024} KB, "
                "which is not an API answer (a gateway or proxy problem).",
                status=status,
            )
        if 300 <= status < 400:
            location = answer.headers.get("location", "")
            raise BadResponseError(
                f"The upstream answered with a redirect (HTTP {status} to {_host_of(location)}). This usually "
                f"means the base URL is wrong: check COMETAPI_BASE_URL (now {self._settings.base_url}).",
                status=status,
            )
        if isinstance(payload, _NotJson):
            kind = (
                "an HTML page" if "html" in payload.content_type or "<html" in payload.head.lower() else "non-JSON text"
            )
            if 200 <= status < 300:
                raise BadResponseError(
                    f"The upstream answered HTTP {status} with {kind} instead of JSON.", status=status
                )
            if status in (404, 405) and optional_route:
                raise self._not_supported(status)
            message = (
                f"The upstream answered HTTP {status} with {kind} instead of a JSON error "
                "(typically a gateway or CDN page)."
            )
            retry_after = _retry_after(answer.headers)
            if status == 429:
                raise RateLimitedError(message, status=status, retry_after=retry_after)
            error_cls = UnavailableError if status >= 500 else BadResponseError
            raise error_cls(message, status=status, retry_after=retry_after)
        detail = self._redact(_error_detail(payload))
        suffix = f": {detail}" if detail else "."
        retry_after = _retry_after(answer.headers)
        if status in (401, 403):
            where = (
                "the key your MCP client sends as its bearer token (this server uses each caller's own key)"
                if self._settings.byo_key
                else f"{self._settings.key_variable}"
            )
            raise AuthenticationError(
                f"The upstream refused the API key (HTTP {status}){suffix} Check that {where} "
                "holds a valid key with access to Runway models.",
                status=status,
            )
        if status == 429:
            wait = (
                f" Retry after about {retry_after:.0f} seconds." if retry_after else " Wait a minute before retrying."
            )
            raise RateLimitedError(
                f"The upstream is rate limiting or the daily generation cap was reached (HTTP 429){suffix}{wait}",
                status=status,
                retry_after=retry_after,
            )
        if status in (404, 405) and optional_route:
            raise self._not_supported(status)
        if status == 404:
            raise NotFoundError(f"The upstream answered 404 Not Found{suffix}", status=status)
        if status >= 500:
            raise UnavailableError(
                f"The upstream failed with HTTP {status}{suffix}", status=status, retry_after=retry_after
            )
        if status == 402 or "credit" in detail.lower():
            raise RejectedError(
                f"The upstream refused the request for lack of credits (HTTP {status}){suffix} "
                "Top up the account; nothing was created.",
                status=status,
            )
        raise RejectedError(
            f"The upstream rejected the request (HTTP {status}){suffix} Fix the named field and try again; "
            "nothing was created.",
            status=status,
        )

    def _not_supported(self, status: int) -> NotSupportedError:
        return NotSupportedError(
            f"This route is not supported by the provider {self._settings.provider!r} (HTTP {status}). "
            "CometAPI does not document it; it works with RUNWAY_MCP_PROVIDER=runway.",
            status=status,
        )

    @staticmethod
    def _ambiguous(exc: UpstreamError) -> AmbiguousCreateError:
        return AmbiguousCreateError(
            f"{exc.message} The create request reached the upstream, so the task may or may not have "
            "been created (and billed). It was NOT resubmitted automatically. Check with the user or the "
            "provider's dashboard before creating it again.",
            status=exc.status,
        )

    def _transport_message(self, exc: httpx.TransportError, *, sent: bool) -> str:
        if isinstance(exc, httpx.TimeoutException):
            what = "timed out"
        elif isinstance(exc, NEVER_SENT_ERRORS):
            what = "could not connect"
        else:
            what = "lost the connection"
        message = f"The request to the upstream ({_host_of(self._settings.base_url)}) {what} ({type(exc).__name__})."
        if sent:
            message += (
                " The create request may have reached the upstream, so the task may or may not have been "
                "created (and billed). It was NOT resubmitted automatically. Check with the user or the "
                "provider's dashboard before creating it again."
            )
        return message

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(retry_after, 0.0)
        delay: float = min(self._settings.retry_backoff_seconds * 2.0 ** (attempt - 1), BACKOFF_CAP_SECONDS)
        return delay * random.uniform(0.75, 1.25)  # noqa: S311 - jitter, not cryptography

    def _redact(self, text: str) -> str:
        """The text with every key this request could carry (the server's, the caller's) blanked out."""
        for key in (self._settings.api_key, caller_api_key()):
            secret = key.get_secret_value() if key else ""
            if secret:
                text = text.replace(secret, "[redacted]")
        return text


class _TooLargeType:
    pass


_TooLarge: Final = _TooLargeType()


@dataclass(frozen=True)
class _NotJson:
    head: str
    content_type: str


async def _read_capped(response: httpx.Response, limit: int) -> bytes | None:
    """The body, or None when it is longer than `limit` (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _error_detail(payload: Any) -> str:
    """The upstream's own words from any of its error shapes, with the fields it names."""
    if isinstance(payload, str):
        return payload.strip()[:500]
    if not isinstance(payload, Mapping):
        return ""
    error = payload.get("error")
    parts: list[str] = []
    if isinstance(error, Mapping):  # CometAPI: {"error": {"message", "type", "param", "code"}}
        parts.append(str(error.get("message") or error.get("code") or "").strip())
        if error.get("param"):
            parts.append(f"(field: {error['param']})")
    elif isinstance(error, str):  # Runway: {"error": "...", "issues": [{"message", "path"}]}
        parts.append(error.strip())
    elif payload.get("message") or payload.get("code"):  # gateway: {"code", "message", "data"}
        parts.append(str(payload.get("message") or payload.get("code")).strip())
    issues = payload.get("issues")
    if isinstance(issues, list):
        for issue in issues[:10]:
            if isinstance(issue, Mapping):
                path = ".".join(str(p) for p in issue.get("path") or [])
                parts.append(f"[{path or 'body'}] {issue.get('message', '')}".strip())
    return " ".join(p for p in parts if p)[:1000]


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP-date); None when absent or unreadable."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _host_of(url: str) -> str:
    try:
        return httpx.URL(url).host or "unknown host"
    except (httpx.InvalidURL, TypeError):
        return "unknown host"
