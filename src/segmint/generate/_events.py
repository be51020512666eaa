"""Clickstream events from a session plan, built column by column with numpy and Arrow.

Events are first laid out session by session and block by block (all page views of a
session, then its searches, ...). A sort key per event then puts them in a plausible order
(a product is viewed before it is carted, carted before it is removed or bought, a shopper
logs in just before checking out) and inter-event gaps turn that order into timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from segmint.generate import _model as m
from segmint.generate import _sessions as b
from segmint.generate._arrays import hex_ids, scramble, strings, take, timestamps
from segmint.generate._catalogue import Catalogue
from segmint.generate._people import Visitors, spell
from segmint.generate._vocab import CHANNELS, COUNTRIES, DEVICE_WRITTEN, DEVICES

EVENT_COLUMNS = (
    "event_id",
    "event_type",
    "ts",
    "customer_id",
    "anonymous_id",
    "session_id",
    "product_id",
    "category",
    "price",
    "quantity",
    "query",
    "device",
    "channel",
    "country",
)
EVENT_SALT, SESSION_SALT, COOKIE_SALT = 1, 2, 3


@dataclass(frozen=True)
class Slots:
    """Where each event sits: its session, block and rank within the block."""

    session: np.ndarray
    block: np.ndarray
    rank: np.ndarray
    block_start: np.ndarray  # (sessions, BLOCKS): index of a block's first event

    def source(self, sel: np.ndarray, block: int, skip: np.ndarray | int = 0) -> np.ndarray:
        """For selected events: the event of ``block`` in the same session at the same rank."""
        return self.block_start[self.session[sel], block] + skip + self.rank[sel]


@dataclass(frozen=True)
class Purchases:
    """The purchase events of a chunk (one order line each), grouped by session."""

    session: np.ndarray
    rank: np.ndarray
    product: np.ndarray
    quantity: np.ndarray
    ts: np.ndarray


@dataclass(frozen=True)
class Ids:
    """Where a chunk's ids continue from."""

    event: int
    session: int
    cookie: int


def _layout(counts: np.ndarray) -> Slots:
    flat = counts.ravel()
    s = counts.shape[0]
    block_start = (np.cumsum(flat) - flat).reshape(s, b.BLOCKS)
    return Slots(
        session=np.repeat(np.arange(s), counts.sum(axis=1)),
        block=np.repeat(np.tile(np.arange(b.BLOCKS), s), flat),
        rank=_ranks(flat),
        block_start=block_start,
    )


def _ranks(sizes: np.ndarray) -> np.ndarray:
    starts = np.cumsum(sizes) - sizes
    return np.arange(int(sizes.sum()), dtype=np.int64) - np.repeat(starts, sizes)


def _tops(
    rng: np.random.Generator, vis: Visitors, visitor: np.ndarray, cat: Catalogue
) -> np.ndarray:
    """A top-level category per row: mostly the visitor's favourites, sometimes any."""
    u = rng.random(len(visitor))
    anywhere = np.searchsorted(
        np.cumsum(cat.top_weight) / cat.top_weight.sum(), rng.random(len(visitor))
    )
    fav = np.where(u < 0.6, vis.fav[visitor, 0], vis.fav[visitor, 1])
    return np.where(u < 0.85, fav, np.minimum(anywhere, cat.n_top - 1))


