"""The same ingest on PostgreSQL and on DuckDB gives the same tables, counts and revenue.

Two routes to one answer: each run is also checked against a plain-Python reading of the
real Online Retail slice (distinct lines, invoices, products, customers, net revenue).
"""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg
import pytest

from segmint.config import ProjectConfig, parse_config
from segmint.ingest import IngestReport, ingest
from segmint.warehouse import connect
from tests.conftest import pg_base_url, write

pytestmark = [pytest.mark.postgres, pytest.mark.realdata]

TABLES = ("order_lines", "orders", "products", "customers", "identities", "quarantine")
COUNTS = ("status", "records", "loaded", "already_loaded", "duplicates", "rejected", "nullified")
RETAIL_COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Quantity",
    "Description",
    "UnitPrice",
    "InvoiceDate",
    "CustomerID",
    "Country",
)

#: hand-made lines in the Online Retail layout, one per outcome
DIRTY = '''\
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
900001,X1,"Mug, ""big""",2,2011-01-05 10:00:00,3.5,99001,United Kingdom
900001,X2,Plate,1,2011-01-05 10:00:00,-1.0,99001,United Kingdom
900002,X1,Mug,1,not a date,3.5,99002,France
900003,X3,Bowl,4,2011-01-06 11:00:00,2.25,99003.0,Atlantis
900004,X4,Spoon,1,2011-01-07 09:00:00,0.5,99004,Germany,extra
900001,X1,"Mug, ""big""",2,2011-01-05 10:00:00,3.5,99001,United Kingdom
'''
#: line 1 and 4 load (4 loses its country), line 6 repeats line 1, 2, 3 and 5 are set aside
DIRTY_RESULT = {
    "status": "loaded",
    "records": 6,
    "loaded": 2,
    "already_loaded": 0,
    "duplicates": 1,
    "rejected": 3,
    "nullified": 1,
}
DIRTY_RULES = {
    "unit_price_range": {"action": "rejected", "rows": 1},
    "ts_type": {"action": "rejected", "rows": 1},
    "csv_malformed": {"action": "rejected", "rows": 1},
    "country_unknown": {"action": "nullified", "rows": 1},
}
DIRTY_REVENUE = {"99001": 2 * 3.5, "99003": 4 * 2.25}


def project(warehouse: str, retail: Path, dirty: Path, base: Path) -> ProjectConfig:
    return parse_config(
        f"""
project: t
warehouse: {warehouse}
timezone: Europe/London
sources:
  - name: transactions
    path: {retail}
    table: order_lines
    columns: {{order_id: InvoiceNo, product_id: StockCode, quantity: Quantity, title: Description,
              unit_price: UnitPrice, ts: InvoiceDate, customer_id: CustomerID, country: Country}}
    returns: {{order_id_prefix: C}}
  - name: dirty
    path: {dirty}
    table: order_lines
    columns: {{order_id: InvoiceNo, product_id: StockCode, quantity: Quantity, title: Description,
              unit_price: UnitPrice, ts: InvoiceDate, customer_id: CustomerID, country: Country}}
""",
        base_dir=base,
    )


def retail_reference(path: Path) -> dict[str, Any]:
    """What the slice holds, read with the csv module: the answers ingest must reproduce."""
    with path.open(newline="", encoding="utf-8") as fh:
        records = list(csv.DictReader(fh))
    distinct = {tuple(r[c].strip() for c in RETAIL_COLUMNS): r for r in records}.values()
    revenue: dict[str, float] = defaultdict(float)
    for r in distinct:
        if cid := r["CustomerID"].strip().removesuffix(".0"):
            revenue[cid] += int(r["Quantity"]) * float(r["UnitPrice"])
    return {
        "records": len(records),
        "lines": len(distinct),
        "orders": len({r["InvoiceNo"] for r in distinct}),
        "products": len({r["StockCode"] for r in distinct}),
        "revenue": dict(revenue),
    }


@pytest.fixture
def dirty(tmp_path: Path) -> Path:
    return write(tmp_path / "in" / "dirty.csv", DIRTY)


@pytest.fixture
def pg_cfg(pg_url: str, online_retail_slice: Path, dirty: Path, tmp_path: Path) -> ProjectConfig:
    return project(pg_url, online_retail_slice, dirty, tmp_path / "pg")


@pytest.fixture
def duck_cfg(online_retail_slice: Path, dirty: Path, tmp_path: Path) -> ProjectConfig:
    url = "duckdb:///" + str(tmp_path / "duck" / "w.duckdb")
    return project(url, online_retail_slice, dirty, tmp_path / "duck")


def per_file(report: IngestReport) -> dict[str, dict[str, Any]]:
    return {f.source: {k: getattr(f, k) for k in COUNTS} for f in report.files}


def snapshot(cfg: ProjectConfig) -> dict[str, Any]:
    """Row counts, revenue per customer and the quarantine, as the warehouse holds them."""
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        counts = {name: wh.count(name) for name in TABLES}
        c = wh.table("customers")
        revenue = sorted(wh.to_arrow(c.select("customer_id", "revenue")).to_pylist(), key=str)
        q = wh.table("quarantine")
        cols = ("source", "record", "rule", "action", "message", "row")
        quarantine = sorted(wh.to_arrow(q.select(*cols)).to_pylist(), key=str)
    return {"counts": counts, "revenue": revenue, "quarantine": quarantine}


