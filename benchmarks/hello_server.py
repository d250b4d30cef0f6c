"""The cold-start baseline: the smallest useful MCPServer, one tool, served over stdio.

Run as a script (`python benchmarks/hello_server.py`) by the cold-start benchmark, with the same
interpreter as `python -m runway_mcp`, so the difference between the two is what runway-mcp adds.
"""

from __future__ import annotations

from mcp.server import MCPServer

server: MCPServer = MCPServer("hello", log_level="WARNING")


@server.tool()
def hello(name: str = "world") -> str:
    """Say hello to `name`."""
    return f"Hello, {name}!"


if __name__ == "__main__":
    server.run()
