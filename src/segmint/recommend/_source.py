"""Reading what recommendations learn from out of the warehouse.

:func:`interactions_from_warehouse` turns events with a product and order lines into weighted
:class:`~segmint.recommend._interactions.Interactions`: one row per event or line, attributed
to the person's canonical id (browsing before login counts toward the customer), weighted by
``recommend.interactions`` and decayed with age. The filtering, union and decay run inside the
warehouse as one Ibis expression (DuckDB and PostgreSQL alike); only the final columns come
out, as Arrow.

The other readers give the side information the models and business rules need: the
catalogue (:func:`catalogue_from_warehouse`), each customer's current segment
(:func:`customer_segments`) and the unit price they usually pay
(:func:`customer_price_levels`).

Fee lines (postage, bank charges, adjustments: a source's ``fees:``, :mod:`segmint.fees`)
are not products: no reader returns them, so no model learns them, recommends them or gives
them as a reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import ibis
import ibis.expr.types as ir
import pandas as pd

from segmint.config import InteractionsConfig
from segmint.errors import ConfigError, SchemaError
from segmint.features import data_end
from segmint.fees import fee_only_products, product_lines
from segmint.identity import resolved
from segmint.recommend._interactions import CONTEXT_COLUMNS, ITEM, TS, USER, WEIGHT, Interactions
from segmint.schema import RETURN_STATUSES, Col, T
from segmint.segments.membership import MEMBERSHIP
from segmint.warehouse import IbisWarehouse

#: columns of :func:`catalogue_from_warehouse`, in order
CATALOGUE_COLUMNS = (
    Col.PRODUCT_ID,
    Col.TITLE,
    Col.DESCRIPTION,
    Col.CATEGORY,
    Col.BRAND,
    Col.PRICE,
    Col.IN_STOCK,
)
#: the kinds of segment :func:`customer_segments` can read (as ``segment_membership`` keeps them)
SEGMENT_KINDS = ("rfm", "cluster", "rule", "predictive")
#: the event type order lines carry in the ``event_type`` context column
ORDER_EVENT = "purchase"
SEGMENT = "segment"
PRICE_LEVEL = "price_level"

_DAY = 86_400.0
_COLUMNS = (USER, ITEM, WEIGHT, TS, *CONTEXT_COLUMNS)


def interactions_from_warehouse(
    wh: IbisWarehouse,
    cfg: InteractionsConfig | None = None,
    *,
    as_of: datetime | None = None,
) -> Interactions:
    """The weighted interactions before ``as_of``, read from events and order lines.

    Parameters
    ----------
    wh : the warehouse, with ``events`` and/or ``order_lines`` (and ``identities`` once
        ingested, to attribute rows to canonical customers).
    cfg : the project's ``recommend.interactions`` (default: its defaults).
    as_of : only rows with ``ts < as_of`` are read, and ages for the decay are counted back
        from it. Default: the data end (midnight after the newest row), i.e. everything.

    Returns
    -------
    Interactions
        One row per event (weight ``cfg.weights[event_type]``) and per order line that is not a fee
        line (``cfg.order_weight``; ``-cfg.order_weight`` for a return line, ``0`` for a line bought
        and then marked returned, when ``returns`` is ``"subtract"``), decayed by ``0.5 ** (age_days
        / half_life_days)``. Columns ``customer_id``, ``product_id``, ``weight``, ``ts`` (UTC) and
        the context columns ``device`` (null for order lines), ``country``, ``event_type``
        (``purchase`` for order lines) and ``category`` (the row's, else the catalogue's); ordered
        by time. ``repeat`` is ``cfg.repeat``.

    Raises
    ------
    SchemaError
        Neither table exists, or one lacks a column it needs.

    Examples
    --------
    >>> from segmint.warehouse import connect
    >>> wh = connect("duckdb://:memory:")
    >>> _ = wh.execute(
    ...     "CREATE TABLE order_lines AS SELECT 'o1' AS order_id, 'p1' AS product_id, "
    ...     "2 AS quantity, 'c1' AS customer_id, TIMESTAMP '2024-01-01' AS ts"
    ... )
    >>> inter = interactions_from_warehouse(wh, InteractionsConfig(half_life_days=None))
    >>> inter.frame[["customer_id", "product_id", "weight", "event_type"]].to_dict("records")
    [{'customer_id': 'c1', 'product_id': 'p1', 'weight': 5.0, 'event_type': 'purchase'}]
    """
    cfg = cfg or InteractionsConfig()
    if not (wh.has_table(T.EVENTS) or wh.has_table(T.ORDER_LINES)):
        raise SchemaError(
            f"warehouse {wh.url} has neither an {T.EVENTS!r} nor an {T.ORDER_LINES!r} table: "
            "ingest events or orders before recommending"
        )
    end = _naive(as_of) if as_of is not None else _default_end(wh)
    if end is None:  # tables without a single timestamp: nothing happened yet
        return Interactions(_empty(), repeat=cfg.repeat)
    t = ibis.timestamp(end)
    start = (
        None if cfg.window_days is None else ibis.timestamp(end - timedelta(days=cfg.window_days))
    )
    parts = [
        p for p in (_event_rows(wh, cfg, t, start), _line_rows(wh, cfg, t, start)) if p is not None
    ]
    if not parts:
        return Interactions(_empty(), repeat=cfg.repeat)
    rows = parts[0] if len(parts) == 1 else parts[0].union(parts[1], distinct=False)
    rows = _with_catalogue_category(wh, rows)
    if cfg.half_life_days is not None:
        age = (t.epoch_seconds() - rows[TS].epoch_seconds()).cast("float64") / _DAY
        decay = (age * (-math.log(2) / cfg.half_life_days)).exp()
        rows = rows.mutate(**{WEIGHT: rows[WEIGHT] * decay})
    rows = rows.select(*_COLUMNS).order_by([TS, USER, ITEM, Col.EVENT_TYPE, WEIGHT])
    # self_destruct: each Arrow column is freed as soon as it is converted
    frame = wh.to_arrow(rows).to_pandas(split_blocks=True, self_destruct=True)
    ts = pd.to_datetime(frame[TS])
    frame[TS] = ts.dt.tz_localize(UTC) if ts.dt.tz is None else ts.dt.tz_convert(UTC)
    return Interactions(frame, repeat=cfg.repeat)


def _event_rows(
    wh: IbisWarehouse, cfg: InteractionsConfig, t: ir.Value, start: ir.Value | None
) -> ir.Table | None:
    """Events of a weighted type with a product, before ``t`` (and from ``start``)."""
    if not (cfg.weights and wh.has_table(T.EVENTS)):
        return None
    e = _attributed(wh, T.EVENTS, (Col.EVENT_TYPE, Col.TS, Col.PRODUCT_ID))
    keep = [
        e[USER].notnull(),
        e[Col.PRODUCT_ID].notnull(),
        e[Col.EVENT_TYPE].isin(list(cfg.weights)),
        e[Col.TS] < t,
    ]
    if start is not None:
        keep.append(e[Col.TS] >= start)
    e = e.filter(*keep)
    weight = ibis.cases(*[(e[Col.EVENT_TYPE] == k, _number(v)) for k, v in cfg.weights.items()])
    return e.select(
        **_keys(e),
        weight=weight.cast("float64"),
        ts=e[Col.TS],
        device=_text(e, Col.DEVICE),
        country=_text(e, Col.COUNTRY),
        event_type=e[Col.EVENT_TYPE].cast("string"),
        category=_text(e, Col.CATEGORY),
    )


def _line_rows(
    wh: IbisWarehouse, cfg: InteractionsConfig, t: ir.Value, start: ir.Value | None
) -> ir.Table | None:
    """Order lines before ``t``: bought ones earn credit, returns take it away (or are left
    out, by ``cfg.returns``)."""
    if not wh.has_table(T.ORDER_LINES):
        return None
    lines, bought, returned = _marked_lines(wh)
    keep = [lines[USER].notnull(), lines[Col.PRODUCT_ID].notnull(), lines[Col.TS] < t]
    if start is not None:
        keep.append(lines[Col.TS] >= start)
    w, zero = _number(cfg.order_weight), _number(0.0)
    if cfg.returns == "subtract":
        credit = ibis.cases((bought, w), else_=zero) - ibis.cases((returned, w), else_=zero)
    else:
        keep.append(bought)
        credit = w
    lines = lines.mutate(_credit=credit).filter(*keep)
    return lines.select(
        **_keys(lines),
        weight=lines["_credit"].cast("float64"),
        ts=lines[Col.TS],
        device=ibis.null("string"),
        country=_text(lines, Col.COUNTRY),
        event_type=ibis.literal(ORDER_EVENT, "string"),
        category=_text(lines, Col.CATEGORY),
    )


def _marked_lines(wh: IbisWarehouse) -> tuple[ir.Table, ir.BooleanValue, ir.BooleanValue]:
    """The attributed order lines, whether each was bought and whether it was returned.

    A line of negative quantity is a return record of its own (Online Retail's C invoices,
    or the generator's negative copies of a returned order's lines): not bought, returned.
    Otherwise a line whose status, or whose order's status, says returned or cancelled is a
    purchase that was taken back: bought and returned, netting to nothing. An order that
    lists its returns as negative lines already says what came back, so its status does not
    mark its other lines too (that would take the credit away twice).
    """
    # fee lines first: a negative postage or discount line says nothing of what came back
    lines, header_status = _with_order_status(
        wh, product_lines(_attributed(wh, T.ORDER_LINES, (Col.PRODUCT_ID, Col.TS)))
    )
    qty = (
        lines[Col.QUANTITY].cast("float64").fill_null(1.0)
        if Col.QUANTITY in lines.columns
        else _number(1.0)
    )
    marks = []
    if header_status is not None:
        marks.append(header_status.isin(list(RETURN_STATUSES)).fill_null(False))
    if Col.STATUS in lines.columns:
        marks.append(lines[Col.STATUS].isin(list(RETURN_STATUSES)).fill_null(False))
    if Col.IS_RETURN in lines.columns:  # also an order-id prefix (Online Retail's C)
        marks.append(lines[Col.IS_RETURN].fill_null(False))
    bought = qty >= 0
    if not marks:
        return lines, bought, ~bought
    marked = ibis.or_(*marks)
    if Col.ORDER_ID in lines.columns:
        # over all of the order's lines, before any time filter: a return stamped after
        # the as-of must not turn the purchase into a returned one
        negative = ibis.cases((qty < 0, 1), else_=0)
        any_negative = negative.max().over(group_by=lines[Col.ORDER_ID])
        marked = marked & (any_negative.fill_null(0) == 0)
    return lines, bought, ~bought | marked


def _with_order_status(wh: IbisWarehouse, lines: ir.Table) -> tuple[ir.Table, ir.Value | None]:
    """``lines`` with their order's status, when an ``orders`` table states one: a cancelled
    order's lines rarely carry the status themselves."""
    if not wh.has_table(T.ORDERS) or Col.ORDER_ID not in lines.columns:
        return lines, None
    orders = wh.table(T.ORDERS)
    if Col.STATUS not in orders.columns or Col.ORDER_ID not in orders.columns:
        return lines, None
    # one status per order, so the join cannot multiply lines
    o = orders.group_by(Col.ORDER_ID).aggregate(_order_status=orders[Col.STATUS].max())
    o = o.rename(_order_id=Col.ORDER_ID)
    joined = lines.left_join(o, lines[Col.ORDER_ID] == o["_order_id"]).drop("_order_id")
    return joined, joined["_order_status"]


