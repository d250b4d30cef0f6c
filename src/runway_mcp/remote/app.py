"""Serving MCP over HTTP: streamable HTTP at `/mcp`, or legacy SSE at `/sse`, authenticated and safe by default.

Run it:
    runway-mcp --transport streamable-http --host 127.0.0.1 --port 8000     # endpoint http://127.0.0.1:8000/mcp
    runway-mcp --transport sse                                               # /sse and /messages/, legacy clients
Under your own uvicorn or gunicorn, with every setting from the environment:
    uvicorn --factory runway_mcp.remote.app:create_app --host 127.0.0.1 --port 8000
The factory is not told the address it is bound to. RUNWAY_MCP_HOST may say it; unset, and with no authentication
configured, the app serves only connections that arrive on a loopback address and answers others 403.
Several workers on one host (one port, a shared RUNWAY_MCP_DATA_DIR for the SQLite ledger):
    export RUNWAY_MCP_AUTH_TOKENS=<token> RUNWAY_MCP_STATELESS=1
    export RUNWAY_MCP_REQUEST_STATE_KEYS=$(python -c "import secrets; print(secrets.token_hex(32))")
    uvicorn --factory runway_mcp.remote.app:create_app --host 0.0.0.0 --port 8000 --workers 2
Behind a proxy or under another name, set RUNWAY_MCP_PUBLIC_URL (e.g. https://mcp.example.com): 401 answers
point callers to it, and its host is accepted in Host headers like RUNWAY_MCP_ALLOWED_HOSTS.
Mounted inside your own Starlette/FastAPI app, `create_app()`'s lifespan must run (enter
`app.router.lifespan_context(app)` in yours): it starts the SDK's session manager and opens the ledger and
the upstream client.

Safe by default: see `runway_mcp.remote.auth` for who may call; every bind checks Host and Origin headers
(loopback ones, plus RUNWAY_MCP_ALLOWED_HOSTS / RUNWAY_MCP_ALLOWED_ORIGINS); local-file inputs and downloads
to the server's disk are off unless RUNWAY_MCP_HTTP_ALLOW_LOCAL_FILES / _DOWNLOADS turn them on; request
bodies are capped just above the largest request the upstream accepts (413 beyond). `GET /healthz` answers
without authentication and says nothing about the configuration.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from mcp.server import MCPServer
from mcp.server.auth.provider import TokenVerifier
from mcp.server.request_state import RequestStateSecurity
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from runway_mcp.catalog import DATA_URI_LIMIT_BYTES, MB
from runway_mcp.config import Settings, SettingsError, invalid_line
from runway_mcp.remote.auth import (
    CallerKeyVerifier,
    auth_settings_for,
    check_bind_policy,
    is_loopback,
    token_verifier_for,
    use_honest_resource_metadata,
)
from runway_mcp.remote.guards import SurrogateGuard
from runway_mcp.remote.limits import CallerLimits, Caps, SessionBook
from runway_mcp.tools.server import AppContext, build_server

logger = logging.getLogger("runway_mcp.remote.app")

Transport = Literal["streamable-http", "sse"]
ENDPOINT_PATHS: Final[dict[Transport, str]] = {"streamable-http": "/mcp", "sse": "/sse"}
SSE_MESSAGE_PATH: Final = "/messages/"
HEALTH_PATH: Final = "/healthz"
# A streamable HTTP session with no request in flight for this long ends (the SDK's default, made explicit
# because runway_mcp.remote.limits follows the same rule).
SESSION_IDLE_SECONDS: Final = 30 * 60
# The largest tool call carries a 16 MB video and a 5 MB reference image as data URIs: base64 makes them
# about 28 MB, and the JSON around them needs a little more.
MAX_REQUEST_BODY_BYTES: Final = math.ceil((DATA_URI_LIMIT_BYTES["video"] + DATA_URI_LIMIT_BYTES["image"]) / 3) * 4 + MB
LOOPBACK_HOSTS: Final = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_HOSTS: Final = ("", "0.0.0.0", "::", "[::]")  # noqa: S104 - names of the wildcard, not a bind


def http_settings(settings: Settings) -> Settings:
    """The settings as HTTP callers get them: the caller is not the machine's owner."""
    return settings.model_copy(
        update={
            "allow_local_files": settings.http_allow_local_files,
            "allow_local_downloads": settings.http_allow_local_downloads,
        }
    )


