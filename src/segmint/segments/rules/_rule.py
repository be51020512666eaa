"""A compiled rule: parsed, typed, and ready for both the warehouse and one profile."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from segmint.errors import RuleError
from segmint.features._catalog import CATALOG
from segmint.schema import EVENT_TYPES
from segmint.segments.rules._bind import Binder, Catalog
from segmint.segments.rules._ir import (
    BOOL,
    NUMBER,
    STRING,
    Agg,
    AggSpec,
    Cluster,
    Expr,
    Ref,
    Score,
    Seg,
    show,
    walk,
)
from segmint.segments.rules._python import Profile, compile_profile
from segmint.segments.rules._syntax import parse

if TYPE_CHECKING:  # Ibis loads only when a rule is computed in the warehouse
    import ibis.expr.types as ir

    from segmint.segments.rules._ibis import Columns

_DTYPES = {"float": NUMBER, "int": NUMBER, "string": STRING, "bool": BOOL}

#: columns of the ``rfm`` table that rules may name beside the features
RFM_VALUES: dict[str, str] = {
    "r_score": NUMBER,
    "f_score": NUMBER,
    "m_score": NUMBER,
    "fm_score": NUMBER,
    "rfm_score": STRING,
    "rfm_segment": STRING,
}


def default_catalog(extra: dict[str, str] | None = None) -> Catalog:
    """What a rule may name before any data exists: built-in features, RFM columns, event
    types; category shares by pattern. ``extra`` adds names (the project's own features)."""
    values = {d.name: _DTYPES[d.dtype] for d in CATALOG}
    values.update(RFM_VALUES)
    values.update(extra or {})
    return Catalog(values, {r"cat_[a-z0-9_]+_share": NUMBER}, EVENT_TYPES)


@dataclass(frozen=True)
class Rule:
    """One rule (or expression) of the rule language, compiled.

    Use :func:`compile_rule` to make one. ``evaluate`` gives its value for one
    :class:`Profile` (True, False or None); ``matches`` whether the profile is in the
    segment; ``to_ibis`` the same as a column over every customer in the warehouse.

    Attributes
    ----------
    text : the rule as written.
    expr : the typed tree.
    aggregates : the windowed aggregates it reads, each once.
    values : profile values (features, attributes) it reads.
    segments, models, clusters : names it reads through in_segment, score and cluster.
    """

    text: str
    expr: Expr
    name: str | None = None
    aggregates: tuple[AggSpec, ...] = field(init=False)
    values: frozenset[str] = field(init=False)
    segments: frozenset[str] = field(init=False)
    models: frozenset[str] = field(init=False)
    clusters: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        nodes = walk(self.expr)
        specs = {n.spec.key: n.spec for n in nodes if isinstance(n, Agg)}
        set_ = object.__setattr__
        set_(self, "aggregates", tuple(specs.values()))
        set_(self, "values", frozenset(n.name for n in nodes if isinstance(n, Ref)))
        set_(self, "segments", frozenset(n.name for n in nodes if isinstance(n, Seg)))
        set_(self, "models", frozenset(n.model for n in nodes if isinstance(n, Score)))
        set_(self, "clusters", frozenset(n.name for n in nodes if isinstance(n, Cluster)))

    @property
    def type(self) -> str:
        """The type of the rule's value: ``bool`` for a segment rule, else ``number``, ``string`` or
        ``null``."""
        return self.expr.type

    @property
    def canonical(self) -> str:
        """The rule in canonical form: the same text however it was spaced or spelled."""
        return show(self.expr)

    @cached_property
    def function(self) -> Callable[..., Any]:
        """The compiled ``fn(values, aggregates, segments, scores, clusters)``."""
        return compile_profile(self.expr)

    def evaluate(self, profile: Profile) -> Any:
        """The rule's value for one profile: True, False or None (unknown)."""
        return self.function(
            profile.values, profile.aggregates, profile.segments, profile.scores, profile.clusters
        )

    def matches(self, profile: Profile) -> bool:
        """Whether the profile is in the segment (an unknown value is not a match)."""
        return self.evaluate(profile) is True

    def to_ibis(self, table: ir.Table, columns: Columns | None = None) -> ir.Value:
        """The rule as a column over ``table`` (see :func:`segmint.segments.rules.rule_inputs`)."""
        from segmint.segments.rules._ibis import to_ibis

        return to_ibis(self.expr, table, columns)

    def __str__(self) -> str:
        return self.text


def compile_rule(
    text: str,
    catalog: Catalog | None = None,
    *,
    name: str | None = None,
    condition: bool = True,
) -> Rule:
    """Parse and check ``text`` against ``catalog`` (default: :func:`default_catalog`).

    Parameters
    ----------
    text : the rule, e.g. ``count(purchase, 30d) > 5 and country == "DE"``.
    catalog : what the rule may name.
    name : the segment or feature it defines, for messages.
    condition : True for a segment rule (it must be true or false); False for a feature
        expression of any type.

    Raises
    ------
    RuleSyntaxError
        The text does not parse; the message points at the column.
    RuleError
        A name is unknown (with a suggestion), or types do not fit.

    Examples
    --------
    >>> from datetime import datetime
    >>> rule = compile_rule('count(purchase, 30d) > 1 and country in ("DE", "AT")')
    >>> now = datetime(2024, 3, 1)
    >>> events = [{"ts": datetime(2024, 2, d), "event_type": "purchase"} for d in (3, 20)]
    >>> rule.matches(profile_from_events({"country": "DE"}, events, now, rule.aggregates))
    True
    >>> try:
    ...     compile_rule("recency > 60")
    ... except RuleError as exc:
    ...     print(exc)
    column 1: unknown feature or attribute 'recency' (did you mean 'recency_days'?)
      recency > 60
      ^
    """
    catalog = catalog or default_catalog()
    expr = Binder(text, catalog).bind(parse(text))
    if condition and expr.type != BOOL:
        what = {NUMBER: "a number", STRING: "a string"}.get(expr.type, expr.type)
        raise RuleError(
            f"a segment rule must be true or false, but this is {what}; compare it, as in "
            f"{show(expr)} > 0",
            text,
            0,
        )
    return Rule(text, expr, name)


def profile_from_events(
    values: dict[str, Any],
    events: list[dict[str, Any]],
    now: Any,
    specs: tuple[AggSpec, ...],
    **parts: Any,
) -> Profile:
    """A :class:`Profile` whose aggregates are computed exactly from ``events`` before ``now``."""
    from segmint.segments.rules._python import aggregate_events

    return Profile(values=values, aggregates=aggregate_events(specs, events, now), **parts)