def _with_catalogue_category(wh: IbisWarehouse, rows: ir.Table) -> ir.Table:
    """The row's category, else the catalogue's for its product."""
    if not wh.has_table(T.PRODUCTS):
        return rows
    p = wh.table(T.PRODUCTS)
    if Col.CATEGORY not in p.columns or Col.PRODUCT_ID not in p.columns:
        return rows
    cats = p.group_by(Col.PRODUCT_ID).aggregate(_cat=p[Col.CATEGORY].cast("string").max())
    cats = cats.rename(_pid=Col.PRODUCT_ID)
    j = rows.left_join(cats, rows[ITEM] == cats["_pid"])
    return j.mutate(category=ibis.coalesce(j[Col.CATEGORY], j["_cat"])).drop("_pid", "_cat")


def catalogue_from_warehouse(wh: IbisWarehouse) -> pd.DataFrame:
    """The ``products`` table: one row per product, columns :data:`CATALOGUE_COLUMNS`.

    Columns the table lacks are filled with None; without a ``products`` table the frame is
    empty (with those columns). Rows are ordered by ``product_id``. An id seen only on fee
    lines is left out (ingest leaves it out of ``products`` too; this also covers a table
    written otherwise).

    Examples
    --------
    >>> from segmint.warehouse import connect
    >>> catalogue_from_warehouse(connect("duckdb://:memory:")).columns.tolist()
    ['product_id', 'title', 'description', 'category', 'brand', 'price', 'in_stock']
    """
    if not wh.has_table(T.PRODUCTS):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CATALOGUE_COLUMNS})
    p = wh.table(T.PRODUCTS)
    _require(p, T.PRODUCTS, (Col.PRODUCT_ID,))
    have = [c for c in CATALOGUE_COLUMNS if c in p.columns]
    p = p.filter(p[Col.PRODUCT_ID].notnull())
    if wh.has_table(T.ORDER_LINES) and Col.IS_FEE in wh.table(T.ORDER_LINES).columns:
        p = p.anti_join(fee_only_products(wh.table(T.ORDER_LINES)), Col.PRODUCT_ID)
    frame = wh.to_arrow(p.select(*have).order_by(Col.PRODUCT_ID)).to_pandas()
    frame[Col.PRODUCT_ID] = frame[Col.PRODUCT_ID].astype(str)
    for c in CATALOGUE_COLUMNS:
        if c not in frame.columns:
            frame[c] = None
    return frame[list(CATALOGUE_COLUMNS)]


