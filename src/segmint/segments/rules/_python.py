"""The per-profile evaluator: a rule compiled to a plain Python function.

The real-time path evaluates rules one customer at a time, after each event, so a rule
becomes straight-line Python source (one statement per node, no interpretation of a tree at
run time) compiled once with :func:`compile`. Null follows SQL's three-valued logic exactly
as the warehouse computes it: a comparison with a null is null, ``and``/``or`` are Kleene's,
division by zero is null, and a rule that is null is not met.

:func:`aggregate_events` computes windowed aggregates from a list of events, exactly as the
warehouse does; the online store keeps the same values as bucketed counters.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from segmint.segments.rules._ir import (
    Agg,
    AggSpec,
    Arith,
    Betw,
    Cluster,
    Cmp,
    Const,
    Expr,
    Func,
    In,
    IsNull,
    Logic,
    Neg,
    Not,
    Ref,
    Score,
    Seg,
)

#: aggregates that are 0, not null, for a customer without matching events
ZERO_WHEN_EMPTY = frozenset({"count", "sum", "distinct"})


@dataclass
class Profile:
    """What the per-profile evaluator reads about one customer.

    ``values`` are features and attributes by name; ``aggregates`` windowed aggregates by
    :attr:`AggSpec.key` (see :func:`aggregate_events`); ``segments`` the segments the
    customer is in; ``scores`` model scores by model; ``clusters`` cluster ids by clustering.
    Missing values are null. NaN is not a value: give None.
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    aggregates: Mapping[str, Any] = field(default_factory=dict)
    segments: Collection[str] = frozenset()
    scores: Mapping[str, Any] = field(default_factory=dict)
    clusters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _V:
    """Generated code for a node: the name or literal holding its value, and what it may be."""

    code: str
    nullable: bool = True
    const: bool = False


_NONE = _V("None", True, True)


def _nulls(*xs: _V) -> str:
    """The test that any of ``xs`` is null ('' when none can be)."""
    return " or ".join(f"{x.code} is None" for x in xs if x.nullable)


