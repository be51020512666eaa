"""Net revenue: the one definition of what an order line or an order earns after returns.

A return is any of the forms docs/configuration.md recognises: a line with a negative
quantity, every line of an order whose id starts with ``returns.order_id_prefix`` (ingest
marks these ``cancelled``), and a line or order whose status is in
:data:`~segmint.schema.RETURN_STATUSES`. Ingest flags all of them ``is_return``.

A returned value never counts as revenue: a return with a negative value (Online Retail's
``C`` invoices of negative quantities) is subtracted, and a positive value marked returned or
cancelled (an order bought and then refunded) nets to nothing. Within one order the return
lines are netted together first (:func:`returns_net`), so an order that lists its lines and
then the same lines again negated, under a ``returned`` status, nets to nothing rather than
to minus its value: a return is taken back once, whichever way a shop writes it.
``orders.revenue`` is built with these rules (``segmint.ingest._derive``); profiles,
features, RFM and rules all read it through :func:`order_net_value`, so they agree on every
warehouse backend.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from segmint.schema import RETURN_STATUSES, Col


def is_return_status(status: ir.StringValue) -> ir.BooleanValue:
    """Whether a status (of an order or a line) marks a return or cancellation."""
    return status.isin(list(RETURN_STATUSES)).fill_null(False)


def net_value(value: ir.NumericValue, is_return: ir.BooleanValue) -> ir.FloatingValue:
    """What a line or order worth ``value`` earns: a return keeps only its negative part.

    >>> import ibis
    >>> t = ibis.memtable({"v": [73.2, -10.0, 5.0], "r": [True, True, False]})
    >>> t.select(n=net_value(t.v, t.r)).to_pyarrow()["n"].to_pylist()
    [0.0, -10.0, 5.0]
    """
    v = value.cast("float64")
    return ibis.cases((is_return, ibis.least(v, ibis.literal(0.0))), else_=v)


def returned_value(value: ir.NumericValue, is_return: ir.BooleanValue) -> ir.FloatingValue:
    """The value a return takes back, as a positive amount; 0 for a line or order kept."""
    return ibis.cases((is_return, value.cast("float64").abs()), else_=ibis.literal(0.0))


def returns_net(positive: ir.NumericValue, negative: ir.NumericValue) -> ir.FloatingValue:
    """What an order's return lines together earn: never more than 0.

    ``positive`` and ``negative`` are the sums of the return lines' positive and negative
    values. Refunded lines (positive) earn nothing; reversal lines (negative) subtract, less
    whatever refunded lines they reverse.

    >>> import ibis
    >>> t = ibis.memtable({"p": [73.2, 0.0, 73.2], "n": [-73.2, -10.0, 0.0]})
    >>> t.select(v=returns_net(t.p, t.n)).to_pyarrow()["v"].to_pylist()
    [0.0, -10.0, 0.0]
    """
    total = positive.cast("float64") + negative.cast("float64")
    return ibis.least(total, ibis.literal(0.0))


def returns_taken(positive: ir.NumericValue, negative: ir.NumericValue) -> ir.FloatingValue:
    """The value an order's return lines take back, as a positive amount (counted once)."""
    return ibis.greatest(positive.cast("float64"), -negative.cast("float64"))


def order_net_value(orders: ir.Table) -> ir.FloatingValue:
    """Net value of each row of ``orders``: its ``revenue``, else the net of its ``total``.

    ``revenue`` is already net of returns; the fallback covers an ``orders`` table written
    before it was filled for every order.
    """
    cols = orders.columns
    is_return = (
        orders[Col.IS_RETURN].fill_null(False) if Col.IS_RETURN in cols else ibis.literal(False)
    )
    if Col.STATUS in cols:
        is_return = is_return | is_return_status(orders[Col.STATUS])
    parts = []
    if "revenue" in cols:
        parts.append(orders.revenue.cast("float64"))
    if Col.TOTAL in cols:
        parts.append(net_value(orders[Col.TOTAL], is_return))
    return ibis.coalesce(*parts, ibis.literal(0.0))
