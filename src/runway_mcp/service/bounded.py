"""A small in-memory map that forgets, so the service's per-task and per-key memories stay bounded.

A server runs for weeks and sees an unbounded number of task ids and idempotency keys; a plain dict
keyed by them only grows. Each policy unit keeps what it needs in a `RecentMap` instead: entries older
than `max_age` seconds read as absent and are dropped, and beyond `max_entries` the oldest go first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DAY_SECONDS = 86400.0
# Enough for every task or key a busy server touches within any of the policies' windows.
DEFAULT_MAX_ENTRIES = 4096


class RecentMap(Generic[K, V]):
    """Key -> (stamp, value), oldest stamp first; at most `max_entries`, none older than `max_age`."""

    def __init__(self, *, max_age: float, max_entries: int, clock: Callable[[], float]) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_age = max_age
        self.max_entries = max_entries
        self._clock = clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def put(self, key: K, value: V, at: float | None = None) -> None:
        """Remember `value` under `key`, stamped `at` (default: now); a re-put key moves to the end."""
        self._items.pop(key, None)
        self._items[key] = (self._clock() if at is None else at, value)
        self.prune()

    def stamp(self, key: K) -> float | None:
        """When `key` was put, or None if it is absent or older than `max_age`."""
        item = self._items.get(key)
        if item is None or self._clock() - item[0] > self.max_age:
            return None
        return item[0]

    def get(self, key: K) -> V | None:
        """The value under `key`, or None if it is absent or older than `max_age`."""
        item = self._items.get(key)
        return None if item is None or self.stamp(key) is None else item[1]

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)

    def prune(self) -> None:
        """Drop the oldest entries while there are too many or they are past `max_age`."""
        now = self._clock()
        while self._items:
            stamp, _ = next(iter(self._items.values()))
            if len(self._items) <= self.max_entries and now - stamp <= self.max_age:
                return
            self._items.popitem(last=False)
