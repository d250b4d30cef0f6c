"""The HTTP clients the server keeps: one for the upstream API, one for output downloads.

They are built here, apart from the API client that uses them, because their settings (pool size,
timeouts, redirects) are a transport decision, and because the server builds them lazily: nothing
before the first upstream call needs a TLS context.
"""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from runway_mcp import __version__
from runway_mcp.config import Settings


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
