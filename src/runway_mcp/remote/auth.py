"""Who may call the HTTP server, and as whom: the bearer-token verifiers and the start-up bind policy.

Two modes:
- Shared key (default): the server's COMETAPI_KEY pays; callers present one of RUNWAY_MCP_AUTH_TOKENS,
  compared in constant time. On a loopback bind the tokens are optional; on any other bind the server
  refuses to start without them unless unauthenticated use is asked for explicitly.
- Bring your own key (`--byo-key`): the bearer token IS the caller's CometAPI key. It is used for that
  caller's upstream calls only (see `runway_mcp.tools.caller`), and the caller's tasks are filed under an
  owner id derived from the key by a one-way hash, never under the key itself. A key the upstream
  refuses is answered 401 before any session exists (`runway_mcp.remote.keycheck`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runway_mcp.config import Settings, SettingsError
from runway_mcp.remote.keycheck import KeyChecker
from runway_mcp.tools.caller import CALLER_KEY_CLAIM

logger = logging.getLogger("runway_mcp.remote.app")

# A fixed label rather than a per-server secret: owner ids must agree between workers and survive restarts,
# and an upstream key has far too much entropy for its hash to be reversed by guessing.
OWNER_ID_LABEL: Final = b"runway-mcp/caller-owner/v1"
MAX_KEY_LENGTH: Final = 512
MIN_TOKEN_LENGTH: Final = 16
# In bring-your-own-key mode: whether the upstream confirmed the caller's key (False: it could not say).
KEY_CONFIRMED_CLAIM: Final = "runway_mcp_key_confirmed"
LOOPBACK_NAMES: Final = ("localhost", "localhost.localdomain")


def owner_id(key: str) -> str:
    """The opaque, stable owner id of the caller holding `key` (HMAC-SHA256 under a fixed label)."""
    return "key-" + hmac.new(OWNER_ID_LABEL, key.encode(), hashlib.sha256).hexdigest()


class SharedTokenVerifier(TokenVerifier):
    """Shared-key mode: the bearer token must be one of the configured tokens."""

    def __init__(self, tokens: Sequence[SecretStr]) -> None:
        self._tokens = [token.get_secret_value().encode() for token in tokens]
        if any(len(token) < MIN_TOKEN_LENGTH for token in self._tokens):
            logger.warning(
                "some RUNWAY_MCP_AUTH_TOKENS are shorter than %d characters: use long random ones", MIN_TOKEN_LENGTH
            )

    def __repr__(self) -> str:
        return f"SharedTokenVerifier({len(self._tokens)} tokens)"

    async def verify_token(self, token: str) -> AccessToken | None:
        presented = token.strip().encode()
        matched: int | None = None
        # Every token is compared, so the time taken does not say which one (if any) came close.
        for index, expected in enumerate(self._tokens):
            if hmac.compare_digest(presented, expected) and matched is None:
                matched = index
        if matched is None:
            return None
        # The token itself is not kept: `AccessToken` is a plain model whose repr would show it.
        principal = f"shared-token-{matched + 1}"
        return AccessToken(token=principal, client_id=principal, scopes=[])


class CallerKeyVerifier(TokenVerifier):
    """Bring-your-own-key mode: a key the upstream refuses gets a 401 and nothing else.

    A new key is checked with the upstream once (`runway_mcp.remote.keycheck`); the verdict is kept a
    while. A key the upstream could not judge is let in marked unconfirmed (`KEY_CONFIRMED_CLAIM`), and
    `runway_mcp.remote.limits` gives unconfirmed keys one small shared allowance of sessions.
    """

    def __init__(self, checker: KeyChecker) -> None:
        self.checker = checker

    def __repr__(self) -> str:
        return "CallerKeyVerifier()"

    async def verify_token(self, token: str) -> AccessToken | None:
        key = token.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or any(c.isspace() for c in key):
            return None
        owner = owner_id(key)
        verdict = await self.checker.verdict(key, owner)
        if verdict == "refused":
            return None
        claims = {CALLER_KEY_CLAIM: SecretStr(key), KEY_CONFIRMED_CLAIM: verdict == "accepted"}
        return AccessToken(token=owner, client_id=owner, subject=owner, scopes=[], claims=claims)

    async def aclose(self) -> None:
        await self.checker.aclose()


def token_verifier_for(settings: Settings) -> TokenVerifier | None:
    """The verifier for these settings, or None when callers need not authenticate."""
    if settings.byo_key:
        return CallerKeyVerifier(KeyChecker(settings))
    if settings.auth_tokens:
        return SharedTokenVerifier(settings.auth_tokens)
    return None


def auth_settings_for(resource_url: str) -> AuthSettings:
    """What 401 answers point to: this server as the protected resource (there is no OAuth server).

    The SDK needs an issuer and names it in the metadata it serves; `use_honest_resource_metadata`
    replaces that document, so the issuer given here is never advertised.
    """
    return AuthSettings(
        issuer_url=resource_url.rsplit("/", 1)[0],
        resource_server_url=resource_url,
        validate_token_resource=False,  # static tokens name no resource; the verifiers check them
    )


def use_honest_resource_metadata(app: Starlette, resource_url: str) -> None:
    """Serve RFC 9728 metadata that names no authorization server, in place of the SDK's.

    The SDK advertises its `issuer_url` as the authorization server, but this server issues no tokens:
    an OAuth-capable client would try to log in there and fail. Callers bring a static bearer token
    (one of RUNWAY_MCP_AUTH_TOKENS, or their own key), which the document's `bearer_methods_supported`
    and the 401's `error_description` are enough to ask for. `authorization_servers` is optional in
    RFC 9728, so it is left out rather than filled with something that does not exist.
    """
    from mcp.server.auth.routes import build_resource_metadata_url, cors_middleware
    from pydantic import AnyHttpUrl

    path = urlsplit(str(build_resource_metadata_url(AnyHttpUrl(resource_url)))).path
    document = {"resource": resource_url, "bearer_methods_supported": ["header"]}

    async def metadata(_request: Request) -> Response:
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=3600"})

    ours = Route(path, endpoint=cors_middleware(metadata, ["GET", "OPTIONS"]), methods=["GET", "OPTIONS"])
    routes = app.router.routes
    places = [index for index, route in enumerate(routes) if isinstance(route, Route) and route.path == path]
    if not places:
        raise RuntimeError(f"the SDK served no protected-resource metadata at {path} to replace")
    for index in places:
        routes[index] = ours


def is_loopback(host: str | None) -> bool:
    """Whether binding `host` keeps the server reachable from this machine only."""
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_policy(settings: Settings, host: str | None) -> None:
    """Refuse configurations that would let strangers spend the server's credits.

    `host` is the address the server binds; None means it is not known (an app factory run by someone
    else's uvicorn), which is treated like a public address.
    """
    if settings.byo_key and settings.auth_tokens:
        raise SettingsError(
            "RUNWAY_MCP_AUTH_TOKENS cannot be combined with bring-your-own-key mode: there, each caller's "
            "bearer token is their own CometAPI key. Unset one of them."
        )
    if settings.byo_key or settings.auth_tokens or settings.allow_unauthenticated or is_loopback(host):
        return
    where = f"on {host}" if host else "on an address it cannot check (set RUNWAY_MCP_HOST if it is loopback)"
    raise SettingsError(
        f"Refusing to serve {where} without authentication: anyone who can reach it could spend this "
        "server's credits. Set RUNWAY_MCP_AUTH_TOKENS to one or more long random tokens (comma-separated; "
        "callers send 'Authorization: Bearer <token>'), or use --byo-key (RUNWAY_MCP_BYO_KEY=1) so each "
        "caller pays with their own key, or pass --allow-unauthenticated (RUNWAY_MCP_ALLOW_UNAUTHENTICATED=1) "
        "if something in front of this server already authenticates callers."
    )
