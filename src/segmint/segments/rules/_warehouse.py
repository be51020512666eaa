"""Rules over the warehouse: the event stream they aggregate, the names they may use, and
the one table of inputs (features, RFM, aggregates, scores, clusters) they are computed on.

:func:`rule_inputs` writes that table once per computation, so ten rules over the same
windows cost one grouped pass over the events; each rule is then a filter on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from segmint.errors import NotFoundError
from segmint.fees import is_fee
from segmint.identity import resolved
from segmint.revenue import is_return_status
from segmint.schema import Col, T
from segmint.segments.rules._bind import EVENT_FIELDS, Catalog
from segmint.segments.rules._ibis import Columns, aggregates
from segmint.segments.rules._ir import BOOL, NUMBER, STRING, AggSpec
from segmint.segments.rules._rule import RFM_VALUES, Rule, default_catalog

RFM_TABLE = "rfm"
CLUSTER_TABLE = "cluster_assignments"
SCORES_TABLE = "scores"
INPUTS = "_rule_inputs"
_KINDS = {"string": STRING, "boolean": BOOL}
_FIELD_TYPES = {STRING: "string", NUMBER: "float64"}
_NOT_VALUES = frozenset({Col.CUSTOMER_ID, "as_of"})


def _dtype_kind(dtype: Any) -> str:
    if dtype.is_numeric():
        return NUMBER
    name = str(dtype).rstrip("!").lower()
    return _KINDS.get(name, STRING if dtype.is_string() else "other")


def event_stream(wh: Any) -> ir.Table | None:
    """Every event with its canonical customer: ``customer_id``, ``ts`` and the event fields.

    A shop whose events hold no purchases (or that has no events at all, like an
    order export) gets one ``purchase`` event per order line bought, so
    ``count(purchase, 30d)`` means the same whichever way purchases arrive. Fee lines
    (postage, charges: ``segmint.fees``) are no purchase.
    """
    parts: list[ir.Table] = []
    has_purchases = False
    if wh.has_table(T.EVENTS) and wh.has_table(T.IDENTITIES):
        e = resolved(wh, T.EVENTS)
        e = e.filter(e[Col.CUSTOMER_ID].notnull())
        parts.append(_fields(e))
        has_purchases = bool(
            wh.to_arrow(
                e.filter(e[Col.EVENT_TYPE] == "purchase").limit(1).select(Col.EVENT_TYPE)
            ).num_rows
        )
    if not has_purchases and wh.has_table(T.ORDER_LINES) and wh.has_table(T.IDENTITIES):
        parts.append(_fields(_line_purchases(wh)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts[0].union(parts[1])


def _line_purchases(wh: Any) -> ir.Table:
    lines = resolved(wh, T.ORDER_LINES)
    keep = lines[Col.CUSTOMER_ID].notnull() & (lines[Col.QUANTITY] > 0) & ~is_fee(lines)
    if Col.IS_RETURN in lines.columns:
        keep = keep & ~lines[Col.IS_RETURN].fill_null(False)
    lines = lines.filter(keep)
    if wh.has_table(T.ORDERS):
        # a line of an order cancelled or refunded as a whole (its status is on the order,
        # not on the line) was never bought: the same rule as net revenue (segmint.revenue)
        o = wh.table(T.ORDERS)
        lines = lines.anti_join(o.filter(is_return_status(o[Col.STATUS])), Col.ORDER_ID)
    category = lines[Col.CATEGORY] if Col.CATEGORY in lines.columns else ibis.null("string")
    if wh.has_table(T.PRODUCTS):
        p = wh.table(T.PRODUCTS).select(Col.PRODUCT_ID, _pcat=Col.CATEGORY)
        lines = lines.left_join(p, Col.PRODUCT_ID)
        category = ibis.coalesce(lines[Col.CATEGORY], lines._pcat)
    return lines.mutate(
        event_type=ibis.literal("purchase"),
        category=category,
        price=lines[Col.UNIT_PRICE],
        session_id=lines[Col.ORDER_ID],
    )


def _fields(t: ir.Table) -> ir.Table:
    cols: dict[str, Any] = {Col.CUSTOMER_ID: t[Col.CUSTOMER_ID], Col.TS: t[Col.TS]}
    for name, typ in EVENT_FIELDS.items():
        target = _FIELD_TYPES[typ]
        cols[name] = t[name].cast(target) if name in t.columns else ibis.null(target)
    return t.select(**cols)


def catalog_for(
    wh: Any,
    as_of: datetime | None = None,
    *,
    segments: Iterable[str] | None = None,
    clusters: Iterable[str] | None = None,
) -> Catalog:
    """What rules may name in this warehouse: the columns of its ``features`` (and ``rfm``)
    tables, the models that have scores, and the given segments and clusterings."""
    cat = default_catalog()
    values: dict[str, str] = {}
    for table in ("features", RFM_TABLE):
        if wh.has_table(table):
            for name, dtype in wh.table(table).schema().items():
                kind = _dtype_kind(dtype)
                if name not in _NOT_VALUES and kind != "other":
                    values[name] = kind
    if not wh.has_table("features"):
        values = dict(cat.values)
    elif not wh.has_table(RFM_TABLE):
        values.update(RFM_VALUES)
    models: set[str] = set()
    if wh.has_table(SCORES_TABLE):
        rows = wh.to_arrow(wh.table(SCORES_TABLE).select("model").distinct()).to_pylist()
        models = {r["model"] for r in rows}
    return Catalog(
        values,
        {},
        cat.event_types,
        segments=None if segments is None else frozenset(segments),
        models=frozenset(models),
        clusters=None if clusters is None else frozenset(clusters),
    )


@dataclass
class RuleInputs:
    """The table rules are computed on (one row per customer) and where its parts are."""

    table: ir.Table
    columns: Columns
    as_of: datetime


def _at(wh: Any, table: str, as_of: datetime, key: str | None = None) -> ir.Table | None:
    """Rows of ``table`` at the latest as-of not after ``as_of`` (per ``key`` value)."""
    if not wh.has_table(table):
        return None
    t = wh.table(table)
    when = ibis.timestamp(as_of.replace(tzinfo=None, microsecond=0))
    t = t.filter(t.as_of <= when)
    group = [key] if key else []
    latest = t.group_by(group).aggregate(_latest=t.as_of.max()) if group else None
    if latest is None:
        return t.filter(t.as_of == t.as_of.max())
    return t.inner_join(latest, [key, t.as_of == latest._latest]).drop("_latest")


def rule_inputs(
    wh: Any,
    rules: Sequence[Rule],
    as_of: datetime,
    *,
    members: Callable[[str], ir.Table] | None = None,
    name: str = INPUTS,
    values: Iterable[str] = (),
) -> RuleInputs:
    """Write the table ``rules`` are computed on as of ``as_of``, and describe it.

    The rows are the customers of the ``features`` table at ``as_of`` (compute them first);
    columns are ``customer_id``, the features and RFM values (at ``as_of``, when computed)
    the rules read and any other named in ``values``, one column per distinct windowed
    aggregate of all the rules, and the scores and clusters they name.
    """
    as_of = as_of.replace(tzinfo=None, microsecond=0)
    if not wh.has_table("features"):
        raise NotFoundError("no features yet: run `segmint features` first")
    f = wh.table("features")
    base = f.filter(f.as_of == ibis.timestamp(as_of))
    if base.count().execute() == 0:
        raise NotFoundError(
            f"no features as of {as_of}: run `segmint features --as-of '{as_of}'` first"
        )
    # only what is read: the table is written for every customer, and rules name a few of
    # the hundred-odd features
    wanted = {v for r in rules for v in r.values} | set(values)
    base = base.select(Col.CUSTOMER_ID, *[c for c in base.columns if c in wanted])
    rfm = _at(wh, RFM_TABLE, as_of)
    extra = [] if rfm is None else [c for c in rfm.columns if c in wanted - set(base.columns)]
    if rfm is not None and extra:
        part = rfm.select(Col.CUSTOMER_ID, *extra)
        base = base.left_join(part, Col.CUSTOMER_ID).drop(f"{Col.CUSTOMER_ID}_right")
    specs = list({s.key: s for r in rules for s in r.aggregates}.values())
    cols = Columns(segments=members)
    if specs:
        base, agg_cols = _join_aggregates(wh, base, specs, as_of)
        cols.aggregates = agg_cols
    models = sorted({m for r in rules for m in r.models})
    clusterings = sorted({c for r in rules for c in r.clusters})
    base, cols.scores = _join_keyed(wh, base, SCORES_TABLE, "model", "score", models, as_of)
    base, cols.clusters = _join_keyed(
        wh, base, CLUSTER_TABLE, "clustering", "cluster", clusterings, as_of
    )
    wh.write(name, base)
    return RuleInputs(wh.table(name), cols, as_of)


def _join_aggregates(
    wh: Any, base: ir.Table, specs: list[AggSpec], as_of: datetime
) -> tuple[ir.Table, dict[str, str]]:
    names = {s.key: f"_agg{i}" for i, s in enumerate(specs)}
    events = event_stream(wh)
    if events is None:
        nulls = {names[s.key]: ibis.null("float64") for s in specs}
        return base.mutate(**nulls), names
    agg = aggregates(events, specs, as_of, names)
    joined = base.left_join(agg, Col.CUSTOMER_ID).drop(f"{Col.CUSTOMER_ID}_right")
    return joined, names


def _join_keyed(
    wh: Any,
    base: ir.Table,
    table: str,
    key: str,
    value: str,
    wanted: list[str],
    as_of: datetime,
) -> tuple[ir.Table, dict[str, str]]:
    """One column per wanted model (or clustering): its latest value at ``as_of``."""
    if not wanted:
        return base, {}
    rows = _at(wh, table, as_of, key)
    if rows is None:
        what = "model" if key == "model" else "clustering"
        raise NotFoundError(f"no {table} yet: no {what} named {', '.join(wanted)} has run")
    out: dict[str, str] = {}
    for i, w in enumerate(wanted):
        col = f"_{value}{i}"
        part = rows.filter(rows[key] == w).select(Col.CUSTOMER_ID, **{col: rows[value]})
        base = base.left_join(part, Col.CUSTOMER_ID).drop(f"{Col.CUSTOMER_ID}_right")
        out[w] = col
    return base, out


def rule_members(rule: Rule, inputs: RuleInputs) -> ir.Table:
    """The customers ``rule`` holds for (``customer_id``), an unexecuted expression."""
    t = inputs.table
    cond = rule.to_ibis(t, inputs.columns)
    return t.filter(cond).select(Col.CUSTOMER_ID)
