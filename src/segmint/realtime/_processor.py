"""The incremental processor: one event at a time, the few counters and rule segments it moves.

For each event: resolve who it belongs to (an anonymous visitor who logs in is merged into the
account there and then), skip it if its ``event_id`` was applied before (for any customer: an
event id is global to the project, remembered for ``dedup_days`` from its arrival, whatever
the event's own time), fold it into the customer's hourly counters at its own time,
re-evaluate only the rule segments that read a counter it moved (and those that read them
through ``in_segment``) with the per-profile evaluator of the rule language, and record each
enter and exit. Memberships are evaluated as of the event's time or, for a late event, as of
the latest moment the customer was already evaluated at (``LiveDoc.clock``): a late event
counts, but never moves a membership, or a change's time, back.

The state of one batch of events, and the claim of its event ids, is written in one atomic
commit; when another worker wrote a customer or claimed one of the ids in between, the batch
is read and applied again, so running many workers loses and double-counts nothing.

The logic per customer is a pure function of the stored state and the events
(:meth:`Processor.apply_one`), which is what makes the retry safe and the replay of a real
clickstream comparable with the batch path.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from segmint.config import WebhookConfig
from segmint.realtime import _counters as counters
from segmint.realtime._store import (
    Change,
    Commit,
    Conflict,
    LiveDoc,
    OnlineStore,
    Published,
    PublishInfo,
)
from segmint.segments.rules import AggSpec, Profile, Rule

_TICK = timedelta(microseconds=1)
_RETRIES = 20


@dataclass
class RuleSet:
    """The rule segments the real-time path keeps, in an order that computes every
    ``in_segment`` reference before the rule reading it."""

    rules: dict[str, Rule]
    specs: list[AggSpec] = field(init=False)
    readers: dict[str, set[str]] = field(init=False)  # aggregate key -> segments reading it
    dependents: dict[str, set[str]] = field(init=False)  # segment -> segments reading it

    def __post_init__(self) -> None:
        self.specs = list({s.key: s for r in self.rules.values() for s in r.aggregates}.values())
        self.readers = defaultdict(set)
        self.dependents = defaultdict(set)
        for name, rule in self.rules.items():
            for spec in rule.aggregates:
                self.readers[spec.key].add(name)
            for dep in rule.segments:
                self.dependents[dep].add(name)

    def affected(self, moved: Iterable[str]) -> list[str]:
        """The segments to re-evaluate when the aggregates ``moved`` changed, in order."""
        todo = {s for key in moved for s in self.readers.get(key, ())}
        frontier = list(todo)
        while frontier:
            for dep in self.dependents.get(frontier.pop(), ()):
                if dep not in todo:
                    todo.add(dep)
                    frontier.append(dep)
        return [name for name in self.rules if name in todo]


def wants(hook: WebhookConfig, change: Change) -> bool:
    """Whether the webhook ``hook`` is sent ``change`` (its events and segments filters)."""
    return change.type in hook.events and (hook.segments is None or change.segment in hook.segments)


@dataclass
class Outcome:
    """What applying a batch did."""

    applied: int = 0
    duplicates: int = 0
    changes: list[Change] = field(default_factory=list)
    duplicate_ids: set[str] = field(default_factory=set)
    retries: int = 0


def _repeats(events: Sequence[Mapping[str, Any]], seen: Collection[str]) -> set[str]:
    """Ids among ``events`` applied by an earlier batch."""
    return {e["event_id"] for e in events if e.get("event_id") in seen}


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def _at(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def _entered(segments: Mapping[str, str]) -> float:
    """The latest time a customer entered one of ``segments`` (0 when none): memberships
    already hold as of then, so nothing is evaluated as of an earlier moment."""
    latest = 0.0
    for at in segments.values():
        try:
            latest = max(latest, counters.epoch(datetime.fromisoformat(at)))
        except (TypeError, ValueError):
            continue
    return latest


def identity_key(kind: str, value: str) -> str:
    """How an identifier is looked up in the store: ``customer_id:c1``, ``anonymous_id:a9``."""
    return f"{kind}:{value}"


class Processor:
    """Applies events to the online store. ``dedup_days`` is how long an applied
    ``event_id`` is remembered after it arrived (a retry later than that would count again)."""

    def __init__(
        self,
        store: OnlineStore,
        rules: RuleSet,
        *,
        webhooks: Sequence[WebhookConfig] = (),
        dedup_days: float = 7.0,
    ) -> None:
        self.store = store
        self.rules = rules
        self.webhooks = list(webhooks)
        self.dedup_hours = int(dedup_days * 24)
        self.dedup_s = float(dedup_days) * 86_400

    # --- batches -------------------------------------------------------------------------
    def apply(self, events: Sequence[Mapping[str, Any]]) -> Outcome:
        """Apply validated events (see :func:`validate_event`) in one commit, retrying the
        whole batch when another writer moved one of its customers in between."""
        outcome = Outcome()
        for attempt in range(_RETRIES):
            try:
                result = self._apply_once(events)
            except Conflict:
                outcome.retries = attempt + 1
                continue
            result.retries = outcome.retries
            return result
        raise Conflict(f"gave up after {_RETRIES} conflicting attempts")

    def _apply_once(self, events: Sequence[Mapping[str, Any]]) -> Outcome:
        info = self.store.info()
        arrived = time.time()
        owners, links = self._owners(events)
        by_owner: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        first: dict[str, str] = {}  # event id -> the customer of its first copy in the batch
        for event, owner in zip(events, owners, strict=True):
            by_owner[owner].append(event)
            if event.get("event_id") is not None:
                first.setdefault(event["event_id"], owner)
        held = set(self.store.applied(sorted(first)))  # applied by an earlier batch, anyone's
        merged_from = {anon: cid for anon, cid in links.items() if anon != cid}
        ids = sorted(set(by_owner) | set(merged_from))
        docs = self.store.live(ids)
        published = self.store.published(sorted(by_owner))
        commit = Commit(aliases=dict(merged_from), remember_s=self.dedup_s)
        outcome = Outcome()
        merged: set[str] = set()
        for anon, cid in merged_from.items():
            if anon in docs:
                merged.add(cid)
                gone = docs.pop(anon)
                commit.deleted.append(gone)
                target = docs.get(cid) or LiveDoc(cid)
                docs[cid] = self._absorb(target, gone, commit, by_owner[cid][0]["ts"])
        for owner, evs in by_owner.items():
            doc = docs.get(owner) or LiveDoc(owner)
            pub = published.get(owner) or Published(owner)
            evs = sorted(evs, key=lambda e: e["ts"])
            prior = _repeats(evs, doc.seen.keys()) | _repeats(evs, held)
            # a copy of an id whose first copy in the batch is another customer's: theirs
            others = {
                e["event_id"]
                for e in evs
                if e.get("event_id") is not None and first[e["event_id"]] != owner
            }
            n, dup = self.apply_one(
                doc,
                pub,
                info,
                evs,
                commit,
                everything=owner in merged,
                skip=held | others if others else held,
                arrived=arrived,
            )
            outcome.applied += n
            outcome.duplicates += dup
            outcome.duplicate_ids |= prior
            commit.docs.append(doc)
        commit.deliveries = self._deliveries(commit.changes)
        self.store.commit(commit)
        outcome.changes = commit.changes
        return outcome

    def _owners(self, events: Sequence[Mapping[str, Any]]) -> tuple[list[str], dict[str, str]]:
        """Each event's customer, and the anonymous documents that a login merges."""
        keys: set[str] = set()
        for e in events:
            if e.get("customer_id") is not None:
                keys.add(identity_key("customer_id", e["customer_id"]))
            if e.get("anonymous_id") is not None:
                keys.add(identity_key("anonymous_id", e["anonymous_id"]))
        known = self.store.resolve(sorted(keys))
        links: dict[str, str] = {}
        # logins first: a visitor's events in the same batch all go to the account
        for e in events:
            if e.get("customer_id") is not None and e.get("anonymous_id") is not None:
                cid = known.get(identity_key("customer_id", e["customer_id"]), e["customer_id"])
                anon_key = identity_key("anonymous_id", e["anonymous_id"])
                if known.get(anon_key) != cid:
                    links[anon_key] = cid
        known.update(links)
        owners: list[str] = []
        for e in events:
            if e.get("customer_id") is not None:
                owners.append(
                    known.get(identity_key("customer_id", e["customer_id"]), e["customer_id"])
                )
            else:
                anon_key = identity_key("anonymous_id", e["anonymous_id"])
                owners.append(known.get(anon_key, anon_key))
        return owners, links

    def _absorb(self, target: LiveDoc, gone: LiveDoc, commit: Commit, at: datetime) -> LiveDoc:
        """Merge an anonymous visitor's live document into the account they logged in to;
        the visitor's id leaves its segments (the account is evaluated next), never at a
        time before either was last evaluated at."""
        target.counters = counters.merge(target.counters, gone.counters, self.rules.specs)
        target.seen.update(gone.seen)
        target.clock = max(target.clock, gone.clock)
        when = _iso(_at(max(counters.epoch(at), target.clock)))
        for seg in sorted(gone.segments):
            commit.changes.append(Change(gone.customer_id, seg, "exited", when))
        return target

    # --- one customer --------------------------------------------------------------------
    def apply_one(
        self,
        doc: LiveDoc,
        pub: Published,
        info: PublishInfo,
        events: Sequence[Mapping[str, Any]],
        commit: Commit,
        *,
        everything: bool = False,
        skip: Collection[str] = (),
        arrived: float | None = None,
    ) -> tuple[int, int]:
        """Apply one customer's events (in time order) to ``doc``, in place; changes and the
        applied event ids (claimed at ``arrived``, default now) are added to ``commit``.
        Returns (applied, duplicates). Ids in ``skip`` (applied before, for anyone) or in
        ``commit`` already are duplicates. ``everything`` re-evaluates every rule segment
        after the events (another document was merged into this one). Each event counts at
        its own time; memberships are evaluated as of :meth:`_as_of`, never back in time."""
        arrived = time.time() if arrived is None else arrived
        self._rebase(doc, pub, info)
        if not doc.clock:  # new (or written before documents had a clock)
            doc.clock = _entered(doc.segments)
        applied = dup = 0
        for event in events:
            eid = event.get("event_id")
            if eid is not None and (eid in doc.seen or eid in skip or eid in commit.event_ids):
                dup += 1
                continue
            moved = counters.observe(doc.counters, self.rules.specs, event)
            if eid is not None:
                doc.seen[eid] = int(arrived // counters.HOUR)
                commit.event_ids[eid] = arrived
            applied += 1
            now = self._as_of(doc, info, event["ts"], arrived)
            names = self.rules.affected(moved)
            if names:
                self._evaluate(doc, pub, info, names, now + _TICK, eid, commit)
        if events and everything:
            last = events[-1]
            now = self._as_of(doc, info, last["ts"], arrived)
            names = list(self.rules.rules)
            self._evaluate(doc, pub, info, names, now + _TICK, last.get("event_id"), commit)
        if events:
            self._tidy(doc, arrived)
        return applied, dup

    @staticmethod
    def _as_of(doc: LiveDoc, info: PublishInfo, ts: datetime, arrived: float) -> datetime:
        """The moment an event's memberships are evaluated as of: its own time, unless the
        customer was already evaluated later (``doc.clock``) or the published snapshot
        covers a later moment (its cut, or the arrival if that is sooner); moves the clock."""
        t = max(counters.epoch(ts), doc.clock)
        if info.cut is not None:
            t = max(t, min(info.cut, arrived))
        doc.clock = t
        return _at(t)

    def _rebase(self, doc: LiveDoc, pub: Published, info: PublishInfo) -> None:
        """After a publish, start from its memberships and let its counters cover the past."""
        if doc.publish == info.version:
            return
        if info.cut is not None:
            cut_hour = int(info.cut // counters.HOUR)
            for buckets in doc.counters.values():
                for h in [h for h in buckets if int(h) < cut_hour]:
                    del buckets[h]
        doc.segments = {s: at for s, at in pub.segments.items() if s in self.rules.rules}
        doc.publish = info.version

    def _evaluate(
        self,
        doc: LiveDoc,
        pub: Published,
        info: PublishInfo,
        names: Sequence[str],
        now: datetime,
        event_id: str | None,
        commit: Commit,
    ) -> None:
        rules = [self.rules.rules[n] for n in names]
        specs = list({s.key: s for r in rules for s in r.aggregates}.values())
        merged = counters.splice(dict(pub.counters), doc.counters, info.cut)
        aggs = counters.values(merged, specs, now)
        batch = {s for s in pub.segments if s not in self.rules.rules}
        current = batch | set(doc.segments)
        at = _iso(now - _TICK)
        doc.clock = max(doc.clock, counters.epoch(now - _TICK))
        for name, rule in zip(names, rules, strict=True):
            profile = Profile(pub.values, aggs, current, pub.scores, pub.clusters)
            inside = rule.matches(profile)
            if inside and name not in doc.segments:
                doc.segments[name] = at
                current.add(name)
                commit.changes.append(Change(doc.customer_id, name, "entered", at, event_id))
            elif not inside and name in doc.segments:
                del doc.segments[name]
                current.discard(name)
                commit.changes.append(Change(doc.customer_id, name, "exited", at, event_id))

    def _tidy(self, doc: LiveDoc, arrived: float) -> None:
        # stale buckets change no answer (windows are applied when read, never before the
        # clock): prune once a document has a few per aggregate, not on every event
        if sum(map(len, doc.counters.values())) > 4 * max(1, len(doc.counters)):
            counters.prune(doc.counters, self.rules.specs, _at(doc.clock))
        # the customer's own record of the ids it applied, by arrival like the store's
        oldest = int(arrived // counters.HOUR) - self.dedup_hours
        doc.seen = {k: h for k, h in doc.seen.items() if h >= oldest}

    def sweep(self, now: datetime | None = None) -> list[Change]:
        """Re-evaluate every rule segment of every customer with live state at ``now``
        (default: the clock): windows slide, and customers leave segments with no event."""
        return self.recompute(None, list(self.store.live_ids()), now)

    def recompute(
        self,
        names: Sequence[str] | None,
        ids: Sequence[str],
        now: datetime | None = None,
        batch: int = 500,
    ) -> list[Change]:
        """Re-evaluate the segments ``names`` (None: all) for the customers ``ids`` at ``now``."""
        now = now or datetime.now(UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)  # naive times are UTC, as in the warehouse
        out: list[Change] = []
        for i in range(0, len(ids), batch):
            chunk = list(ids[i : i + batch])
            out += self._retry(partial(self._recompute_chunk, names, chunk, now))
        return out

    def _retry(self, step: Callable[[], list[Change]]) -> list[Change]:
        for _ in range(_RETRIES):
            try:
                return step()
            except Conflict:
                continue
        raise Conflict(f"gave up after {_RETRIES} conflicting attempts")

    def _recompute_chunk(
        self, names: Sequence[str] | None, ids: list[str], now: datetime
    ) -> list[Change]:
        info = self.store.info()
        docs = self.store.live(ids)
        published = self.store.published(ids)
        wanted = [n for n in self.rules.rules if names is None or n in names]
        commit = Commit()
        for cid in ids:
            doc = docs.get(cid) or LiveDoc(cid)
            pub = published.get(cid) or Published(cid)
            self._rebase(doc, pub, info)
            before = len(commit.changes)
            # never as of a moment before the customer was last evaluated at
            when = max(now, _at(doc.clock) + _TICK)
            self._evaluate(doc, pub, info, wanted, when, None, commit)
            if cid in docs or len(commit.changes) > before:
                commit.docs.append(doc)
        commit.deliveries = self._deliveries(commit.changes)
        self.store.commit(commit)
        return commit.changes

    def drop_segment(self, name: str, ids: Sequence[str]) -> list[Change]:
        """Take everyone in ``ids`` out of segment ``name`` (it is being deleted)."""
        at = _iso(datetime.now(UTC))

        def step(chunk: list[str]) -> list[Change]:
            docs = self.store.live(chunk)
            commit = Commit()
            for doc in docs.values():
                if doc.segments.pop(name, None) is not None:
                    commit.docs.append(doc)
                    commit.changes.append(Change(doc.customer_id, name, "exited", at))
            commit.deliveries = self._deliveries(commit.changes)
            self.store.commit(commit)
            return commit.changes

        out: list[Change] = []
        for i in range(0, len(ids), 500):
            out += self._retry(partial(step, list(ids[i : i + 500])))
        return out

    # --- notifications -------------------------------------------------------------------
    def _deliveries(self, changes: Sequence[Change]) -> list[dict[str, Any]]:
        now = datetime.now(UTC).timestamp()
        return [
            {
                "id": uuid.uuid4().hex,
                "webhook": hook.name,
                "url": hook.url,
                "payload": change.to_json(),
                "status": "pending",
                "attempts": 0,
                "next_at": now,
                "created": now,
                "log": [],
            }
            for change in changes
            for hook in self.webhooks
            if wants(hook, change)
        ]
