"""The online store boundary: what the API and the event processor read and write.

Two parts, kept apart on purpose:

* the **published** snapshot, written whole by ``segmint publish`` from the batch results
  (per customer: features and attributes, scores, clusters, batch segments, recommendations,
  and the windowed counters seeded from the warehouse's events), swapped in atomically: a
  reader sees the old snapshot or the new one, never half of each;
* the **live** state the event processor keeps per customer (counters from live events, the
  event ids it has applied, the rule segments it is in), written with optimistic concurrency
  so that any number of workers can apply events without losing an update;
* the **applied event ids** of the whole project, each with its arrival time: an ``event_id``
  is global (whichever customer it names), claimed by the commit that applies it (a commit
  claiming an id another commit holds conflicts, so two workers never both apply it) and
  remembered for the de-duplication window counted from its arrival.

:class:`SQLiteStore` (embedded default) and :class:`RedisStore` (production) implement it;
``tests/realtime/test_store_contract.py`` runs one suite over both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from segmint.errors import Transient


class Conflict(Transient):
    """Another writer changed a live document since it was read; read again and retry."""


@dataclass
class LiveDoc:
    """What the processor keeps for one customer.

    ``counters`` are live buckets (:mod:`segmint.realtime._counters`); ``seen`` maps each
    event id applied to this customer to the hour it arrived (the project-wide record is the
    store's :meth:`OnlineStore.applied`); ``segments`` maps each rule segment the customer is
    in to when they entered; ``clock`` is the latest moment (epoch seconds) the memberships
    were evaluated as of, so a late event never moves them back; ``publish`` is the publish
    version the document was last evaluated against; ``version`` counts writes (optimistic
    concurrency: a write succeeds only if nobody wrote since the read).
    """

    customer_id: str
    counters: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    seen: dict[str, int] = field(default_factory=dict)
    segments: dict[str, str] = field(default_factory=dict)
    publish: int = 0
    version: int = 0
    clock: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The document as stored: every field but ``customer_id`` and ``version``, which the store
        keeps beside it."""
        return {
            "counters": self.counters,
            "seen": self.seen,
            "segments": self.segments,
            "publish": self.publish,
            "clock": self.clock,
        }

    @classmethod
    def from_json(cls, customer_id: str, doc: Mapping[str, Any], version: int) -> LiveDoc:
        """The document :meth:`to_json` wrote for ``customer_id``, read at ``version``; a missing
        field takes its default."""
        return cls(
            customer_id,
            dict(doc.get("counters", {})),
            dict(doc.get("seen", {})),
            dict(doc.get("segments", {})),
            int(doc.get("publish", 0)),
            version,
            float(doc.get("clock", 0.0)),
        )


@dataclass(frozen=True)
class Change:
    """A customer entering or leaving a segment."""

    customer_id: str
    segment: str
    change: str  # 'entered' | 'exited'
    at: str  # ISO 8601, UTC
    event_id: str | None = None

    @property
    def type(self) -> str:
        """The notification type: ``segment.entered`` or ``segment.exited``."""
        return f"segment.{self.change}"

    def to_json(self) -> dict[str, Any]:
        """The change as a notification's webhook payload (``type``, ``customer_id``, ``segment``,
        ``at``, ``event_id``)."""
        return {
            "type": self.type,
            "customer_id": self.customer_id,
            "segment": self.segment,
            "at": self.at,
            "event_id": self.event_id,
        }


@dataclass
class Commit:
    """One atomic write of the processor: live documents (each expected at the version it
    was read at), alias links, membership changes (each also a notification) and the webhook
    deliveries they start. ``deleted`` are live documents merged into another (an anonymous
    visitor who logged in). ``event_ids`` are the event ids the commit applied, each with its
    arrival time (epoch seconds): the commit claims them for the whole project, conflicts
    when another commit holds one still remembered, and the store remembers them for
    ``remember_s`` seconds after their arrival (then forgets them)."""

    docs: list[LiveDoc] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    deleted: list[LiveDoc] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    event_ids: dict[str, float] = field(default_factory=dict)
    remember_s: float = 7 * 86_400.0


@dataclass(frozen=True)
class Published:
    """What a publish holds for one customer."""

    customer_id: str
    values: Mapping[str, Any] = field(default_factory=dict)
    scores: Mapping[str, float] = field(default_factory=dict)
    clusters: Mapping[str, Any] = field(default_factory=dict)
    segments: Mapping[str, str] = field(default_factory=dict)  # segment -> entered_at
    recommendations: Sequence[Mapping[str, Any]] = ()
    counters: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The record as stored: every part but ``customer_id``, the store's key."""
        return {
            "values": dict(self.values),
            "scores": dict(self.scores),
            "clusters": dict(self.clusters),
            "segments": dict(self.segments),
            "recommendations": list(self.recommendations),
            "counters": dict(self.counters),
        }

    @classmethod
    def from_json(cls, customer_id: str, doc: Mapping[str, Any]) -> Published:
        """The record :meth:`to_json` wrote for ``customer_id``; a missing part is empty."""
        return cls(
            customer_id,
            doc.get("values", {}),
            doc.get("scores", {}),
            doc.get("clusters", {}),
            doc.get("segments", {}),
            doc.get("recommendations", []),
            doc.get("counters", {}),
        )


@dataclass(frozen=True)
class PublishInfo:
    """The snapshot in service: its version, the as-of time of its batch results and the
    ISO time its counters were cut at (live events from then on are counted live)."""

    version: int = 0
    as_of: str | None = None
    cut: float | None = None
    published_at: str | None = None
    customers: int = 0


class OnlineStore(Protocol):
    """The online store. Every method may raise :class:`~segmint.errors.StoreUnavailable`."""

    url: str

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""

    def close(self) -> None:
        """Release the store's connections."""

    # --- the published snapshot -------------------------------------------------------
    def publish(
        self,
        customers: Iterable[Published],
        aliases: Mapping[str, str],
        info: PublishInfo,
    ) -> PublishInfo:
        """Replace the whole snapshot at once; return it with its new version."""

    def info(self) -> PublishInfo:
        """The snapshot in service; ``PublishInfo()`` (version 0) before the first publish."""

    def published(self, customer_ids: Sequence[str]) -> dict[str, Published]:
        """The published record of each of ``customer_ids`` the snapshot holds (the others are left
        out)."""

    # --- identity ---------------------------------------------------------------------
    def resolve(self, identifiers: Sequence[str]) -> dict[str, str]:
        """Canonical customer id of each identifier that has one (live links first)."""

    def customer(
        self, keys: Sequence[str], ids: Sequence[str]
    ) -> tuple[str, Published | None, LiveDoc | None] | None:
        """Who has the first of the identity ``keys`` (live links first), else the first of
        ``ids`` the store holds, with their published record and live document; None when
        nobody. The API's read of one customer (one round trip on Redis)."""

    # --- live state -------------------------------------------------------------------
    def live(self, customer_ids: Sequence[str]) -> dict[str, LiveDoc]:
        """The live documents that exist, each with the version it was read at."""

    def commit(self, commit: Commit) -> None:
        """Write it all or nothing; raise :class:`Conflict` when a document moved on or one
        of its ``event_ids`` is held (still remembered) by an earlier commit."""

    def applied(self, event_ids: Sequence[str]) -> dict[str, float]:
        """Of ``event_ids``, those a commit applied and the store still remembers (their
        arrival is less than the commit's ``remember_s`` ago), with their arrival time."""

    def live_ids(self) -> Iterator[str]:
        """Every customer with a live document (for a sweep of time-driven exits)."""

    def customer_ids(self) -> Iterator[str]:
        """Every customer of the published snapshot or with a live document."""

    # --- memberships, history, notifications -------------------------------------------
    def members(self, segment: str, after: str | None, limit: int) -> list[str]:
        """Up to ``limit`` members of ``segment`` in id order, after the cursor ``after``."""

    def size(self, segment: str) -> int:
        """How many members ``segment`` has now (0 for a segment nobody is in)."""

    def history(self, segment: str, limit: int) -> list[dict[str, Any]]:
        """The latest changes of ``segment``, newest first."""

    def notifications(self, after: int, limit: int) -> list[dict[str, Any]]:
        """Enter/exit notifications after sequence number ``after``, oldest first."""

    # --- the durable event log and the dead letters ----------------------------------
    def log_events(self, events: Sequence[Mapping[str, Any]]) -> list[bool]:
        """Append events by ``event_id``; per event, whether it was new: neither logged before
        nor among the ids a commit applied and the store still remembers (what the stream path
        answers ``accepted`` or ``duplicate`` by, before a worker applies it)."""

    def dead_letter(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Keep items that could not be applied, each as :func:`dead_letter_json` writes it;
        past ``dead_letter_cap`` items the oldest are dropped, and counted."""

    def dead_letters(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` dead letters, newest first."""

    def dead_letters_dropped(self) -> int:
        """How many dead letters were dropped, oldest first, to keep the cap."""

    # --- definitions and keys (small, shared by every replica) --------------------------
    def get_meta(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every record of ``kind`` ('segments', 'keys', 'webhooks') by name."""

    def put_meta(self, kind: str, name: str, record: Mapping[str, Any] | None) -> None:
        """Write (or with None delete) one record."""

    # --- webhook deliveries ------------------------------------------------------------
    def due_deliveries(self, now: float, limit: int) -> list[dict[str, Any]]:
        """Deliveries whose next attempt is due."""

    def record_attempt(self, delivery: Mapping[str, Any]) -> None:
        """Store a delivery's state after an attempt (status, attempts, next_at, last_*)."""

    def deliveries(self, limit: int) -> list[dict[str, Any]]:
        """The delivery log, newest first."""


#: most dead letters a store keeps (the oldest are dropped, and counted, past it)
DEAD_LETTER_CAP = 100_000
#: most bytes of one dead letter's JSON a store keeps (a client's 4 MB batch of junk is not
#: stored whole: the start of its JSON is, with its size)
DEAD_LETTER_MAX_BYTES = 16_384


def dead_letter_json(item: Mapping[str, Any]) -> str:
    """One dead letter as stored: its JSON, or when that is over ``DEAD_LETTER_MAX_BYTES``,
    ``{"truncated": true, "size": n, "event": <the start of its JSON>, ...}`` keeping the
    errors (cut the same way) and where it came from."""
    text = json.dumps(item, default=str)
    if len(text) <= DEAD_LETTER_MAX_BYTES:
        return text
    errors = json.dumps(item.get("errors"), default=str)
    out: dict[str, Any] = {
        "truncated": True,
        "size": len(text),
        "event": text[: DEAD_LETTER_MAX_BYTES // 2],
        "errors": item.get("errors")
        if len(errors) <= DEAD_LETTER_MAX_BYTES // 4
        else errors[: DEAD_LETTER_MAX_BYTES // 4],
    }
    if isinstance(item.get("source"), str):
        out["source"] = item["source"][:64]
    return json.dumps(out)
