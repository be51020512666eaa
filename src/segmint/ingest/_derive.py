"""Unified ``orders`` and ``products`` tables, rebuilt after every ingest inside the engine.

``orders`` holds every order a source listed (``order_records``) and every order only seen in
order lines, with totals computed from the lines. ``products`` holds the catalogue
(``product_records``) plus every product only seen in order lines, titled by its most
frequent line title; a product id seen only on fee lines (postage, a bank charge:
``segmint.fees``) is no product. Order lines without a timestamp or customer take them from
their order.

An order's ``total`` is what its lines add up to, fee lines included (the invoice); its
``revenue`` leaves out the fee lines of sources whose ``fees.revenue`` is ``exclude``.
"""

from __future__ import annotations

from collections.abc import Collection

import ibis
import ibis.expr.types as ir

from segmint.fees import fee_only_products, is_fee, product_lines
from segmint.revenue import (
    is_return_status,
    net_value,
    returned_value,
    returns_net,
    returns_taken,
)
from segmint.schema import Col, T
from segmint.sql import ident
from segmint.warehouse import IbisWarehouse


def derive_tables(wh: IbisWarehouse, *, fees_excluded: Collection[str] = ()) -> dict[str, int]:
    """Rebuild ``orders`` and ``products``; return their row counts.

    ``fees_excluded``: the sources whose fee lines earn no revenue (``fees.revenue: exclude``).
    """
    counts: dict[str, int] = {}
    if wh.has_table(T.ORDER_LINES) and wh.has_table(T.ORDER_RECORDS):
        _fill_lines_from_orders(wh)
    orders = _orders(wh, fees_excluded)
    if orders is not None:
        wh.write(T.ORDERS, orders)
        counts[T.ORDERS] = wh.count(T.ORDERS)
    products = _products(wh)
    if products is not None:
        wh.write(T.PRODUCTS, products)
        counts[T.PRODUCTS] = wh.count(T.PRODUCTS)
    return counts


def _fill_lines_from_orders(wh: IbisWarehouse) -> None:
    lines, rec = ident(T.ORDER_LINES), ident(T.ORDER_RECORDS)
    for col in (Col.TS, Col.CUSTOMER_ID, Col.COUNTRY):
        c = ident(col)
        wh.execute(
            f"UPDATE {lines} SET {c} = o.{c} FROM {rec} o "
            f"WHERE {lines}.{ident(Col.ORDER_ID)} = o.{ident(Col.ORDER_ID)} "
            f"AND {lines}.{c} IS NULL AND o.{c} IS NOT NULL"
        )


def _line_totals(lines: ir.Table, fees_excluded: Collection[str]) -> ir.Table:
    amount = lines[Col.QUANTITY] * lines[Col.UNIT_PRICE].fill_null(0) - lines[
        Col.DISCOUNT
    ].fill_null(0)
    amount = amount.cast("float64")
    gross = amount
    if fees_excluded and Col.SOURCE in lines.columns:
        # a fee line of a source that excludes fees from revenue earns nothing
        left_out = is_fee(lines) & lines[Col.SOURCE].isin(list(fees_excluded))
        amount = ibis.cases((left_out, ibis.literal(0.0)), else_=amount)
    is_return = lines[Col.IS_RETURN].fill_null(False)
    pos, neg = amount > 0, amount < 0
    zero = ibis.literal(0.0)
    return lines.group_by(Col.ORDER_ID).aggregate(
        n_lines=lines.count(),
        n_items=lines[Col.QUANTITY].sum(),
        gross=gross.sum(),
        # the sums net revenue is built from, whether only the return lines are returns or
        # the whole order is (its status says cancelled or returned): segmint.revenue
        kept=amount.sum(where=~is_return).fill_null(zero),
        ret_pos=amount.sum(where=is_return & pos).fill_null(zero),
        ret_neg=amount.sum(where=is_return & neg).fill_null(zero),
        all_pos=amount.sum(where=pos).fill_null(zero),
        all_neg=amount.sum(where=neg).fill_null(zero),
        all_returns=lines[Col.IS_RETURN].all(),
        line_ts=lines[Col.TS].min(),
        line_customer=lines[Col.CUSTOMER_ID].max(),
        line_status=lines[Col.STATUS].max(),
        line_country=lines[Col.COUNTRY].mode(),
        line_discount=lines[Col.DISCOUNT].sum(),
    )


