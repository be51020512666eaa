"""Features as of a time: hand-checked values, no look-ahead, real data, both warehouses."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from segmint.config import load_config
from segmint.features import FEATURES, compute_features, data_end, feature_table
from segmint.ingest import ingest
from segmint.profiles import customer_profile
from segmint.warehouse import connect
from tests.conftest import copy_example, write

T0 = datetime(2024, 3, 1)
EVENTS = """\
event_id,event_type,ts,customer_id,anonymous_id,session_id,product_id,category,price,device,channel
1,product_view,2024-02-29 23:00,,anon-a,s1,p1,Women > Dresses,50,mobile,email
2,add_to_cart,2024-02-29 23:05,,anon-a,s1,p1,Women > Dresses,50,mobile,email
3,login,2024-02-29 23:06,a,anon-a,s1,,,,mobile,email
4,product_view,2024-02-23 10:00,a,,s2,p2,Home > Lamps,20,desktop,organic
5,purchase,2024-02-23 10:10,a,,s2,p2,Home > Lamps,20,desktop,organic
6,product_view,2024-02-16 10:00,a,,s3,p3,Women > Shoes,80,desktop,organic
7,product_view,2024-03-01 00:00,a,,s4,p1,Women > Dresses,50,mobile,email
8,product_view,2024-01-20 08:00,b,,s5,p2,Home > Lamps,20,tablet,direct
"""
ORDERS = """\
order_id,customer_id,ts,status,total,discount
o1,a,2024-02-23 10:10,delivered,20,0
o2,a,2024-01-02 12:00,delivered,100,10
o3,a,2024-01-10 12:00,returned,30,0
o4,b,2023-11-01 09:00,delivered,40,0
o5,b,2024-03-05 09:00,delivered,999,0
"""


def shop(tmp_path: Path) -> Path:
    write(tmp_path / "events.csv", EVENTS)
    write(tmp_path / "orders.csv", ORDERS)
    write(
        tmp_path / "segmint.yaml",
        "project: f\nsources:\n  - {name: web, path: events.csv, table: events}\n"
        "  - {name: shop, path: orders.csv, table: orders}\n",
    )
    ingest(load_config(tmp_path / "segmint.yaml"))
    return tmp_path


def rows(root: Path, as_of: datetime = T0) -> dict[str, dict]:
    cfg = load_config(root / "segmint.yaml")
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        compute_features(wh, as_of)
        got = wh.to_arrow(wh.table(FEATURES).filter(lambda t: t.as_of == as_of)).to_pylist()
    return {r["customer_id"]: r for r in got}


def test_hand_checked_values(tmp_path: Path) -> None:
    """RFM, windows, sessions, shares and lifecycle of a customer whose history is known."""
    f = rows(shop(tmp_path))
    a = f["a"]
    assert a["frequency"] == 2  # o1, o2; o3 is a return
    assert a["monetary"] == pytest.approx(120.0)  # the returned order earns nothing
    assert a["avg_order_value"] == pytest.approx(60.0)
    last = datetime(2024, 2, 23, 10, 10)
    assert a["recency_days"] == pytest.approx((T0 - last).total_seconds() / 86400)
    assert a["days_between_orders"] == pytest.approx(
        (datetime(2024, 2, 23, 10, 10) - datetime(2024, 1, 2, 12)).total_seconds() / 86400
    )
    assert a["return_rate"] == pytest.approx(0.5)
    assert a["discount_share"] == pytest.approx(0.5)
    # anonymous browsing before login counts; the view at exactly T does not
    assert (a["views_1d"], a["carts_1d"], a["views_7d"], a["views_14d"]) == (1, 1, 2, 3)
    assert (a["purchases_7d"], a["orders_7d"], a["orders_90d"]) == (1, 1, 2)
    assert (a["sessions_14d"], a["products_14d"], a["categories_14d"]) == (3, 3, 3)
    assert a["browse_to_buy"] == pytest.approx(1 / 3)
    assert a["cart_abandonment"] == pytest.approx(1.0)  # s1 had a cart and no purchase
    assert a["share_mobile"] == pytest.approx(3 / 6)
    assert a["favourite_category"] == "Women"
    assert a["cat_women_share"] == pytest.approx(3 / 5)
    assert (a["is_active"], a["is_lapsing"], a["is_new"]) == (True, False, False)
    b = f["b"]
    # b's order after T is not seen: one order, recency from 2023-11-01
    assert (b["frequency"], b["monetary"]) == (1, pytest.approx(40.0))
    assert (b["views_90d"], b["is_active"], b["is_lapsing"]) == (1, False, True)
    assert math.isnan(b["avg_session_minutes"]) or b["avg_session_minutes"] == 0


def test_customers_first_seen_after_t_are_left_out(tmp_path: Path) -> None:
    """As of 2023-12-01 only b existed; a's rows are all later."""
    f = rows(shop(tmp_path), datetime(2023, 12, 1))
    assert set(f) == {"b"}


