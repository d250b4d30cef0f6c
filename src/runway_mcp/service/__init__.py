"""The task service and its policies (idempotency, daily budget, fresh tasks, poll pacing, owner scoping),
and request building from the catalog. No MCP code in here."""
