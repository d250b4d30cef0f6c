"""The `runway-mcp` command: serve MCP over stdio (default), or run the sandbox or the demo."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing, like argparse and logging, would cost the stdio front milliseconds
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import NoReturn

    from runway_mcp.config import Settings

DESCRIPTION = """\
An MCP server for Runway video models through CometAPI. With no command it serves MCP over stdio,
which is what MCP clients (Claude Desktop, Claude Code, Cursor, VS Code) start it for; with
--transport streamable-http (or sse) it serves remote callers over HTTP.
Configuration comes from environment variables; COMETAPI_KEY is the one you need.
"""


# Said once on stderr when a person runs the server in a terminal, where it would otherwise look dead.
WAITING_HINT = (
    "runway-mcp is waiting for an MCP client on stdin: MCP clients (Claude Desktop, Claude Code, Cursor, VS Code) "
    "start it themselves. To see it work, run `runway-mcp demo`. Press Ctrl-D (Ctrl-Z, Enter on Windows) to stop."
)
TRANSPORTS = ("stdio", "streamable-http", "sse")
# Distinct names: the sandbox command has --host and --port of its own.
HTTP_ONLY_OPTIONS = ("http_host", "http_port", "allow_unauthenticated", "byo_key", "stateless")


def port_number(text: str) -> int:
    """A TCP port from the command line; anything else is refused by argparse in one line."""
    import argparse

    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 65535, not {text!r}")
    return port


def add_serve_arguments(parser: argparse.ArgumentParser, *, default: object) -> None:
    """The serving options, on the bare command and on `serve` (there `default` is SUPPRESS, so that
    `runway-mcp --port 9000 serve` keeps the port given before the command)."""
    parser.add_argument(
        "--transport",
        choices=TRANSPORTS,
        default=default,
        help="stdio (the default) for a client that starts this server; streamable-http (endpoint /mcp) or "
        "sse (legacy clients) to serve remote callers over HTTP",
    )
    parser.add_argument(
        "--host",
        dest="http_host",
        default=default,
        help="HTTP: address to bind (default RUNWAY_MCP_HOST, else 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        dest="http_port",
        type=port_number,
        default=default,
        help="HTTP: port to listen on (default RUNWAY_MCP_PORT, else 8000)",
    )
    parser.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        default=default,
        help="HTTP: serve a non-loopback address without RUNWAY_MCP_AUTH_TOKENS (only behind something that "
        "authenticates callers; anyone who reaches the server spends its credits)",
    )
    parser.add_argument(
        "--byo-key",
        action="store_true",
        default=default,
        help="HTTP: bring-your-own-key mode; each caller's bearer token is their own CometAPI key "
        "(RUNWAY_MCP_BYO_KEY=1)",
    )
    parser.add_argument(
        "--stateless",
        action="store_true",
        default=default,
        help="streamable HTTP: keep no sessions, for several workers or hosts behind a load balancer "
        "(RUNWAY_MCP_STATELESS=1)",
    )


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from runway_mcp import __version__

    parser = argparse.ArgumentParser(prog="runway-mcp", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_serve_arguments(parser, default=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="serve MCP over stdio (the default) or HTTP")
    add_serve_arguments(serve, default=argparse.SUPPRESS)
    sandbox = commands.add_parser(
        "sandbox", help="run the simulated CometAPI upstream on 127.0.0.1 (no key or network needed)"
    )
    sandbox.add_argument("--port", type=port_number, default=8765, help="port to listen on (default 8765)")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    commands.add_parser("demo", help="run a complete video edit against an in-process sandbox, printing each step")
    return parser


def configure_logging(level: str) -> None:
    """Logs go to stderr: on stdio, stdout carries the protocol and nothing else."""
    import logging

    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> None:
    if argv is None and len(sys.argv) == 1:
        # The bare command, as a client starts it: serve stdio at once (argparse would only find the defaults).
        try:
            serve_stdio()
        except Exception as exc:  # config (pydantic) is imported only now: the front starts before it
            from runway_mcp.config import SettingsError

            if isinstance(exc, SettingsError):  # a configuration the server cannot use: its message, no traceback
                exit_with(exc)
            raise
        return
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "serve"
    if command != "serve" and any(getattr(args, name) for name in ("transport", *HTTP_ONLY_OPTIONS)):
        parser.error(f"serving options apply to serving MCP, not to the {command} command")
    from runway_mcp.config import SettingsError

    try:
        run_command(parser, args, command)
    except SettingsError as exc:  # a configuration the server cannot use: its message, never a traceback
        exit_with(exc)


def exit_with(exc: Exception) -> NoReturn:
    """End the program with exit code 2 and the message, each line prefixed with the program's name."""
    for line in str(exc).splitlines():
        print(f"runway-mcp: {line}", file=sys.stderr, flush=True)
    raise SystemExit(2) from None


def run_command(parser: argparse.ArgumentParser, args: argparse.Namespace, command: str) -> None:
    if command == "sandbox":
        from runway_mcp.sandbox import serve

        configure_logging("INFO")
        serve(host=args.host, port=args.port)
    elif command == "demo":
        from runway_mcp.demo import run_demo

        load_settings()  # the demo brings its own upstream, but a wrong variable is better caught now
        configure_logging("WARNING")
        raise SystemExit(run_demo())
    elif (args.transport or "stdio") == "stdio":
        if any(getattr(args, name) for name in HTTP_ONLY_OPTIONS):
            parser.error("--host, --port, --allow-unauthenticated, --byo-key and --stateless need an HTTP --transport")
        serve_stdio()
    else:
        serve_http(args)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; a bad value raises `SettingsError`, which `main` reports in one line each."""
    from runway_mcp.config import Settings

    return Settings.from_env(None, **overrides)


def serve_stdio() -> None:
    """Serve stdio; the front (standard library only) answers the client's first requests while the SDK loads."""
    from runway_mcp.front.front import start_front

    in_terminal = os.isatty(0)  # asked first: the front moves the client's stdin off descriptor 0
    front = start_front(os.environ)

    # On stdio the one caller is the machine's owner and pays with COMETAPI_KEY: RUNWAY_MCP_BYO_KEY is for HTTP.
    settings = load_settings(byo_key=False)
    if in_terminal:
        print(WAITING_HINT, file=sys.stderr, flush=True)
    from runway_mcp.tools.server import build_server

    configure_logging(settings.log_level)
    if front is None:
        import anyio

        from runway_mcp.tools.surrogates import run_stdio

        anyio.run(run_stdio, build_server(settings))  # MCPServer.run(), with a request the SDK would drop answered
        return
    from runway_mcp.front.handover import serve

    serve(front, settings, build_server, os.environ)


def serve_http(args: argparse.Namespace) -> None:
    """Serve over HTTP; flags override the environment. Unsafe configurations raise `SettingsError` (exit code 2)."""
    from runway_mcp.remote.app import serve

    flags = {
        "allow_unauthenticated": args.allow_unauthenticated,
        "byo_key": args.byo_key,
        "stateless_http": args.stateless,
    }
    settings = load_settings(**{name: True for name, given in flags.items() if given})
    host = args.http_host or settings.http_host or "127.0.0.1"
    port = settings.http_port if args.http_port is None else args.http_port
    configure_logging(settings.log_level)
    try:
        serve(settings, transport=args.transport, host=host, port=port)
    except OSError as exc:
        print(f"runway-mcp: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        raise SystemExit(1) from None
