"""Deliberately dirty rows, each dirty in exactly one way, and their exact tally.

Dirty events and order lines are *extra* rows (copies of clean rows with one defect), so
the clean data stays complete and consistent; dirty CRM records are clean records with one
field spoiled. Each kind is injected at ``dirty_rate`` times its share; while the rate is
above zero, every kind is injected at least once per shop so every rule has a case.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from segmint.generate._arrays import hex_ids, replace, scramble, strings, take, timestamps
from segmint.generate._events import EVENT_SALT
from segmint.generate._orders import Orders
from segmint.generate._vocab import (
    AGES_OVER_120,
    BAD_QUANTITIES,
    BAD_TIMESTAMPS,
    TOO_OLD_TIMESTAMPS,
    UNKNOWN_COUNTRIES,
    UNKNOWN_EVENT_TYPES,
)

EVENT_SHARES = {
    "events_bad_ts": 0.15,
    "events_future_ts": 0.10,
    "events_too_old_ts": 0.10,
    "events_unknown_type": 0.10,
    "events_no_identity": 0.15,
    "events_exact_duplicate": 0.25,
    "events_duplicate_event_id": 0.15,
}
CUSTOMER_SHARES = {
    "customers_negative_age": 0.25,
    "customers_age_over_120": 0.25,
    "customers_bad_email": 0.25,
    "customers_unknown_country": 0.25,
}
LINE_SHARES = {"order_lines_bad_quantity": 1.0}
KINDS = (*EVENT_SHARES, *CUSTOMER_SHARES, *LINE_SHARES)
_YEAR = 365 * 86_400


class Tally:
    """How many rows of each kind were injected so far, and how many to inject next."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.counts = dict.fromkeys(KINDS, 0)

    def draw(self, rng: np.random.Generator, rows: int, shares: dict[str, float]) -> dict[str, int]:
        """Rows to spoil per kind among ``rows`` clean ones (at most ``rows`` in all)."""
        wanted = {k: int(rng.binomial(rows, min(1.0, self.rate * s))) for k, s in shares.items()}
        if self.rate > 0 and rows > 0:
            for k in shares:
                wanted[k] = max(wanted[k], int(self.counts[k] == 0))
        left = rows
        for k in shares:
            wanted[k] = min(wanted[k], left)
            left -= wanted[k]
        for k, n in wanted.items():
            self.counts[k] += n
        return wanted


