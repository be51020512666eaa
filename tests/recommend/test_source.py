"""Interactions, catalogue, segments and price levels read from the warehouse.

A hand-built shop (ingested for real, on DuckDB and PostgreSQL) has known answers: weights,
returns, decay, identity and the as-of cut-off. A generated shop checks the same rules at
scale against plain SQL over the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from segmint.config import InteractionsConfig, RecommendConfig, load_config, parse_config
from segmint.errors import ConfigError, SchemaError
from segmint.features import data_end
from segmint.generate import generate_shop
from segmint.ingest import ingest
from segmint.recommend._source import (
    CATALOGUE_COLUMNS,
    catalogue_from_warehouse,
    customer_price_levels,
    customer_segments,
    interactions_from_warehouse,
)
from segmint.segments.membership import MEMBERSHIP, MEMBERSHIP_SCHEMA
from segmint.warehouse import IbisWarehouse, connect
from tests.conftest import write

T0 = datetime(2024, 3, 1)
NO_DECAY = InteractionsConfig(half_life_days=None)

EVENTS = """\
event_id,event_type,ts,customer_id,anonymous_id,session_id,product_id,category,device,country
1,product_view,2024-02-01 10:00,,anon-a,s1,p1,Women > Dresses,mobile,GB
2,add_to_cart,2024-02-01 10:05,,anon-a,s1,p1,Women > Dresses,mobile,GB
3,login,2024-02-01 10:06,a,anon-a,s1,,,mobile,GB
4,product_view,2024-02-10 10:00,b,,s2,p2,Home > Lamps,desktop,DE
5,page_view,2024-02-10 10:01,b,,s2,,,desktop,DE
6,product_view,2024-02-11 09:00,,anon-z,s3,p3,,tablet,FR
7,wishlist_add,2024-02-12 09:00,b,,s4,p2,Home > Lamps,desktop,DE
8,product_view,2024-03-01 00:00,a,,s5,p2,Home > Lamps,mobile,GB
"""
# p1 bought and returned by a later line; o2 bought and marked returned; o4's order is
# cancelled (its line says nothing); o3 is a guest's
LINES = """\
order_id,line_no,product_id,quantity,unit_price,customer_id,ts,status,country
o1,1,p1,1,50,a,2024-02-02 12:00,,GB
o1,2,p2,2,20,a,2024-02-02 12:00,,GB
r1,1,p1,-1,50,a,2024-02-20 12:00,,GB
o2,1,p3,1,30,b,2024-02-05 12:00,returned,DE
o3,1,p4,1,10,,2024-02-06 12:00,,GB
o4,1,p5,1,15,b,2024-02-07 12:00,,DE
o5,1,p2,1,40,b,2024-02-08 12:00,,DE
"""
ORDERS = """\
order_id,customer_id,ts,status
o4,b,2024-02-07 12:00,cancelled
"""
PRODUCTS = """\
product_id,title,category,price,in_stock
p1,Red dress,Women > Dresses,50,true
p2,Desk lamp,Home > Lamps,20,false
p3,Spade,Garden > Tools,30,true
"""


def _project(root: Path) -> Path:
    write(root / "events.csv", EVENTS)
    write(root / "lines.csv", LINES)
    write(root / "orders.csv", ORDERS)
    write(root / "products.csv", PRODUCTS)
    return write(
        root / "segmint.yaml",
        "project: rec\nsources:\n"
        "  - {name: web, path: events.csv, table: events}\n"
        "  - {name: lines, path: lines.csv, table: order_lines}\n"
        "  - {name: orders, path: orders.csv, table: orders}\n"
        "  - {name: catalogue, path: products.csv, table: products}\n",
    )


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def hand(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IbisWarehouse]:
    """The hand-built shop, ingested into a DuckDB file or a PostgreSQL schema."""
    cfg = load_config(_project(tmp_path_factory.mktemp("hand")))
    if request.param == "postgres":
        wh = request.getfixturevalue("pg_wh")
        ingest(cfg, warehouse=wh)
        yield wh
        return
    ingest(cfg)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        yield wh


def pairs(frame: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Summed weight per (customer, product)."""
    g = frame.groupby(["customer_id", "product_id"])["weight"].sum()
    return {k: pytest.approx(v) for k, v in g.items()}


