"""Paid creates waiting for the user's click in the player (RUNWAY_MCP_CONFIRM_SPEND, a client with apps but no forms).

When every paid create must be confirmed by the user and the client can show an MCP App but not a
form (no elicitation), the create tool sends nothing: it records the request here and gives the
player a confirmation token, in the result's `_meta` (which hosts keep out of the model's context).
Only the player's Confirm button presents the token again, through a tool the host offers to the
app and not to the model, and only then is the create sent.

A token is
- unguessable: 256 random bits (`secrets.token_urlsafe(32)`); the server keeps only its SHA-256;
- single-use: the first valid claim removes it, so a second click or a replay finds nothing;
- short-lived: it expires `ttl_seconds` after it was issued;
- bound to the caller: a claim by another caller (another owner on a shared HTTP server) is refused
  and does not use the token up;
- bound to the exact request: the tool arguments and the canonical hash of the request they made
  are stored with it; the confirm rebuilds the request from those arguments and refuses if the hash
  differs (a local input file changed since the price was shown, say). The caller cannot swap in
  other arguments: the confirm takes nothing but the token.

Pending creates live in this process's memory, at most `capacity` of them (the oldest goes first):
after a restart, or on another worker process, the token is unknown and the click is refused with
nothing sent.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from runway_mcp.catalog import Endpoint
from runway_mcp.errors import InputError
from runway_mcp.models import CostEstimate

CONFIRMATION_TTL_SECONDS: Final = 600.0
MAX_PENDING_CONFIRMATIONS: Final = 32
TOKEN_BYTES: Final = 32

NOT_VALID = (
    "confirmation_token: this confirmation is not valid any more: it was already used, it expired "
    "({minutes:.0f} minutes after it was issued), it belongs to another caller, or the server restarted since. "
    "Ask for the create again to see its price and a new Confirm button."
)


@dataclass(frozen=True)
class PendingCreate:
    """A create the user was shown the price of, waiting for their click."""

    endpoint: Endpoint
    arguments: dict[str, Any]
    idempotency_key: str | None
    owner: str | None
    request_hash: str
    cost: CostEstimate
    expires_at: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class PendingCreates:
    """The creates waiting for a confirmation click, by the SHA-256 of their token."""

    def __init__(
        self,
        *,
        ttl_seconds: float = CONFIRMATION_TTL_SECONDS,
        capacity: int = MAX_PENDING_CONFIRMATIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.capacity = capacity
        self._clock = clock
        self._pending: OrderedDict[str, PendingCreate] = OrderedDict()

    def __len__(self) -> int:
        self._forget_expired()
        return len(self._pending)

    def issue(
        self,
        endpoint: Endpoint,
        arguments: Mapping[str, Any],
        *,
        idempotency_key: str | None,
        owner: str | None,
        request_hash: str,
        cost: CostEstimate,
    ) -> str:
        """Record a create waiting for the user and return its token (shown to the player only)."""
        self._forget_expired()
        while len(self._pending) >= self.capacity:
            self._pending.popitem(last=False)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self._pending[_digest(token)] = PendingCreate(
            endpoint=endpoint,
            arguments=dict(arguments),
            idempotency_key=idempotency_key,
            owner=owner,
            request_hash=request_hash,
            cost=cost,
            expires_at=self._clock() + self.ttl_seconds,
        )
        return token

    def claim(self, token: str, owner: str | None) -> PendingCreate:
        """The create this token confirms, removed so it cannot be confirmed twice; `InputError` if none.

        Every refusal reads the same, so a caller learns nothing about tokens that are not theirs.
        """
        self._forget_expired()
        key = _digest(token)
        pending = self._pending.get(key)
        if pending is None or not secrets.compare_digest(pending.owner or "", owner or ""):
            raise InputError([NOT_VALID.format(minutes=self.ttl_seconds / 60)])
        del self._pending[key]
        return pending

    def _forget_expired(self) -> None:
        now = self._clock()
        for key in [key for key, pending in self._pending.items() if pending.expires_at <= now]:
            del self._pending[key]
