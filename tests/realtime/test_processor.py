"""The incremental processor on the embedded store: what one event changes, and only that."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from segmint.config import WebhookConfig
from segmint.realtime import (
    Commit,
    LiveDoc,
    Processor,
    Published,
    PublishInfo,
    RuleSet,
    validate_event,
)
from segmint.realtime import _counters as counters
from segmint.realtime._sqlite import SQLiteStore
from segmint.segments.rules import compile_rule

T0 = datetime(2024, 3, 1, 10, tzinfo=UTC)


def rules() -> RuleSet:
    return RuleSet(
        {
            "browsers": compile_rule("count(product_view, 7d) >= 3 and count(purchase, 7d) == 0"),
            "frequent_buyers": compile_rule("count(purchase, 30d) > 5"),
            "keen": compile_rule('in_segment("frequent_buyers") and count(add_to_cart, 1d) >= 1'),
            "recent": compile_rule("recency_days < 30"),
        }
    )


def ev(eid: str, etype: str, minutes: float, **kw: object) -> dict[str, object]:
    raw = {
        "event_id": eid,
        "event_type": etype,
        "ts": (T0 + timedelta(minutes=minutes)).isoformat(),
    }
    event, problems = validate_event({**raw, **kw}, now=T0 + timedelta(days=60))
    assert event is not None, problems
    return event


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    return SQLiteStore(tmp_path / "online.sqlite")


def changes(outcome: object) -> list[tuple[str, str, str]]:
    return [(c.customer_id, c.segment, c.change) for c in outcome.changes]  # type: ignore[attr-defined]


def test_visitor_browses_then_logs_in_and_buys(store: SQLiteStore) -> None:
    """The issue's path: views put a visitor in browsers; at login their history joins the
    account (the visitor's id leaves, the account enters); purchases then move the account
    from browsers to frequent_buyers."""
    p = Processor(store, rules())
    views = [ev(f"v{i}", "product_view", i, anonymous_id="a1") for i in range(3)]
    assert changes(p.apply(views)) == [("anonymous_id:a1", "browsers", "entered")]
    login = ev("l1", "login", 5, anonymous_id="a1", customer_id="c1")
    assert changes(p.apply([login])) == [
        ("anonymous_id:a1", "browsers", "exited"),
        ("c1", "browsers", "entered"),
    ]
    assert store.resolve(["anonymous_id:a1"]) == {"anonymous_id:a1": "c1"}
    buys = [ev(f"b{i}", "purchase", 10 + i, anonymous_id="a1") for i in range(6)]
    got = changes(p.apply(buys))
    assert ("c1", "browsers", "exited") in got and ("c1", "frequent_buyers", "entered") in got
    assert store.members("frequent_buyers", None, 10) == ["c1"]
    assert store.members("browsers", None, 10) == []
    assert store.live(["anonymous_id:a1"]) == {}


def test_retries_are_not_counted_twice(store: SQLiteStore) -> None:
    """At-least-once delivery: the same event_id again (in a batch or later) counts once."""
    p = Processor(store, rules())
    buys = [ev(f"b{i}", "purchase", i, customer_id="c1") for i in range(5)]
    first = p.apply(buys + buys[:2])
    assert (first.applied, first.duplicates) == (5, 2)
    again = p.apply(buys)
    assert (again.applied, again.duplicates, again.duplicate_ids) == (
        0,
        5,
        {f"b{i}" for i in range(5)},
    )
    assert changes(p.apply([ev("b5", "purchase", 9, customer_id="c1")])) == [
        ("c1", "frequent_buyers", "entered")
    ]


def test_only_segments_reading_a_moved_counter_are_evaluated(store: SQLiteStore) -> None:
    """A product view re-evaluates browsers, not a rule over published features: 'recent'
    would hold for this customer, but nothing it reads changed, so it is left as published."""
    info = store.publish([Published("c1", values={"recency_days": 3.0})], {}, PublishInfo())
    assert info.version == 1
    p = Processor(store, rules())
    out = p.apply([ev("v1", "product_view", 0, customer_id="c1")])
    assert out.changes == []
    assert [c.segment for c in p.recompute(["recent"], ["c1"], T0)] == ["recent"]


def test_in_segment_dependents_follow(store: SQLiteStore) -> None:
    """keen reads frequent_buyers: entering frequent_buyers re-evaluates keen in the same
    event, in dependency order."""
    p = Processor(store, rules())
    p.apply([ev("c", "add_to_cart", 0, customer_id="c1")])
    buys = [ev(f"b{i}", "purchase", 1 + i, customer_id="c1") for i in range(6)]
    assert changes(p.apply(buys))[-2:] == [
        ("c1", "frequent_buyers", "entered"),
        ("c1", "keen", "entered"),
    ]


def test_publish_seeds_counters_and_live_events_add(store: SQLiteStore) -> None:
    """Five purchases counted by the batch path, one live: the sixth is what tips the
    customer into frequent_buyers (more than 5 in 30 days)."""
    rs = rules()
    seeded: counters.Counters = {}
    for i in range(5):
        counters.observe(
            seeded, rs.specs, {"ts": T0 - timedelta(days=3, minutes=i), "event_type": "purchase"}
        )
    cut = (T0 - timedelta(days=1)).timestamp()
    store.publish([Published("c1", counters=seeded)], {}, PublishInfo(cut=cut))
    p = Processor(store, rs)
    assert changes(p.apply([ev("b1", "purchase", 0, customer_id="c1")])) == [
        ("c1", "frequent_buyers", "entered")
    ]


def test_after_a_publish_memberships_start_from_it(store: SQLiteStore) -> None:
    """A customer the batch path put in browsers and who buys live leaves it (an exit is
    recorded against the published membership)."""
    store.publish([Published("c1", segments={"browsers": T0.isoformat()})], {}, PublishInfo())
    p = Processor(store, rules())
    got = changes(p.apply([ev("b1", "purchase", 0, customer_id="c1")]))
    assert got == [("c1", "browsers", "exited")]


def test_sweep_lets_windows_expire(store: SQLiteStore) -> None:
    """Nobody has to send an event for a browser to stop being one a week later."""
    p = Processor(store, rules())
    p.apply([ev(f"v{i}", "product_view", i, customer_id="c1") for i in range(3)])
    assert p.sweep(T0 + timedelta(days=6)) == []
    assert [(c.segment, c.change) for c in p.sweep(T0 + timedelta(days=7, hours=1))] == [
        ("browsers", "exited")
    ]


def test_changes_start_webhook_deliveries_in_the_same_commit(store: SQLiteStore) -> None:
    """A change and its deliveries are written together: a crash cannot lose a notification."""
    hooks = [
        WebhookConfig(name="all", url="http://127.0.0.1:9/a"),
        WebhookConfig(name="buyers", url="http://127.0.0.1:9/b", segments=["frequent_buyers"]),
    ]
    p = Processor(store, rules(), webhooks=hooks)
    p.apply([ev(f"v{i}", "product_view", i, customer_id="c1") for i in range(3)])
    due = store.due_deliveries(1e12, 10)
    assert [(d["webhook"], d["payload"]["segment"], d["payload"]["type"]) for d in due] == [
        ("all", "browsers", "segment.entered")
    ]


def test_concurrent_processors_lose_nothing(tmp_path: Path) -> None:
    """Two processes' worth of writers on one customer: optimistic versions make one retry,
    and every event is counted once."""
    path = tmp_path / "online.sqlite"
    SQLiteStore(path)  # the store exists before its writers start
    spec = compile_rule("count(product_view, 30d) > 0").aggregates

    def work(prefix: str) -> None:
        p = Processor(
            SQLiteStore(path), RuleSet({"any": compile_rule("count(product_view, 30d) > 0")})
        )
        for i in range(40):
            p.apply([ev(f"{prefix}{i}", "product_view", i, customer_id="c1")])

    threads = [threading.Thread(target=work, args=(x,)) for x in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    doc = SQLiteStore(path).live(["c1"])["c1"]
    assert counters.values(doc.counters, spec, T0 + timedelta(days=1))[spec[0].key] == 80
    assert len(doc.seen) == 80 and doc.version == 80
    assert len(SQLiteStore(path).applied([f"{x}{i}" for x in "ab" for i in range(40)])) == 80


def test_commit_conflict_writes_nothing(store: SQLiteStore) -> None:
    """A stale document makes the whole commit fail: no alias, change or delivery leaks."""
    from segmint.realtime import Change, Conflict, LiveDoc

    store.commit(Commit(docs=[LiveDoc("c1")]))
    stale = LiveDoc("c1", version=0)
    with pytest.raises(Conflict):
        store.commit(
            Commit(
                docs=[stale],
                aliases={"anonymous_id:x": "c1"},
                changes=[Change("c1", "s", "entered", T0.isoformat())],
            )
        )
    assert store.resolve(["anonymous_id:x"]) == {}
    assert store.history("s", 10) == []


def _buys(store: SQLiteStore, cid: str) -> int:
    """The purchases in the customer's live buckets, whatever their hour."""
    buckets = store.live([cid])[cid].counters.get('count(event_type == "purchase", 30d)', {})
    return sum(state[0] for state in buckets.values())


def test_a_retry_of_an_event_older_than_the_window_is_still_a_duplicate(
    store: SQLiteStore,
) -> None:
    """Regression (issue 15, defect 4): the de-duplication window counts from arrival, not
    from the event's own time: a retry of an event dated 30 days before the customer's
    latest (7-day window) is a duplicate and counted once."""
    p = Processor(store, rules(), dedup_days=7)
    old = ev("old", "purchase", 0, customer_id="c1")
    assert p.apply([old]).applied == 1
    assert p.apply([ev("new", "purchase", 30 * 24 * 60, customer_id="c1")]).applied == 1
    again = p.apply([old])
    assert (again.applied, again.duplicates, again.duplicate_ids) == (0, 1, {"old"})
    assert _buys(store, "c1") == 2


def test_an_event_id_is_applied_once_whichever_customer_it_names(store: SQLiteStore) -> None:
    """Regression (issue 15, defect 5): an event id is global to the project: sent again for
    another customer (later, or in the same batch) it is a duplicate and changes nothing."""
    p = Processor(store, rules())
    assert p.apply([ev("x1", "purchase", 0, customer_id="c1")]).applied == 1
    later = p.apply([ev("x1", "purchase", 1, customer_id="c2")])
    assert (later.applied, later.duplicates, later.duplicate_ids) == (0, 1, {"x1"})
    assert store.live(["c2"])["c2"].counters == {}
    # in one batch the first copy wins; the other is a repeat within the batch, not of an
    # earlier one (the API answers it duplicate as the second copy of the request)
    batch = [
        ev("b2", "add_to_cart", 2, customer_id="c3"),
        ev("x2", "purchase", 3, customer_id="c4"),
        ev("x2", "purchase", 1, customer_id="c3"),
    ]
    both = p.apply(batch)
    assert (both.applied, both.duplicates, both.duplicate_ids) == (2, 1, set())
    assert _buys(store, "c4") == 1
    assert store.live(["c3"])["c3"].counters.keys() == {'count(event_type == "add_to_cart", 1d)'}
    assert set(store.applied(["x1", "x2", "b2"])) == {"x1", "x2", "b2"}


def test_two_workers_never_both_apply_one_event_id(tmp_path: Path) -> None:
    """Regression (issue 15, defect 5): two processes send the same ids for other customers
    at once: the claim in the commit makes every id count once in all."""
    path = tmp_path / "online.sqlite"
    SQLiteStore(path)

    def work(cid: str) -> None:
        p = Processor(SQLiteStore(path), rules())
        for i in range(30):
            p.apply([ev(f"e{i}", "purchase", i, customer_id=cid)])

    threads = [threading.Thread(target=work, args=(c,)) for c in ("c1", "c2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = SQLiteStore(path)
    docs = store.live(["c1", "c2"])
    assert sum(_buys(store, c) for c in docs) == 30
    assert sum(len(d.seen) for d in docs.values()) == 30


def test_a_late_event_counts_but_never_moves_membership_back(store: SQLiteStore) -> None:
    """Regression (issue 15, defect 6): a customer with six purchases today is in
    frequent_buyers; a purchase dated years ago is counted at its time, but memberships are
    evaluated as of the customer's latest moment: no exit, and no change dated before the
    previous one."""
    p = Processor(store, rules())
    entered = p.apply([ev(f"b{i}", "purchase", i, customer_id="c1") for i in range(6)])
    assert changes(entered) == [("c1", "frequent_buyers", "entered")]
    late = ev("late", "purchase", -60 * 24 * 365 * 20, customer_id="c1")
    out = p.apply([late])
    assert (out.applied, out.changes) == (1, [])
    assert store.members("frequent_buyers", None, 10) == ["c1"]
    assert _buys(store, "c1") == 7
    # a late add to cart a year back counts nowhere now; one half an hour before the
    # purchases puts the customer in keen as of the latest purchase, not as of the cart
    assert p.apply([ev("cart0", "add_to_cart", -60 * 24 * 365, customer_id="c1")]).changes == []
    cart = p.apply([ev("cart1", "add_to_cart", -30, customer_id="c1")])
    assert changes(cart) == [("c1", "keen", "entered")]
    assert cart.changes[0].at == (T0 + timedelta(minutes=5)).isoformat(timespec="microseconds")
    ats = [h["at"] for h in store.history("keen", 10) + store.history("frequent_buyers", 10)]
    assert min(ats) >= (T0 + timedelta(minutes=5)).isoformat(timespec="microseconds")
    # and a sweep asked for an earlier moment does not rewind either
    assert p.sweep(T0 - timedelta(days=365)) == []


def test_a_late_event_does_not_rewind_a_published_membership(store: SQLiteStore) -> None:
    """Regression (issue 15, defect 6): the batch path put the customer in frequent_buyers
    from six purchases before the publish's cut; a first live event dated years before is
    evaluated as of the cut, not as of its own time, so nothing exits."""
    rs = rules()
    seeded: counters.Counters = {}
    for i in range(6):
        counters.observe(
            seeded, rs.specs, {"ts": T0 - timedelta(days=2, minutes=i), "event_type": "purchase"}
        )
    cut = T0.timestamp()
    pub = Published(
        "c1", counters=seeded, segments={"frequent_buyers": (T0 - timedelta(days=2)).isoformat()}
    )
    store.publish([pub], {}, PublishInfo(cut=cut))
    p = Processor(store, rs)
    out = p.apply([ev("late", "purchase", -60 * 24 * 365 * 10, customer_id="c1")])
    assert (out.applied, out.changes) == (1, [])
    assert store.members("frequent_buyers", None, 10) == ["c1"]


def test_a_late_event_does_not_rewind_a_document_written_without_a_clock(
    store: SQLiteStore,
) -> None:
    """Regression (issue 15, defect 6): a live document stored before documents had a clock
    is evaluated no earlier than the latest time it entered a segment."""
    rs = rules()
    live: counters.Counters = {}
    for i in range(6):
        counters.observe(
            live, rs.specs, {"ts": T0 + timedelta(minutes=i), "event_type": "purchase"}
        )
    at = (T0 + timedelta(minutes=5)).isoformat()
    store.commit(Commit(docs=[LiveDoc("c1", counters=live, segments={"frequent_buyers": at})]))
    assert store.live(["c1"])["c1"].clock == 0.0
    out = Processor(store, rs).apply([ev("late", "purchase", -60 * 24 * 365 * 5, customer_id="c1")])
    assert (out.applied, out.changes) == (1, [])
    assert store.members("frequent_buyers", None, 10) == []  # the index was never written here
    assert "frequent_buyers" in store.live(["c1"])["c1"].segments