def test_hand_checked_weights_returns_and_identity(hand: IbisWarehouse) -> None:
    f = interactions_from_warehouse(hand, NO_DECAY, as_of=T0).frame
    # anonymous view and cart before login count toward a; p1 was bought, then returned
    assert pairs(f) == {
        ("a", "p1"): 1 + 3 + 5 - 5,
        ("a", "p2"): 5,  # one line of two units earns one line's credit
        ("b", "p2"): 1 + 2 + 5,
        ("b", "p3"): 0,  # bought and marked returned: no credit left
        ("b", "p5"): 0,  # its order was cancelled
        ("anonymous_id:anon-z", "p3"): 1,  # a visitor who never logged in is a person too
    }
    ret = f[(f.customer_id == "a") & (f.product_id == "p1") & (f.weight < 0)]
    assert ret.ts.tolist() == [pd.Timestamp("2024-02-20 12:00", tz="UTC")]
    # page views and logins have no weight; the guest's line has no one to belong to
    assert set(f.event_type) == {"product_view", "add_to_cart", "wishlist_add", "purchase"}
    assert "p4" not in set(f.product_id)


def test_context_columns(hand: IbisWarehouse) -> None:
    f = interactions_from_warehouse(hand, NO_DECAY, as_of=T0).frame
    assert str(f.ts.dtype).startswith("datetime64") and str(f.ts.dt.tz) == "UTC"
    assert f.ts.is_monotonic_increasing
    view = f[(f.customer_id == "anonymous_id:anon-z")].iloc[0]
    # no category on the event: the catalogue's
    assert (view.device, view.country, view.category) == ("tablet", "FR", "Garden > Tools")
    lines = f[f.event_type == "purchase"]
    assert lines.device.isna().all()
    assert set(lines.country) == {"GB", "DE"}
    assert lines.set_index("product_id").category.dropna().to_dict() == {
        "p1": "Women > Dresses",
        "p2": "Home > Lamps",
        "p3": "Garden > Tools",
    }


def test_as_of_leaves_out_rows_at_and_after_it(hand: IbisWarehouse) -> None:
    everything = interactions_from_warehouse(hand, NO_DECAY).frame
    # the default as-of is after the data ends: the view at exactly T0 is in
    at_t0 = everything[everything.ts == pd.Timestamp(T0, tz="UTC")]
    assert at_t0[["customer_id", "product_id"]].values.tolist() == [["a", "p2"]]
    before = interactions_from_warehouse(hand, NO_DECAY, as_of=T0).frame
    assert len(before) == len(everything) - 1
    cut = datetime(2024, 2, 5, 12)  # o2's line is stamped exactly then
    early = interactions_from_warehouse(hand, NO_DECAY, as_of=cut).frame
    assert (early.ts < pd.Timestamp(cut, tz="UTC")).all()
    want = everything[everything.ts < pd.Timestamp(cut, tz="UTC")]
    assert len(early) == len(want) == 4
    # an aware as-of means the same instant
    aware = interactions_from_warehouse(hand, NO_DECAY, as_of=cut.replace(tzinfo=UTC)).frame
    assert len(aware) == len(early)


def test_decay_halves_a_weight_at_one_half_life(hand: IbisWarehouse) -> None:
    # the return line is 9.5 days before T0
    cfg = InteractionsConfig(half_life_days=9.5)
    f = interactions_from_warehouse(hand, cfg, as_of=T0).frame.set_index("ts")
    ret = f.loc[pd.Timestamp("2024-02-20 12:00", tz="UTC")]
    assert ret.weight == pytest.approx(-2.5)
    bought = f.loc[pd.Timestamp("2024-02-02 12:00", tz="UTC")]  # 27.5 days: 2.89 half-lives
    assert bought.weight.tolist() == pytest.approx([5 * 0.5 ** (27.5 / 9.5)] * 2)


def test_window_days(hand: IbisWarehouse) -> None:
    f = interactions_from_warehouse(
        hand, InteractionsConfig(half_life_days=None, window_days=10), as_of=T0
    ).frame
    # from 2024-02-20 00:00: only the return line
    assert f[["customer_id", "product_id", "weight"]].values.tolist() == [["a", "p1", -5.0]]


