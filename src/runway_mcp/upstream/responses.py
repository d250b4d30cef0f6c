"""Reading an upstream HTTP answer and turning it into a value or the `UpstreamError` it means.

The upstream has several error shapes (CometAPI's, Runway's, its gateway's) and sometimes answers
with no API document at all (an HTML page from a CDN, an empty or enormous body). Every such answer
is mapped here to one error class, whose kind decides what the client may retry (see
`runway_mcp.upstream.client`) and whose message tells the user what to do.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from runway_mcp.config import Settings
from runway_mcp.errors import (
    AuthenticationError,
    BadResponseError,
    NotFoundError,
    NotSupportedError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
    UpstreamError,
)
from runway_mcp.upstream.task_shapes import is_task_not_exist, not_found_message

# API answers are small JSON documents; anything bigger is not one and is not read further.
MAX_RESPONSE_BYTES: Final = 1024 * 1024
# A Retry-After further off than this is not advice (Runway's daily cap resets within a day): it is ignored.
MAX_RETRY_AFTER_SECONDS: Final = 86400.0
# How much of the upstream's own words an error quotes (after any key in them is redacted).
MAX_DETAIL_CHARS: Final = 1000


@dataclass(frozen=True)
class Answer:
    """One upstream answer, read: its status, its parsed JSON (or a stand-in), its headers."""

    status: int
    payload: Any
    headers: httpx.Headers


class _TooLargeType:
    pass


_TooLarge: Final = _TooLargeType()


@dataclass(frozen=True)
class _NotJson:
    head: str
    content_type: str


async def read_answer(response: httpx.Response) -> Answer:
    """Read a streamed response (at most `MAX_RESPONSE_BYTES`) and parse its JSON, if it is JSON."""
    raw = await _read_capped(response, MAX_RESPONSE_BYTES)
    payload: Any = None
    if raw is None:
        payload = _TooLarge
    elif raw.strip():
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = _NotJson(raw[:200].decode("utf-8", "replace"), response.headers.get("content-type", ""))
    return Answer(response.status_code, payload, response.headers)


def check_answer(
    answer: Answer, settings: Settings, *, task_id: str | None, optional_route: bool, redact: Callable[[str], str]
) -> Answer:
    """The answer when it is a successful JSON answer; otherwise raise the `UpstreamError` it means.

    `task_id` is the task a read or delete names (its "not found" is worded for it); an
    `optional_route` is one the provider may lack (404 and 405 mean "not supported"); `redact`
    blanks any key out of the upstream's own words before they reach a message.
    """
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
    if status in (404, 405) and not optional_route and _names_no_route(payload, task_id):
        raise _wrong_route_error(status, payload, settings, redact)
    if 300 <= status < 400:
        location = answer.headers.get("location", "")
        raise BadResponseError(
            f"The upstream answered with a redirect (HTTP {status} to {host_of(location)}). This usually "
            f"means the base URL is wrong: {settings.base_url_advice()}.",
            status=status,
        )
    if isinstance(payload, _NotJson):
        raise _not_json_error(answer, payload, settings, optional_route=optional_route)
    # Redacted whole, then cut: a key straddling the cut would otherwise show its first characters.
    detail = redact(_error_detail(payload))[:MAX_DETAIL_CHARS]
    raise _error_answer(answer, detail, settings, optional_route=optional_route)


def not_supported_error(settings: Settings, status: int) -> NotSupportedError:
    """The error for a route the configured provider does not have."""
    return NotSupportedError(
        f"This route is not supported by the provider {settings.provider!r} (HTTP {status}). "
        "CometAPI does not document it; it works with RUNWAY_MCP_PROVIDER=runway.",
        status=status,
    )


def host_of(url: str) -> str:
    """The host a URL names, for messages; "unknown host" when it names none."""
    try:
        return httpx.URL(url).host or "unknown host"
    except (httpx.InvalidURL, TypeError):
        return "unknown host"


def _names_no_route(payload: Any, task_id: str | None) -> bool:
    """Whether a 404/405 says the route itself does not exist (a wrong base URL), not that a task does not.

    A create route always exists, an API never answers with a web page, and CometAPI's gateway says
    "Invalid URL (METHOD /path)" for a path it does not serve; a task read's JSON 404 may mean the task.
    """
    if task_id is None or isinstance(payload, _NotJson):
        return True
    return _error_detail(payload).startswith("Invalid URL")


def _wrong_route_error(status: int, payload: Any, settings: Settings, redact: Callable[[str], str]) -> BadResponseError:
    detail = "a web page" if isinstance(payload, _NotJson) else redact(_error_detail(payload)) or "no detail"
    return BadResponseError(
        f"The upstream has no such route (HTTP {status}: {detail}), so the base URL is probably wrong: "
        f"{settings.base_url_advice()}. Nothing was created.",
        status=status,
    )


def _not_json_error(answer: Answer, payload: _NotJson, settings: Settings, *, optional_route: bool) -> UpstreamError:
    """The error for an answer that is not JSON (typically a gateway or CDN page)."""
    status = answer.status
    kind = "an HTML page" if "html" in payload.content_type or "<html" in payload.head.lower() else "non-JSON text"
    if 200 <= status < 300:
        return BadResponseError(f"The upstream answered HTTP {status} with {kind} instead of JSON.", status=status)
    if status in (404, 405) and optional_route:
        return not_supported_error(settings, status)
    message = (
        f"The upstream answered HTTP {status} with {kind} instead of a JSON error (typically a gateway or CDN page)."
    )
    retry_after = _retry_after(answer.headers)
    if status == 429:
        return RateLimitedError(message, status=status, retry_after=retry_after)
    error_cls = UnavailableError if status >= 500 else BadResponseError
    return error_cls(message, status=status, retry_after=retry_after)


def _error_answer(answer: Answer, detail: str, settings: Settings, *, optional_route: bool) -> UpstreamError:
    """The error for a JSON error answer, `detail` being the upstream's own (redacted) words."""
    status = answer.status
    suffix = f": {detail}" if detail else "."
    retry_after = _retry_after(answer.headers)
    if status in (401, 403):
        where = (
            "the key your MCP client sends as its bearer token (this server uses each caller's own key)"
            if settings.byo_key
            else f"{settings.key_variable}"
        )
        return AuthenticationError(
            f"The upstream refused the API key (HTTP {status}){suffix} Check that {where} "
            "holds a valid key with access to Runway models.",
            status=status,
        )
    if status == 429:
        wait = f" Retry after about {retry_after:.0f} seconds." if retry_after else " Wait a minute before retrying."
        return RateLimitedError(
            f"The upstream is rate limiting or the daily generation cap was reached (HTTP 429){suffix}{wait}",
            status=status,
            retry_after=retry_after,
        )
    if status in (404, 405) and optional_route:
        return not_supported_error(settings, status)
    if status == 404:
        return NotFoundError(f"The upstream answered 404 Not Found{suffix}", status=status)
    if status >= 500:
        return UnavailableError(
            f"The upstream failed with HTTP {status}{suffix}", status=status, retry_after=retry_after
        )
    if status == 402 or "credit" in detail.lower():
        return RejectedError(
            f"The upstream refused the request for lack of credits (HTTP {status}){suffix} "
            "Top up the account; nothing was created.",
            status=status,
        )
    return RejectedError(
        f"The upstream rejected the request (HTTP {status}){suffix} Fix the named field and try again; "
        "nothing was created.",
        status=status,
    )


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
    """The upstream's own words from any of its error shapes, with the fields it names; not yet cut or redacted."""
    if isinstance(payload, str):
        return payload.strip()
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
    return " ".join(p for p in parts if p)


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP-date); None when absent or unusable.

    Unusable means anything a client cannot follow: not a number or a date, not finite (nan, inf), negative,
    or further off than `MAX_RETRY_AFTER_SECONDS`. The caller then backs off as it would without the header.
    """
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value)
    if seconds is None or not math.isfinite(seconds) or not 0.0 <= seconds <= MAX_RETRY_AFTER_SECONDS:
        return None
    return seconds


def _seconds_until(value: str) -> float | None:
    """Seconds from now until an HTTP-date (0 for a date already past); None when it is not one."""
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; one without a zone cannot be placed in time
        return None
    return max(when.timestamp() - time.time(), 0.0)
