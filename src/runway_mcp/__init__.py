"""runway-mcp: a Model Context Protocol server for Runway video models through CometAPI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cometapi-runway-mcp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__", "main"]


def main() -> None:
    """Run the `runway-mcp` command line (serves MCP over stdio by default)."""
    from runway_mcp.cli import main as cli_main

    cli_main()
