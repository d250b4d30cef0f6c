"""The MCP face: the server, its tools, resources and prompts. Thin: each tool checks its input, calls the
task service once and shapes the answer; the create tools are made from the catalog."""
