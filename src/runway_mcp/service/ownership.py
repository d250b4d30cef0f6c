"""Owner scoping: on a shared server, a caller may only touch tasks it created.

Each caller of a shared (HTTP) server has an opaque owner id; the ledger records which owner created
each task. A task of another owner is reported exactly like a task that does not exist, so one caller
cannot even learn that another's task id is real. On stdio there is no owner and no check. Nothing is
held in memory: the ledger is the record. Reading never depends on it, though: when the ledger is
unavailable the check is left to the upstream, which a bring-your-own-key caller reaches with their
own key (and so sees only their own tasks), rather than telling a caller their own billed task is
not theirs, which would send them to create it again.
"""

from __future__ import annotations

from runway_mcp.errors import NotFoundError
from runway_mcp.store.ledger import Ledger


class OwnerScope:
    """Refuses a task id the caller did not create (when the caller has an owner id)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def check(self, task_id: str, owner: str | None) -> None:
        """Raise NotFoundError unless `owner` is None or created `task_id` on this server."""
        if owner is not None and self.ledger.enabled and await self.ledger.get(task_id, owner) is None:
            raise NotFoundError(f"No task with id {task_id!r} was created by this caller on this server.")
