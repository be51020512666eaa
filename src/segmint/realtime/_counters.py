"""Windowed aggregates kept as hourly buckets, so "the last 30 days" slides as time passes.

The rule language's windowed aggregates (``count(purchase, 30d)``, ``sum(purchase.price, 7d)``,
``days_since(product_view)``, ...) are computed in the warehouse from every event. The online
store cannot keep every event, so it keeps, per customer and aggregate, one small state per
hour in which the customer had a matching event. Each state is mergeable (a count adds, a
``min`` takes the smaller, ``distinct`` unions its values), which is what makes three things
work: an hour's events fold into one bucket, an anonymous visitor's counters merge into the
account they log in to, and the counters a publish seeds from the warehouse join the live ones.

A window ``w`` at time ``now`` covers the buckets starting in ``[floor(now - w), now)``. At a
whole hour this is exactly the warehouse's ``now - w <= ts < now``; between hours the oldest
bucket may hold up to an hour of events the warehouse would already leave out. Aggregates
over all history keep their old buckets folded into one.

A counter state is plain JSON (``{aggregate key: {hour: state}}``), so both stores keep it as is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from segmint.segments.rules import AggSpec, event_function

HOUR = 3_600
#: buckets of an all-history aggregate older than this many hours are folded into one
FOLD_AFTER_HOURS = 48

Counters = dict[str, dict[str, list[Any]]]


def epoch(ts: datetime) -> float:
    """Seconds since 1970 of a timestamp; a naive one is UTC (as in the warehouse)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.timestamp()


_Fn = Callable[[Mapping[str, Any]], Any]
_COMPILED: dict[str, tuple[_Fn | None, _Fn | None]] = {}


def _fns(spec: AggSpec) -> tuple[_Fn | None, _Fn | None]:
    """``spec``'s compiled where and value, looked up by its (cached) key: hashing the
    expression trees themselves on every event cost more than applying it."""
    fns = _COMPILED.get(spec.key)
    if fns is None:
        fns = _COMPILED[spec.key] = (
            None if spec.where is None else event_function(spec.where),
            None if spec.value is None else event_function(spec.value),
        )
    return fns


