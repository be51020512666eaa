"""Session plans: who visits when, on which device, and how far down the funnel they go.

A plan holds only counts per session (how many page views, searches, carts, ...), so the
total number of events is known before any event is built; the activity scale is tuned on
plans alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segmint.generate import _model as m
from segmint.generate._arrays import categorical, cumulative
from segmint.generate._people import Visitors
from segmint.generate._vocab import HOUR_WEIGHTS

# blocks of a session, in the order they are laid out (not the order they happen)
LANDING, PAGE, SEARCH, VIEW, WISH, CART, REMOVE, LOGIN, CHECKOUT, PURCHASE = range(10)
BLOCKS = 10
# event type (index into EVENT_TYPES) of each block
BLOCK_TYPE = np.array([0, 0, 2, 1, 5, 3, 4, 8, 6, 7])


@dataclass(frozen=True)
class Plan:
    """One row per session."""

    visitor: np.ndarray
    start: np.ndarray  # epoch seconds
    cookie: np.ndarray  # chunk-local cookie index
    record: np.ndarray  # chunk-local CRM record index, -1 for anonymous visitors
    mode: np.ndarray  # LOGGED, LOGIN or ANON
    channel: np.ndarray
    counts: np.ndarray  # (sessions, BLOCKS) events per block

    @property
    def sessions(self) -> int:
        """How many sessions are planned."""
        return len(self.visitor)

    @property
    def events(self) -> int:
        """How many events the sessions hold in all."""
        return int(self.counts.sum())


def _starts(
    rng: np.random.Generator, vis: Visitors, visitor: np.ndarray, w: m.Window
) -> np.ndarray:
    lo, hi = vis.span_lo[visitor], vis.span_hi[visitor]
    at = lo + (rng.random(len(visitor)) * (hi - lo)).astype(np.int64)
    day = (at - w.start) // m.DAY
    hour = categorical(rng, cumulative(HOUR_WEIGHTS), np.zeros(len(visitor)))
    second = (rng.random(len(visitor)) * 3600).astype(np.int64)
    return np.clip(w.start + day * m.DAY + hour * 3600 + second, lo, hi - 1)


def _funnel(rng: np.random.Generator, stage: np.ndarray, persona: np.ndarray) -> np.ndarray:
    """Events per block for sessions of the given buyer stages and personas."""
    s = len(stage)
    c = np.zeros((s, BLOCKS), dtype=np.int64)
    c[:, LANDING] = 1
    c[:, PAGE] = rng.poisson(np.asarray(m.PAGE_VIEWS)[stage])
    c[:, SEARCH] = rng.poisson(np.asarray(m.SEARCHES)[stage])
    views = rng.poisson(np.asarray(m.PRODUCT_VIEWS)[stage]) + rng.binomial(c[:, SEARCH], 0.7)
    p_cart = np.asarray(m.P_CART)[stage] * np.asarray(m.CART_BOOST_BY_PERSONA)[persona]
    cart = (rng.random(s) < p_cart) * (1 + rng.poisson(np.asarray(m.EXTRA_ITEMS)[stage]))
    wish = (rng.random(s) < np.asarray(m.P_WISH)[stage]) * (1 + rng.poisson(0.3, s))
    c[:, VIEW] = np.maximum(views, np.maximum(cart, np.minimum(wish, 1)))
    c[:, WISH] = wish
    c[:, CART] = cart
    c[:, REMOVE] = rng.binomial(cart, np.asarray(m.P_REMOVE)[stage])
    kept = cart - c[:, REMOVE]
    checkout = (kept > 0) & (rng.random(s) < np.asarray(m.P_CHECKOUT)[stage])
    checkout &= persona != m.ANONYMOUS  # anonymous visitors never check out
    c[:, CHECKOUT] = checkout * (1 + rng.poisson(0.25, s))
    buys = checkout & (rng.random(s) < np.asarray(m.P_PURCHASE)[stage])
    c[:, PURCHASE] = buys * kept
    return c


def _identity(
    rng: np.random.Generator,
    vis: Visitors,
    visitor: np.ndarray,
    cookie: np.ndarray,
    start: np.ndarray,
    checkout: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Which CRM record a session belongs to, and how it is identified.

    A cookie's first session always logs in (so every cookie of a known person is linked
    to them), and a known person logs in before checking out.
    """
    s = len(visitor)
    known = visitor < vis.n_known
    mode = categorical(rng, cumulative(m.MODE_WEIGHTS), np.zeros(s))
    order = np.lexsort((start, cookie))
    first = np.ones(s, dtype=bool)
    first[1:] = cookie[order][1:] != cookie[order][:-1]
    mode[order[first]] = m.LOGIN
    mode[(mode == m.ANON) & checkout] = m.LOGIN
    mode[~known] = m.ANON
    second = vis.second[visitor]
    use_second = (second >= 0) & (rng.random(s) < m.P_SECOND_ACCOUNT)
    record = np.where(known, np.where(use_second, second, visitor), -1)
    return record, mode


def plan_sessions(rng: np.random.Generator, vis: Visitors, scale: float, w: m.Window) -> Plan:
    """Sessions of a chunk's visitors, ``scale`` times the persona's usual activity."""
    wanted = vis.expected * scale + rng.random(vis.n)
    visitor = np.repeat(np.arange(vis.n), np.floor(wanted).astype(np.int64))
    s = len(visitor)
    start = _starts(rng, vis, visitor, w)
    cookie = vis.cookie_lo[visitor] + (rng.random(s) * vis.n_cookies[visitor]).astype(np.int64)
    persona = vis.persona[visitor]
    channel = categorical(rng, cumulative(m.CHANNEL_BY_PERSONA), persona)
    counts = _funnel(rng, vis.stage[visitor], persona)
    record, mode = _identity(rng, vis, visitor, cookie, start, counts[:, CHECKOUT] > 0)
    counts[:, LOGIN] = mode == m.LOGIN
    return Plan(visitor, start, cookie, record, mode, channel, counts)
