"""Who is calling a shared HTTP server: their opaque owner id and, in bring-your-own-key mode, their key.

The HTTP auth layer (`runway_mcp.remote.auth`) verifies each request's bearer token and hands the SDK an
`AccessToken` whose `subject` is the caller's owner id and whose claims carry the caller's own upstream
key as a `SecretStr`. The SDK keeps that token in a context variable for the request being served and
carries it into the tool handler, so these functions only ever see the current caller. On stdio, and
in shared-key mode, there is no owner and no caller key.
"""

from __future__ import annotations

from typing import Final

from mcp.server.auth.middleware.auth_context import get_access_token
from pydantic import SecretStr

CALLER_KEY_CLAIM: Final = "runway_mcp_caller_key"


def caller_owner() -> str | None:
    """The current caller's opaque owner id (bring-your-own-key mode), or None."""
    token = get_access_token()
    return token.subject if token is not None else None


def caller_api_key() -> SecretStr | None:
    """The current caller's own upstream key (bring-your-own-key mode), or None.

    The server hands this function to `runway_mcp.upstream.client.RunwayClient` as its `caller_key`,
    so the upstream client never reads MCP auth state itself.
    """
    token = get_access_token()
    key = (token.claims or {}).get(CALLER_KEY_CLAIM) if token is not None else None
    return key if isinstance(key, SecretStr) else None
