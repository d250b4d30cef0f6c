"""The `runway-mcp` command: serve MCP over stdio (default), or run the sandbox or the demo."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from runway_mcp import __version__

DESCRIPTION = """\
An MCP server for Runway video models through CometAPI. With no command it serves MCP over stdio,
which is what MCP clients (Claude Desktop, Claude Code, Cursor, VS Code) start it for.
Configuration comes from environment variables; COMETAPI_KEY is the one you need.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runway-mcp", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("serve", help="serve MCP over stdio (the default)")
    sandbox = commands.add_parser(
        "sandbox", help="run the simulated CometAPI upstream on 127.0.0.1 (no key or network needed)"
    )
    sandbox.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    commands.add_parser("demo", help="run a complete video edit against an in-process sandbox, printing each step")
    return parser


def configure_logging(level: str) -> None:
    """Logs go to stderr: on stdio, stdout carries the protocol and nothing else."""
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    command = args.command or "serve"
    if command == "sandbox":
        from runway_mcp.sandbox import serve

        configure_logging("INFO")
        serve(host=args.host, port=args.port)
    elif command == "demo":
        from runway_mcp.demo import run_demo

        configure_logging("WARNING")
        raise SystemExit(run_demo())
    else:
        serve_stdio()


def serve_stdio() -> None:
    from runway_mcp.config import Settings, SettingsError
    from runway_mcp.server import build_server

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"runway-mcp: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings.log_level)
    build_server(settings).run()