def customer_segments(
    wh: IbisWarehouse, kind: str = "rfm", *, as_of: datetime | None = None
) -> pd.Series:
    """Each customer's segment of ``kind``: customer_id -> segment name.

    The memberships open now (default) or as of ``as_of`` in ``segment_membership``; a
    customer in several segments of the kind (rule segments overlap) gets the one with the
    highest score, then the first by name. Empty when nothing was segmented yet.

    Raises
    ------
    ConfigError
        ``kind`` is not one of :data:`SEGMENT_KINDS`.
    """
    if kind not in SEGMENT_KINDS:
        raise ConfigError(
            f"segment kind {kind!r} is unknown; segments are of kinds {', '.join(SEGMENT_KINDS)}"
        )
    empty = pd.Series(dtype=object, name=SEGMENT, index=pd.Index([], dtype=object, name=USER))
    if not wh.has_table(MEMBERSHIP):
        return empty
    m = wh.table(MEMBERSHIP)
    _require(m, MEMBERSHIP, (USER, "segment", "kind", "entered_at", "exited_at"))
    m = m.filter(m.kind == kind, m[USER].notnull())
    if as_of is None:
        m = m.filter(m.exited_at.isnull())
    else:
        t = ibis.timestamp(_naive(as_of))
        m = m.filter(m.entered_at <= t, m.exited_at.isnull() | (m.exited_at > t))
    score = m.score.cast("float64") if "score" in m.columns else ibis.null("float64")
    m = m.select(USER, "segment", _score=score)
    best = ibis.row_number().over(
        group_by=m[USER], order_by=[ibis.desc(m["_score"], nulls_first=False), m.segment]
    )
    top = m.mutate(_n=best).filter(lambda r: r["_n"] == 0).select(USER, "segment")
    frame = wh.to_arrow(top.order_by(USER)).to_pandas()
    if frame.empty:
        return empty
    return pd.Series(
        frame["segment"].astype(str).to_numpy(),
        index=pd.Index(frame[USER].astype(str), name=USER),
        name=SEGMENT,
    )


