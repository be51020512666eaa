"""``segmint worker``: apply the events of the Redis Stream, as one consumer of the group.

Each round re-claims what a dead consumer left pending (entries idle longer than
``claim_idle_ms``), then reads new entries, applies them in one commit and acks them only
after the commit. A worker killed at any point leaves its entries pending; whoever claims them
applies them again, and the processor skips every ``event_id`` it already applied, so
nothing is lost or counted twice. Before each batch it applies, the worker asks ``refresh``
(a version check in the store) for the rule segments now defined, so a segment defined over
the API while it runs is applied from the next batch on, without a restart.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from segmint.errors import StoreUnavailable
from segmint.privacy._mask import mask_text
from segmint.realtime._bus import Entry, StreamBus
from segmint.realtime._events import from_wire, to_wire
from segmint.realtime._processor import Outcome, Processor

_log = logging.getLogger(__name__)


@dataclass
class WorkerStats:
    rounds: int = 0
    applied: int = 0
    duplicates: int = 0
    changes: int = 0
    claimed: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)


def consumer_name() -> str:
    """A name unique to this process: host and pid."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Worker:
    """One consumer of the event stream.

    ``refresh`` is called before each batch is applied; it brings ``processor.rules`` up to
    date with the definitions in the store (:meth:`Runtime.refresh`). Without it the worker
    applies the rules it was given for as long as it runs.
    """

    def __init__(
        self,
        bus: StreamBus,
        processor: Processor,
        *,
        consumer: str | None = None,
        batch: int = 500,
        block_ms: int = 500,
        claim_idle_ms: int = 10_000,
        sweep_every: float = 0.0,
        refresh: Callable[[], object] | None = None,
    ) -> None:
        self.bus = bus
        self.processor = processor
        self.refresh = refresh
        self.consumer = consumer or consumer_name()
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.sweep_every = sweep_every
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._swept = time.monotonic()

    def step(self) -> int:
        """One round: re-claim, read, apply, ack. Returns the entries handled."""
        entries = self.bus.claim(self.consumer, self.claim_idle_ms, self.batch)
        self.stats.claimed += len(entries)
        if len(entries) < self.batch:
            entries += self.bus.read(self.consumer, self.batch - len(entries), self.block_ms)
        if entries:
            self._apply(entries)
        self.stats.rounds += 1
        if self.sweep_every and time.monotonic() - self._swept >= self.sweep_every:
            self._swept = time.monotonic()
            if self.refresh is not None:
                self.refresh()
            self.stats.changes += len(self.processor.sweep())
        return len(entries)

    def _apply(self, entries: list[Entry]) -> None:
        if self.refresh is not None:
            self.refresh()  # segments defined since the last batch (a version check)
        events = []
        bad: list[dict[str, object]] = []
        for e in entries:
            try:
                events.append(from_wire(e.event))
            except (KeyError, TypeError, ValueError) as exc:
                bad.append(
                    {
                        "event": e.event,
                        "errors": [{"field": "ts", "rule": "format", "message": str(exc)}],
                        "source": "stream",
                    }
                )
        outcomes = self._apply_events(events, bad)
        if bad:
            self.processor.store.dead_letter(bad)
            self.stats.dead += len(bad)
        self.bus.ack([e.id for e in entries])
        for outcome in outcomes:
            self.stats.applied += outcome.applied
            self.stats.duplicates += outcome.duplicates
            self.stats.changes += len(outcome.changes)

    def _apply_events(
        self, events: list[dict[str, Any]], bad: list[dict[str, object]]
    ) -> list[Outcome]:
        """Apply a batch; if it fails for a reason other than a store outage, apply its events
        one by one and dead-letter each that fails, with the reason, so one poison entry can
        never stop the worker or hold back the entries behind it (a batch commits as one, so
        nothing of the failed attempt was written)."""
        try:
            return [self.processor.apply(events)]
        except StoreUnavailable:
            raise
        except Exception as exc:  # any failure of one event must not stop the worker
            _log.warning("a batch of %d failed (%s): one by one", len(events), type(exc).__name__)
        outcomes = []
        for event in events:
            try:
                outcomes.append(self.processor.apply([event]))
            except StoreUnavailable:
                raise
            except Exception as exc:
                _log.warning(
                    "event %s dead-lettered: %s", event.get("event_id"), type(exc).__name__
                )
                bad.append(
                    {
                        "event": to_wire(event),
                        "errors": [
                            {
                                "field": "event",
                                "rule": "apply",
                                "message": f"could not be applied: {type(exc).__name__}: "
                                f"{mask_text(str(exc)[:200])}",
                            }
                        ],
                        "source": "stream",
                    }
                )
        return outcomes

    def run(self, *, max_idle_rounds: int | None = None) -> WorkerStats:
        """Work until :meth:`stop` (or ``max_idle_rounds`` empty rounds in a row); a store
        or stream that is down is waited out, never a crash."""
        idle = 0
        while not self._stop.is_set():
            try:
                handled = self.step()
            except StoreUnavailable as exc:
                self.stats.errors.append(str(exc))
                self._stop.wait(1.0)
                continue
            idle = 0 if handled else idle + 1
            if max_idle_rounds is not None and idle >= max_idle_rounds:
                break
        return self.stats

    def stop(self) -> None:
        """Make :meth:`run` return once the step in progress ends."""
        self._stop.set()