def _orders(wh: IbisWarehouse, fees_excluded: Collection[str] = ()) -> ir.Table | None:
    has_lines, has_rec = wh.has_table(T.ORDER_LINES), wh.has_table(T.ORDER_RECORDS)
    if not (has_lines or has_rec):
        return None
    cols = [
        Col.ORDER_ID,
        Col.CUSTOMER_ID,
        Col.TS,
        Col.STATUS,
        Col.TOTAL,
        Col.CURRENCY,
        Col.DISCOUNT,
        Col.CHANNEL,
        Col.COUNTRY,
    ]
    if not has_lines:
        # orders without lines: the stated total is the value; a cancelled or returned order
        # earns nothing, so net revenue stays comparable with orders built from lines
        rec = wh.table(T.ORDER_RECORDS)
        is_return = is_return_status(rec[Col.STATUS])
        return rec.select(
            *cols,
            origin=ibis.literal("source"),
            n_lines=ibis.null("int64"),
            n_items=ibis.null("int64"),
            revenue=net_value(rec[Col.TOTAL], is_return),
            returned_value=returned_value(rec[Col.TOTAL], is_return),
            is_return=is_return,
        )
    totals = _line_totals(wh.table(T.ORDER_LINES), fees_excluded)
    derived_status = ibis.cases(
        (totals.line_status.notnull(), totals.line_status),
        (totals.all_returns, ibis.literal("returned")),
        else_=ibis.literal("placed"),
    )
    from_lines = totals.select(
        order_id=totals.order_id,
        customer_id=totals.line_customer,
        ts=totals.line_ts,
        status=derived_status,
        total=totals.gross,
        currency=ibis.null("string"),
        discount=ibis.null("float64"),
        channel=ibis.null("string"),
        country=totals.line_country,
        origin=ibis.literal("order_lines"),
    )
    if has_rec:
        rec = wh.table(T.ORDER_RECORDS).select(*cols, origin=ibis.literal("source"))
        only_lines = from_lines.anti_join(rec, Col.ORDER_ID)
        base = rec.union(only_lines)
    else:
        base = from_lines
    t = totals.select(
        Col.ORDER_ID,
        "n_lines",
        "n_items",
        "kept",
        "ret_pos",
        "ret_neg",
        "all_pos",
        "all_neg",
        "all_returns",
        "line_discount",
    )
    joined = base.left_join(t, Col.ORDER_ID).drop(f"{Col.ORDER_ID}_right")
    is_return = joined.all_returns.fill_null(False) | is_return_status(joined[Col.STATUS])
    whole = is_return_status(joined[Col.STATUS])
    # a cancelled or returned order earns nothing of its lines; a listed order without
    # lines is worth its stated total
    j = joined
    revenue = ibis.cases(
        (whole, returns_net(j.all_pos, j.all_neg)),
        else_=j.kept + returns_net(j.ret_pos, j.ret_neg),
    )
    returned = ibis.cases(
        (whole, returns_taken(j.all_pos, j.all_neg)),
        else_=returns_taken(j.ret_pos, j.ret_neg),
    )
    return joined.mutate(
        # an order's discount is the header's, else the sum of its lines' discounts
        discount=ibis.coalesce(joined[Col.DISCOUNT], joined.line_discount),
        revenue=ibis.coalesce(revenue, net_value(joined[Col.TOTAL], is_return)),
        returned_value=ibis.coalesce(returned, returned_value(joined[Col.TOTAL], is_return)),
        is_return=is_return,
    ).drop("all_returns", "line_discount", "kept", "ret_pos", "ret_neg", "all_pos", "all_neg")


def _products(wh: IbisWarehouse) -> ir.Table | None:
    has_lines, has_rec = wh.has_table(T.ORDER_LINES), wh.has_table(T.PRODUCT_RECORDS)
    if not (has_lines or has_rec):
        return None
    cols = [
        Col.PRODUCT_ID,
        Col.TITLE,
        Col.DESCRIPTION,
        Col.CATEGORY,
        Col.BRAND,
        Col.PRICE,
        Col.IN_STOCK,
    ]
    rec = wh.table(T.PRODUCT_RECORDS).select(*cols) if has_rec else None
    if not has_lines:
        assert rec is not None
        return rec.mutate(origin=ibis.literal("source"))
    all_lines = wh.table(T.ORDER_LINES)
    # an id seen only on fee lines is no product, even if the catalogue lists it (a shop's
    # "SHIPPING" item); an id with product lines too keeps what those lines say
    fee_only = fee_only_products(all_lines)
    lines = product_lines(all_lines)
    stats = lines.group_by(Col.PRODUCT_ID).aggregate(
        line_title=lines[Col.TITLE].mode(),
        line_category=lines[Col.CATEGORY].mode(),
        line_price=lines[Col.UNIT_PRICE].median(where=~lines[Col.IS_RETURN]),
        units_sold=lines[Col.QUANTITY].sum(where=~lines[Col.IS_RETURN]),
        n_orders=lines[Col.ORDER_ID].nunique(),
    )
    from_lines = stats.select(
        product_id=stats.product_id,
        title=stats.line_title,
        description=ibis.null("string"),
        category=stats.line_category,
        brand=ibis.null("string"),
        price=stats.line_price,
        in_stock=ibis.null("boolean"),
        origin=ibis.literal("order_lines"),
    )
    if rec is not None:
        base = rec.mutate(origin=ibis.literal("source")).union(
            from_lines.anti_join(rec, Col.PRODUCT_ID)
        )
        base = base.anti_join(fee_only, Col.PRODUCT_ID)
    else:
        base = from_lines
    sales = stats.select(Col.PRODUCT_ID, "units_sold", "n_orders")
    return base.left_join(sales, Col.PRODUCT_ID).drop(f"{Col.PRODUCT_ID}_right")
