"""Orders and order lines, one order per session that ends in purchases.

An order's lines are its purchase events (same product, quantity and unit price). A
returned order lists its lines a second time with negative quantities; returned orders
carry no discounts, so the return lines cancel the originals exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from segmint.generate import _model as m
from segmint.generate._arrays import dec_ids, strings, take, timestamps
from segmint.generate._catalogue import Catalogue
from segmint.generate._events import Purchases
from segmint.generate._people import Visitors
from segmint.generate._sessions import Plan
from segmint.generate._vocab import CHANNELS, COUNTRIES

ORDER_COLUMNS = ("order_id", "customer_id", "ts", "status", "total", "channel", "country")
LINE_COLUMNS = ("order_id", "line_no", "product_id", "quantity", "unit_price", "discount")
PLACED, SHIPPED, DELIVERED, CANCELLED, RETURNED = range(5)
_DISCOUNTS = np.array([0.10, 0.15, 0.20, 0.25, 0.30])


@dataclass(frozen=True)
class Orders:
    """A chunk's orders (in time order) and their lines (grouped by order)."""

    orders: pa.Table
    lines: pa.Table
    line_order: np.ndarray  # position of each line's order in ``orders``
    line_no: np.ndarray
    quantity: np.ndarray


def _status(rng: np.random.Generator, ts: np.ndarray, w: m.Window) -> np.ndarray:
    age = w.end - ts
    status = np.where(age < 2 * m.DAY, PLACED, np.where(age < 5 * m.DAY, SHIPPED, DELIVERED))
    u = rng.random(len(ts))
    status[u < m.P_CANCELLED] = CANCELLED
    returned = (u >= m.P_CANCELLED) & (u < m.P_CANCELLED + m.P_RETURNED) & (age >= 3 * m.DAY)
    status[returned] = RETURNED
    return status


def _lines(
    order: np.ndarray, n_lines: np.ndarray, returned: np.ndarray, cols: dict[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Add a negative copy of every line of a returned order; sort lines by order, line_no."""
    first = np.cumsum(n_lines) - n_lines
    line_no = np.arange(len(order)) - first[order] + 1
    back = np.flatnonzero(returned[order])
    every = np.concatenate([np.arange(len(order)), back])
    out = {name: values[every] for name, values in cols.items()}
    out["quantity"][len(order) :] *= -1
    out["discount"][len(order) :] = 0.0
    out["line_no"] = np.concatenate([line_no, line_no[back] + n_lines[order[back]]])
    lines_order = order[every]
    sort = np.lexsort((out["line_no"], lines_order))
    return lines_order[sort], {name: values[sort] for name, values in out.items()}


def build_orders(
    rng: np.random.Generator,
    bought: Purchases,
    plan: Plan,
    vis: Visitors,
    cat: Catalogue,
    w: m.Window,
    customer_id: pa.Array,
    order_offset: int,
) -> Orders:
    """Orders for the chunk's purchase sessions, numbered from ``order_offset + 1``."""
    sess, first, n_lines = np.unique(bought.session, return_index=True, return_counts=True)
    by_time = np.argsort(bought.ts[first], kind="stable")
    position = np.empty(len(sess), dtype=np.int64)
    position[by_time] = np.arange(len(sess))  # an order's row in orders.csv
    order = np.repeat(position, n_lines)  # purchases are grouped by session
    ts = bought.ts[first][by_time]
    sess = sess[by_time]
    n_lines = n_lines[by_time]
    status = _status(rng, ts, w)
    price = cat.price[bought.product]
    persona = vis.persona[plan.visitor[sess]][order]
    discounted = (rng.random(len(order)) < np.asarray(m.DISCOUNT_BY_PERSONA)[persona]) & (
        status[order] != RETURNED
    )
    pct = _DISCOUNTS[rng.integers(0, len(_DISCOUNTS), len(order))]
    discount = np.where(discounted, np.round(bought.quantity * price * pct, 2), 0.0)
    total = np.round(np.bincount(order, bought.quantity * price - discount, len(sess)), 2)
    order_id = dec_ids("ORD-", order_offset + np.arange(len(sess)) + 1, 8)
    orders = pa.table(
        {
            "order_id": order_id,
            "customer_id": take(customer_id, plan.record[sess]),
            "ts": timestamps(ts),
            "status": take(strings(m.ORDER_STATUSES), status),
            "total": pa.array(total),
            "channel": take(strings(CHANNELS), plan.channel[sess]),
            "country": take(strings([c.code for c in COUNTRIES]), vis.country[plan.visitor[sess]]),
        }
    )
    cols = {
        "product": bought.product,
        "quantity": bought.quantity,
        "price": price,
        "discount": discount,
    }
    # ``order`` counts lines in session order; re-group them by the order's position
    regroup = np.argsort(order, kind="stable")
    cols = {k: v[regroup] for k, v in cols.items()}
    line_order, out = _lines(order[regroup], n_lines, status == RETURNED, cols)
    lines = pa.table(
        {
            "order_id": order_id.take(pa.array(line_order)),
            "line_no": pa.array(out["line_no"]),
            "product_id": take(cat.product_id, out["product"]),
            "quantity": pa.array(out["quantity"]),
            "unit_price": pa.array(out["price"]),
            "discount": pa.array(out["discount"]),
        }
    )
    return Orders(orders, lines, line_order, out["line_no"], out["quantity"])