def public_base_url(settings: Settings, host: str | None) -> str:
    """Where callers reach this server: RUNWAY_MCP_PUBLIC_URL, else the bind address."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if host is None or host in WILDCARD_HOSTS:
        host = "localhost"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.http_port}"


def transport_security_for(settings: Settings, host: str | None) -> TransportSecuritySettings:
    """DNS-rebinding protection, on for every bind: loopback plus the configured and public names.

    The SDK turns it on by itself only for loopback binds, so it is always passed explicitly.
    """
    hosts = [*LOOPBACK_HOSTS]
    if host and host not in WILDCARD_HOSTS:
        hosts.append(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    if settings.public_url:
        hosts.append(urlsplit(settings.public_url).netloc)
    hosts.extend(settings.allowed_hosts)
    allowed_hosts: list[str] = []
    for name in hosts:
        # A Host header carries the port unless it is the scheme's default.
        for entry in (name, f"{name}:*") if ":" not in name.rsplit("]", 1)[-1] else (name,):
            if entry not in allowed_hosts:
                allowed_hosts.append(entry)
    origins = [f"http://{name}:*" for name in LOOPBACK_HOSTS] + [f"http://{name}" for name in LOOPBACK_HOSTS]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=allowed_hosts,
        allowed_origins=[*origins, *settings.allowed_origins],
    )


def resource_url_for(settings: Settings, transport: Transport, host: str | None) -> str:
    """The MCP endpoint's public URL: the protected resource a 401 names."""
    return public_base_url(settings, host) + ENDPOINT_PATHS[transport]


def build_http_server(
    settings: Settings, transport: Transport, host: str | None, verifier: TokenVerifier | None
) -> MCPServer[AppContext]:
    """The MCP server with HTTP authentication (`verifier`, None for none) wired in, and `/healthz`."""
    resource_url = resource_url_for(settings, transport, host)
    keys = [key.get_secret_value() for key in settings.request_state_keys]
    try:
        request_state = RequestStateSecurity(keys=keys) if keys else None
    except ValueError as exc:
        must = f"hold keys of 32 bytes or more each ({exc})"
        raise SettingsError(invalid_line("RUNWAY_MCP_REQUEST_STATE_KEYS", None, must, secret=True)) from None
    if settings.byo_key and settings.api_key is not None:
        logger.info("bring-your-own-key mode: the server's own %s is not used for any caller", settings.key_variable)
    mcp = build_server(
        http_settings(settings),
        token_verifier=verifier,
        auth=auth_settings_for(resource_url) if verifier is not None else None,
        request_state_security=request_state,
    )

    mcp.custom_route(HEALTH_PATH, methods=["GET"], include_in_schema=False)(healthz)
    return mcp


async def healthz(_request: Request) -> Response:
    """Liveness for load balancers: no authentication, and nothing about the configuration."""
    return JSONResponse({"status": "ok"})


