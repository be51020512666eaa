"""The typed form of a rule: every name resolved, every node typed, aggregates as specs.

Both compilers (:mod:`._ibis` for the warehouse, :mod:`._python` for one profile) walk this
tree, so they cannot disagree on what a rule means, only on how they compute it. Nodes are
frozen and hashable: an :class:`AggSpec` is a dictionary key in the online store.

Types are ``number``, ``string``, ``bool`` and ``null`` (the literal ``null`` only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

NUMBER, STRING, BOOL, NULL = "number", "string", "bool", "null"


@dataclass(frozen=True)
class Expr:
    type: str


@dataclass(frozen=True)
class Const(Expr):
    value: object


@dataclass(frozen=True)
class Ref(Expr):
    """A value by name: a feature or attribute of the profile, or a field of an event."""

    name: str
    scope: str  # 'profile' or 'event'


@dataclass(frozen=True)
class Agg(Expr):
    spec: AggSpec


@dataclass(frozen=True)
class Seg(Expr):
    """``in_segment("x")``: whether the customer is in segment x (never null)."""

    name: str


@dataclass(frozen=True)
class Score(Expr):
    """``score("m")``: the customer's latest score from model m (null without one)."""

    model: str


@dataclass(frozen=True)
class Cluster(Expr):
    """``cluster("c")``: the customer's cluster id in clustering c (null when unassigned)."""

    name: str


@dataclass(frozen=True)
class Not(Expr):
    operand: Expr


@dataclass(frozen=True)
class Logic(Expr):
    op: str  # 'and' | 'or'
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Neg(Expr):
    operand: Expr


@dataclass(frozen=True)
class Arith(Expr):
    op: str  # + - * /
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Cmp(Expr):
    op: str  # == != < <= > >=
    left: Expr
    right: Expr


@dataclass(frozen=True)
class In(Expr):
    operand: Expr
    values: tuple[object, ...]
    negated: bool


@dataclass(frozen=True)
class Betw(Expr):
    operand: Expr
    low: Expr
    high: Expr
    negated: bool


@dataclass(frozen=True)
class IsNull(Expr):
    operand: Expr
    negated: bool


@dataclass(frozen=True)
class Func(Expr):
    """A scalar function: coalesce, abs, lower, startswith, contains."""

    name: str
    args: tuple[Expr, ...]


#: aggregate functions over a customer's events in a window before the as-of time
AGGREGATES = ("count", "sum", "avg", "min", "max", "distinct", "share", "last", "days_since")


@dataclass(frozen=True)
class AggSpec:
    """One windowed aggregate over a customer's events.

    ``func`` is one of :data:`AGGREGATES`; ``value`` the event expression aggregated (the
    predicate of ``count``, ``share`` and ``days_since``; None for "every event");
    ``where`` a filter on the events considered; ``window`` the seconds before the as-of
    time the events must lie in (None: all history). ``key`` is its canonical text, the
    same however the rule spelled it.
    """

    func: str
    value: Expr | None
    where: Expr | None
    window: int | None

    @cached_property
    def key(self) -> str:
        """Canonical text of the aggregate, the same however the rule spelled it."""
        # cached (the real-time path asks for it per event); the dataclass is frozen, and
        # cached_property writes the instance's __dict__ directly, so that is allowed
        parts = [show(self.value) if self.value is not None else "*"]
        if self.where is not None:
            parts[0] += f" where {show(self.where)}"
        if self.window is not None:
            parts.append(window_text(self.window))
        return f"{self.func}({', '.join(parts)})"

    @property
    def type(self) -> str:
        """``number``, except for ``min``, ``max`` and ``last``: the type of the value
        aggregated."""
        if self.func in ("count", "sum", "avg", "distinct", "share", "days_since"):
            return NUMBER
        return self.value.type if self.value is not None else NUMBER


def window_text(seconds: int) -> str:
    """Canonical text of a window: whole days as ``Nd`` (``2w`` is ``14d``), else hours."""
    if seconds % 86_400 == 0:
        return f"{seconds // 86_400}d"
    return f"{seconds // 3_600}h"


_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "neg": 7}


def show(e: Expr, parent: int = 0) -> str:
    """Canonical text of an expression (parenthesized only where needed)."""
    text, prec = _show(e)
    return f"({text})" if prec < parent else text


def _lit(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _show(e: Expr) -> tuple[str, int]:
    if isinstance(e, Const):
        return _lit(e.value), 9
    if isinstance(e, Ref):
        return e.name, 9
    if isinstance(e, Agg):
        return e.spec.key, 9
    if isinstance(e, Seg):
        return f"in_segment({_lit(e.name)})", 9
    if isinstance(e, Score):
        return f"score({_lit(e.model)})", 9
    if isinstance(e, Cluster):
        return f"cluster({_lit(e.name)})", 9
    if isinstance(e, Func):
        return f"{e.name}({', '.join(show(a) for a in e.args)})", 9
    if isinstance(e, Not):
        return f"not {show(e.operand, _PRECEDENCE['not'])}", _PRECEDENCE["not"]
    if isinstance(e, Neg):
        return f"-{show(e.operand, _PRECEDENCE['neg'])}", _PRECEDENCE["neg"]
    if isinstance(e, Logic):
        p = _PRECEDENCE[e.op]
        return f" {e.op} ".join(show(i, p + 1) for i in e.items), p
    if isinstance(e, Arith):
        p = _PRECEDENCE[e.op]
        return f"{show(e.left, p)} {e.op} {show(e.right, p + 1)}", p
    if isinstance(e, Cmp):
        p = _PRECEDENCE["cmp"]
        return f"{show(e.left, p + 1)} {e.op} {show(e.right, p + 1)}", p
    if isinstance(e, In):
        p = _PRECEDENCE["cmp"]
        items = ", ".join(_lit(v) for v in e.values)
        neg = "not " if e.negated else ""
        return f"{show(e.operand, p + 1)} {neg}in ({items})", p
    if isinstance(e, Betw):
        p = _PRECEDENCE["cmp"]
        neg = "not " if e.negated else ""
        return (
            f"{show(e.operand, p + 1)} {neg}between {show(e.low, p + 1)} and {show(e.high, p + 1)}",
            p,
        )
    if isinstance(e, IsNull):
        p = _PRECEDENCE["cmp"]
        return f"{show(e.operand, p + 1)} is {'not ' if e.negated else ''}null", p
    raise TypeError(f"not a rule expression: {e!r}")  # pragma: no cover


def walk(e: Expr | None) -> list[Expr]:
    """Every node of ``e``, parents first (aggregate specs' inner expressions excluded)."""
    if e is None:
        return []
    out = [e]
    for child in children(e):
        out += walk(child)
    return out


def children(e: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of ``e`` (an aggregate's inner expressions are not among them)."""
    if isinstance(e, Not | Neg):
        return (e.operand,)
    if isinstance(e, Logic):
        return e.items
    if isinstance(e, Arith | Cmp):
        return (e.left, e.right)
    if isinstance(e, In | IsNull):
        return (e.operand,)
    if isinstance(e, Betw):
        return (e.operand, e.low, e.high)
    if isinstance(e, Func):
        return e.args
    return ()
