"""Name resolution and type checking: a syntax tree becomes the typed tree of :mod:`._ir`.

Names outside an aggregate are the profile's values (features, customer attributes, RFM
scores); inside an aggregate's first argument they are event fields or event types. Every
mistake is a :class:`~segmint.errors.RuleError` that points at the offending column and, for
unknown names, suggests the closest known one.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from segmint.errors import RuleError
from segmint.segments.rules import _syntax as s
from segmint.segments.rules._ir import (
    AGGREGATES,
    BOOL,
    NULL,
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

#: the event fields an aggregate may look at, and their types
EVENT_FIELDS: dict[str, str] = {
    "event_type": STRING,
    "product_id": STRING,
    "category": STRING,
    "price": NUMBER,
    "quantity": NUMBER,
    "query": STRING,
    "device": STRING,
    "channel": STRING,
    "country": STRING,
    "session_id": STRING,
    "page_url": STRING,
}
_SCALARS = {
    "coalesce": "coalesce(a, b, ...): the first of its arguments that is not null",
    "abs": "abs(x): the absolute value of a number",
    "lower": "lower(s): a string in lower case",
    "startswith": 'startswith(s, "prefix"): whether s begins with the prefix',
    "contains": 'contains(s, "part"): whether s contains the part',
}
_SEGMENT_FUNCS = ("in_segment", "score", "cluster")
FUNCTIONS = (*AGGREGATES, *_SCALARS, *_SEGMENT_FUNCS)


@dataclass(frozen=True)
class Catalog:
    """What a rule may name.

    Parameters
    ----------
    values : mapping of name to type
        Profile values: features, attributes, RFM columns (``number``, ``string``, ``bool``).
    patterns : mapping of regular expression to type
        Families of values whose members depend on the data (``cat_<slug>_share``).
    event_types : names allowed as bare event types inside aggregates.
    segments, models, clusters : names ``in_segment``, ``score`` and ``cluster`` accept;
        None accepts any name (checked when the rule is computed).
    """

    values: Mapping[str, str]
    patterns: Mapping[str, str] = field(default_factory=dict)
    event_types: tuple[str, ...] = ()
    event_fields: Mapping[str, str] = field(default_factory=lambda: dict(EVENT_FIELDS))
    segments: frozenset[str] | None = None
    models: frozenset[str] | None = None
    clusters: frozenset[str] | None = None
    segment_patterns: tuple[str, ...] = ()

    def knows_segment(self, name: str) -> bool:
        """Whether ``in_segment`` may name ``name``: any name when ``segments`` is None, else one
        listed or matching one of ``segment_patterns``."""
        if self.segments is None or name in self.segments:
            return True
        return any(re.fullmatch(p, name) for p in self.segment_patterns)

    def value_type(self, name: str) -> str | None:
        """The type of profile value ``name`` (listed names first, then patterns); None when
        unknown."""
        if name in self.values:
            return self.values[name]
        for pattern, typ in self.patterns.items():
            if re.fullmatch(pattern, name):
                return typ
        return None

    def with_values(self, extra: Mapping[str, str]) -> Catalog:
        """A copy that also knows ``extra`` values (e.g. the project's custom features)."""
        return dataclasses.replace(self, values={**self.values, **extra})


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest option, or '' when none is close.

    A name the word begins (``recency`` of ``recency_days``) wins over a similar spelling.
    """
    opts = list(dict.fromkeys(options))
    low = word.lower()
    starts = sorted((o for o in opts if o.lower().startswith(low) and len(low) >= 3), key=len)
    if starts:
        return f" (did you mean '{starts[0]}'?)"
    close = difflib.get_close_matches(low, opts, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Binder:
    """Turns one parsed rule into typed :mod:`._ir` nodes against a :class:`Catalog`."""

    def __init__(self, text: str, catalog: Catalog) -> None:
        self.text = text
        self.catalog = catalog

    def error(self, message: str, node: s.Node | int) -> RuleError:
        """A RuleError at ``node``'s column (or at offset ``node``), for the caller to raise."""
        pos = node if isinstance(node, int) else node.pos
        return RuleError(message, self.text, pos)

    # profile scope

    def bind(self, node: s.Node, scope: str = "profile", prefix: list[str] | None = None) -> Expr:
        """The typed tree of ``node``, names resolved in ``scope`` ('profile' or 'event'); RuleError
        at the first mistake. Inside an aggregate ``prefix`` collects the event type a
        ``type.field`` names; None allows no prefix."""
        if isinstance(node, s.Lit):
            return Const(_lit_type(node.value), node.value)
        if isinstance(node, s.Name):
            return self.name(node, scope, prefix)
        if isinstance(node, s.Duration):
            raise self.error(
                f"a window ({node.text}) goes inside an aggregate, as in count(purchase, "
                f"{node.text})",
                node,
            )
        if isinstance(node, s.Star):
            raise self.error("'*' means every event: count(*, 7d)", node)
        if isinstance(node, s.Unary):
            return self.unary(node, scope, prefix)
        if isinstance(node, s.Binary):
            return self.binary(node, scope, prefix)
        if isinstance(node, s.InList):
            return self.in_list(node, scope, prefix)
        if isinstance(node, s.Between):
            x, lo, hi = (self.bind(n, scope, prefix) for n in (node.operand, node.low, node.high))
            for part, n in ((x, node.operand), (lo, node.low), (hi, node.high)):
                self.need(part, (NUMBER,), n, "'between' compares numbers")
            return Betw(BOOL, x, lo, hi, node.negated)
        if isinstance(node, s.IsNull):
            return IsNull(BOOL, self.bind(node.operand, scope, prefix), node.negated)
        if isinstance(node, s.Call):
            return self.call(node, scope, prefix)
        raise self.error(f"unexpected {type(node).__name__}", node)  # pragma: no cover

    def need(self, e: Expr, types: tuple[str, ...], node: s.Node, why: str) -> None:
        """Raise RuleError at ``node`` (``why`` and the type found) unless ``e`` is of one of
        ``types`` or null."""
        if e.type not in (*types, NULL):
            raise self.error(f"{why}; this is {_a(e.type)}", node)

    def name(self, node: s.Name, scope: str, prefix: list[str] | None) -> Expr:
        """A profile value outside an aggregate, an event field or type inside one; RuleError naming
        the closest known name otherwise."""
        cat = self.catalog
        node = self.lowered(node)
        if scope == "event":
            return self.event_name(node, prefix)
        if node.prefix is not None:
            raise self.error(
                f"'{node.prefix}.{node.name}' is an event field: aggregate it, as in "
                f"sum({node.prefix}.{node.name}, 30d)",
                node,
            )
        typ = cat.value_type(node.name)
        if typ is not None:
            return Ref(typ, node.name, "profile")
        if node.name in cat.event_types:
            raise self.error(
                f"'{node.name}' is an event type: count it over a window, as in "
                f"count({node.name}, 30d)",
                node,
            )
        if node.name in cat.event_fields:
            raise self.error(
                f"'{node.name}' is an event field: use it inside an aggregate, as in "
                f"last({node.name}) or share({node.name} == ..., 30d)",
                node,
            )
        known = [*cat.values, *FUNCTIONS]
        raise self.error(
            f"unknown feature or attribute '{node.name}'{did_you_mean(node.name, known)}", node
        )

    def lowered(self, node: s.Name) -> s.Name:
        """Names are lower case; ``Country`` reads as ``country`` when that is known."""
        cat = self.catalog
        name, pre = node.name, node.prefix
        if cat.value_type(name) is None and name not in cat.event_fields:
            low = name.lower()
            if (
                cat.value_type(low) is not None
                or low in cat.event_fields
                or (low in cat.event_types)
            ):
                name = low
        if pre is not None and pre not in cat.event_types and pre.lower() in cat.event_types:
            pre = pre.lower()
        return s.Name(node.pos, name, pre)

    def event_name(self, node: s.Name, prefix: list[str] | None) -> Expr:
        """An event field, or a bare event type as ``event_type == type``; the type of a
        ``type.field`` goes in ``prefix`` (one aggregate, one type)."""
        cat = self.catalog
        node = self.lowered(node)
        if node.prefix is not None:
            if node.prefix not in cat.event_types:
                hint = did_you_mean(node.prefix, cat.event_types)
                raise self.error(f"'{node.prefix}' is not an event type{hint}", node)
            if prefix is None:
                raise self.error("an event type prefix is not allowed here", node)
            if prefix and prefix[0] != node.prefix:
                raise self.error(
                    f"one aggregate looks at one event type: '{prefix[0]}' and "
                    f"'{node.prefix}' are mixed",
                    node,
                )
            if not prefix:
                prefix.append(node.prefix)
        if node.name in cat.event_fields:
            return Ref(cat.event_fields[node.name], node.name, "event")
        if node.prefix is None and node.name in cat.event_types:
            return Cmp(BOOL, "==", Ref(STRING, "event_type", "event"), Const(STRING, node.name))
        options = [*cat.event_fields, *cat.event_types]
        if cat.value_type(node.name) is not None:
            raise self.error(
                f"'{node.name}' is a customer feature; inside an aggregate only event fields "
                f"({', '.join(cat.event_fields)}) and event types can be named",
                node,
            )
        raise self.error(
            f"unknown event field or event type '{node.name}'{did_you_mean(node.name, options)}",
            node,
        )

    def unary(self, node: s.Unary, scope: str, prefix: list[str] | None) -> Expr:
        """``not`` of a condition, or ``-`` of a number."""
        x = self.bind(node.operand, scope, prefix)
        if node.op == "not":
            self.need(x, (BOOL,), node.operand, "'not' needs a condition")
            return Not(BOOL, x)
        self.need(x, (NUMBER,), node.operand, "'-' needs a number")
        return Neg(NUMBER, x)

    def binary(self, node: s.Binary, scope: str, prefix: list[str] | None) -> Expr:
        """``and``/``or`` of conditions (flattened into one node), arithmetic on numbers, or a
        comparison."""
        left = self.bind(node.left, scope, prefix)
        right = self.bind(node.right, scope, prefix)
        op = node.op
        if op in ("and", "or"):
            self.need(left, (BOOL,), node.left, f"'{op}' joins conditions")
            self.need(right, (BOOL,), node.right, f"'{op}' joins conditions")
            items: list[Expr] = []
            for part in (left, right):  # flatten a and b and c into one node
                items += part.items if isinstance(part, Logic) and part.op == op else [part]
            return Logic(BOOL, op, tuple(items))
        if op in ("+", "-", "*", "/"):
            self.need(left, (NUMBER,), node.left, f"'{op}' needs numbers")
            self.need(right, (NUMBER,), node.right, f"'{op}' needs numbers")
            return Arith(NUMBER, op, left, right)
        return self.compare(node, left, right)

    def compare(self, node: s.Binary, left: Expr, right: Expr) -> Expr:
        """A comparison: ``<``, ``<=``, ``>``, ``>=`` on numbers, ``==`` and ``!=`` on one type;
        never with null (RuleError: write ``is null``)."""
        op = node.op
        for side, n in ((left, node.left), (right, node.right)):
            if side.type == NULL:
                neg = "not " if op == "!=" else ""
                raise self.error(
                    f"nothing equals null: write 'is {neg}null' instead of '{op} null'", n
                )
        if op in ("<", "<=", ">", ">="):
            for side, n in ((left, node.left), (right, node.right)):
                if side.type != NUMBER:
                    extra = " (compare strings with ==, != or in)" if side.type == STRING else ""
                    raise self.error(f"'{op}' compares numbers; this is {_a(side.type)}{extra}", n)
        elif left.type != right.type:
            raise self.error(
                f"'{op}' compares {_a(left.type)} with {_a(right.type)}; both sides must be "
                "of one type",
                node,
            )
        return Cmp(BOOL, op, left, right)

    def in_list(self, node: s.InList, scope: str, prefix: list[str] | None) -> Expr:
        """``x [not] in (...)``: literals of one type, that of ``x``; repeated values dropped."""
        x = self.bind(node.operand, scope, prefix)
        types = {_lit_type(i.value) for i in node.items}
        if len(types) > 1:
            raise self.error("the list after 'in' mixes types", node.items[0])
        typ = types.pop()
        if x.type not in (typ, NULL):
            raise self.error(f"{_a(x.type)} cannot be in a list of {typ}s", node.operand)
        values = tuple(dict.fromkeys(i.value for i in node.items))
        return In(BOOL, x, values, node.negated)

    # calls

    def call(self, node: s.Call, scope: str, prefix: list[str] | None) -> Expr:
        """An aggregate, a scalar function, or ``in_segment``/``score``/``cluster``; RuleError for
        an unknown function or one where it cannot go."""
        name = node.name
        if name in AGGREGATES:
            if scope == "event":
                raise self.error(f"{name}() cannot be nested inside another aggregate", node)
            return self.aggregate(node)
        if name in _SCALARS:
            return self.scalar(node, scope, prefix)
        if name in _SEGMENT_FUNCS:
            if scope == "event":
                raise self.error(f"{name}() is about the customer, not one event", node)
            return self.segment_func(node)
        raise self.error(f"unknown function '{name}'{did_you_mean(name, FUNCTIONS)}", node)

    def scalar(self, node: s.Call, scope: str, prefix: list[str] | None) -> Expr:
        """``coalesce``, ``abs``, ``lower``, ``startswith`` or ``contains``, with its arguments'
        number and types checked."""
        name = node.name
        for a in node.args:
            if a.where is not None:
                raise self.error(f"'where' belongs inside an aggregate, not {name}()", a.where)
        args = [self.bind(a.value, scope, prefix) for a in node.args]
        if name == "coalesce":
            if len(args) < 2:
                raise self.error("coalesce() takes two or more values", node)
            types = {a.type for a in args} - {NULL}
            if len(types) > 1:
                raise self.error(f"coalesce() mixes {' and '.join(sorted(types))}", node)
            return Func(types.pop() if types else NULL, name, tuple(args))
        arity = {"abs": 1, "lower": 1, "startswith": 2, "contains": 2}[name]
        if len(args) != arity:
            raise self.error(f"{_SCALARS[name]} (takes {arity} argument(s))", node)
        if name == "abs":
            self.need(args[0], (NUMBER,), node.args[0], "abs() needs a number")
            return Func(NUMBER, name, tuple(args))
        self.need(args[0], (STRING,), node.args[0], f"{name}() needs a string")
        if name == "lower":
            return Func(STRING, name, tuple(args))
        if not (isinstance(args[1], Const) and args[1].type == STRING):
            raise self.error(f"the second argument of {name}() is a quoted string", node.args[1])
        return Func(BOOL, name, tuple(args))

    def segment_func(self, node: s.Call) -> Expr:
        """``in_segment``, ``score`` or ``cluster`` of one name (quoted or bare), checked against
        the catalog when it lists names."""
        name = node.name
        if len(node.args) != 1:
            raise self.error(f'{name}() takes one name, as in {name}("vip")', node)
        arg = node.args[0].value
        if isinstance(arg, s.Lit) and isinstance(arg.value, str):
            ref = arg.value
        elif isinstance(arg, s.Name) and arg.prefix is None:
            ref = arg.name
        else:
            raise self.error(f'{name}() takes one name, as in {name}("vip")', arg)
        known = {
            "in_segment": self.catalog.segments,
            "score": self.catalog.models,
            "cluster": self.catalog.clusters,
        }[name]
        what = {"in_segment": "segment", "score": "model", "cluster": "clustering"}[name]
        found = self.catalog.knows_segment(ref) if name == "in_segment" else ref in (known or ())
        if known is not None and not found:
            listing = ", ".join(sorted(known)) or "none defined yet"
            raise self.error(
                f"unknown {what} '{ref}'{did_you_mean(ref, known)}; known: {listing}", arg
            )
        if name == "in_segment":
            return Seg(BOOL, ref)
        if name == "score":
            return Score(NUMBER, ref)
        return Cluster(NUMBER, ref)

    def aggregate(self, node: s.Call) -> Expr:
        """A windowed aggregate from its event expression, optional ``where`` and window (longer
        than zero; none for all history)."""
        func = node.name
        args = node.args
        windowed = func in ("last", "days_since")
        if not args or len(args) > 2 or (len(args) == 1 and not windowed):
            example = {
                "count": "count(purchase, 30d)",
                "share": 'share(device == "mobile", 30d)',
                "distinct": "distinct(product_id, 30d)",
                "last": "last(device) or last(category where purchase, 90d)",
                "days_since": "days_since(purchase)",
            }.get(func, f"{func}(purchase.price, 30d)")
            need = (
                "an event expression and an optional window"
                if windowed
                else ("an event expression and a window")
            )
            raise self.error(f"{func}() takes {need}, as in {example}", node)
        window = None
        if len(args) == 2:
            w = args[1]
            if not isinstance(w.value, s.Duration) or w.where is not None:
                raise self.error(
                    f"the second argument of {func}() is a window such as 30d, 12h or 2w",
                    w.value,
                )
            window = w.value.seconds
            if window <= 0:
                raise self.error("a window must be longer than zero", w.value)
        first = args[0]
        prefix: list[str] = []
        value: Expr | None
        if isinstance(first.value, s.Star):
            if func not in ("count", "days_since", "share"):
                raise self.error(f"'*' (every event) only goes in count(), not {func}()", first)
            value = None
        else:
            value = self.bind(first.value, "event", prefix)
        where = None
        if first.where is not None:
            where = self.bind(first.where, "event", prefix)
            self.need(where, (BOOL,), first.where, "'where' needs a condition on the event")
        if prefix:
            typ = Cmp(BOOL, "==", Ref(STRING, "event_type", "event"), Const(STRING, prefix[0]))
            where = typ if where is None else Logic(BOOL, "and", (typ, where))
        value, where = self.shape(func, value, where, first)
        spec = AggSpec(func, value, where, window)
        return Agg(spec.type, spec)

    def shape(
        self, func: str, value: Expr | None, where: Expr | None, arg: s.Arg
    ) -> tuple[Expr | None, Expr | None]:
        """Check an aggregate's argument for its function; count's 'where' joins its test."""
        if func in ("count", "days_since"):
            if value is not None:
                self.need(value, (BOOL,), arg.value, f"{func}() needs an event type or condition")
            if where is not None:  # count(x where p) is count(x and p)
                value = where if value is None else Logic(BOOL, "and", (value, where))
                where = None
            return value, where
        if value is None:
            return value, where
        if func == "share":
            self.need(value, (BOOL,), arg.value, "share() needs a condition on the event")
        elif func in ("sum", "avg", "min", "max"):
            if value.type == BOOL:
                raise self.error(
                    f"{func}() needs a number, as in {func}(purchase.price, 30d); to count "
                    "events use count()",
                    arg.value,
                )
            self.need(value, (NUMBER,), arg.value, f"{func}() needs a number")
        return value, where


def _lit_type(value: object) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return NUMBER
    return STRING


def _a(typ: str) -> str:
    return {
        NUMBER: "a number",
        STRING: "a string",
        BOOL: "a condition (true/false)",
        NULL: "null",
    }[typ]