def test_returns_ignore_keeps_the_purchase(hand: IbisWarehouse) -> None:
    cfg = InteractionsConfig(half_life_days=None, returns="ignore")
    f = interactions_from_warehouse(hand, cfg, as_of=T0).frame
    assert (f.weight > 0).all()
    got = pairs(f)
    assert got[("a", "p1")] == 1 + 3 + 5
    assert got[("b", "p3")] == 5 and got[("b", "p5")] == 5


def test_own_weights_and_repeat(hand: IbisWarehouse) -> None:
    cfg = InteractionsConfig(
        weights={"product_view": 0.5, "wishlist_add": 7}, order_weight=2, half_life_days=None
    )
    inter = interactions_from_warehouse(hand, cfg, as_of=T0)
    assert inter.repeat == "log"
    f = inter.frame
    by_type = f.groupby("event_type").weight.unique().map(sorted).to_dict()
    assert by_type == {"product_view": [0.5], "wishlist_add": [7.0], "purchase": [-2.0, 0.0, 2.0]}
    assert interactions_from_warehouse(hand, cfg.model_copy(update={"repeat": "max"})).repeat == (
        "max"
    )


def test_catalogue(hand: IbisWarehouse) -> None:
    cat = catalogue_from_warehouse(hand)
    assert list(cat.columns) == list(CATALOGUE_COLUMNS)
    rows = cat.set_index("product_id")
    # products only the order lines know are listed too
    assert list(rows.index) == ["p1", "p2", "p3", "p4", "p5"]
    assert rows.loc["p2", "title"] == "Desk lamp" and rows.loc["p2", "in_stock"] == False  # noqa: E712
    assert rows.loc["p1", "price"] == pytest.approx(50)
    assert rows.brand.isna().all()


def test_price_levels(hand: IbisWarehouse) -> None:
    levels = customer_price_levels(hand)
    # a: 50 and 20 (the return does not count); b: only o5 (o2 returned, o4 cancelled)
    assert levels.to_dict() == {"a": pytest.approx(35.0), "b": pytest.approx(40.0)}
    assert customer_price_levels(hand, as_of=datetime(2024, 2, 8)).to_dict() == {
        "a": pytest.approx(35.0)
    }


def test_interactions_feed_a_matrix(hand: IbisWarehouse) -> None:
    """Returns net against purchases in the matrix; pairs left with nothing are not stored."""
    inter = interactions_from_warehouse(hand, NO_DECAY.model_copy(update={"repeat": "sum"}))
    dense = pd.DataFrame(inter.matrix().toarray(), index=inter.users, columns=inter.items)
    assert dense.loc["a", "p1"] == pytest.approx(4)
    assert dense.loc["a", "p2"] == pytest.approx(5 + 1)  # with the view at T0
    assert dense.loc["b", "p3"] == 0 and dense.loc["b", "p5"] == 0


def _membership(wh: IbisWarehouse, rows: list[tuple]) -> None:
    wh.drop(MEMBERSHIP)
    wh.ensure_table(MEMBERSHIP, MEMBERSHIP_SCHEMA)
    for cid, seg, kind, score, entered, exited in rows:
        values = ", ".join(
            "NULL" if v is None else f"TIMESTAMP '{v}'" if isinstance(v, datetime) else repr(v)
            for v in (cid, seg, kind, score, entered, exited)
        )
        wh.execute(f"INSERT INTO {MEMBERSHIP} VALUES ({values})")


