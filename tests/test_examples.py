"""The shipped examples, run whole on the real datasets and checked against plain SQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from segmint.config import load_config
from segmint.ingest import ingest

from .conftest import REPO

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def _example(name: str, tmp_path: Path, datasets: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the example's project file, so its warehouse lands in tmp_path."""
    monkeypatch.setenv("SEGMINT_DATA", str(datasets))
    dst = tmp_path / name / "segmint.yaml"
    dst.parent.mkdir()
    shutil.copy(REPO / "examples" / name / "segmint.yaml", dst)
    return dst


def _warehouse(config: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(config.parent / ".segmint" / "warehouse.duckdb"), read_only=True)


def test_online_retail_whole_file(
    online_retail: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All 541,909 invoice lines are accounted for and the derived tables match plain SQL over
    the raw file: its 5,268 repeated lines are duplicates, its two negative-price 'bad debt'
    adjustments are quarantined, cancellations are returns."""
    config = _example("online_retail", tmp_path, online_retail.parents[1], monkeypatch)
    report = ingest(load_config(config))
    assert report.balanced and not report.failed
    raw = duckdb.connect()
    raw.execute(f"CREATE TABLE r AS FROM read_csv('{online_retail}')")
    raw.execute("CREATE TABLE d AS SELECT DISTINCT * FROM r WHERE UnitPrice >= 0")
    (lines, dups, negative_price) = raw.execute(
        "SELECT count(*), count(*) - (SELECT count(*) FROM (SELECT DISTINCT * FROM r)), "
        "count(*) FILTER (UnitPrice < 0) FROM r"
    ).fetchone()
    assert (report.total("records"), report.total("loaded")) == (541_909, 541_909 - 5_270)
    assert (report.total("duplicates"), report.total("rejected")) == (dups, negative_price)
    assert lines == 541_909 and dups == 5_268 and negative_price == 2

    wh = _warehouse(config)
    # the example's fee codes (postage, charges, adjustments, vouchers) are no products
    fees = load_config(config).sources[0].fees
    fee_ids = ", ".join(f"'{c}'" for c in fees.product_ids)
    is_fee = f"(StockCode IN ({fee_ids}) OR regexp_matches(StockCode, '{fees.product_id_pattern}'))"
    expected = raw.execute(
        "SELECT count(DISTINCT InvoiceNo), "
        f"count(DISTINCT StockCode) FILTER (NOT {is_fee}), count(DISTINCT CustomerID), "
        "(SELECT count(*) FROM (SELECT InvoiceNo FROM d GROUP BY 1 "
        "HAVING bool_and(Quantity < 0) OR InvoiceNo LIKE 'C%')) FROM d"
    ).fetchone()
    got = wh.execute(
        "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM products), "
        "(SELECT count(*) FROM customers WHERE is_known), "
        "(SELECT count(*) FROM orders WHERE is_return) "
    ).fetchone()
    # returns: the 3,836 cancelled (C) invoices and 1,336 stock write-offs of negative quantity;
    # products: 4,070 stock codes less the example's 18 fee codes
    assert got == expected == (25_898, 4_052, 4_372, 5_172)
    assert wh.execute("SELECT count(*) FROM order_lines WHERE is_fee").fetchone() == (3_036,)
    # net revenue per customer, returns subtracted, as plain SQL computes it
    ref = dict(
        raw.execute(
            "SELECT CAST(CustomerID AS VARCHAR), round(sum(Quantity * UnitPrice), 2) FROM d "
            "WHERE CustomerID IS NOT NULL GROUP BY 1"
        ).fetchall()
    )
    ours = dict(
        wh.execute("SELECT customer_id, round(revenue, 2) FROM customers WHERE is_known").fetchall()
    )
    assert ours.keys() == ref.keys()
    assert all(abs(ours[k] - ref[k]) < 0.01 for k in ref)
    assert ours["14646"] == pytest.approx(279_489.02)
    # "EIRE", "RSA", "USA" ... map; "Unspecified" is a way of saying no country (NULL, not an
    # error); "Channel Islands" (Jersey or Guernsey?) and "European Community" are no ISO
    # country, so the value is removed and the row kept, with a quarantine note
    unmapped = wh.execute(
        "SELECT DISTINCT message FROM quarantine WHERE rule = 'country_unknown'"
    ).fetchall()
    assert {m for (m,) in unmapped} == {
        "country=Channel Islands is not an ISO 3166 country",
        "country=European Community is not an ISO 3166 country",
    }


def test_online_shoppers_sessions(
    online_shoppers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session-level data lands whole in a typed table of its own, repeated rows included."""
    config = _example("online_shoppers", tmp_path, online_shoppers.parents[1], monkeypatch)
    report = ingest(load_config(config))
    assert report.balanced
    assert (report.total("loaded"), report.total("duplicates")) == (12_330, 0)
    wh = _warehouse(config)
    assert wh.execute(
        "SELECT count(*) FILTER (revenue), count(*) FILTER (NOT revenue), "
        "typeof(any_value(page_values)) FROM shopper_sessions"
    ).fetchone() == (1_908, 10_422, "DOUBLE")


def test_clickstream_events(
    clickstream_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zipped, semicolon-separated file with coded values becomes product views per session,
    each session an anonymous profile."""
    config = _example("clickstream", tmp_path, clickstream_zip.parents[1], monkeypatch)
    report = ingest(load_config(config))
    assert report.balanced
    assert report.total("records") == report.total("loaded") == 165_474
    wh = _warehouse(config)
    assert wh.execute(
        "SELECT count(DISTINCT session_id), count(DISTINCT category), "
        "count(*) FILTER (country = 'PL') > 100000 FROM events"
    ).fetchone() == (24_026, 4, True)
    assert wh.execute("SELECT count(*) FROM customers WHERE NOT is_known").fetchone() == (24_026,)
