"""Revenue with fee lines counted or not (``fees.revenue``), on the real Online Retail slice.

Net revenue per order, the ``monetary`` feature and RFM's monetary are checked against a
plain-Python reading of the file, on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from segmint.features import FEATURES, compute_features
from segmint.ingest import ingest
from segmint.segments.rfm import compute_rfm
from segmint.warehouse import connect
from tests.conftest import fee_rule, retail_project

pytestmark = pytest.mark.realdata

AS_OF = datetime(2011, 1, 1)  # after the slice's last line
FEE_CODES = ("POST", "DOT", "M", "BANK CHARGES", "D", "C2")


def net_revenue(path: Path, *, exclude_fees: bool) -> dict[str, float]:
    """Customer -> net revenue, read by hand: a C invoice (cancelled) earns at most 0; other
    orders earn their bought lines plus their returned lines' (negative) value."""
    seen: set[tuple[str, ...]] = set()
    orders: dict[str, list[tuple[int, float]]] = defaultdict(list)
    customer: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            key = tuple(row.values())
            if key in seen:  # an exact repeat is loaded once
                continue
            seen.add(key)
            qty, value = int(row["Quantity"]), int(row["Quantity"]) * float(row["UnitPrice"])
            if exclude_fees and row["StockCode"] in FEE_CODES:
                value = 0.0
            orders[row["InvoiceNo"]].append((qty, value))
            if row["CustomerID"]:
                customer[row["InvoiceNo"]] = row["CustomerID"]
    out: dict[str, float] = defaultdict(float)
    for order, lines in orders.items():
        if order not in customer:
            continue
        if order.startswith("C"):
            revenue = min(sum(v for _, v in lines), 0.0)
        else:
            bought = sum(v for q, v in lines if q >= 0)
            revenue = bought + min(sum(v for q, v in lines if q < 0), 0.0)
        out[customer[order]] += revenue
    return dict(out)


@pytest.mark.parametrize("revenue", ["include", "exclude"])
def test_fee_lines_count_in_revenue_as_the_source_says(
    revenue: str, warehouse: str, online_retail_slice: Path, tmp_path: Path
) -> None:
    """Regression (issue 16, item 5): fee lines must count in revenue as the shop decides:
    with revenue: include (the default) net revenue, monetary and RFM's monetary are the
    invoice totals, postage and charges included; with exclude they leave the fee lines out,
    customer by customer."""
    cfg = retail_project(warehouse, online_retail_slice, tmp_path, fee_rule(FEE_CODES, revenue))
    report = ingest(cfg)
    assert report.total("rejected") == 0  # the reference reads every line as loaded
    want = net_revenue(online_retail_slice, exclude_fees=revenue == "exclude")
    other = net_revenue(online_retail_slice, exclude_fees=revenue == "include")
    differ = {c for c in want if abs(want[c] - other[c]) > 0.005}
    assert len(differ) >= 5  # the slice has customers who paid postage or a charge
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        compute_features(wh, AS_OF)
        compute_rfm(wh, AS_OF)
        f = wh.table(FEATURES)
        features = {
            r["customer_id"]: r for r in wh.to_arrow(f.filter(f.as_of == AS_OF)).to_pylist()
        }
        rfm = {r["customer_id"]: r["monetary"] for r in wh.to_arrow(wh.table("rfm")).to_pylist()}
    assert set(features) == set(want)
    for cid, value in want.items():
        assert features[cid]["monetary"] == pytest.approx(value, abs=0.01), cid
        assert rfm[cid] == pytest.approx(value, abs=0.01), cid
