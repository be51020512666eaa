"""Computing the feature table as of a timestamp, inside the warehouse.

Every feature is an Ibis expression over the canonical tables restricted to rows *before* the
as-of time T, so a feature table computed for T never sees what happened after it (models
trained on it do not see the future). The customers are those seen before T: an event, an
order or a sign-up before T.

All aggregates over events are one grouped pass; orders, sessions and categories are one more
each, joined on ``customer_id``. The result is written to ``features`` (one row per customer
per ``as_of``); recomputing an as-of replaces its rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir

from segmint.config import FeatureConfig
from segmint.errors import RuleError
from segmint.features._catalog import (
    BEHAVIOUR_DAYS,
    CATALOG,
    CHANNELS,
    DAYPARTS,
    DEVICES,
    TOP_CATEGORIES,
    WINDOW_COUNTS,
    WINDOWS,
    FeatureDef,
    category_share_def,
)
from segmint.fees import product_lines
from segmint.identity import resolved
from segmint.revenue import order_net_value
from segmint.schema import Col, T
from segmint.warehouse import Warehouse

FEATURES = "features"
_ATTRIBUTES = (
    "is_known",
    Col.COUNTRY,
    Col.GENDER,
    Col.AGE,
    Col.LOYALTY_TIER,
    Col.CONSENT_EMAIL,
    Col.SIGNUP_AT,
)
_DAY = 86_400.0
_DUCK_TYPES = {
    "int64": "BIGINT",
    "int32": "BIGINT",
    "int8": "BIGINT",
    "int16": "BIGINT",
    "float64": "DOUBLE",
    "float32": "DOUBLE",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
}


@dataclass
class FeatureRun:
    """What one computation wrote: the as-of time, rows, and the feature columns."""

    as_of: datetime
    customers: int
    features: list[FeatureDef] = field(default_factory=list)


def _days_before(t: ir.TimestampScalar, ts: ir.TimestampValue) -> ir.FloatingValue:
    return (t.epoch_seconds() - ts.epoch_seconds()).cast("float64") / _DAY


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:30] or "other"


def _top_level(category: ir.StringValue) -> ir.StringValue:
    return category.split(" > ")[0].strip()


def _orders(wh: Warehouse, t: ir.TimestampScalar) -> ir.Table | None:
    """Orders before T keyed by canonical customer id: ts, value, is_return, discounted."""
    if not (wh.has_table(T.ORDERS) and wh.has_table(T.IDENTITIES)):
        return None
    o = wh.table(T.ORDERS)
    ids = wh.table(T.IDENTITIES)
    ids = ids.filter(ids[Col.IDENTIFIER_TYPE] == Col.CUSTOMER_ID)
    o = o.filter(o[Col.TS] < t, o[Col.CUSTOMER_ID].notnull())
    # net of returns: a returned order's value is never revenue (segmint.revenue)
    value = order_net_value(o)
    return o.inner_join(ids, o[Col.CUSTOMER_ID] == ids[Col.IDENTIFIER]).select(
        customer_id=ids[Col.CUSTOMER_ID],
        ts=o[Col.TS],
        value=value,
        is_return=_col(o, Col.IS_RETURN, "boolean").fill_null(False),
        discounted=_col(o, Col.DISCOUNT, "float64").fill_null(0) > 0,
    )


def _order_features(o: ir.Table, t: ir.TimestampScalar) -> ir.Table:
    bought = ~o.is_return
    aggs: dict[str, Any] = {
        "frequency": o.count(where=bought),
        "n_returns": o.count(where=o.is_return),
        "monetary": o.value.sum(),
        "placed_value": o.value.sum(where=bought),
        "n_discounted": o.count(where=bought & o.discounted),
        "first_order_at": o.ts.min(where=bought),
        "last_order_at": o.ts.max(where=bought),
        "last_any_order_at": o.ts.max(),
        "first_any_order_at": o.ts.min(),
    }
    for w in WINDOWS:
        recent = o.ts >= t - ibis.interval(days=w)
        aggs[f"orders_{w}d"] = o.count(where=bought & recent)
        aggs[f"revenue_{w}d"] = o.value.sum(where=recent)
    return o.group_by(Col.CUSTOMER_ID).aggregate(**aggs)


def _events(wh: Warehouse, t: ir.TimestampScalar) -> ir.Table | None:
    if not (wh.has_table(T.EVENTS) and wh.has_table(T.IDENTITIES)):
        return None
    e = resolved(wh, T.EVENTS)
    return e.filter(e[Col.CUSTOMER_ID].notnull(), e[Col.TS] < t)


def _event_features(e: ir.Table, t: ir.TimestampScalar) -> ir.Table:
    typ, ts = e[Col.EVENT_TYPE], e[Col.TS]
    aggs: dict[str, Any] = {
        "first_event_at": ts.min(),
        "last_event_at": ts.max(),
    }
    for w in WINDOWS:
        recent = ts >= t - ibis.interval(days=w)
        for stem, (types, _what) in WINDOW_COUNTS.items():
            aggs[f"{stem}_{w}d"] = e.count(where=recent & typ.isin(types))
        aggs[f"sessions_{w}d"] = e[Col.SESSION_ID].nunique(where=recent)
        aggs[f"products_{w}d"] = e[Col.PRODUCT_ID].nunique(where=recent)
        aggs[f"categories_{w}d"] = e[Col.CATEGORY].nunique(where=recent)
    recent = ts >= t - ibis.interval(days=BEHAVIOUR_DAYS)
    aggs["_n_recent"] = e.count(where=recent)
    hour = ts.hour()
    for name, lo, hi in DAYPARTS:
        aggs[f"_n_{name}"] = e.count(where=recent & (hour >= lo) & (hour < hi))
    aggs["_n_weekend"] = e.count(where=recent & (ts.day_of_week.index() >= 5))
    for d in DEVICES:
        aggs[f"_n_{d}"] = e.count(where=recent & (e[Col.DEVICE] == d))
    for c in CHANNELS:
        aggs[f"_n_{c}"] = e.count(where=recent & (e[Col.CHANNEL] == c))
    aggs["_n_views_recent"] = e.count(where=recent & (typ == "product_view"))
    aggs["_n_purchases_recent"] = e.count(where=recent & (typ == "purchase"))
    out = e.group_by(Col.CUSTOMER_ID).aggregate(**aggs)
    n = out._n_recent.nullif(0).cast("float64")
    shares: dict[str, Any] = {f"share_{p}": out[f"_n_{p}"] / n for p, _lo, _hi in DAYPARTS}
    shares["share_weekend"] = out._n_weekend / n
    shares.update({f"share_{d}": out[f"_n_{d}"] / n for d in DEVICES})
    shares.update({f"share_{c}": out[f"_n_{c}"] / n for c in CHANNELS})
    shares["browse_to_buy"] = out._n_purchases_recent / out._n_views_recent.nullif(0).cast(
        "float64"
    )
    out = out.mutate(**shares)
    return out.drop(*[c for c in out.columns if c.startswith("_n_")])


def _session_features(e: ir.Table, t: ir.TimestampScalar) -> ir.Table:
    recent = e.filter(
        e[Col.TS] >= t - ibis.interval(days=BEHAVIOUR_DAYS), e[Col.SESSION_ID].notnull()
    )
    typ = recent[Col.EVENT_TYPE]
    s = recent.group_by([Col.CUSTOMER_ID, Col.SESSION_ID]).aggregate(
        start=recent[Col.TS].min(),
        end=recent[Col.TS].max(),
        has_cart=typ.isin(["add_to_cart", "checkout_start"]).any(),
        has_purchase=(typ == "purchase").any(),
    )
    minutes = (s.end.epoch_seconds() - s.start.epoch_seconds()).cast("float64") / 60.0
    s = s.mutate(minutes=minutes)
    per = s.group_by(Col.CUSTOMER_ID).aggregate(
        avg_session_minutes=s.minutes.mean(),
        _carts=s.count(where=s.has_cart),
        _abandoned=s.count(where=s.has_cart & ~s.has_purchase),
    )
    per = per.mutate(cart_abandonment=per._abandoned / per._carts.nullif(0).cast("float64"))
    return per.drop("_carts", "_abandoned")


def _activity(wh: Warehouse, e: ir.Table | None, t: ir.TimestampScalar) -> ir.Table | None:
    """Category and price of what each customer viewed, carted or bought in the window."""
    since = t - ibis.interval(days=BEHAVIOUR_DAYS)
    parts = []
    if e is not None:
        ev = e.filter(e[Col.TS] >= since)
        parts.append(
            ev.select(
                customer_id=ev[Col.CUSTOMER_ID],
                category=ev[Col.CATEGORY],
                price=ev[Col.PRICE].cast("float64"),
            )
        )
    if wh.has_table(T.ORDER_LINES) and wh.has_table(T.IDENTITIES):
        # fee lines (postage, charges: segmint.fees) say nothing of what a customer likes
        lines = product_lines(resolved(wh, T.ORDER_LINES))
        lines = lines.filter(
            lines[Col.TS] >= since, lines[Col.TS] < t, lines[Col.CUSTOMER_ID].notnull()
        )
        if wh.has_table(T.PRODUCTS):
            p = wh.table(T.PRODUCTS).select(Col.PRODUCT_ID, _pcat=Col.CATEGORY)
            lines = lines.left_join(p, Col.PRODUCT_ID)
            category = ibis.coalesce(lines[Col.CATEGORY], lines._pcat)
        else:
            category = lines[Col.CATEGORY]
        parts.append(
            lines.select(
                customer_id=lines[Col.CUSTOMER_ID],
                category=category,
                price=lines[Col.UNIT_PRICE].cast("float64"),
            )
        )
    if not parts:
        return None
    act = parts[0] if len(parts) == 1 else parts[0].union(parts[1])
    return act.mutate(top=_top_level(act.category))


def _top_categories(wh: Warehouse, act: ir.Table) -> list[str]:
    t = act.filter(act.top.notnull() & (act.top != ""))
    top = t.group_by("top").aggregate(n=t.count()).order_by(ibis.desc("n"), "top")
    return [r["top"] for r in wh.to_arrow(top.limit(TOP_CATEGORIES)).to_pylist()]


def _price_terciles(wh: Warehouse, act: ir.Table) -> tuple[float, float] | None:
    if wh.has_table(T.PRODUCTS):
        p = wh.table(T.PRODUCTS)
        prices = p.filter(p[Col.PRICE] > 0)[Col.PRICE]
    else:
        prices = act.filter(act.price > 0).price
    row = wh.to_arrow(
        prices.as_table().aggregate(lo=prices.quantile(1 / 3), hi=prices.quantile(2 / 3))
    ).to_pylist()
    if not row or row[0]["lo"] is None:
        return None
    return float(row[0]["lo"]), float(row[0]["hi"])


def _affinity_features(
    wh: Warehouse, act: ir.Table, tops: list[str], terciles: tuple[float, float] | None
) -> ir.Table:
    aggs: dict[str, Any] = {"_n": act.count(where=act.top.notnull())}
    for label in tops:
        aggs[f"_c_{_slug(label)}"] = act.count(where=act.top == label)
    aggs["avg_item_price"] = act.price.mean(where=act.price > 0)
    out = act.group_by(Col.CUSTOMER_ID).aggregate(**aggs)
    n = out._n.nullif(0).cast("float64")
    out = out.mutate(
        **{f"cat_{_slug(label)}_share": out[f"_c_{_slug(label)}"] / n for label in tops}
    )
    counts = act.filter(act.top.notnull()).group_by([Col.CUSTOMER_ID, "top"]).agg(k=ibis._.count())
    fav = counts.group_by(Col.CUSTOMER_ID).aggregate(
        favourite_category=counts.top.argmax(counts.k * 1_000_000 - counts.top.length())
    )
    out = out.left_join(fav, Col.CUSTOMER_ID).drop(f"{Col.CUSTOMER_ID}_right")
    if terciles is not None:
        lo, hi = terciles
        band = ibis.cases(
            (out.avg_item_price.isnull(), ibis.null("string")),
            (out.avg_item_price < lo, ibis.literal("budget")),
            (out.avg_item_price < hi, ibis.literal("mid")),
            else_=ibis.literal("premium"),
        )
    else:
        band = ibis.null("string")
    out = out.mutate(price_band=band)
    return out.drop(*[c for c in out.columns if c == "_n" or c.startswith("_c_")])


def feature_table(wh: Warehouse, as_of: datetime) -> tuple[ir.Table, list[FeatureDef]]:
    """The features of every customer seen before ``as_of`` (an expression, nothing written).

    Returns the table (``customer_id``, ``as_of`` and one column per feature) and the
    definitions of its feature columns, in catalogue order.
    """
    if not wh.has_table(T.CUSTOMERS):
        from segmint.errors import NotFoundError

        raise NotFoundError("no customers yet: run `segmint ingest` first")
    t = ibis.timestamp(as_of.replace(tzinfo=None, microsecond=0))
    cust = wh.table(T.CUSTOMERS)
    base = cust.select(
        Col.CUSTOMER_ID,
        *[c for c in _ATTRIBUTES if c in cust.columns],
    )
    parts: list[ir.Table] = []
    orders = _orders(wh, t)
    if orders is not None:
        parts.append(_order_features(orders, t))
    events = _events(wh, t)
    if events is not None:
        parts += [_event_features(events, t), _session_features(events, t)]
    act = _activity(wh, events, t)
    tops: list[str] = []
    if act is not None:
        tops = _top_categories(wh, act)
        parts.append(_affinity_features(wh, act, tops, _price_terciles(wh, act)))
    out = base
    for p in parts:
        out = out.left_join(p, Col.CUSTOMER_ID).drop(f"{Col.CUSTOMER_ID}_right")
    out = _finish(out, t)
    defs = [d for d in CATALOG if d.name in out.columns]
    defs += [category_share_def(_slug(label), label) for label in tops]
    names = [d.name for d in defs]
    return out.select(Col.CUSTOMER_ID, as_of=t, **{n: out[n] for n in names}), defs


def _col(t: ir.Table, name: str, dtype: str) -> ir.Value:
    return t[name] if name in t.columns else ibis.null(dtype)


def _finish(out: ir.Table, t: ir.TimestampScalar) -> ir.Table:
    """Derived RFM, lifecycle and zero-filled counts; customers not seen before T dropped."""
    first_order = _col(out, "first_order_at", "timestamp")
    last_order = _col(out, "last_order_at", "timestamp")
    first_event = _col(out, "first_event_at", "timestamp")
    last_event = _col(out, "last_event_at", "timestamp")
    signup = _col(out, Col.SIGNUP_AT, "timestamp")
    signup = ibis.cases((signup < t, signup), else_=ibis.null("timestamp"))
    first_seen = ibis.least(first_event, _col(out, "first_any_order_at", "timestamp"), signup)
    last_activity = ibis.greatest(last_event, _col(out, "last_any_order_at", "timestamp"))
    freq = _col(out, "frequency", "int64").fill_null(0)
    since_first = _days_before(t, first_seen)
    since_activity = _days_before(t, last_activity)
    derived: dict[str, Any] = {
        "frequency": freq,
        "recency_days": _days_before(t, last_order),
        "monetary": _col(out, "monetary", "float64").fill_null(0.0),
        "avg_order_value": _col(out, "placed_value", "float64") / freq.nullif(0).cast("float64"),
        "tenure_days": _days_before(t, first_order),
        "days_between_orders": ibis.cases(
            (freq > 1, _days_before(last_order, first_order) / (freq - 1).cast("float64")),
            else_=ibis.null("float64"),
        ),
        "return_rate": _col(out, "n_returns", "int64").fill_null(0).cast("float64")
        / freq.nullif(0).cast("float64"),
        "discount_share": _col(out, "n_discounted", "int64").cast("float64")
        / freq.nullif(0).cast("float64"),
        "days_since_first_seen": since_first,
        "days_since_signup": _days_before(t, signup),
        "days_since_last_visit": _days_before(t, last_event),
        "days_since_last_activity": since_activity,
        "is_new": (since_first <= 30).fill_null(False),
        "is_active": (since_activity <= 30).fill_null(False),
        "is_lapsing": ((since_activity > 30) & (since_activity <= 90)).fill_null(False),
        "is_lapsed": (since_activity > 90).fill_null(False),
    }
    for w in WINDOWS:
        for stem in (*WINDOW_COUNTS, "orders", "sessions", "products", "categories"):
            name = f"{stem}_{w}d"
            if name in out.columns:
                derived[name] = out[name].fill_null(0)
        if f"revenue_{w}d" in out.columns:
            derived[f"revenue_{w}d"] = out[f"revenue_{w}d"].fill_null(0.0)
    out = out.mutate(**derived)
    return out.filter(first_seen.notnull())


def compute_features(
    wh: Warehouse, as_of: datetime, custom: Sequence[FeatureConfig] = ()
) -> FeatureRun:
    """Compute the features as of ``as_of`` and store them in ``features``.

    Rows of an earlier computation for the same as-of are replaced; other as-ofs are kept,
    so ``features`` holds the history a model can be trained on. ``custom`` are the
    project's own features (``features:`` in segmint.yaml): rule-language expressions over
    the built-in features, windowed event aggregates and the custom features before them.

    Raises
    ------
    RuleError
        A custom feature's expression names something unknown or mixes types.
    """
    expr, defs = feature_table(wh, as_of)
    as_of = as_of.replace(tzinfo=None, microsecond=0)
    if not custom:  # straight from the query: a temp table would be written, then copied
        _store(wh, expr, as_of)
    else:
        temp = "_features_new"
        wh.write(temp, expr)
        try:
            defs = defs + _add_custom(wh, temp, custom, as_of)
            _store(wh, wh.table(temp), as_of)
        finally:
            wh.drop(temp)
    n = int(wh.table(FEATURES).filter(ibis._.as_of == as_of).count().execute())
    return FeatureRun(as_of, n, defs)


def _store(wh: Warehouse, rows: ir.Table, as_of: datetime) -> None:
    """Replace the rows of ``as_of`` in ``features`` by ``rows``, in one transaction."""
    types = {
        name: _DUCK_TYPES.get(str(dtype).split("(")[0].rstrip("!").lower(), "VARCHAR")
        for name, dtype in rows.schema().items()
    }
    wh.ensure_table(FEATURES, types)
    wh.replace_rows(FEATURES, rows.select(*types), {"as_of": as_of})


def _add_custom(
    wh: Warehouse, temp: str, custom: Sequence[FeatureConfig], as_of: datetime
) -> list[FeatureDef]:
    """Add the project's own features to ``temp``, computed in the engine, in their order."""
    from segmint.schema import EVENT_TYPES
    from segmint.segments.rules import Catalog, Columns, Rule, compile_rule
    from segmint.segments.rules._warehouse import event_stream

    kinds = {n: str(t).rstrip("!").lower() for n, t in wh.table(temp).schema().items()}
    catalog = Catalog(
        {n: _KIND[k] for n, k in kinds.items() if k in _KIND and n != Col.CUSTOMER_ID},
        event_types=EVENT_TYPES,
    )
    rules: list[tuple[FeatureConfig, Rule]] = []
    for f in custom:
        rule = compile_rule(f.expr, catalog, name=f.name, condition=False)
        if rule.segments or rule.models or rule.clusters:
            raise RuleError(
                f"feature '{f.name}': features are computed before segments, scores and "
                "clusters, so in_segment(), score() and cluster() cannot be used in them",
                f.expr,
            )
        rules.append((f, rule))
        catalog = catalog.with_values({f.name: rule.type})
    specs = list({s.key: s for _f, r in rules for s in r.aggregates}.values())
    table = wh.table(temp)
    names = {s.key: f"_agg{i}" for i, s in enumerate(specs)}
    events = event_stream(wh) if specs else None
    if specs and events is not None:
        from segmint.segments.rules import aggregates

        agg = aggregates(events, specs, as_of, names)
        table = table.left_join(agg, Col.CUSTOMER_ID).drop(f"{Col.CUSTOMER_ID}_right")
    elif specs:
        table = table.mutate(**{n: ibis.null("float64") for n in names.values()})
    out: list[FeatureDef] = []
    for f, rule in rules:  # one at a time: a later feature may use an earlier one
        table = table.mutate(**{f.name: rule.to_ibis(table, Columns(aggregates=names))})
        dtype: Any = {"number": "float", "string": "string", "bool": "bool"}.get(rule.type)
        out.append(FeatureDef(f.name, "custom", dtype or "float", f.description or f.expr))
    wh.write(f"{temp}_custom", table.drop(*names.values()))
    wh.swap(f"{temp}_custom", temp)
    return out


_KIND = {
    "int64": "number",
    "int32": "number",
    "float64": "number",
    "float32": "number",
    "string": "string",
    "boolean": "bool",
}


def data_end(wh: Warehouse) -> datetime | None:
    """Midnight after the newest event or order: the natural "now" of a historical dataset."""
    ends = []
    for name in (T.EVENTS, T.ORDERS):
        if wh.has_table(name):
            v = wh.table(name)[Col.TS].max().execute()
            if v is not None and str(v) != "NaT":
                ends.append(v.to_pydatetime() if hasattr(v, "to_pydatetime") else v)
    if not ends:
        return None
    last = max(ends)
    return datetime(last.year, last.month, last.day) + timedelta(days=1)


def latest_features(wh: Warehouse, as_of: datetime | None = None) -> ir.Table:
    """The stored features of one as-of (default: the latest), one row per customer."""
    f = wh.table(FEATURES)
    if as_of is None:
        return f.filter(f.as_of == f.as_of.max())
    return f.filter(f.as_of == ibis.timestamp(as_of.replace(tzinfo=None, microsecond=0)))