def _products(
    rng: np.random.Generator, lay: Slots, plan: b.Plan, vis: Visitors, cat: Catalogue
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Product, quantity, search phrase and category-page leaf per event (-1: none)."""
    e = len(lay.block)
    persona = vis.persona[plan.visitor]
    focus = cat.leaves(rng, _tops(rng, vis, plan.visitor, cat))
    product, qty = np.full(e, -1), np.full(e, -1)
    views = np.flatnonzero(lay.block == b.VIEW)
    vs = lay.session[views]
    on_focus = rng.random(len(views)) < np.asarray(m.FOCUS)[vis.stage[plan.visitor[vs]]]
    other = cat.leaves(rng, _tops(rng, vis, plan.visitor[vs], cat))
    profile = np.asarray(m.PERSONA_PROFILE)[persona[vs]]
    product[views] = cat.products(rng, np.where(on_focus, focus[vs], other), profile)
    carts = np.flatnonzero(lay.block == b.CART)
    product[carts] = product[lay.source(carts, b.VIEW)]
    extra = np.asarray(m.EXTRA_UNIT_BY_PERSONA)[persona[lay.session[carts]]]
    qty[carts] = 1 + (rng.random(len(carts)) < extra) + (rng.random(len(carts)) < 0.03)
    wish = np.flatnonzero(lay.block == b.WISH)
    ws = lay.session[wish]
    wrap = (plan.counts[ws, b.CART] + lay.rank[wish]) % plan.counts[ws, b.VIEW]
    product[wish] = product[lay.block_start[ws, b.VIEW] + wrap]
    removed = np.flatnonzero(lay.block == b.REMOVE)
    bought = np.flatnonzero(lay.block == b.PURCHASE)
    n_removed = plan.counts[lay.session[bought], b.REMOVE]  # the first carted items go back
    for sel, src in (
        (removed, lay.source(removed, b.CART)),
        (bought, lay.source(bought, b.CART, n_removed)),
    ):
        product[sel], qty[sel] = product[src], qty[src]
    searches = np.flatnonzero(lay.block == b.SEARCH)
    query = np.full(e, -1)
    leaf = np.where(rng.random(len(searches)) < 0.7, focus[lay.session[searches]], -1)
    leaf[leaf < 0] = cat.leaves(
        rng, _tops(rng, vis, plan.visitor[lay.session[searches]][leaf < 0], cat)
    )
    query[searches] = cat.query_lo[leaf] + rng.integers(0, 8, len(searches))
    page = ((lay.block == b.LANDING) | (lay.block == b.PAGE)) & (rng.random(e) < 0.5)
    page_leaf = np.where(page, focus[lay.session], -1)
    return product, qty, query, page_leaf


def _keys(rng: np.random.Generator, lay: Slots, plan: b.Plan) -> np.ndarray:
    """A sort key within the session: smaller happens earlier."""
    e, blk = len(lay.block), lay.block
    key = 1.0 + rng.random(e) * 0.999  # page views, searches and product views mix freely
    key[blk == b.LANDING] = 0.0
    for block, after in ((b.CART, b.VIEW), (b.WISH, b.VIEW), (b.REMOVE, b.CART)):
        sel = np.flatnonzero(blk == block)
        if block == b.WISH:
            ws = lay.session[sel]
            wrap = (plan.counts[ws, b.CART] + lay.rank[sel]) % plan.counts[ws, b.VIEW]
            src = lay.block_start[ws, b.VIEW] + wrap
        else:
            src = lay.source(sel, after)
        key[sel] = key[src] + rng.random(len(sel)) * (2.0 - key[src])
    logins = np.flatnonzero(blk == b.LOGIN)
    checks_out = plan.counts[lay.session[logins], b.CHECKOUT] > 0
    key[logins] = np.where(checks_out, 2.5, 1.0 + rng.random(len(logins)))
    key[blk == b.CHECKOUT] = 3.0 + rng.random(int((blk == b.CHECKOUT).sum())) * 0.5
    key[blk == b.PURCHASE] = 4.0 + lay.rank[blk == b.PURCHASE] * 1e-6
    return key


def _times(
    rng: np.random.Generator, lay: Slots, plan: b.Plan, key: np.ndarray, w: m.Window
) -> np.ndarray:
    """Each event's timestamp (in layout order); sessions end inside the window."""
    order = np.lexsort((key, lay.session))  # sessions keep their place; events sorted by key
    blk, rank = lay.block[order], lay.rank[order]
    gap = 1 + np.minimum(rng.lognormal(np.log(25.0), 0.9, len(order)), 1800).astype(np.int64)
    gap[(blk == b.LANDING) | ((blk == b.PURCHASE) & (rank > 0))] = 0
    since = np.cumsum(gap)
    first = lay.block_start[:, 0]
    since -= np.repeat(since[first], plan.counts.sum(axis=1))
    duration = since[first + plan.counts.sum(axis=1) - 1]
    start = np.maximum(np.minimum(plan.start, w.end - 1 - duration), w.start)
    ts = np.empty(len(order), dtype=np.int64)
    ts[order] = start[lay.session[order]] + since
    return ts


def _identities(lay: Slots, plan: b.Plan, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether each event carries the customer id and the anonymous id."""
    mode = plan.mode[lay.session]
    login_key = np.full(plan.sessions, np.inf)
    logins = lay.block == b.LOGIN
    login_key[lay.session[logins]] = key[logins]
    after_login = key >= login_key[lay.session]
    has_customer = (mode == m.LOGGED) | ((mode == m.LOGIN) & after_login)
    return has_customer, mode != m.LOGGED


def build_events(
    rng: np.random.Generator,
    plan: b.Plan,
    vis: Visitors,
    cat: Catalogue,
    w: m.Window,
    customer_id: pa.Array,
    ids: Ids,
) -> tuple[pa.Table, np.ndarray, Purchases]:
    """The chunk's events in time order, their epoch timestamps, and its purchases."""
    lay = _layout(plan.counts)
    product, qty, query, page_leaf = _products(rng, lay, plan, vis, cat)
    key = _keys(rng, lay, plan)
    ts = _times(rng, lay, plan, key, w)
    has_customer, has_anon = _identities(lay, plan, key)
    f = np.lexsort((key, lay.session, ts))  # file order: by time, sessions kept in order
    sess = lay.session[f]
    n_leaves = len(cat.leaf_path)
    category = np.where(
        product >= 0, cat.leaf[product], np.where(page_leaf >= 0, n_leaves + page_leaf, -1)
    )
    device = spell(rng, tuple(DEVICE_WRITTEN[d] for d in DEVICES), vis.cookie_device[plan.cookie])
    cookie_ids = hex_ids(
        "anon-", scramble(ids.cookie + np.arange(len(vis.cookie_device)), COOKIE_SALT)
    )
    columns = {
        "event_id": hex_ids("", scramble(ids.event + np.arange(len(f)), EVENT_SALT)),
        "event_type": take(strings(m.EVENT_TYPES), b.BLOCK_TYPE[lay.block[f]]),
        "ts": timestamps(ts[f]),
        "customer_id": take(customer_id, plan.record[sess], ~has_customer[f]),
        "anonymous_id": take(cookie_ids, plan.cookie[sess], ~has_anon[f]),
        "session_id": take(
            hex_ids("s-", scramble(ids.session + np.arange(plan.sessions), SESSION_SALT)), sess
        ),
        "product_id": take(cat.product_id, product[f]),
        "category": take(pa.concat_arrays([cat.leaf_path, cat.sub_path]), category[f]),
        "price": pa.array(cat.price[product[f]], mask=product[f] < 0),
        "quantity": pa.array(qty[f], mask=qty[f] < 0, type=pa.int64()),
        "query": take(cat.queries, query[f]),
        "device": take(device, sess),
        "channel": take(strings(CHANNELS), plan.channel[sess]),
        "country": take(strings([c.code for c in COUNTRIES]), vis.country[plan.visitor[sess]]),
    }
    bought = np.flatnonzero(lay.block == b.PURCHASE)
    purchases = Purchases(
        lay.session[bought], lay.rank[bought], product[bought], qty[bought], ts[bought]
    )
    return pa.table(columns), ts[f], purchases