def test_customer_segments(hand: IbisWarehouse) -> None:
    jan, feb, mar = datetime(2024, 1, 1), datetime(2024, 2, 1), datetime(2024, 3, 1)
    assert customer_segments(hand).empty  # nothing segmented yet
    _membership(
        hand,
        [
            ("a", "rfm_loyal", "rfm", None, jan, feb),
            ("a", "rfm_champions", "rfm", None, feb, None),
            ("b", "rfm_at_risk", "rfm", None, jan, None),
            ("a", "browsers", "rule", None, jan, None),
            ("a", "big_spenders", "rule", None, jan, None),
            ("b", "browsers", "rule", 0.2, jan, None),
            ("b", "likely", "rule", 0.9, feb, None),
            ("c", "browsers", "rule", None, jan, mar),
        ],
    )
    assert customer_segments(hand).to_dict() == {"a": "rfm_champions", "b": "rfm_at_risk"}
    # as of mid-January a was still loyal
    assert customer_segments(hand, as_of=datetime(2024, 1, 15)).to_dict() == {
        "a": "rfm_loyal",
        "b": "rfm_at_risk",
    }
    # several at once: the highest score, then the first by name; c has left
    assert customer_segments(hand, "rule").to_dict() == {"a": "big_spenders", "b": "likely"}
    assert customer_segments(hand, "rule", as_of=datetime(2024, 1, 15)).to_dict() == {
        "a": "big_spenders",
        "b": "browsers",
        "c": "browsers",
    }
    assert customer_segments(hand, "cluster").empty
    with pytest.raises(ConfigError, match=r"segment kind 'rmf' is unknown.*rfm, cluster"):
        customer_segments(hand, "rmf")
    hand.drop(MEMBERSHIP)


# --- bad input --------------------------------------------------------------------------


def test_a_bad_event_type_is_named_with_the_valid_ones() -> None:
    with pytest.raises(ValidationError, match="'add_to_basket' is not an event type"):
        InteractionsConfig(weights={"add_to_basket": 3})
    text = "project: x\nrecommend:\n  interactions:\n    weights: {prodcut_view: 1}\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, base_dir=Path("."))
    (problem,) = info.value.problems
    assert problem.startswith("segmint.yaml:4: recommend.interactions.weights: 'prodcut_view'")
    assert "did you mean 'product_view'?" in problem
    assert "event types are: page_view, product_view, search, add_to_cart" in problem


def test_other_config_checks() -> None:
    cfg = parse_config("project: x\n", base_dir=Path(".")).recommend
    assert cfg == RecommendConfig()
    assert cfg.interactions.weights["purchase"] == 4 and cfg.k == 10
    for bad in (
        {"price_band": (2.0, 1.0)},
        {"k": 0},
        {"test_size": 0.5},
        {"max_per_category": 0},
        {"interactions": {"half_life_days": 0}},
        {"interactions": {"window_days": 0}},
        {"interactions": {"returns": "keep"}},
        {"interactions": {"weights": {"purchase": float("nan")}}},
    ):
        with pytest.raises(ValidationError):
            RecommendConfig.model_validate(bad)


def test_missing_tables_and_columns_are_named() -> None:
    with connect("duckdb://:memory:") as wh:
        with pytest.raises(SchemaError, match="neither an 'events' nor an 'order_lines' table"):
            interactions_from_warehouse(wh)
        wh.execute("CREATE TABLE events (event_type VARCHAR, ts TIMESTAMP, customer_id VARCHAR)")
        wh.execute("INSERT INTO events VALUES ('product_view', TIMESTAMP '2024-01-01', 'a')")
        with pytest.raises(SchemaError, match=r"table 'events' has no column.*'product_id'"):
            interactions_from_warehouse(wh)
        assert customer_price_levels(wh).empty
        empty = catalogue_from_warehouse(wh)
        assert empty.empty and list(empty.columns) == list(CATALOGUE_COLUMNS)


def test_an_empty_warehouse_gives_no_interactions() -> None:
    with connect("duckdb://:memory:") as wh:
        wh.execute(
            "CREATE TABLE order_lines (product_id VARCHAR, ts TIMESTAMP, customer_id VARCHAR)"
        )
        inter = interactions_from_warehouse(wh)
        assert len(inter) == 0 and inter.n_users == 0
        assert {"customer_id", "product_id", "weight", "ts"} <= set(inter.frame.columns)


# --- a generated shop, against SQL ------------------------------------------------------


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[IbisWarehouse, datetime]]:
    from segmint.privacy import generate_key

    mp = pytest.MonkeyPatch()
    mp.setenv("SEGMINT_KEY", generate_key())
    shop = generate_shop(tmp_path_factory.mktemp("shop"), customers=300, days=30, seed=2)
    cfg = load_config(shop.config_path)
    ingest(cfg)
    wh = connect(cfg.warehouse, cfg.base_dir)
    end = data_end(wh)
    assert end is not None
    yield wh, end
    wh.close()
    mp.undo()


