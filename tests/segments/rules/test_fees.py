"""The rule language's ``purchase`` events built from order lines leave fee lines out.

On the real Online Retail slice (no web events: a purchase is an order line), on DuckDB and
PostgreSQL, checked against a plain-Python reading of the file.
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from segmint.features import compute_features
from segmint.ingest import ingest
from segmint.segments.rules import compile_rule
from segmint.segments.rules._warehouse import (
    INPUTS,
    catalog_for,
    event_stream,
    rule_inputs,
    rule_members,
)
from segmint.warehouse import connect
from tests.conftest import fee_rule, retail_project

pytestmark = pytest.mark.realdata

AS_OF = datetime(2011, 1, 1)  # after the slice's last line (2010-12-01 .. 2010-12-03)
FEE_CODES = ("POST", "DOT", "M", "BANK CHARGES", "D", "C2")


def bought_lines(path: Path) -> tuple[Counter[str], Counter[str]]:
    """Customer -> purchases (distinct lines bought, not cancelled) without and with fees."""
    seen: set[tuple[str, ...]] = set()
    products: Counter[str] = Counter()
    fees: Counter[str] = Counter()
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            key = tuple(row.values())
            if key in seen or not row["CustomerID"]:
                continue
            seen.add(key)
            if int(row["Quantity"]) <= 0 or row["InvoiceNo"].startswith("C"):
                continue
            (fees if row["StockCode"] in FEE_CODES else products)[row["CustomerID"]] += 1
    return products, fees


def test_fee_lines_are_no_purchases(
    warehouse: str, online_retail_slice: Path, tmp_path: Path
) -> None:
    """Regression (issue 16, item 5): with no web events every order line became a
    purchase event, postage and bank charges included, so count(purchase, 30d) counted a
    customer's postage as something bought. Fee lines are no purchase now."""
    cfg = retail_project(warehouse, online_retail_slice, tmp_path, fee_rule(FEE_CODES))
    assert ingest(cfg).total("rejected") == 0  # the reference reads every line as loaded
    products, fees = bought_lines(online_retail_slice)
    assert sum(fees.values()) >= 5  # the slice's customers paid postage and charges
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        stream = event_stream(wh)
        assert stream is not None
        bought = stream.filter(stream.event_type == "purchase")
        counts = bought.group_by("customer_id").aggregate(n=bought.count())
        got = {r["customer_id"]: r["n"] for r in wh.to_arrow(counts).to_pylist()}
        assert got == dict(products)

        compute_features(wh, AS_OF)
        # a customer whose fee lines alone would lift them over the bar is not a member
        lifted = {c for c in fees if products[c] < 20 <= products[c] + fees[c]}
        rule = compile_rule("count(purchase, 60d) >= 20", catalog_for(wh))
        inputs = rule_inputs(wh, [rule], AS_OF)
        try:
            members = {
                r["customer_id"] for r in wh.to_arrow(rule_members(rule, inputs)).to_pylist()
            }
        finally:
            wh.drop(INPUTS)
    assert lifted == {"12583"}  # 19 lines bought and a POSTAGE line
    assert members == {c for c, n in products.items() if n >= 20}
    assert not lifted & members