class LoopbackOnly:
    """Serves only connections that arrived on a loopback address; answers any other with 403.

    Guards the app factory run by someone else's server without authentication: it is not told the address
    it is bound to, so each connection's own local address (the ASGI `server`) decides.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        local = scope.get("server")
        if scope["type"] != "lifespan" and not (local and is_loopback(str(local[0]))):
            logger.warning(
                "refused a connection to %s: without authentication only loopback addresses are served", local
            )
            refusal = JSONResponse({"error": UNAUTHENTICATED_REMOTE_REFUSAL}, status_code=403)
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


UNAUTHENTICATED_REMOTE_REFUSAL: Final = (
    "This server has no authentication configured, so it only serves connections to a loopback address "
    "(127.0.0.1, ::1). Set RUNWAY_MCP_AUTH_TOKENS (or RUNWAY_MCP_BYO_KEY=1) to serve other addresses."
)


def create_app(
    settings: Settings | None = None, *, transport: Transport = "streamable-http", host: str | None = None
) -> Starlette:
    """The ASGI app serving MCP over HTTP (`uvicorn --factory runway_mcp.remote.app:create_app`).

    Settings default to the environment; `host` (default RUNWAY_MCP_HOST) is the address it is bound to,
    which decides whether it may run without authentication; unknown, and without authentication, only
    loopback connections are served (`LoopbackOnly`). Raises `SettingsError` when it may not run; as the
    factory (no settings given) it says why in one line on stderr and exits with code 2 instead, since the
    server running it would print a traceback.
    """
    if settings is not None:
        return _create_app(settings, transport, settings.http_host if host is None else host)
    try:
        settings = Settings.from_env()
        return _create_app(settings, transport, settings.http_host if host is None else host)
    except SettingsError as exc:
        from runway_mcp.cli import exit_with

        exit_with(exc)


def _create_app(settings: Settings, transport: Transport, host: str | None) -> Starlette:
    guard = host is None and not (settings.byo_key or settings.auth_tokens or settings.allow_unauthenticated)
    # With the address unknown, LoopbackOnly stands in for the refusal a public bind would get.
    check_bind_policy(settings, "127.0.0.1" if guard else host)
    verifier = token_verifier_for(settings)
    mcp = build_http_server(settings, transport, host, verifier)
    security = transport_security_for(settings, host)
    mode = "bring-your-own-key" if settings.byo_key else "shared key"
    auth = "bearer tokens" if settings.byo_key or settings.auth_tokens else "no authentication"
    logger.info("serving MCP over %s (%s, %s)", transport, mode, auth)
    if transport == "sse":
        app = mcp.sse_app(
            sse_path=ENDPOINT_PATHS["sse"],
            message_path=SSE_MESSAGE_PATH,
            max_request_body_size=MAX_REQUEST_BODY_BYTES,
            transport_security=security,
        )
    else:
        if not settings.stateless_http:
            logger.info("sessions are kept in this process: with several workers, set RUNWAY_MCP_STATELESS=1")
        app = mcp.streamable_http_app(
            streamable_http_path=ENDPOINT_PATHS["streamable-http"],
            stateless_http=settings.stateless_http,
            max_request_body_size=MAX_REQUEST_BODY_BYTES,
            session_idle_timeout=SESSION_IDLE_SECONDS,
            transport_security=security,
        )
    if verifier is not None:
        use_honest_resource_metadata(app, resource_url_for(settings, transport, host))
    add_guards(app, settings)
    if isinstance(verifier, CallerKeyVerifier):
        close_with_app(app, verifier.aclose)
    if guard:
        logger.info("no authentication and RUNWAY_MCP_HOST unset: serving connections to loopback addresses only")
        app.add_middleware(LoopbackOnly)
    return app


def add_guards(app: Starlette, settings: Settings) -> None:
    """The guards of `runway_mcp.remote.guards` and `.limits`, inside authentication (so a stranger's body
    is never read and each request is known by its caller)."""
    if settings.byo_key:
        caps = Caps(
            sessions_per_caller=settings.max_sessions_per_caller,
            streams_per_caller=settings.max_streams_per_caller,
            unconfirmed_sessions=settings.max_unconfirmed_sessions,
        )
        book = SessionBook(idle_seconds=SESSION_IDLE_SECONDS)
        paths = {"mcp_path": ENDPOINT_PATHS["streamable-http"], "sse_path": ENDPOINT_PATHS["sse"]}
        app.user_middleware.append(Middleware(CallerLimits, caps=caps, book=book, **paths))
    app.user_middleware.append(
        Middleware(
            SurrogateGuard,
            answer_paths=(ENDPOINT_PATHS["streamable-http"],),
            rewrite_paths=(SSE_MESSAGE_PATH,),
            max_body_bytes=MAX_REQUEST_BODY_BYTES,
        )
    )


def close_with_app(app: Starlette, close: Callable[[], Awaitable[None]]) -> None:
    """Run `close` when the app's lifespan ends (after the SDK's own shutdown)."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(scope_app: Any) -> AsyncIterator[Any]:
        try:
            async with inner(scope_app) as state:
                yield state
        finally:
            await close()

    app.router.lifespan_context = lifespan


def create_sse_app() -> Starlette:
    """The legacy SSE app from the environment (`uvicorn --factory runway_mcp.remote.app:create_sse_app`)."""
    return create_app(transport="sse")


def serve(settings: Settings, *, transport: Transport, host: str, port: int) -> None:
    """Serve on `host:port` with uvicorn until interrupted (blocking); port 0 picks a free port.

    Raises `SettingsError` for an unsafe configuration (before binding anything), `OSError` when the
    address cannot be bound.
    """
    import uvicorn

    check_bind_policy(settings, host)
    # Bound here rather than by uvicorn so that the app knows its real port (for 401 answers) even for port 0.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    port = sock.getsockname()[1]
    app = create_app(settings.model_copy(update={"http_port": port}), transport=transport, host=host)
    config = uvicorn.Config(
        app,
        log_config=None,  # the CLI has configured logging to stderr already
        log_level=settings.log_level.lower(),
        server_header=False,
        timeout_graceful_shutdown=5,  # open SSE streams would otherwise hold a shutdown forever
    )
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    logger.info("listening on http://%s:%d (MCP endpoint %s)", shown, port, ENDPOINT_PATHS[transport])
    uvicorn.Server(config).run(sockets=[sock])
