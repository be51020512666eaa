"""The batch compiler: a rule as an Ibis expression over every customer at once.

:func:`aggregates` computes every windowed aggregate the rules need in one grouped pass over
the events; :func:`to_ibis` turns a typed rule into a column expression over a table that
holds the profile values and those aggregates (one row per customer). SQL's own null logic
is the language's, so most nodes translate one to one; division by zero is made null
explicitly (PostgreSQL would raise).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import ibis
import ibis.expr.types as ir

from segmint.segments.rules._ir import (
    BOOL,
    NUMBER,
    STRING,
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
from segmint.segments.rules._python import ZERO_WHEN_EMPTY

_DAY = 86_400.0
_IBIS_TYPE = {NUMBER: "float64", STRING: "string", BOOL: "boolean"}


@dataclass
class Columns:
    """Where the compiled rule finds what it names in the input table.

    ``aggregates``: spec key -> column; ``scores``: model -> column; ``clusters``:
    clustering -> column; ``segments``: a callable giving the member ids of a segment (an
    Ibis table with ``customer_id``), used as a semi-join.
    """

    aggregates: Mapping[str, str] = field(default_factory=dict)
    scores: Mapping[str, str] = field(default_factory=dict)
    clusters: Mapping[str, str] = field(default_factory=dict)
    segments: Callable[[str], ir.Table] | None = None


def _const(value: object, typ: str) -> ir.Value:
    if value is None:
        return ibis.null(_IBIS_TYPE.get(typ, "boolean"))
    if isinstance(value, bool):
        return ibis.literal(value, type="boolean")
    if isinstance(value, int):
        return ibis.literal(value, type="int64")
    if isinstance(value, float):
        return ibis.literal(value, type="float64")
    return ibis.literal(str(value), type="string")


class _Compiler:
    def __init__(self, table: ir.Table, cols: Columns, scope: str) -> None:
        self.t = table
        self.cols = cols
        self.scope = scope

    def c(self, e: Expr, want: str | None = None) -> Any:
        t = self.t
        if isinstance(e, Const):
            return _const(e.value, want or e.type)
        if isinstance(e, Ref):
            return t[e.name]
        if isinstance(e, Agg):
            col = t[self.cols.aggregates[e.spec.key]]
            return col.fill_null(0) if e.spec.func in ZERO_WHEN_EMPTY else col
        if isinstance(e, Score):
            return t[self.cols.scores[e.model]]
        if isinstance(e, Cluster):
            return t[self.cols.clusters[e.name]]
        if isinstance(e, Seg):
            if self.cols.segments is None:
                raise ValueError("in_segment() needs the members of other segments")
            members = self.cols.segments(e.name)
            return t.customer_id.isin(members.customer_id)
        if isinstance(e, Not):
            return ~self.c(e.operand, BOOL)
        if isinstance(e, Neg):
            return -self.c(e.operand, NUMBER)
        if isinstance(e, Logic):
            items = [self.c(i, BOOL) for i in e.items]
            out = items[0]
            for i in items[1:]:
                out = (out & i) if e.op == "and" else (out | i)
            return out
        if isinstance(e, Arith):
            a, b = self.c(e.left, NUMBER), self.c(e.right, NUMBER)
            if e.op == "/":
                return a.cast("float64") / b.cast("float64").nullif(0.0)
            return {"+": a + b, "-": a - b, "*": a * b}[e.op]
        if isinstance(e, Cmp):
            a, b = self.c(e.left, e.right.type), self.c(e.right, e.left.type)
            return {
                "==": lambda: a == b,
                "!=": lambda: a != b,
                "<": lambda: a < b,
                "<=": lambda: a <= b,
                ">": lambda: a > b,
                ">=": lambda: a >= b,
            }[e.op]()
        if isinstance(e, In):
            x = self.c(e.operand, _value_type(e.values))
            values = [_const(v, _value_type(e.values)) for v in e.values]
            return x.notin(values) if e.negated else x.isin(values)
        if isinstance(e, Betw):
            x = self.c(e.operand, NUMBER)
            lo, hi = self.c(e.low, NUMBER), self.c(e.high, NUMBER)
            inside = (x >= lo) & (x <= hi)
            return ~inside if e.negated else inside
        if isinstance(e, IsNull):
            x = self.c(e.operand)
            return x.notnull() if e.negated else x.isnull()
        if isinstance(e, Func):
            return self.func(e)
        raise TypeError(f"cannot compile {e!r}")  # pragma: no cover

    def func(self, e: Func) -> Any:
        if e.name == "coalesce":
            return ibis.coalesce(*[self.c(a, e.type) for a in e.args])
        x = self.c(e.args[0])
        if e.name == "abs":
            return x.abs()
        if e.name == "lower":
            return x.lower()
        arg = e.args[1]
        if not isinstance(arg, Const):  # pragma: no cover - the binder checks it
            raise TypeError(f"{e.name}() takes a literal")
        part = str(arg.value)
        return x.startswith(part) if e.name == "startswith" else x.contains(part)


def _value_type(values: Sequence[object]) -> str:
    v = values[0]
    if isinstance(v, bool):
        return BOOL
    return NUMBER if isinstance(v, int | float) else STRING


def to_ibis(e: Expr, table: ir.Table, cols: Columns | None = None) -> ir.Value:
    """``e`` as a column expression over ``table`` (profile values, aggregate columns)."""
    return _Compiler(table, cols or Columns(), "profile").c(e)


def event_expr(e: Expr, events: ir.Table) -> ir.Value:
    """An event-scope expression as a column of ``events``."""
    return _Compiler(events, Columns(), "event").c(e)


def aggregates(
    events: ir.Table, specs: Sequence[AggSpec], as_of: datetime, names: Mapping[str, str]
) -> ir.Table:
    """One row per customer with a column per spec (named ``names[spec.key]``).

    ``events`` has ``customer_id``, ``ts`` and the event fields the specs use. Only events
    before ``as_of`` count; customers without events are absent (their counts are 0 once
    the table is left-joined and filled, as :func:`to_ibis` does).
    """
    t = ibis.timestamp(as_of.replace(tzinfo=None))
    ev = events.filter(events.ts < t)
    aggs: dict[str, Any] = {}
    post: dict[str, Callable[[ir.Table], ir.Value]] = {}
    for spec in specs:
        name = names[spec.key]
        cond = ibis.literal(True)
        if spec.window is not None:
            cond = ev.ts >= t - ibis.interval(seconds=spec.window)
        if spec.where is not None:
            cond = cond & event_expr(spec.where, ev)
        value = None if spec.value is None else event_expr(spec.value, ev)
        _one(spec, name, ev, cond, value, t, aggs, post)
    out = ev.group_by("customer_id").aggregate(**aggs)
    if post:
        out = out.mutate(**{n: fn(out) for n, fn in post.items()})
        out = out.drop(*[c for c in out.columns if c.startswith("_p_")])
    return out


def _share(name: str, o: ir.Table) -> ir.Value:
    return o[f"_p_{name}_n"].cast("float64") / o[f"_p_{name}_d"].nullif(0).cast("float64")


def _days_since(name: str, t: Any, o: ir.Table) -> ir.Value:
    return (t.epoch_seconds() - o[f"_p_{name}"].epoch_seconds()).cast("float64") / _DAY


def _one(
    spec: AggSpec,
    name: str,
    ev: ir.Table,
    cond: Any,
    value: Any,
    t: Any,
    aggs: dict[str, Any],
    post: dict[str, Callable[[ir.Table], ir.Value]],
) -> None:
    func = spec.func
    if func == "count":
        aggs[name] = ev.count(where=cond if value is None else cond & value)
    elif func == "share":
        hits = cond if value is None else cond & value
        aggs[f"_p_{name}_n"] = ev.count(where=hits)
        aggs[f"_p_{name}_d"] = ev.count(where=cond)
        post[name] = partial(_share, name)
    elif func == "days_since":
        hits = cond if value is None else cond & value
        aggs[f"_p_{name}"] = ev.ts.max(where=hits)
        post[name] = partial(_days_since, name, t)
    elif func == "sum":
        aggs[name] = value.sum(where=cond)
    elif func == "avg":
        aggs[name] = value.mean(where=cond)
    elif func == "min":
        aggs[name] = value.min(where=cond)
    elif func == "max":
        aggs[name] = value.max(where=cond)
    elif func == "distinct":
        aggs[name] = value.nunique(where=cond)
    elif func == "last":
        # an ordered array's head, not first(order_by=): Ibis 12 emits FIRST() for PostgreSQL,
        # which has no such aggregate
        ordered = value.collect(
            where=cond & value.notnull(), order_by=[ibis.desc(ev.ts), ibis.desc(value)]
        )
        aggs[name] = ordered[0]
    else:  # pragma: no cover - the binder knows every function
        raise ValueError(f"unknown aggregate {func}")
