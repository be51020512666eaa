"""Fee lines (``fees:``) on the real Online Retail slice, on DuckDB and PostgreSQL.

Each answer is checked against a plain-Python reading of the same file: which distinct lines
carry a fee code or title, and which codes are left.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from segmint.config import ProjectConfig, parse_config
from segmint.ingest import ingest
from segmint.report import report_dict
from segmint.warehouse import connect
from tests.conftest import retail_project, write

pytestmark = pytest.mark.realdata

RETAIL_COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
#: the rule of the example (examples/online_retail/segmint.yaml) in the three forms
FEES = """\
    fees:
      product_ids: [POST, DOT, M, BANK CHARGES]
      product_id_pattern: "^C[0-9]$"
      title_pattern: "(?i)^discount$"
"""
#: the codes of the slice (its first 5,000 lines) that FEES names
SLICE_FEES = {"POST", "DOT", "M", "BANK CHARGES", "C2", "D"}


def is_fee_code(code: str, title: str) -> bool:
    """The rule of FEES, read by hand."""
    return (
        code in {"POST", "DOT", "M", "BANK CHARGES"}
        or re.search(r"^C[0-9]$", code) is not None
        or title.lower() == "discount"
    )


def project(warehouse: str, retail: Path, base: Path, fees: str = FEES) -> ProjectConfig:
    return retail_project(warehouse, retail, base, fees)


def distinct_lines(path: Path) -> set[tuple[str, ...]]:
    """The file's distinct lines (ingest keeps one copy of an exact repeat)."""
    with path.open(encoding="utf-8") as f:
        return {tuple(row[c] for c in RETAIL_COLUMNS) for row in csv.DictReader(f)}


def fee_marks(cfg: ProjectConfig) -> dict[str, tuple[int, int]]:
    """product_id -> (fee lines, product lines) as stored."""
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        t = wh.table("order_lines")
        rows = wh.to_arrow(
            t.group_by("product_id").aggregate(
                fee=t.count(where=t.is_fee), product=t.count(where=~t.is_fee)
            )
        ).to_pylist()
    return {r["product_id"]: (r["fee"], r["product"]) for r in rows}


def test_fee_lines_are_marked_at_ingest(
    warehouse: str, online_retail_slice: Path, tmp_path: Path
) -> None:
    """Regression (issue 16, item 5): postage, bank charges and manual adjustments were
    products like any other; the demo recommended POSTAGE. Ingest now marks every line the
    source's fees: rule names (by id, id pattern or title), stores the mark on both backends,
    leaves those codes out of products and counts them in the report."""
    cfg = project(warehouse, online_retail_slice, tmp_path)
    report = ingest(cfg)
    assert report.total("rejected") == 0  # the reference below reads every line as loaded

    lines = distinct_lines(online_retail_slice)
    want: dict[str, int] = {}
    for line in lines:
        code, title = line[1], line[2]
        if is_fee_code(code, title):
            want[code] = want.get(code, 0) + 1
    assert set(want) == SLICE_FEES

    marks = fee_marks(cfg)
    assert {code: fee for code, (fee, _) in marks.items() if fee} == want
    assert all(product == 0 for code, (_, product) in marks.items() if code in want)
    assert sum(fee for fee, _ in marks.values()) == sum(want.values())

    with connect(cfg.warehouse, cfg.base_dir) as wh:
        products = {r["product_id"] for r in wh.to_arrow(wh.table("products")).to_pylist()}
    assert not products & set(want)
    assert len(products) == len({line[1] for line in lines} - set(want))

    fees = report.fees["transactions"]
    assert (fees.lines, fees.codes, fees.remarked) == (sum(want.values()), len(want), 0)
    assert {t["product_id"] for t in fees.top} == set(want)
    assert report_dict(report)["fees"]["transactions"]["lines"] == sum(want.values())