def _pick(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.choice(n, k, replace=False) if k else np.zeros(0, dtype=np.int64)


def _events_of_kind(
    rng: np.random.Generator, kind: str, rows: pa.Table, ts: np.ndarray, new_ids: pa.Array
) -> pa.Table:
    """Copies of ``rows`` (epoch times ``ts``) spoiled in the way ``kind`` names."""
    k = len(rows)

    def put(name: str, values: pa.Array) -> pa.Table:
        return rows.set_column(rows.schema.get_field_index(name), name, values)

    def pick(vocab: tuple[str, ...]) -> pa.Array:
        return take(strings(vocab), rng.integers(0, len(vocab), k))

    if kind == "events_exact_duplicate":
        return rows
    if kind == "events_duplicate_event_id":  # re-sent a little later: same id, other row
        return put("ts", timestamps(ts + rng.integers(1, 120, k)))
    rows = put("event_id", new_ids)
    if kind == "events_bad_ts":
        return put("ts", pick(BAD_TIMESTAMPS))
    if kind == "events_future_ts":
        return put("ts", timestamps(ts + rng.integers(5, 31, k) * _YEAR))
    if kind == "events_too_old_ts":
        return put("ts", pick(TOO_OLD_TIMESTAMPS))
    if kind == "events_unknown_type":
        return put("event_type", pick(UNKNOWN_EVENT_TYPES))
    if kind == "events_no_identity":
        none = pa.nulls(k, pa.string())
        return put("customer_id", none).set_column(
            rows.schema.get_field_index("anonymous_id"), "anonymous_id", none
        )
    raise ValueError(kind)


def dirty_events(
    rng: np.random.Generator, table: pa.Table, ts: np.ndarray, tally: Tally, next_event: int
) -> tuple[pa.Table, int]:
    """``table`` with spoiled copies of some rows placed after their originals.

    Returns the new table and the next free event number.
    """
    n = len(table)
    pieces, keys = [table], [np.arange(n, dtype=np.float64)]
    for kind, k in tally.draw(rng, n, EVENT_SHARES).items():
        src = _pick(rng, n, k)
        new_ids = hex_ids("", scramble(next_event + np.arange(k), EVENT_SALT))
        pieces.append(_events_of_kind(rng, kind, table.take(pa.array(src)), ts[src], new_ids))
        if kind not in ("events_exact_duplicate", "events_duplicate_event_id"):
            next_event += k
        # somewhere within the next 200 rows after the original
        keys.append(src + 0.5 + np.floor(rng.random(k) * np.minimum(200, n - src)))
    order = np.argsort(np.concatenate(keys), kind="stable")
    return pa.concat_tables(pieces).take(pa.array(order)), next_event


def _bad_email(rng: np.random.Generator, email: str) -> str:
    local, _, domain = email.strip().lower().partition("@")
    options = ("not-an-email", f"{local}.{domain}", f"{local}@", f"@{domain}", f"{local}@@{domain}")
    return options[int(rng.integers(len(options)))]


def dirty_customers(
    rng: np.random.Generator, table: pa.Table, single: np.ndarray, tally: Tally
) -> pa.Table:
    """``table`` with one field spoiled in some rows; e-mails only of single-record persons."""
    wanted = tally.draw(rng, len(table), CUSTOMER_SHARES)
    singles = np.flatnonzero(single)
    k_email = min(wanted["customers_bad_email"], len(singles))
    tally.counts["customers_bad_email"] -= wanted["customers_bad_email"] - k_email
    email_rows = singles[_pick(rng, len(singles), k_email)]
    rest = np.setdiff1d(np.arange(len(table)), email_rows)
    rest = rest[rng.permutation(len(rest))]
    counts = [wanted[k] for k in ("customers_negative_age", "customers_age_over_120")]
    neg, old = rest[: counts[0]], rest[counts[0] : sum(counts)]
    k_country = wanted["customers_unknown_country"]
    country_rows = rest[sum(counts) : sum(counts) + k_country]
    age = pc.cast(table["age"].combine_chunks(), pa.int64())
    age = replace(age, neg, rng.integers(-9, 0, len(neg)).tolist())
    age = replace(age, old, rng.choice(AGES_OVER_120, len(old)).tolist())
    emails = table["email"].combine_chunks()
    spoiled = [_bad_email(rng, emails[int(i)].as_py()) for i in email_rows]
    unknown = rng.choice(UNKNOWN_COUNTRIES, len(country_rows)).tolist()
    return (
        table.set_column(table.schema.get_field_index("age"), "age", age)
        .set_column(
            table.schema.get_field_index("email"), "email", replace(emails, email_rows, spoiled)
        )
        .set_column(
            table.schema.get_field_index("country"),
            "country",
            replace(table["country"].combine_chunks(), country_rows, unknown),
        )
    )


def dirty_lines(rng: np.random.Generator, orders: Orders, tally: Tally) -> pa.Table:
    """Order lines plus extra lines whose quantity is not a number; quantity becomes text."""
    lines = orders.lines
    positive = np.flatnonzero(orders.quantity > 0)
    k = tally.draw(rng, len(positive), LINE_SHARES)["order_lines_bad_quantity"]
    src = np.sort(positive[_pick(rng, len(positive), k)])
    last = np.searchsorted(orders.line_order, orders.line_order[src], side="right") - 1
    _, first_of, group = np.unique(orders.line_order[src], return_index=True, return_inverse=True)
    rank = np.arange(k) - first_of[group]
    extra = lines.take(pa.array(src))
    extra = extra.set_column(1, "line_no", pa.array(orders.line_no[last] + 1 + rank))
    extra = extra.set_column(3, "quantity", take(strings(BAD_QUANTITIES), rng.integers(0, 5, k)))
    extra = extra.set_column(5, "discount", pa.array(np.zeros(k)))
    lines = lines.set_column(3, "quantity", pc.cast(lines["quantity"], pa.string()))
    order = np.argsort(
        np.concatenate([np.arange(len(lines)), last + 0.5 + rank * 1e-3]), kind="stable"
    )
    return pa.concat_tables([lines, extra]).take(pa.array(order))
