"""runway-mcp: a Model Context Protocol server for Runway video models through CometAPI."""

from __future__ import annotations

__all__ = ["__version__", "main"]


def __getattr__(name: str) -> str:
    # Looked up on first use: importlib.metadata costs ~40 ms, more than the stdio front needs to answer a client.
    if name != "__version__":
        raise AttributeError(f"module 'runway_mcp' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("cometapi-runway-mcp")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0"
    globals()["__version__"] = found
    return found


def main() -> None:
    """Run the `runway-mcp` command line (serves MCP over stdio by default)."""
    from runway_mcp.cli import main as cli_main

    cli_main()