class _Gen:
    """Emits one ``_tN = ...`` statement per node and returns where its value is."""

    def __init__(self, scope_var: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.n = 0
        self.var = scope_var  # scope -> the argument holding its values

    def tmp(self, code: str, nullable: bool = True) -> _V:
        self.n += 1
        name = f"_t{self.n}"
        self.lines.append(f"    {name} = {code}")
        return _V(name, nullable)

    def guarded(self, code: str, *operands: _V) -> _V:
        """``code``, or None when an operand is null (SQL's rule for most operators)."""
        if any(x is _NONE or (x.const and x.code == "None") for x in operands):
            return _NONE
        test = _nulls(*operands)
        if not test:
            return self.tmp(code, nullable=False)
        return self.tmp(f"None if {test} else {code}")

    def gen(self, e: Expr) -> _V:
        if isinstance(e, Const):
            return _V(repr(e.value), e.value is None, True)
        if isinstance(e, Ref):
            return self.tmp(f"{self.var[e.scope]}.get({e.name!r})")
        if isinstance(e, Agg):
            if e.spec.func in ZERO_WHEN_EMPTY:
                return self.tmp(f"a.get({e.spec.key!r}, 0)")
            return self.tmp(f"a.get({e.spec.key!r})")
        if isinstance(e, Seg):
            return self.tmp(f"({e.name!r} in s)", nullable=False)
        if isinstance(e, Score):
            return self.tmp(f"sc.get({e.model!r})")
        if isinstance(e, Cluster):
            return self.tmp(f"cl.get({e.name!r})")
        if isinstance(e, Not):
            x = self.gen(e.operand)
            return self.guarded(f"(not {x.code})", x)
        if isinstance(e, Neg):
            x = self.gen(e.operand)
            return self.guarded(f"(-{x.code})", x)
        if isinstance(e, Logic):
            return self.logic(e.op, [self.gen(i) for i in e.items])
        if isinstance(e, Arith):
            return self.arith(e.op, self.gen(e.left), self.gen(e.right))
        if isinstance(e, Cmp):
            return self.compare(e.op, self.gen(e.left), self.gen(e.right))
        return self.other(e)

    def other(self, e: Expr) -> _V:
        if isinstance(e, In):
            x = self.gen(e.operand)
            op = "not in" if e.negated else "in"
            return self.guarded(f"({x.code} {op} {_set_literal(e.values)})", x)
        if isinstance(e, Betw):
            x, lo, hi = self.gen(e.operand), self.gen(e.low), self.gen(e.high)
            inside = self.logic("and", [self.compare(">=", x, lo), self.compare("<=", x, hi)])
            if not e.negated:
                return inside
            return self.guarded(f"(not {inside.code})", inside)
        if isinstance(e, IsNull):
            x = self.gen(e.operand)
            if not x.nullable:
                return _V(repr(bool(e.negated)), False, True)
            return self.tmp(f"({x.code} is {'not ' if e.negated else ''}None)", nullable=False)
        if isinstance(e, Func):
            return self.func(e)
        raise TypeError(f"cannot evaluate {e!r}")  # pragma: no cover

    def arith(self, op: str, a: _V, b: _V) -> _V:
        if op != "/":
            return self.guarded(f"({a.code} {op} {b.code})", a, b)
        out = self.guarded(f"(None if {b.code} == 0 else {a.code} / {b.code})", a, b)
        return _V(out.code, True, out.const)

    def compare(self, op: str, a: _V, b: _V) -> _V:
        return self.guarded(f"({a.code} {op} {b.code})", a, b)

    def logic(self, op: str, items: list[_V]) -> _V:
        """Kleene logic: 'and' is False if any item is, else None if any is, else True."""
        decisive, other = ("False", "True") if op == "and" else ("True", "False")
        if any(x.const and x.code == decisive for x in items):
            return _V(decisive, False, True)
        null_const = any(x.const and x.code == "None" for x in items)
        dyn = [x for x in items if not x.const]
        if not dyn:
            return _NONE if null_const else _V(other, False, True)
        hit = " or ".join(f"{x.code} is {decisive}" for x in dyn)
        if null_const:
            return self.tmp(f"{decisive} if ({hit}) else None")
        test = _nulls(*dyn)
        if not test:
            return self.tmp(f"({f' {op} '.join(x.code for x in dyn)})", nullable=False)
        return self.tmp(f"{decisive} if ({hit}) else (None if ({test}) else {other})")

    def func(self, e: Func) -> _V:
        args = [self.gen(a) for a in e.args]
        if e.name == "coalesce":
            # the first argument that cannot be null ends the chain; literal nulls drop out
            chain: list[_V] = []
            for a in args:
                if a.const and a.code == "None":
                    continue
                chain.append(a)
                if not a.nullable:
                    break
            if not chain:
                return _NONE
            code = chain[-1].code
            for a in reversed(chain[:-1]):
                code = f"({a.code} if {a.code} is not None else {code})"
            return self.tmp(code, nullable=chain[-1].nullable)
        x = args[0]
        part = args[1].code if len(args) > 1 else ""
        body = {
            "abs": f"abs({x.code})",
            "lower": f"{x.code}.lower()",
            "startswith": f"{x.code}.startswith({part})",
            "contains": f"({part} in {x.code})",
        }[e.name]
        return self.guarded(body, x)


def _set_literal(values: Iterable[object]) -> str:
    """A set display of constants, which CPython folds into one frozenset constant: unlike
    ``frozenset({...})``, nothing is looked up or built when the rule runs."""
    items = list(dict.fromkeys(repr(v) for v in values))
    return "{" + ", ".join(items) + "}" if items else "frozenset()"


def compile_profile(e: Expr) -> Callable[..., Any]:
    """``fn(v, a, s, sc, cl)``: the value of ``e`` for one profile's parts.

    ``v`` values, ``a`` aggregates by key, ``s`` segments, ``sc`` scores, ``cl`` clusters.
    """
    gen = _Gen({"profile": "v", "event": "v"})
    result = gen.gen(e).code
    src = "def _rule(v, a, s, sc, cl):\n" + "\n".join(gen.lines) + f"\n    return {result}\n"
    return _exec(src, "_rule")


def compile_event(e: Expr) -> Callable[[Mapping[str, Any]], Any]:
    """``fn(event)``: the value of an event-scope expression for one event (a mapping)."""
    gen = _Gen({"event": "e", "profile": "e"})
    result = gen.gen(e).code
    src = "def _event(e):\n" + "\n".join(gen.lines) + f"\n    return {result}\n"
    return _exec(src, "_event")


def _exec(src: str, name: str) -> Callable[..., Any]:
    namespace: dict[str, Any] = {}
    # the source is generated from a typed tree: names are quoted with repr, never pasted
    exec(compile(src, f"<segmint rule {name}>", "exec"), namespace)  # noqa: S102
    fn: Callable[..., Any] = namespace[name]
    fn.__doc__ = src
    return fn


_EVENT_FNS: dict[Expr, Callable[[Mapping[str, Any]], Any]] = {}


def event_function(e: Expr) -> Callable[[Mapping[str, Any]], Any]:
    """The compiled event-scope expression ``e`` (compiled once, then cached)."""
    fn = _EVENT_FNS.get(e)
    if fn is None:
        fn = _EVENT_FNS[e] = compile_event(e)
    return fn


def aggregate_events(
    specs: Iterable[AggSpec], events: Sequence[Mapping[str, Any]], now: datetime
) -> dict[str, Any]:
    """Each spec's value over ``events`` (mappings with ``ts`` and event fields) before ``now``.

    The same numbers the warehouse computes for the same events and as-of time: the window
    is ``now - window <= ts < now``; ``count``, ``sum`` and ``distinct`` are 0 without
    matching events, the others null; ``last`` takes the latest event whose value is not
    null (on a tie in time, the greatest value); ``days_since`` is fractional days.
    """
    out: dict[str, Any] = {}
    for spec in specs:
        start = None if spec.window is None else now - timedelta(seconds=spec.window)
        chosen = [ev for ev in events if ev["ts"] < now and (start is None or ev["ts"] >= start)]
        if spec.where is not None:
            keep = event_function(spec.where)
            chosen = [ev for ev in chosen if keep(ev) is True]
        out[spec.key] = _aggregate(spec, chosen, now)
    return out


def _aggregate(spec: AggSpec, events: list[Mapping[str, Any]], now: datetime) -> Any:
    func = spec.func
    value = None if spec.value is None else event_function(spec.value)
    if func in ("count", "days_since", "share"):
        hits = events if value is None else [ev for ev in events if value(ev) is True]
        if func == "count":
            return len(hits)
        if func == "share":
            return None if not events else len(hits) / len(events)
        if not hits:
            return None
        return (now - max(ev["ts"] for ev in hits)).total_seconds() / 86_400
    if value is None:  # pragma: no cover - the binder gives these functions a value
        raise TypeError(f"{func}() needs a value")
    pairs = [(ev["ts"], v) for ev in events if (v := value(ev)) is not None]
    values = [v for _ts, v in pairs]
    if func == "sum":
        return sum(values) if values else 0
    if func == "distinct":
        return len(set(values))
    if not values:
        return None
    if func == "avg":
        return sum(values) / len(values)
    if func == "min":
        return min(values)
    if func == "max":
        return max(values)
    return max(pairs)[1]  # last: latest ts, then greatest value