def customer_price_levels(wh: IbisWarehouse, *, as_of: datetime | None = None) -> pd.Series:
    """The median unit price each customer paid: customer_id -> price (float).

    Bought order lines with a unit price before ``as_of`` (default: all); returns and
    cancelled lines (or lines of a cancelled order) and fee lines (postage) do not count.
    Empty without an ``order_lines`` table.
    """
    empty = pd.Series(
        dtype="float64", name=PRICE_LEVEL, index=pd.Index([], dtype=object, name=USER)
    )
    if not wh.has_table(T.ORDER_LINES):
        return empty
    lines, bought, returned = _marked_lines(wh)
    _require(lines, T.ORDER_LINES, (Col.UNIT_PRICE,))
    lines = lines.mutate(_paid=bought & ~returned)  # a window: computed before any filter
    keep = [lines[USER].notnull(), lines[Col.UNIT_PRICE].notnull(), lines["_paid"]]
    if as_of is not None:
        keep.append(lines[Col.TS] < ibis.timestamp(_naive(as_of)))
    lines = lines.filter(*keep)
    levels = lines.group_by(USER).aggregate(
        price_level=lines[Col.UNIT_PRICE].cast("float64").median()
    )
    frame = wh.to_arrow(levels.order_by(USER)).to_pandas()
    if frame.empty:
        return empty
    return pd.Series(
        frame[PRICE_LEVEL].astype("float64").to_numpy(),
        index=pd.Index(frame[USER].astype(str), name=USER),
        name=PRICE_LEVEL,
    )


