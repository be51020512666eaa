"""Hourly counters give the same aggregates as the exact per-event reference.

The reference is :func:`segmint.segments.rules.aggregate_events`, which the rule tests prove
equal to the warehouse; at whole hours the buckets must agree with it exactly, whatever the
events, however they are split between merged documents or between a publish and live.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.realtime import _counters as counters
from segmint.segments.rules import aggregate_events, compile_rule

RULE = (
    "count(product_view, 7d) >= 2 or sum(purchase.price, 30d) > 50 or avg(price, 3d) > 10 "
    "or min(price where purchase, 14d) < 5 or max(quantity, 2d) > 3 "
    'or distinct(category where product_view, 30d) >= 2 or last(category where purchase) == "a" '
    'or days_since(add_to_cart) < 1 or share(device == "mobile", 30d) > 0.5 '
    "or last(price where product_view) > 3"
)
SPECS = compile_rule(RULE).aggregates
T0 = datetime(2024, 3, 1, tzinfo=UTC)

events = st.lists(
    st.fixed_dictionaries(
        {
            "ts": st.integers(0, 60 * 24 * 45).map(lambda m: T0 + timedelta(minutes=m)),
            "event_type": st.sampled_from(["product_view", "purchase", "add_to_cart"]),
            "price": st.one_of(st.none(), st.integers(0, 100).map(float)),
            "quantity": st.one_of(st.none(), st.integers(1, 6).map(float)),
            "category": st.sampled_from([None, "a", "b", "c"]),
            "device": st.sampled_from([None, "mobile", "desktop"]),
        }
    ),
    max_size=40,
)


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return a == b


def _check(c: counters.Counters, evs: list[dict[str, object]], now: datetime) -> None:
    got = counters.values(c, SPECS, now)
    want = aggregate_events(SPECS, evs, now)
    for key in want:
        assert _close(got[key], want[key]), (key, got[key], want[key])


@settings(max_examples=150, deadline=None)
@given(events, st.integers(0, 24 * 50))
def test_buckets_equal_reference_at_whole_hours(evs: list[dict[str, object]], hours: int) -> None:
    """The windowed aggregates of the real-time path mean what the batch path computes."""
    now = T0 + timedelta(hours=hours)
    c: counters.Counters = {}
    for e in sorted(evs, key=lambda e: e["ts"]):
        counters.observe(c, SPECS, e)
    _check(c, evs, now)


@settings(max_examples=100, deadline=None)
@given(events, events, st.integers(24 * 20, 24 * 50))
def test_merge_and_splice_equal_one_history(
    a: list[dict[str, object]], b: list[dict[str, object]], hours: int
) -> None:
    """A visitor merged at login, or a publish's counters joined with live ones, count like
    one history of all the events."""
    now = T0 + timedelta(hours=hours)
    ca: counters.Counters = {}
    cb: counters.Counters = {}
    for e in a:
        counters.observe(ca, SPECS, e)
    for e in b:
        counters.observe(cb, SPECS, e)
    _check(counters.merge(ca, cb, SPECS), a + b, now)
    cut = T0 + timedelta(days=20)
    base: counters.Counters = {}
    live: counters.Counters = {}
    for e in a + b:
        counters.observe(base if e["ts"] < cut else live, SPECS, e)
    _check(counters.splice(base, live, cut.timestamp()), a + b, now)


@settings(max_examples=100, deadline=None)
@given(events)
def test_pruning_changes_nothing_ahead(evs: list[dict[str, object]]) -> None:
    """Dropping buckets no window reaches and folding old all-history ones keeps every
    later answer the same (the store stays small without forgetting)."""
    evs = sorted(evs, key=lambda e: e["ts"])
    c: counters.Counters = {}
    for e in evs:
        counters.observe(c, SPECS, e)
    latest = evs[-1]["ts"] if evs else T0
    counters.prune(c, SPECS, latest)  # type: ignore[arg-type]
    for days in (0, 1, 5, 40):
        now = (latest + timedelta(days=days)).replace(minute=0, second=0) + timedelta(hours=1)  # type: ignore[operator]
        _check(c, evs, now)


def test_window_slides_with_time() -> None:
    """Three views 'in the last 7 days' stop counting once a week has passed, with no event."""
    spec = compile_rule("count(product_view, 7d) >= 3").aggregates
    c: counters.Counters = {}
    for m in range(3):
        counters.observe(c, spec, {"ts": T0 + timedelta(minutes=m), "event_type": "product_view"})
    key = spec[0].key
    assert counters.values(c, spec, T0 + timedelta(hours=1))[key] == 3
    assert counters.values(c, spec, T0 + timedelta(days=7))[key] == 3  # window [T0, T0+7d)
    assert counters.values(c, spec, T0 + timedelta(days=7, hours=1))[key] == 0


def test_state_is_plain_json() -> None:
    """Both stores keep counters as JSON: a round trip changes nothing."""
    import json

    c: counters.Counters = {}
    counters.observe(c, SPECS, {"ts": T0, "event_type": "purchase", "price": 3.5, "category": "a"})
    assert json.loads(json.dumps(c)) == c


@pytest.mark.parametrize("hours", [1, 2])
def test_one_bucket_per_hour(hours: int) -> None:
    """Many events in an hour are one bucket: the store grows with active hours, not events."""
    spec = compile_rule("count(product_view, 30d) > 0").aggregates
    c: counters.Counters = {}
    for m in range(60 * hours):
        counters.observe(c, spec, {"ts": T0 + timedelta(minutes=m), "event_type": "product_view"})
    assert len(c[spec[0].key]) == hours
