"""Standardization vocabularies; the SQL and Python forms of a lookup must agree."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.ingest import fold, lookup
from segmint.ingest._vocab import FOLD_SQL, load_vocabulary


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("United Kingdom", "GB"),
        ("UK", "GB"),
        ("u.k.", "GB"),
        ("GB", "GB"),
        ("GBR", "GB"),
        ("EIRE", "IE"),
        ("Ireland", "IE"),
        ("RSA", "ZA"),
        ("USA", "US"),
        ("U.S.A.", "US"),
        ("United States", "US"),
        ("Deutschland", "DE"),
        ("germany", "DE"),
        ("Czech Republic", "CZ"),
        ("Czechia", "CZ"),
        ("Côte d'Ivoire", "CI"),
        ("Korea, Republic of", "KR"),
        ("South Korea", "KR"),
        ("Hong Kong", "HK"),
        ("United Arab Emirates", "AE"),
        ("Viet Nam", "VN"),
        ("Türkiye", "TR"),
    ],
)
def test_country_forms_map_to_iso_alpha2(raw: str, code: str) -> None:
    assert lookup("country", raw) == (True, code)


@pytest.mark.parametrize("raw", ["Channel Islands", "European Community", "Atlantis"])
def test_places_that_are_not_iso_countries_are_unknown(raw: str) -> None:
    assert lookup("country", raw) == (False, None)


def test_known_ways_of_saying_no_country() -> None:
    assert lookup("country", "Unspecified") == (True, None)


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        ("gender", "F", "female"),
        ("gender", "Frau", "female"),
        ("gender", "M", "male"),
        ("gender", "diverse", "other"),
        ("device", "iPhone", "mobile"),
        ("device", "iPad", "tablet"),
        ("device", "PC", "desktop"),
        ("event_type", "addToCart", "add_to_cart"),
        ("event_type", "view_item", "product_view"),
        ("order_status", "canceled", "cancelled"),
        ("order_status", "refunded", "returned"),
        ("channel", "CPC", "paid_search"),
    ],
)
def test_vocabularies(kind: str, raw: str, value: str) -> None:
    assert lookup(kind, raw) == (True, value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_sql_fold_equals_python_fold(text: str) -> None:
    """The engine and the per-event path must standardize a value identically."""
    con = duckdb.connect()
    got = con.execute(f"SELECT {FOLD_SQL.format(x='?')}", [text]).fetchone()[0]
    assert got == fold(text)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["country", "gender", "device", "event_type"]), st.text(max_size=20))
def test_sql_lookup_equals_python_lookup(kind: str, text: str) -> None:
    con = duckdb.connect()
    load_vocabulary(con)
    row = con.execute(
        f"SELECT value FROM segmint_vocab WHERE kind = ? AND key = {FOLD_SQL.format(x='?')}",
        [kind, text],
    ).fetchall()
    found, value = lookup(kind, text)
    assert (bool(row), row[0][0] if row else None) == (found, value)
