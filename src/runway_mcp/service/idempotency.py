"""Idempotent creates: the same key with the same request gives the original task, never a second one.

A lost reply makes an agent send its create again, and every duplicate costs money. Creates that share
an (owner, key) run one at a time, so two concurrent repeats cannot both submit; the ledger is asked
first for the original task. Each key is also remembered in memory, so keys still work in this process
when the ledger cannot be written.

Bounds: a lock exists only while a create holds or waits for it. The memory of keys holds the last
`max_keys` (default 4096) keys used in the last `max_age` seconds (default 24 h); past that only the
ledger knows a key.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio

from runway_mcp.errors import InputError
from runway_mcp.service.bounded import DAY_SECONDS, DEFAULT_MAX_ENTRIES, RecentMap
from runway_mcp.store.ledger import Ledger
from runway_mcp.store.records import TaskRecord

_Key = tuple[str | None, str]


@dataclass(frozen=True)
class KeyRecord:
    task_id: str
    request_hash: str | None


@dataclass
class _Holders:
    """One key's lock and how many creates hold it or wait for it."""

    lock: anyio.Lock = field(default_factory=anyio.Lock)
    users: int = 0


@dataclass
class Claim:
    """What a create under one key found: the original task id (replay), or None (submit, then `remember`)."""

    original: str | None
    _remember: Callable[[str], None]

    def remember(self, task_id: str) -> None:
        """Record the task the create just submitted under this key."""
        self._remember(task_id)


class Idempotency:
    """Serialises creates per (owner, key) and tells each whether it repeats an earlier one."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        max_keys: int = DEFAULT_MAX_ENTRIES,
        max_age: float = DAY_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ledger = ledger
        self._keys: RecentMap[_Key, KeyRecord] = RecentMap(max_age=max_age, max_entries=max_keys, clock=clock)
        self._locks: dict[_Key, _Holders] = {}

    @property
    def remembered(self) -> int:
        """How many keys are held in memory now."""
        return len(self._keys)

    @property
    def locks(self) -> int:
        """How many keys have a create holding or waiting for their lock now."""
        return len(self._locks)

    @asynccontextmanager
    async def claim(self, key: str, owner: str | None, request_hash: str) -> AsyncIterator[Claim]:
        """Hold the key's lock and find its original task; a different request under the key is an InputError."""
        slot = (owner, key)
        holders = self._locks.setdefault(slot, _Holders())
        holders.users += 1
        try:
            async with holders.lock:
                original = await self._original(slot, request_hash)
                yield Claim(original, lambda task_id: self._keys.put(slot, KeyRecord(task_id, request_hash)))
        finally:
            holders.users -= 1
            if holders.users == 0:
                del self._locks[slot]

    async def _original(self, slot: _Key, request_hash: str) -> str | None:
        owner, key = slot
        found: TaskRecord | KeyRecord | None = await self.ledger.find_idempotent(key, owner)
        if found is None:
            found = self._keys.get(slot)
        if found is None:
            return None
        if found.request_hash != request_hash:
            raise InputError(
                [
                    f"idempotency_key: {key!r} was already used for a different request "
                    f"(task {found.task_id}). Use a new key for a new request, or repeat the "
                    "original parameters exactly to get the original task back."
                ]
            )
        return found.task_id
