"""A small per-replica cache with explicit time-to-live, and stale answers when a store is down.

Hot reads (a customer's segments, their recommendations) are served from here for
``ttl`` seconds. When the store cannot be reached the last value read is served instead,
however old, and the answer says so; ``/readyz`` reports the replica degraded.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from segmint.errors import StoreUnavailable

V = TypeVar("V")


class TTLCache:
    def __init__(self, ttl: float, max_items: int = 100_000) -> None:
        self.ttl = ttl
        self.max_items = max_items
        self._items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.degraded_since: float | None = None

    def get(self, key: Any, load: Callable[[], V]) -> tuple[V, bool]:
        """The value for ``key`` and whether it is stale (the store is down)."""
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1], False
        try:
            value = load()
        except StoreUnavailable:
            if self.degraded_since is None:
                self.degraded_since = time.time()
            if hit is not None:
                return hit[1], True
            raise
        self.degraded_since = None
        with self._lock:
            self._items[key] = (now + self.ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return value, False

    def drop(self) -> None:
        """Forget everything (an accepted event or a changed segment made it stale)."""
        with self._lock:
            self._items.clear()