def test_a_changed_rule_re_marks_the_stored_lines(
    warehouse: str, online_retail_slice: Path, tmp_path: Path
) -> None:
    """Regression (issue 16, item 5): a fees: rule changed after the file was loaded must not
    leave the stored lines marked by the old one (a re-run skips the file): the next run
    re-marks exactly the lines whose answer changed."""
    first = project(warehouse, online_retail_slice, tmp_path, "    fees: {product_ids: [POST]}\n")
    ingest(first)
    assert {c for c, (fee, _) in fee_marks(first).items() if fee} == {"POST"}

    second = project(warehouse, online_retail_slice, tmp_path)
    report = ingest(second)
    assert all(f.status == "skipped" for f in report.files)
    marks = fee_marks(second)
    assert {c for c, (fee, _) in marks.items() if fee} == SLICE_FEES
    new = sum(fee for code, (fee, _) in marks.items() if code != "POST")
    assert report.fees["transactions"].remarked == new

    third = project(warehouse, online_retail_slice, tmp_path, "")
    report = ingest(third)
    assert not any(fee for fee, _ in fee_marks(third).values())
    assert report.fees["transactions"].lines == 0
    assert report.fees["transactions"].remarked == sum(fee for fee, _ in marks.values())


def test_a_catalogue_item_seen_only_on_fee_lines_is_no_product(tmp_path: Path) -> None:
    """Regression (issue 16, item 5): a shop whose catalogue lists its shipping as an item
    kept it in products (and so among the things to recommend) even once its lines are fee
    lines; an id on product lines too keeps its product."""
    write(tmp_path / "products.csv", "product_id,title\nSHIP,Shipping\np1,Mug\np2,Plate\n")
    write(
        tmp_path / "lines.csv",
        "order_id,line_no,product_id,title,quantity,unit_price,customer_id,ts\n"
        "o1,1,p1,Mug,2,5,a,2024-01-02 10:00\n"
        "o1,2,SHIP,Shipping,1,4.5,a,2024-01-02 10:00\n"
        "o2,1,p2,Plate,1,8,b,2024-01-03 10:00\n"
        "o2,2,p2,Postage,1,3,b,2024-01-03 10:00\n",
    )
    write(
        tmp_path / "segmint.yaml",
        "project: c\nsources:\n"
        "  - {name: products, path: products.csv, table: products}\n"
        "  - name: lines\n    path: lines.csv\n    table: order_lines\n"
        "    fees: {product_ids: [SHIP], title_pattern: '(?i)postage'}\n",
    )
    cfg = parse_config((tmp_path / "segmint.yaml").read_text(), base_dir=tmp_path)
    report = ingest(cfg)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        products = {r["product_id"] for r in wh.to_arrow(wh.table("products")).to_pylist()}
        orders = {r["order_id"]: r for r in wh.to_arrow(wh.table("orders")).to_pylist()}
    assert products == {"p1", "p2"}
    assert (report.fees["lines"].lines, report.fees["lines"].codes) == (2, 2)
    # included in revenue by default: the invoice total
    assert orders["o1"]["revenue"] == pytest.approx(14.5)
    assert orders["o2"]["revenue"] == pytest.approx(11.0)


def test_no_rule_marks_no_line(online_retail_slice: Path, tmp_path: Path) -> None:
    """Without fees: every line is a product, and the column is there all the same."""
    cfg = project(f"duckdb:///{tmp_path / 'wh.duckdb'}", online_retail_slice, tmp_path, "")
    report = ingest(cfg)
    marks = fee_marks(cfg)
    assert "POST" in marks and not any(fee for fee, _ in marks.values())
    assert report.fees["transactions"].lines == 0


def test_report_names_the_fee_codes(online_retail_slice: Path, tmp_path: Path) -> None:
    """The ingest report (JSON and HTML) shows the fee lines and their codes."""
    from segmint.report import render_html

    cfg = project(f"duckdb:///{tmp_path / 'wh.duckdb'}", online_retail_slice, tmp_path)
    data = report_dict(ingest(cfg))
    top = {t["product_id"]: t for t in data["fees"]["transactions"]["top"]}
    assert top["POST"]["title"] == "POSTAGE"
    html = render_html(data)
    assert "Fee lines (not products)" in html and "<code>POST</code> POSTAGE" in html
