"""The event bus boundary: how accepted events reach the processor.

* inline (embedded default): the API logs each event durably in the online store and applies
  it in the request, so nothing is queued;
* Redis Streams (production): the API appends to a stream and ``segmint worker`` processes
  it in a consumer group. Delivery is at least once (an entry stays pending until acked, and
  a worker that died leaves its entries to be re-claimed by another); the processor makes it
  effectively once by each event's ``event_id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Entry:
    """One event read from a stream: its stream id (to ack) and the event."""

    id: str
    event: dict[str, Any]
    deliveries: int = 1


class StreamBus(Protocol):
    """A durable stream of events read by a consumer group."""

    url: str

    def ping(self) -> None:
        """Raise StoreUnavailable unless the bus answers."""

    def append(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """Append events (JSON-able mappings); return their stream ids."""

    def read(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """New entries for ``consumer`` of the group (waits up to ``block_ms`` for some)."""

    def claim(self, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
        """Entries another consumer read but did not ack for ``min_idle_ms`` (it died),
        now ``consumer``'s."""

    def ack(self, ids: Sequence[str]) -> None:
        """Mark entries of the group processed, so they are not delivered again."""

    def lag(self) -> dict[str, int]:
        """``pending`` (read, not acked) and ``waiting`` (not yet read) entries."""

    def close(self) -> None:
        """Release the bus's connections."""
