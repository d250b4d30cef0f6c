"""Serving MCP over streamable HTTP or SSE, and who may call."""
