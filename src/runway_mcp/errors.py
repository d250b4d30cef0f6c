"""One family of errors for everything that can go wrong outside the server's own code.

Each message is written for the model that called the tool: what happened and what to do next.
`upstream/client.py` raises them; `tools/context.py` (`tool_errors`) turns them into tool errors in one place.
"""

from __future__ import annotations

MAX_MESSAGE_CHARS = 4000


def quoted(value: object, limit: int = 120) -> str:
    """`repr(value)`, shortened: an error must not repeat megabytes of a caller's input back to them."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}...({len(text):,} characters)"


def bounded(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A message cut to `limit` characters, keeping its start and end (where the advice usually is)."""
    if len(message) <= limit:
        return message
    omitted = len(message) - limit
    return f"{message[: limit * 2 // 3]} [...{omitted:,} characters omitted...] {message[-limit // 3 :]}"


class RunwayMCPError(Exception):
    """Base class: `str(exc)` is the message the calling model reads."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(RunwayMCPError):
    """The caller's arguments cannot be sent: nothing was sent upstream and nothing was spent."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"- {p}" for p in problems)
        super().__init__(f"Invalid input, nothing was sent and no credits were spent:\n{lines}")


class BudgetExceededError(RunwayMCPError):
    """The server's own spending limit refuses this create; nothing was sent."""


class ConfigurationError(RunwayMCPError):
    """The server is not set up to make this call (for example no API key)."""


class UpstreamError(RunwayMCPError):
    """The upstream answered with an error, or could not be reached or understood."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after

    @property
    def definite_refusal(self) -> bool:
        """The upstream answered 3xx/4xx: it did not take the request, so nothing was created."""
        return self.status is not None and 300 <= self.status < 500 and self.status != 429


class AuthenticationError(UpstreamError):
    """401/403: the key is missing, wrong, or lacks access."""


class RejectedError(UpstreamError):
    """400 (or 402/422): the upstream refused the request as sent; fix the input."""


class NotFoundError(UpstreamError):
    """404 for a resource, or `task_not_exist` for a task id."""


class NotSupportedError(UpstreamError):
    """The provider does not offer this route (404/405 for the route itself)."""


class RateLimitedError(UpstreamError):
    """429: too many requests, or the daily generation cap."""


class UnavailableError(UpstreamError):
    """5xx, timeouts and connection failures on a request that is safe to repeat."""


class AmbiguousCreateError(UpstreamError):
    """A create may have reached the upstream, and may have created a billed task, but we cannot tell."""


class BadResponseError(UpstreamError):
    """The upstream answered with something that is not the documented JSON (HTML, redirect, junk)."""


class DownloadError(RunwayMCPError):
    """A download could not be completed; nothing partial was left behind."""
