"""The feature catalogue: every feature segmint computes, with its group and meaning.

Definitions are data: :data:`CATALOG` lists them for ``segmint features list`` and the docs,
and :mod:`segmint.features._compute` builds the Ibis expressions that fill them. Windowed
features exist for every window in :data:`WINDOWS`; category shares exist for the project's
most active top-level categories and are named ``cat_<slug>_share``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Group = Literal["rfm", "window", "behaviour", "affinity", "lifecycle", "attribute", "custom"]
DType = Literal["float", "int", "string", "bool"]

#: window lengths, in days, of the windowed counts and sums
WINDOWS: tuple[int, ...] = (1, 7, 14, 30, 90)
#: days of history the behaviour and affinity features look at
BEHAVIOUR_DAYS = 90
#: how many top-level categories get a share column
TOP_CATEGORIES = 8
#: devices and channels that get a share column
DEVICES: tuple[str, ...] = ("mobile", "desktop", "tablet")
CHANNELS: tuple[str, ...] = ("organic", "paid_search", "email", "social", "direct", "referral")
#: the parts of the day (UTC hours, start inclusive) of the time-of-day mix
DAYPARTS: tuple[tuple[str, int, int], ...] = (
    ("night", 0, 6),
    ("morning", 6, 12),
    ("afternoon", 12, 18),
    ("evening", 18, 24),
)


@dataclass(frozen=True)
class FeatureDef:
    """One feature: its column name, group, type and a sentence saying what it is."""

    name: str
    group: Group
    dtype: DType
    description: str


#: windowed counts: feature stem -> (event types counted, what it counts)
WINDOW_COUNTS: dict[str, tuple[tuple[str, ...], str]] = {
    "views": (("product_view",), "product views"),
    "page_views": (("page_view",), "page views"),
    "searches": (("search",), "searches"),
    "carts": (("add_to_cart",), "add-to-cart events"),
    "checkouts": (("checkout_start",), "checkouts started"),
    "purchases": (("purchase",), "purchase events"),
}


def _window_defs() -> list[FeatureDef]:
    out = []
    for w in WINDOWS:
        for stem, (_types, what) in WINDOW_COUNTS.items():
            out.append(FeatureDef(f"{stem}_{w}d", "window", "int", f"{what} in the last {w} d"))
        out += [
            FeatureDef(f"orders_{w}d", "window", "int", f"orders placed in the last {w} d"),
            FeatureDef(
                f"revenue_{w}d", "window", "float", f"net revenue of orders in the last {w} d"
            ),
            FeatureDef(f"sessions_{w}d", "window", "int", f"distinct sessions in the last {w} d"),
            FeatureDef(
                f"products_{w}d", "window", "int", f"distinct products seen in the last {w} d"
            ),
            FeatureDef(
                f"categories_{w}d", "window", "int", f"distinct categories seen in the last {w} d"
            ),
        ]
    return out


B = BEHAVIOUR_DAYS
CATALOG: tuple[FeatureDef, ...] = (
    # RFM
    FeatureDef("recency_days", "rfm", "float", "days since the last purchase (null: none)"),
    FeatureDef("frequency", "rfm", "int", "orders placed, returns and cancellations excluded"),
    FeatureDef("monetary", "rfm", "float", "net revenue: orders less returns"),
    FeatureDef("avg_order_value", "rfm", "float", "mean value of the orders placed"),
    FeatureDef("tenure_days", "rfm", "float", "days since the first order"),
    FeatureDef("days_between_orders", "rfm", "float", "mean days between consecutive orders"),
    FeatureDef("return_rate", "rfm", "float", "returns and cancellations per order placed"),
    FeatureDef("discount_share", "rfm", "float", "share of orders placed with a discount"),
    *_window_defs(),
    # behaviour
    FeatureDef("browse_to_buy", "behaviour", "float", f"purchases per product view, last {B} d"),
    FeatureDef(
        "cart_abandonment",
        "behaviour",
        "float",
        f"share of sessions with a cart but no purchase, last {B} d",
    ),
    FeatureDef("avg_session_minutes", "behaviour", "float", f"mean session length, last {B} d"),
    *(
        FeatureDef(f"share_{p}", "behaviour", "float", f"share of events at {p} (UTC), last {B} d")
        for p, _a, _b in DAYPARTS
    ),
    FeatureDef("share_weekend", "behaviour", "float", f"share of events on weekends, last {B} d"),
    *(
        FeatureDef(f"share_{d}", "behaviour", "float", f"share of events on {d}, last {B} d")
        for d in DEVICES
    ),
    *(
        FeatureDef(f"share_{c}", "behaviour", "float", f"share of events from {c}, last {B} d")
        for c in CHANNELS
    ),
    # affinity
    FeatureDef(
        "favourite_category", "affinity", "string", f"most active top-level category, last {B} d"
    ),
    FeatureDef(
        "price_band",
        "affinity",
        "string",
        "budget, mid or premium: the customer's mean item price against the catalogue's terciles",
    ),
    FeatureDef("avg_item_price", "affinity", "float", "mean price of items viewed or bought"),
    # lifecycle
    FeatureDef("days_since_first_seen", "lifecycle", "float", "days since first seen"),
    FeatureDef("days_since_signup", "lifecycle", "float", "days since the account was created"),
    FeatureDef("days_since_last_visit", "lifecycle", "float", "days since the last event"),
    FeatureDef("days_since_last_activity", "lifecycle", "float", "days since any event or order"),
    FeatureDef("is_new", "lifecycle", "bool", "first seen in the last 30 d"),
    FeatureDef("is_active", "lifecycle", "bool", "an event or order in the last 30 d"),
    FeatureDef("is_lapsing", "lifecycle", "bool", "last activity 30 to 90 d ago"),
    FeatureDef("is_lapsed", "lifecycle", "bool", "no activity in the last 90 d"),
    # attributes copied from the profile, so rules can use them beside features
    FeatureDef("is_known", "attribute", "bool", "has an account (not only an anonymous id)"),
    FeatureDef("country", "attribute", "string", "ISO 3166-1 alpha-2 country"),
    FeatureDef("gender", "attribute", "string", "female, male or other"),
    FeatureDef("age", "attribute", "int", "age in years"),
    FeatureDef("loyalty_tier", "attribute", "string", "loyalty programme tier"),
    FeatureDef("consent_email", "attribute", "bool", "consents to marketing e-mail"),
)


def category_share_def(slug: str, label: str) -> FeatureDef:
    """The share column of one top-level category (they depend on the project's data)."""
    return FeatureDef(
        f"cat_{slug}_share", "affinity", "float", f"share of activity in '{label}', last {B} d"
    )
