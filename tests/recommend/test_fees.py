"""Fee lines (``fees:``) are never interactions, catalogue products, recommendations or reasons.

On the real Online Retail file, on DuckDB and PostgreSQL, each reader is checked against a
plain-Python reading of the same lines.
"""

from __future__ import annotations

import csv
import gzip
import itertools
import statistics
from collections import Counter
from pathlib import Path

import pytest

from segmint.config import InteractionsConfig, ProjectConfig
from segmint.ingest import ingest
from segmint.recommend import (
    catalogue_from_warehouse,
    customer_price_levels,
    interactions_from_warehouse,
)
from segmint.recommend._batch import RECOMMENDATIONS, train_project
from segmint.warehouse import connect
from tests.conftest import fee_rule, retail_project

pytestmark = pytest.mark.realdata

#: Online Retail's fee codes among its first 30,000 lines (the example's rule names them all)
FEE_CODES = ("POST", "DOT", "M", "C2", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK")


def project(
    warehouse: str, retail: Path, base: Path, *, fees: bool = True, models: str = "[popularity]"
) -> ProjectConfig:
    rule = fee_rule(FEE_CODES) if fees else ""
    return retail_project(
        warehouse, retail, base, f"{rule}recommend:\n  models: {models}\n  k: 10\n"
    )


def distinct_rows(path: Path) -> list[dict[str, str]]:
    """The file's distinct lines (ingest keeps one copy of an exact repeat)."""
    seen: set[tuple[str, ...]] = set()
    out = []
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            key = tuple(row.values())
            if key not in seen:
                seen.add(key)
                out.append(row)
    return out


@pytest.fixture(scope="module")
def retail_30k(online_retail: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 30,000 invoice lines of the real file: enough customers paying postage that
    the models learn it (41 POSTAGE lines of 35 customers)."""
    out = tmp_path_factory.mktemp("retail30k") / "online_retail_30k.csv"
    with gzip.open(online_retail, "rt", encoding="utf-8") as src, out.open("w") as dst:
        dst.writelines(itertools.islice(src, 30_001))
    return out


def test_interactions_catalogue_and_price_levels_leave_fee_lines_out(
    warehouse: str, online_retail_slice: Path, tmp_path: Path
) -> None:
    """Regression (issue 16, item 5): postage and charges were interactions like any bought
    product (and in the catalogue), so the models learnt POSTAGE as the shop's most bought
    item and recommended it; the price band read a postage line as a price paid. Fee lines
    are no interaction, no catalogue product and no price paid now."""
    cfg = project(warehouse, online_retail_slice, tmp_path)
    assert ingest(cfg).total("rejected") == 0  # the reference reads every line as loaded
    rows = distinct_rows(online_retail_slice)
    bought = [
        r
        for r in rows
        if r["CustomerID"] and int(r["Quantity"]) >= 0 and not r["InvoiceNo"].startswith("C")
    ]
    assert {r["StockCode"] for r in bought} & set(FEE_CODES)  # the slice has fee lines
    products = [r for r in bought if r["StockCode"] not in FEE_CODES]
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        inter = interactions_from_warehouse(
            wh, InteractionsConfig(half_life_days=None, returns="ignore")
        )
        catalogue = catalogue_from_warehouse(wh)
        levels = customer_price_levels(wh)
    got = Counter(zip(inter.frame["customer_id"], inter.frame["product_id"], strict=True))
    assert got == Counter((r["CustomerID"], r["StockCode"]) for r in products)
    codes = {r["StockCode"] for r in rows}
    assert set(catalogue["product_id"]) == codes - set(FEE_CODES)
    paid: dict[str, list[float]] = {}
    for r in products:
        paid.setdefault(r["CustomerID"], []).append(float(r["UnitPrice"]))
    assert set(levels.index) == set(paid)
    for cid, prices in paid.items():
        assert levels[cid] == pytest.approx(statistics.median(prices)), cid


@pytest.mark.slow
def test_no_recommendation_or_reason_names_a_fee_line(retail_30k: Path, tmp_path: Path) -> None:
    """Regression (issue 16, item 5): the demo recommended POSTAGE 24 times and 125 reasons
    read "because you bought POSTAGE". On the first 30,000 real lines the same models do
    so without fees: (the control below); with it, no pick and no reason names a fee line."""
    picks = {}
    for fees in (False, True):
        base = tmp_path / ("fees" if fees else "none")
        base.mkdir()
        cfg = project(
            f"duckdb:///{base / 'wh.duckdb'}",
            retail_30k,
            base,
            fees=fees,
            models="[popularity, item_knn, ease]",
        )
        ingest(cfg)
        with connect(cfg.warehouse, cfg.base_dir) as wh:
            train_project(wh, cfg, evaluate_first=False, write=True)
            picks[fees] = wh.to_arrow(wh.table(RECOMMENDATIONS)).to_pandas()
    control, got = picks[False], picks[True]
    assert control["product_id"].isin(FEE_CODES).any()  # without the rule: POSTAGE picked
    assert control["reason_product_id"].isin(FEE_CODES).any()
    assert control["reason"].str.contains("POSTAGE").any()
    assert len(got) >= 0.9 * len(control)  # every customer still gets recommendations
    assert not got["product_id"].isin(FEE_CODES).any()
    assert not got["reason_product_id"].isin(FEE_CODES).any()
    titles = ("POSTAGE", "Manual", "CARRIAGE", "Discount", "SAMPLES", "Bank Charges")
    assert not got["reason"].str.contains("|".join(titles), na=False).any()