def matches(spec: AggSpec, event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is among those ``spec`` aggregates (its ``where`` holds)."""
    where = _fns(spec)[0]
    return where is None or where(event) is True


def observe(counters: Counters, specs: Iterable[AggSpec], event: Mapping[str, Any]) -> list[str]:
    """Fold one event into ``counters`` (in place); return the keys of the aggregates it moved.

    ``event`` has ``ts`` (datetime) and the event fields of the rule language.
    """
    t = epoch(event["ts"])
    hour = str(int(t // HOUR))
    moved: list[str] = []
    for spec in specs:
        if not matches(spec, event):
            continue
        state = _event_state(spec, event, t)
        if state is None:
            continue
        buckets = counters.setdefault(spec.key, {})
        old = buckets.get(hour)
        buckets[hour] = state if old is None else _merge_state(spec.func, old, state)
        moved.append(spec.key)
    return moved


def _event_state(spec: AggSpec, event: Mapping[str, Any], t: float) -> list[Any] | None:
    """One event's bucket state for ``spec`` (None when it adds nothing)."""
    func = spec.func
    value = _fns(spec)[1]
    if func in ("count", "days_since", "share"):
        hit = value is None or value(event) is True
        if func == "count":
            return [1] if hit else None
        if func == "share":
            return [1 if hit else 0, 1]
        return [t] if hit else None
    v = None if value is None else value(event)
    if v is None:
        return None
    if func == "sum":
        return [v]
    if func == "avg":
        return [v, 1]
    if func == "distinct":
        return [[v]]
    if func == "last":
        return [t, v]
    return [v]  # min, max


def _merge_state(func: str, a: list[Any], b: list[Any]) -> list[Any]:
    if func in ("count", "sum"):
        return [a[0] + b[0]]
    if func in ("avg", "share"):
        return [a[0] + b[0], a[1] + b[1]]
    if func == "distinct":
        return [sorted(set(a[0]) | set(b[0]), key=repr)]
    if func == "min":
        return [min(a[0], b[0])]
    if func in ("max", "days_since"):
        return [max(a[0], b[0])]
    return max(a, b)  # last: the latest, then the greatest value


def merge(a: Counters, b: Counters, specs: Iterable[AggSpec]) -> Counters:
    """``a`` and ``b`` combined (a new object): an anonymous visitor's counters joining an
    account's, bucket by bucket."""
    funcs = {s.key: s.func for s in specs}
    out: Counters = {k: dict(v) for k, v in a.items()}
    for key, buckets in b.items():
        func = funcs.get(key)
        if func is None:
            continue
        target = out.setdefault(key, {})
        for hour, state in buckets.items():
            old = target.get(hour)
            target[hour] = state if old is None else _merge_state(func, old, state)
    return out


def splice(base: Counters, live: Counters, cut: float | None) -> Counters:
    """The counters to evaluate: ``base`` (seeded by a publish from events before ``cut``)
    for hours before the cut, ``live`` for the hours from it on."""
    if cut is None or not base:
        return live
    cut_hour = int(cut // HOUR)
    out: Counters = {}
    for key in set(base) | set(live):
        part = {h: s for h, s in base.get(key, {}).items() if int(h) < cut_hour}
        part.update({h: s for h, s in live.get(key, {}).items() if int(h) >= cut_hour})
        if part:
            out[key] = part
    return out


def values(counters: Counters, specs: Iterable[AggSpec], now: datetime) -> dict[str, Any]:
    """Each spec's value at ``now`` from the buckets: what
    :func:`segmint.segments.rules.aggregate_events` gives for the same events at a whole hour."""
    t_now = epoch(now)
    out: dict[str, Any] = {}
    for spec in specs:
        start = None if spec.window is None else (t_now - spec.window) // HOUR
        states = [
            s
            for h, s in counters.get(spec.key, {}).items()
            if int(h) * HOUR < t_now and (start is None or int(h) >= start)
        ]
        out[spec.key] = _value(spec.func, states, t_now)
    return out


def _value(func: str, states: list[list[Any]], t_now: float) -> Any:
    if func in ("count", "sum"):
        return sum(s[0] for s in states)
    if func == "share":
        total = sum(s[1] for s in states)
        return None if total == 0 else sum(s[0] for s in states) / total
    if func == "distinct":
        return len({repr(v) for s in states for v in s[0]})
    if not states:
        return None
    if func == "avg":
        return sum(s[0] for s in states) / sum(s[1] for s in states)
    if func == "min":
        return min(s[0] for s in states)
    if func == "max":
        return max(s[0] for s in states)
    if func == "days_since":
        return (t_now - max(s[0] for s in states)) / 86_400
    return max(states)[1]  # last


def prune(counters: Counters, specs: Iterable[AggSpec], now: datetime) -> None:
    """Drop buckets no window can reach any more and fold old all-history buckets (in place)."""
    t_now = epoch(now)
    now_hour = int(t_now // HOUR)
    for spec in specs:
        buckets = counters.get(spec.key)
        if not buckets:
            continue
        if spec.window is not None:
            oldest = int((t_now - spec.window) // HOUR) - 1
            for h in [h for h in buckets if int(h) < oldest]:
                del buckets[h]
            continue
        old = sorted((h for h in buckets if int(h) < now_hour - FOLD_AFTER_HOURS), key=int)
        if len(old) > 1:
            folded = buckets.pop(old[0])
            for h in old[1:]:
                folded = _merge_state(spec.func, folded, buckets.pop(h))
            buckets[old[0]] = folded
    for key in [k for k, v in counters.items() if not v]:
        del counters[key]