def test_postgres_ingest_matches_duckdb_and_the_csv(
    pg_cfg: ProjectConfig, duck_cfg: ProjectConfig, online_retail_slice: Path
) -> None:
    ref = retail_reference(online_retail_slice)
    pg_report, duck_report = ingest(pg_cfg), ingest(duck_cfg)

    assert per_file(pg_report) == per_file(duck_report)
    assert per_file(pg_report) == {
        "transactions": {
            "status": "loaded",
            "records": ref["records"],
            "loaded": ref["lines"],
            "already_loaded": 0,
            "duplicates": ref["records"] - ref["lines"],
            "rejected": 0,
            "nullified": 0,
        },
        "dirty": DIRTY_RESULT,
    }
    assert {f.source: f.rules for f in pg_report.files}["dirty"] == DIRTY_RULES

    pg, duck = snapshot(pg_cfg), snapshot(duck_cfg)
    assert pg["counts"] == duck["counts"]
    assert pg["counts"] == {
        "order_lines": ref["lines"] + 2,
        "orders": ref["orders"] + 2,
        "products": ref["products"] + 2,
        "customers": len(ref["revenue"]) + 2,
        "identities": len(ref["revenue"]) + 2,
        "quarantine": 4,
    }
    assert pg["quarantine"] == duck["quarantine"]  # JSON rows with quotes and commas intact

    # the same customers with the same net revenue (sums may differ in the last bits only)
    assert [r["customer_id"] for r in pg["revenue"]] == [r["customer_id"] for r in duck["revenue"]]
    for a, b in zip(pg["revenue"], duck["revenue"], strict=True):
        assert a["revenue"] == pytest.approx(b["revenue"], abs=1e-6), a["customer_id"]
    want = {**ref["revenue"], **DIRTY_REVENUE}
    got = {r["customer_id"]: r["revenue"] for r in pg["revenue"]}
    assert got == pytest.approx(want, abs=1e-6)


def test_rerun_on_postgres_skips_and_force_adds_no_duplicate(pg_cfg: ProjectConfig) -> None:
    first = ingest(pg_cfg)
    before = snapshot(pg_cfg)

    again = ingest(pg_cfg)
    assert [(f.source, f.status, f.records, f.loaded) for f in again.files] == [
        ("transactions", "skipped", 0, 0),
        ("dirty", "skipped", 0, 0),
    ]
    assert snapshot(pg_cfg)["counts"] == before["counts"]

    forced = ingest(pg_cfg, force=True)
    for old, new in zip(first.files, forced.files, strict=True):
        assert new.status == "loaded"
        assert new.records == old.records
        assert new.loaded == 0
        assert new.already_loaded == old.loaded
        assert new.rejected == old.rejected
        assert new.balanced
    after = snapshot(pg_cfg)
    assert after["counts"] == before["counts"]
    assert after["quarantine"] == before["quarantine"]
    with connect(pg_cfg.warehouse) as wh:
        lines = wh.table("order_lines")
        assert (
            wh.to_arrow(lines.aggregate(n=lines._row_key.nunique()))["n"][0].as_py()
            == (before["counts"]["order_lines"])
        )
        assert wh.count("ingested_files") == 2


def test_a_custom_table_with_dates_loads_the_same_on_both(tmp_path: Path, pg_url: str) -> None:
    launches = write(tmp_path / "in" / "launches.csv", "sku,launched,score\nA,2020-01-02,1.5\n")
    urls = {
        "pg": pg_url,
        "duck": "duckdb:///" + str(tmp_path / "duck.duckdb"),
    }
    got = {}
    for name, url in urls.items():
        cfg = parse_config(
            f"project: t\nwarehouse: {url}\nsources:\n"
            f"  - {{name: launches, path: {launches}, table: launches}}\n",
            base_dir=tmp_path / name,
        )
        report = ingest(cfg)
        assert [(f.status, f.loaded) for f in report.files] == [("loaded", 1)], report.files
        with connect(url) as wh:
            got[name] = wh.to_arrow(wh.table("launches").select("sku", "launched", "score"))
    assert got["pg"].to_pylist() == got["duck"].to_pylist()
    assert got["pg"].to_pylist() == [{"sku": "A", "launched": dt.date(2020, 1, 2), "score": 1.5}]


@pytest.fixture
def teams_orders() -> Any:
    """A table ``public.orders`` of the team's own, beside segmint's schema."""
    with psycopg.connect(pg_base_url(), autocommit=True, connect_timeout=3) as conn:
        if conn.execute("SELECT to_regclass('public.orders')").fetchone()[0] is not None:
            pytest.skip("public.orders exists in the test database; not touching it")
        marker = uuid.uuid4().hex
        conn.execute("CREATE TABLE public.orders (note TEXT)")
        try:
            conn.execute("INSERT INTO public.orders VALUES (%s)", (marker,))
            yield conn, marker
        finally:
            conn.execute("DROP TABLE IF EXISTS public.orders")


def test_ingest_into_a_schema_leaves_the_teams_public_tables_alone(
    pg_cfg: ProjectConfig, teams_orders: Any
) -> None:
    conn, marker = teams_orders
    ingest(pg_cfg)
    assert conn.execute("SELECT note FROM public.orders").fetchall() == [(marker,)]
    assert snapshot(pg_cfg)["counts"]["orders"] > 0
