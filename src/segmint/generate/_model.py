"""The behaviour model: personas, buyer stages, the session funnel and the time window.

Each row of a ``*_BY_PERSONA`` table belongs to the persona of the same index in
:data:`PERSONAS`; the last row (:data:`ANONYMOUS`) describes visitors the CRM never sees.
Each entry of a per-stage tuple belongs to the stage of the same index in :data:`STAGES`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

PERSONAS = (
    "bargain_hunter",
    "loyal_regular",
    "window_shopper",
    "big_spender",
    "one_timer",
    "lapsed",
)
BARGAIN, LOYAL, WINDOW, BIG, ONE_TIMER, LAPSED = range(6)
ANONYMOUS = len(PERSONAS)
PERSONA_SHARE = (0.20, 0.15, 0.25, 0.07, 0.18, 0.15)
# sessions per day while active (one-timers and anonymous visitors use a fixed count)
PERSONA_RATE = (0.07, 0.14, 0.10, 0.08, 0.0, 0.08, 0.0)
PERSONA_PROFILE = (0, 1, 1, 2, 1, 1, 1)  # see _catalogue: CHEAP, NEUTRAL, PREMIUM

STAGES = ("dreamer", "searcher", "ready_to_buy")
DREAMER, SEARCHER, READY = range(3)
STAGE_BY_PERSONA = (
    (0.20, 0.55, 0.25),
    (0.10, 0.30, 0.60),
    (0.70, 0.25, 0.05),
    (0.15, 0.25, 0.60),
    (0.20, 0.30, 0.50),
    (0.50, 0.35, 0.15),
    (0.80, 0.20, 0.00),
)
# organic, paid_search, email, social, direct, referral
CHANNEL_BY_PERSONA = (
    (0.20, 0.30, 0.20, 0.20, 0.05, 0.05),
    (0.15, 0.10, 0.35, 0.05, 0.30, 0.05),
    (0.30, 0.10, 0.05, 0.40, 0.10, 0.05),
    (0.15, 0.25, 0.20, 0.05, 0.30, 0.05),
    (0.30, 0.35, 0.02, 0.20, 0.05, 0.08),
    (0.30, 0.15, 0.25, 0.15, 0.10, 0.05),
    (0.40, 0.20, 0.00, 0.25, 0.05, 0.10),
)
# no tier, bronze, silver, gold, platinum
LOYALTY_BY_PERSONA = (
    (0.50, 0.30, 0.15, 0.05, 0.00),
    (0.10, 0.20, 0.30, 0.30, 0.10),
    (0.60, 0.30, 0.08, 0.02, 0.00),
    (0.20, 0.10, 0.20, 0.30, 0.20),
    (0.85, 0.15, 0.00, 0.00, 0.00),
    (0.50, 0.30, 0.15, 0.05, 0.00),
)
CART_BOOST_BY_PERSONA = (1.0, 1.2, 0.5, 1.3, 1.6, 0.7, 0.6)
EXTRA_UNIT_BY_PERSONA = (0.08, 0.12, 0.05, 0.30, 0.05, 0.05, 0.05)
DISCOUNT_BY_PERSONA = (0.45, 0.12, 0.10, 0.05, 0.20, 0.15, 0.10)

# per buyer stage (dreamer, searcher, ready_to_buy)
PAGE_VIEWS = (2.5, 1.2, 0.8)  # extra page views per session (Poisson mean)
SEARCHES = (0.3, 2.0, 0.6)
PRODUCT_VIEWS = (3.5, 3.0, 1.8)
FOCUS = (0.25, 0.85, 0.90)  # share of product views inside the session's focus category
P_CART = (0.05, 0.15, 0.50)
EXTRA_ITEMS = (0.3, 0.4, 0.5)  # further cart items once one is added (Poisson mean)
P_WISH = (0.25, 0.10, 0.05)
P_REMOVE = (0.20, 0.25, 0.10)
P_CHECKOUT = (0.30, 0.45, 0.75)
P_PURCHASE = (0.45, 0.60, 0.80)

# how a known person's session is identified: already logged in, logs in, stays anonymous
LOGGED, LOGIN, ANON = range(3)
MODE_WEIGHTS = (0.45, 0.20, 0.35)
P_SECOND_ACCOUNT = 0.35  # a person with two CRM records uses the second in this share of sessions
ONE_TIMER_SESSIONS = 1.8
ANON_SESSIONS = 1.3
ANON_VISITORS_PER_PERSON = 0.5  # per 90 days
DUPLICATE_SHARE = 0.03
GENDER_SHARE = (0.49, 0.47, 0.04)  # female, male, other
P_CANCELLED = 0.04
P_RETURNED = 0.05

EVENT_TYPES = (
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "wishlist_add",
    "checkout_start",
    "purchase",
    "login",
)
ORDER_STATUSES = ("placed", "shipped", "delivered", "cancelled", "returned")

DAY = 86_400
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def epoch(day: dt.date) -> int:
    """Seconds since 1970-01-01 UTC at midnight of ``day``."""
    return int((dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) - _EPOCH).total_seconds())


@dataclass(frozen=True)
class Window:
    """The days the clickstream covers: ``[start, end)`` in epoch seconds, UTC."""

    start: int
    end: int
    days: int
    end_year: int

    @classmethod
    def ending(cls, end: str, days: int) -> Window:
        """The ``days`` days up to and including the date ``end`` (``YYYY-MM-DD``)."""
        last = dt.date.fromisoformat(end)
        stop = epoch(last) + DAY
        return cls(start=stop - days * DAY, end=stop, days=days, end_year=last.year)


@dataclass(frozen=True)
class Chunk:
    """A slice of the known persons, generated and written together."""

    index: int
    persons: int
    dups: int  # second CRM records among them
    anon: int  # anonymous visitors generated alongside
    person_offset: int
    record_offset: int


@dataclass(frozen=True)
class Layout:
    """How a shop's customers are split into chunks."""

    customers: int
    persons: int
    id_width: int
    chunks: tuple[Chunk, ...]

    @classmethod
    def plan(cls, customers: int, days: int, events_per_person: float, chunk_events: int) -> Layout:
        """Chunks of about ``chunk_events`` events, ``customers`` CRM records in all."""
        dups = round(customers * DUPLICATE_SHARE / (1 + DUPLICATE_SHARE)) if customers > 1 else 0
        persons = customers - dups
        per_chunk = int(np.clip(chunk_events / max(events_per_person, 1e-9), 1, 100_000))
        anon_ratio = ANON_VISITORS_PER_PERSON * min(max(days / 90, 0.2), 4.0)
        chunks = []
        for i, lo in enumerate(range(0, persons, per_chunk)):
            hi = min(persons, lo + per_chunk)
            d_lo, d_hi = dups * lo // persons, dups * hi // persons
            chunks.append(
                Chunk(i, hi - lo, d_hi - d_lo, round((hi - lo) * anon_ratio), lo, lo + d_lo)
            )
        return cls(customers, persons, max(7, len(str(customers))), tuple(chunks))