def _sql_count(wh: IbisWarehouse, sql: str) -> int:
    return int(wh.to_arrow(wh.ibis.sql(sql)).column(0)[0].as_py())


def test_generated_shop_matches_sql(shop: tuple[IbisWarehouse, datetime]) -> None:
    wh, _ = shop
    cfg = NO_DECAY
    f = interactions_from_warehouse(wh, cfg).frame
    counts = f.groupby("event_type").size().to_dict()
    types = ", ".join(f"'{t}'" for t in cfg.weights if t != "purchase")
    rows = wh.to_arrow(
        wh.ibis.sql(
            "SELECT event_type, count(*) AS n FROM events WHERE product_id IS NOT NULL "
            f"AND _resolved_id IS NOT NULL AND event_type IN ({types}) GROUP BY 1"
        )
    ).to_pylist()
    want = {r["event_type"]: r["n"] for r in rows}
    purchases = _sql_count(
        wh,
        "SELECT count(*) FROM events WHERE event_type = 'purchase' AND product_id IS NOT NULL"
        " AND _resolved_id IS NOT NULL",
    ) + _sql_count(wh, "SELECT count(*) FROM order_lines WHERE _resolved_id IS NOT NULL")
    assert counts == {**want, "purchase": purchases}
    # (the generator's checkout_start events name no product)
    assert set(counts) == {"product_view", "add_to_cart", "wishlist_add", "purchase"}
    for typ in set(counts) - {"purchase"}:
        assert set(f.loc[f.event_type == typ, "weight"]) == {cfg.weights[typ]}
    # the generator lists a returned order's lines again with negative quantities: the
    # copies take the credit away once; a cancelled order's lines have no copies and net to 0
    negative = _sql_count(wh, "SELECT count(*) FROM order_lines WHERE quantity < 0")
    cancelled = _sql_count(
        wh,
        "SELECT count(*) FROM order_lines l JOIN orders o USING (order_id) "
        "WHERE o.status = 'cancelled'",
    )
    assert negative > 0 and cancelled > 0
    weights = f.loc[f.event_type == "purchase", "weight"].value_counts().to_dict()
    assert weights[-5.0] == negative and weights[0.0] == cancelled
    assert set(weights) == {-5.0, 0.0, 4.0, 5.0}
    # every negative line nets against a bought line of the same customer and product
    lines = f[f.event_type == "purchase"]
    per_pair = lines.groupby(["customer_id", "product_id"]).weight
    assert (per_pair.apply(lambda w: (w == 5).sum() >= (w == -5).sum())).all()
    # every customer id is canonical: a person of the identity graph
    ids = wh.to_arrow(wh.ibis.sql("SELECT DISTINCT customer_id FROM identities")).column(0)
    assert set(f.customer_id) <= set(ids.to_pylist())


def test_generated_shop_has_no_leakage(shop: tuple[IbisWarehouse, datetime]) -> None:
    """As of a time some rows are stamped with, exactly the rows before it come back."""
    wh, _ = shop
    full = interactions_from_warehouse(wh, NO_DECAY).frame
    t = full.ts.iloc[len(full) // 2]
    assert (full.ts == t).any()
    cut = interactions_from_warehouse(wh, NO_DECAY, as_of=t.to_pydatetime()).frame
    assert cut.ts.max() < t
    key = ["customer_id", "product_id", "ts", "event_type", "weight"]
    want = full[full.ts < t][key].reset_index(drop=True)
    pd.testing.assert_frame_equal(cut[key].reset_index(drop=True), want)
    # with decay, ages count back from the as-of: nothing is older than the data
    decayed = interactions_from_warehouse(wh, InteractionsConfig(), as_of=t.to_pydatetime())
    assert (decayed.frame.weight.abs() <= cut.weight.abs() + 1e-12).all()


def test_generated_shop_window(shop: tuple[IbisWarehouse, datetime]) -> None:
    wh, end = shop
    full = interactions_from_warehouse(wh, NO_DECAY).frame
    week = interactions_from_warehouse(wh, InteractionsConfig(half_life_days=None, window_days=7))
    start = pd.Timestamp(end - timedelta(days=7), tz="UTC")
    assert (week.frame.ts >= start).all()
    assert len(week) == int((full.ts >= start).sum()) > 0