def test_no_look_ahead_when_later_data_arrives(tmp_path: Path) -> None:
    """Features as of T do not change when events and orders after T are ingested."""
    root = shop(tmp_path)
    before = rows(root)
    write(
        root / "events2.csv",
        EVENTS.splitlines()[0]
        + "\n9,purchase,2024-03-02 10:00,a,,s9,p9,Garden > Tools,500,mobile,email\n",
    )
    (root / "segmint.yaml").write_text(
        (root / "segmint.yaml").read_text().replace("path: events.csv", "path: events*.csv")
    )
    ingest(load_config(root / "segmint.yaml"))
    assert rows(root) == before


def test_recompute_replaces_and_history_accumulates(tmp_path: Path) -> None:
    """The same as-of twice gives one set of rows; another as-of adds its own."""
    root = shop(tmp_path)
    rows(root)
    rows(root)
    rows(root, datetime(2024, 2, 1))
    con = duckdb.connect(str(root / ".segmint" / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT as_of, count(*) FROM features GROUP BY 1 ORDER BY 1").fetchall() == [
        (datetime(2024, 2, 1), 2),
        (T0, 2),
    ]


def test_data_end_is_the_day_after_the_last_row(tmp_path: Path) -> None:
    cfg = load_config(shop(tmp_path) / "segmint.yaml")
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        assert data_end(wh) == datetime(2024, 3, 6)


@pytest.mark.realdata
def test_online_retail_rfm_matches_plain_sql(
    online_retail: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recency, frequency and monetary of all 4,372 customers equal a plain SQL computation
    over the raw file (cancellations are returns; repeated lines count once)."""
    monkeypatch.setenv("SEGMINT_DATA", str(online_retail.parents[1]))
    copy_example("online_retail", tmp_path / "ex")
    cfg = load_config(tmp_path / "ex" / "segmint.yaml")
    ingest(cfg)
    as_of = datetime(2011, 12, 10)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        expr, _defs = feature_table(wh, as_of)
        ours = {
            r["customer_id"]: r
            for r in wh.to_arrow(
                expr.select("customer_id", "recency_days", "frequency", "monetary")
            ).to_pylist()
        }
    raw = duckdb.connect()
    ref = raw.execute(
        f"""
        WITH d AS (SELECT DISTINCT * FROM read_csv('{online_retail}') WHERE UnitPrice >= 0),
        inv AS (
          SELECT CAST(CustomerID AS VARCHAR) AS c, InvoiceNo,
                 min(InvoiceDate) AS ts, sum(Quantity * UnitPrice) AS v,
                 InvoiceNo LIKE 'C%' OR bool_and(Quantity < 0) AS ret
          FROM d WHERE CustomerID IS NOT NULL GROUP BY 1, 2)
        SELECT c, count(*) FILTER (NOT ret), sum(v),
               max(ts) FILTER (NOT ret)
        FROM inv GROUP BY c
        """
    ).fetchall()
    assert len(ref) == len(ours) == 4372
    for c, freq, money, last in ref:
        got = ours[c]
        assert got["frequency"] == freq, c
        assert got["monetary"] == pytest.approx(money, abs=0.01), c
        if last is None:
            assert got["recency_days"] is None or math.isnan(got["recency_days"])
        else:
            # London wall-clock times are stored in UTC: at most an hour apart
            want = (as_of - last).total_seconds() / 86400
            assert abs(got["recency_days"] - want) <= 1 / 24 + 1e-9, c


@pytest.mark.postgres
def test_postgres_gives_the_same_features(tmp_path: Path, pg_url: str) -> None:
    """The same project on PostgreSQL computes the same feature values."""
    duck = rows(shop(tmp_path / "duck"))
    root = tmp_path / "pg"
    shop_dir = root
    write(shop_dir / "events.csv", EVENTS)
    write(shop_dir / "orders.csv", ORDERS)
    write(
        shop_dir / "segmint.yaml",
        f"project: f\nwarehouse: {pg_url}\n"
        "sources:\n  - {name: web, path: events.csv, table: events}\n"
        "  - {name: shop, path: orders.csv, table: orders}\n",
    )
    ingest(load_config(shop_dir / "segmint.yaml"))
    pg = rows(shop_dir)
    assert pg.keys() == duck.keys()
    for c in duck:
        for k, v in duck[c].items():
            w = pg[c][k]
            if isinstance(v, float) and not math.isnan(v):
                assert w == pytest.approx(v, rel=1e-9, abs=1e-9), (c, k)
            elif isinstance(v, float):
                assert w is None or math.isnan(w), (c, k)
            else:
                assert w == v, (c, k)


def test_discounts_on_order_lines_count_toward_discount_share(tmp_path: Path) -> None:
    """Regression: an order whose discount is only on its lines (no order header, or a header
    without one) counted as undiscounted, so discount_share was 0 for every generated shop."""
    write(
        tmp_path / "lines.csv",
        "order_id,line_no,product_id,quantity,unit_price,discount,customer_id,ts\n"
        "o1,1,p1,1,10,2,a,2024-01-05 10:00\n"
        "o1,2,p2,1,5,,a,2024-01-05 10:00\n"
        "o2,1,p1,2,10,,a,2024-02-05 10:00\n",
    )
    write(
        tmp_path / "segmint.yaml",
        "project: d\nsources:\n  - {name: lines, path: lines.csv, table: order_lines}\n",
    )
    f = rows(shop_root(tmp_path))
    assert f["a"]["discount_share"] == pytest.approx(0.5)
    assert f["a"]["monetary"] == pytest.approx(10 - 2 + 5 + 20)


def shop_root(root: Path) -> Path:
    ingest(load_config(root / "segmint.yaml"))
    return root


RETURNS = """\
order_id,line_no,customer_id,product_id,quantity,unit_price,status,ts
o1,1,c1,p1,2,10,,2024-01-05 10:00
o2,1,c1,p2,1,15,returned,2024-01-06 10:00
o2,2,c1,p2,-1,15,returned,2024-01-06 10:00
o3,1,c2,p1,1,30,refunded,2024-01-07 10:00
o4,1,c2,p2,1,5,,2024-01-08 10:00
o5,1,c3,p1,3,10,,2024-01-09 10:00
C6,1,c3,p1,-1,10,,2024-01-10 10:00
o7,1,c4,p1,1,10,,2024-01-11 10:00
o7,2,c4,p2,-1,4,,2024-01-11 10:00
"""
# what each customer keeps, by hand: a return is taken back once whichever way it is written
NET = {"c1": 20.0, "c2": 5.0, "c3": 20.0, "c4": 6.0}


@pytest.mark.parametrize(
    "backend", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_every_form_of_return_is_taken_back_once(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """Regression (issue 14, defect 2 follow-up): an order listing its lines and then the same
    lines negated under a 'returned' status (how the generator and many shop exports write a
    return) was subtracted twice, so monetary went negative and the synthetic shop's
    clusters stopped following its personas. Profiles and features agree on every form."""
    warehouse = f"warehouse: {request.getfixturevalue('pg_url')}\n" if backend == "postgres" else ""
    write(tmp_path / "lines.csv", RETURNS)
    write(
        tmp_path / "segmint.yaml",
        f"project: r\n{warehouse}sources:\n  - {{name: lines, path: lines.csv, table: order_lines,"
        " returns: {order_id_prefix: C}}\n",
    )
    f = rows(shop_root(tmp_path))
    cfg = load_config(tmp_path / "segmint.yaml")
    for c, net in NET.items():
        assert f[c]["monetary"] == pytest.approx(net), c
        assert f[c]["revenue_90d"] == pytest.approx(net), c
        assert customer_profile(cfg, c)["revenue"] == pytest.approx(net), c
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        orders = wh.to_arrow(wh.table("orders")).to_pylist()
    taken = {o["order_id"]: o["returned_value"] for o in orders}
    assert taken == pytest.approx(
        {"o1": 0, "o2": 15, "o3": 30, "o4": 0, "o5": 0, "C6": 10, "o7": 4}
    )
