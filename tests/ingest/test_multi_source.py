"""A shop exported as several CSVs, shaped like the public Olist e-commerce dataset.

Orders, order items without timestamps or customers, products, and customers whose accounts
share a person id (``customer_unique_id``): written the way a user would from
docs/configuration.md, with hand-computed answers.
"""

from __future__ import annotations

import textwrap
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from segmint.config import load_config
from segmint.ingest import IngestReport, ingest
from tests.conftest import write

CUSTOMERS = """\
"customer_id","customer_unique_id","customer_zip_code_prefix","customer_city","customer_state"
"c-a1","p-anna","01310","sao paulo","SP"
"c-a2","p-anna","01310","sao paulo","SP"
"c-b1","p-bruno","20040","rio de janeiro","RJ"
"c-c1","p-carla","30130","belo horizonte","MG"
"c-c1","p-carla","30130","belo horizonte","MG"
"""
ORDERS = """\
"order_id","customer_id","order_status","order_purchase_timestamp","order_approved_at"
"o1","c-a1","delivered","2017-10-02 10:56:33","2017-10-02 11:07:15"
"o2","c-a2","delivered","2018-07-24 20:41:37","2018-07-26 03:24:27"
"o3","c-b1","canceled","2018-08-08 08:38:49","2018-08-08 08:55:23"
"o4","c-c1","shipped","2017-11-18 19:28:06","2017-11-18 19:45:59"
"o5","c-c1","unavailable","2018-02-13 21:18:39","2018-02-13 22:20:29"
"o6","c-zz","delivered","not a date",""
"""
ITEMS = """\
"order_id","order_item_id","product_id","seller_id","shipping_limit_date","price","freight_value"
"o1","1","prod-1","s1","2017-10-06 11:07:15","29.99","8.72"
"o1","2","prod-2","s1","2017-10-06 11:07:15","10.00","8.72"
"o2","1","prod-1","s2","2018-07-30 03:24:27","118.70","22.76"
"o3","1","prod-3","s3","2018-08-13 08:55:23","159.90","19.22"
"o4","1","prod-2","s1","2017-11-23 19:45:59","45.00","27.20"
"o4","1","prod-2","s1","2017-11-23 19:45:59","45.00","27.20"
"o5","1","prod-4","s4","2018-02-19 20:31:37","19.90","8.72"
"""
PRODUCTS = """\
"product_id","product_category_name","product_name_lenght","product_weight_g"
"prod-1","perfumaria","40","225"
"prod-2","artes","44","1000"
"prod-3","esporte_lazer","46","154"
"""

PROJECT = """\
project: olist-like
warehouse: duckdb:///.segmint/warehouse.duckdb
timezone: America/Sao_Paulo
sources:
  - name: customers
    path: data/olist_customers_dataset.csv
    table: customers
    columns: {customer_id: customer_id, person_id: customer_unique_id, city: customer_city}
  - name: orders
    path: data/olist_orders_dataset.csv
    table: orders
    columns: {order_id: order_id, customer_id: customer_id, status: order_status,
              ts: order_purchase_timestamp}
  - name: items
    path: data/olist_order_items_dataset.csv
    table: order_lines
    columns: {order_id: order_id, line_no: order_item_id, product_id: product_id,
              unit_price: price}
  - name: products
    path: data/olist_products_dataset.csv
    table: products
    columns: {product_id: product_id, category: product_category_name}
"""


@pytest.fixture
def shop(tmp_path: Path) -> tuple[Path, IngestReport]:
    for name, text in (
        ("olist_customers_dataset.csv", CUSTOMERS),
        ("olist_orders_dataset.csv", ORDERS),
        ("olist_order_items_dataset.csv", ITEMS),
        ("olist_products_dataset.csv", PRODUCTS),
    ):
        write(tmp_path / "data" / name, text)
    write(tmp_path / "segmint.yaml", textwrap.dedent(PROJECT))
    return tmp_path, ingest(load_config(tmp_path))


def q(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / ".segmint" / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_row_of_every_file_is_accounted_for(shop: tuple[Path, IngestReport]) -> None:
    _, report = shop
    by = {f.source: f for f in report.files}
    assert all(f.balanced and f.status == "loaded" for f in report.files)
    assert (by["customers"].records, by["customers"].loaded, by["customers"].duplicates) == (
        5,
        4,
        1,
    )
    assert (by["orders"].loaded, by["orders"].rejected) == (5, 1)  # o6: unparseable date
    assert by["orders"].rules == {"ts_type": {"action": "rejected", "rows": 1}}
    assert (by["items"].loaded, by["items"].duplicates) == (6, 1)  # (o4, 1) twice
    assert by["products"].loaded == 3


def test_accounts_sharing_a_person_id_are_one_customer(shop: tuple[Path, IngestReport]) -> None:
    root, report = shop
    assert report.identity.persons == 3
    ids = dict(
        q(
            root,
            "SELECT identifier, customer_id FROM identities WHERE identifier_type = 'customer_id'",
        )
    )
    assert ids["c-a1"] == ids["c-a2"] == "c-a1"
    assert ids["c-b1"] == "c-b1"
    profiles = q(
        root,
        "SELECT customer_id, n_accounts, n_orders, n_returns, round(revenue, 2), city "
        "FROM customers ORDER BY 1",
    )
    assert profiles == [
        ("c-a1", 2, 2, 0, 158.69, "sao paulo"),  # 29.99 + 10.00 + 118.70 over two accounts
        # issue 14 defect 2: a cancelled order's value is no revenue (was 159.90 and 64.90)
        ("c-b1", 1, 0, 1, 0.0, "rio de janeiro"),  # its only order was cancelled
        ("c-c1", 1, 1, 1, 45.0, "belo horizonte"),  # o5 unavailable counts as cancelled
    ]


def test_orders_get_totals_and_lines_get_time_and_customer(
    shop: tuple[Path, IngestReport],
) -> None:
    root, _ = shop
    orders = q(
        root, "SELECT order_id, status, n_lines, round(revenue, 2), ts FROM orders ORDER BY 1"
    )
    assert orders == [
        # São Paulo: UTC-3, and UTC-2 in summer time (2017-10-15 to 2018-02-18)
        ("o1", "delivered", 2, 39.99, datetime(2017, 10, 2, 13, 56, 33)),
        ("o2", "delivered", 1, 118.7, datetime(2018, 7, 24, 23, 41, 37)),
        # a cancelled order earns nothing (issue 14 defect 2)
        ("o3", "cancelled", 1, 0.0, datetime(2018, 8, 8, 11, 38, 49)),
        ("o4", "shipped", 1, 45.0, datetime(2017, 11, 18, 21, 28, 6)),
        ("o5", "cancelled", 1, 0.0, datetime(2018, 2, 13, 23, 18, 39)),
    ]
    returned = q(root, "SELECT order_id, round(returned_value, 2) FROM orders ORDER BY 1")
    assert returned == [("o1", 0.0), ("o2", 0.0), ("o3", 159.9), ("o4", 0.0), ("o5", 19.9)]
    lines = q(
        root, "SELECT order_id, customer_id, ts IS NOT NULL FROM order_lines WHERE line_no = 2"
    )
    assert lines == [("o1", "c-a1", True)]
    products = q(root, "SELECT product_id, category, origin FROM products ORDER BY 1")
    assert products == [
        ("prod-1", "perfumaria", "source"),
        ("prod-2", "artes", "source"),
        ("prod-3", "esporte_lazer", "source"),
        ("prod-4", None, "order_lines"),  # sold but missing from the catalogue
    ]