# helpers ----------------------------------------------------------------------------------


def _attributed(wh: IbisWarehouse, table: str, needs: Iterable[str]) -> ir.Table:
    """``table`` with ``customer_id`` the person's canonical id (see
    :func:`segmint.identity.resolved`); before any identity resolution, the id as given."""
    t = resolved(wh, table) if wh.has_table(T.IDENTITIES) else wh.table(table)
    _require(t, table, (USER, *needs))
    return t


def _require(t: ir.Table, table: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in t.columns]
    if missing:
        raise SchemaError(
            f"table {table!r} has no column(s) {', '.join(repr(c) for c in missing)}, needed "
            f"for recommendations; its columns are: {', '.join(t.columns)}"
        )


def _keys(t: ir.Table) -> dict[str, ir.Value]:
    return {USER: t[USER].cast("string"), ITEM: t[Col.PRODUCT_ID].cast("string")}


def _text(t: ir.Table, col: str) -> ir.Value:
    return t[col].cast("string") if col in t.columns else ibis.null("string")


def _number(value: float) -> ir.FloatingValue:
    """A float literal typed in the SQL too: PostgreSQL reads a bare ``5.0`` as NUMERIC,
    which Ibis believes is already float64 and so does not cast."""
    return ibis.literal(repr(float(value))).cast("float64")


def _naive(value: datetime) -> datetime:
    """A UTC wall-clock time, as the warehouse stores them."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _default_end(wh: IbisWarehouse) -> datetime | None:
    """The data end of :func:`segmint.features.data_end`, pushed past the newest order line
    (an order's lines may be stamped later than the order)."""
    end = data_end(wh)
    if wh.has_table(T.ORDER_LINES) and Col.TS in wh.table(T.ORDER_LINES).columns:
        v = wh.table(T.ORDER_LINES)[Col.TS].max().execute()
        if v is not None and str(v) != "NaT":
            last = v.to_pydatetime() if hasattr(v, "to_pydatetime") else v
            if end is None or last >= end:
                end = datetime(last.year, last.month, last.day) + timedelta(days=1)
    return end


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in _COLUMNS})
    frame[WEIGHT] = frame[WEIGHT].astype("float64")
    frame[TS] = pd.to_datetime(frame[TS], utc=True)
    return frame
