"""RFM tiers: hand-computed scores with ties, fixed edges, rescaled grids, storage per as-of,
both warehouses, and an independent pandas computation on the real Online Retail file."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc

from segmint.config import RFMConfig, load_config
from segmint.errors import NotFoundError, SchemaError
from segmint.features import compute_features, latest_features
from segmint.ingest import ingest
from segmint.segments.rfm import (
    GRID,
    MEANINGS,
    RFM,
    SEGMENTS,
    compute_rfm,
    rfm_grid,
    rfm_grid_chart,
    rfm_scores,
    rfm_summary,
    rfm_summary_chart,
    segment_slug,
)
from segmint.warehouse import IbisWarehouse, connect
from tests.conftest import REPO, copy_example, write

D1, D2 = datetime(2024, 5, 1), datetime(2024, 6, 1)

#: customer: recency_days, frequency, monetary. Ties: c02/c03 in R and F, c05/c06 and
#: c08..c10 in F, c04/c05 in M. u1, u2 never ordered (u2 only returned: negative monetary).
TOY = {
    "c01": (2.0, 10, 900.0),
    "c02": (5.0, 6, 500.0),
    "c03": (5.0, 6, 450.0),
    "c04": (12.0, 4, 300.0),
    "c05": (30.0, 3, 300.0),
    "c06": (45.0, 3, 120.0),
    "c07": (60.0, 2, 80.0),
    "c08": (90.0, 1, 60.0),
    "c09": (200.0, 1, 40.0),
    "c10": (400.0, 1, 10.0),
    "u1": (None, 0, 0.0),
    "u2": (None, 0, -25.0),
}
#: by hand, bins=5, n=10 scored: score = 1 + floor(5 * strictly_worse / 10)
#: e.g. c02's recency 5: 7 customers have a higher recency -> 1 + floor(3.5) = 4
TOY_EXPECTED = {
    #      R  F  M  FM  rfm    segment
    "c01": (5, 5, 5, 5, "555", "Champions"),
    "c02": (4, 4, 5, 5, "445", "Champions"),
    "c03": (4, 4, 4, 4, "444", "Loyal"),
    "c04": (4, 4, 3, 4, "443", "Loyal"),
    "c05": (3, 3, 3, 3, "333", "Need Attention"),
    "c06": (3, 3, 3, 3, "333", "Need Attention"),
    "c07": (2, 2, 2, 2, "222", "Hibernating"),
    "c08": (2, 1, 2, 2, "212", "Hibernating"),
    "c09": (1, 1, 1, 1, "111", "Lost"),
    "c10": (1, 1, 1, 1, "111", "Lost"),
}


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def wh(request: pytest.FixtureRequest) -> Iterator[IbisWarehouse]:
    if request.param == "duckdb":
        w = connect("duckdb://:memory:")
    else:
        w = connect(request.getfixturevalue("pg_url"))
    with w:
        yield w


def features(data: dict[datetime, dict[str, tuple[Any, ...]]]) -> ibis.Table:
    """A features table: as-of -> customer -> (recency_days, frequency, monetary)."""
    rows = [
        {"customer_id": c, "as_of": t, "recency_days": r, "frequency": f, "monetary": m}
        for t, customers in data.items()
        for c, (r, f, m) in customers.items()
    ]
    schema = {
        "customer_id": "string",
        "as_of": "timestamp",
        "recency_days": "float64",
        "frequency": "int64",
        "monetary": "float64",
    }
    return ibis.memtable(pd.DataFrame(rows), schema=schema)


def wh_table(wh: IbisWarehouse, t: ibis.Table) -> ibis.Table:
    wh.write("features", t)
    return wh.table("features")


def scores(wh: IbisWarehouse, t: ibis.Table, cfg: RFMConfig | None = None) -> dict[str, dict]:
    """rfm_scores of ``t`` computed in ``wh``, by customer."""
    out = wh.to_arrow(rfm_scores(wh_table(wh, t), cfg)).to_pylist()
    return {r["customer_id"]: r for r in out}


def rsf(row: dict) -> tuple:
    return row["r_score"], row["f_score"], row["m_score"]


def test_quantile_scores_hand_computed_with_ties(wh: IbisWarehouse) -> None:
    """Exact scores, equal values equal scores, unscored customers null, strings, segments."""
    got = scores(wh, features({D1: TOY}))
    assert set(got) == set(TOY)
    for c, (r, f, m, fm, text, segment) in TOY_EXPECTED.items():
        row = got[c]
        have = (*rsf(row), row["fm_score"], row["rfm_score"], row["rfm_segment"])
        assert have == (r, f, m, fm, text, segment), c
        assert (row["grid_r"], row["grid_fm"]) == (r, fm), c  # bins = 5: the grid is the scores
    assert got["c02"]["r_score"] == got["c03"]["r_score"]
    assert got["c05"]["f_score"] == got["c06"]["f_score"]
    assert got["c04"]["m_score"] == got["c05"]["m_score"]
    for c in ("u1", "u2"):
        row = got[c]
        assert rsf(row) == (None, None, None), c
        assert (row["fm_score"], row["rfm_score"], row["rfm_segment"]) == (None, None, None), c
        assert (row["grid_r"], row["grid_fm"]) == (None, None), c
    # the input columns come through unchanged, the as-of included
    assert got["u2"]["monetary"] == -25.0
    assert got["c04"]["as_of"] == D1


def test_as_ofs_are_ranked_apart(wh: IbisWarehouse) -> None:
    """Two as-ofs in one input are each scored among their own customers."""
    later = {c: v for c, v in TOY.items() if c in ("c01", "c10")}
    got = wh.to_arrow(
        rfm_scores(wh_table(wh, features({D1: TOY, D2: later}))).filter(lambda t: t.as_of == D2)
    ).to_pylist()
    # two scored: the better gets 1 + floor(5 * 1 / 2) = 3, the worse 1
    assert {r["customer_id"]: rsf(r) for r in got} == {"c01": (3, 3, 3), "c10": (1, 1, 1)}


EDGES = RFMConfig(
    edges={
        "recency": [30, 90, 180, 365],
        "frequency": [2, 3, 5, 10],
        "monetary": [100, 200, 500, 1000],
    }
)
#: value on each side of every threshold: recency <= t counts (in whole days: 30.5 days is
#: day 30), frequency/monetary >= t counts
EDGE_CASES = [
    # recency, frequency, monetary, R, F, M
    (0.0, 1, -5.0, 5, 1, 1),
    (30.0, 2, 0.0, 5, 2, 1),
    (30.5, 2, 0.0, 5, 2, 1),
    (31.0, 3, 99.99, 4, 3, 1),
    (90.0, 4, 100.0, 4, 3, 2),
    (91.0, 5, 199.0, 3, 4, 2),
    (180.0, 9, 200.0, 3, 4, 3),
    (365.0, 10, 499.0, 2, 5, 3),
    (366.0, 100, 500.0, 1, 5, 4),
    (1000.0, 1, 999.0, 1, 1, 4),
    (12.0, 1, 1000.0, 5, 1, 5),
]


def test_fixed_edges_in_both_directions(wh: IbisWarehouse) -> None:
    """Recency scores up as the value falls to each edge; frequency and monetary as they
    reach it; a customer who never ordered stays unscored even with edges."""
    data = {f"e{i}": case[:3] for i, case in enumerate(EDGE_CASES)}
    data["none"] = (None, 0, 5000.0)
    got = scores(wh, features({D1: data}), EDGES)
    for i, case in enumerate(EDGE_CASES):
        assert rsf(got[f"e{i}"]) == case[3:], case
    assert rsf(got["none"]) == (None, None, None)
    assert got["e8"]["rfm_score"] == "154"


def test_edges_for_one_dimension_quantiles_for_the_others(wh: IbisWarehouse) -> None:
    """Only recency has edges: F and M stay the quantile scores of the toy data."""
    got = scores(wh, features({D1: TOY}), RFMConfig(edges={"recency": [3, 10, 50, 100]}))
    assert {c: got[c]["r_score"] for c in TOY_EXPECTED} == {
        "c01": 5,  # 2 <= 3
        "c02": 4,
        "c03": 4,
        "c04": 3,
        "c05": 3,
        "c06": 3,
        "c07": 2,
        "c08": 2,
        "c09": 1,
        "c10": 1,
    }
    assert {c: got[c]["f_score"] for c in TOY_EXPECTED} == {
        c: v[1] for c, v in TOY_EXPECTED.items()
    }


def test_every_cell_of_the_grid_in_the_engine(wh: IbisWarehouse) -> None:
    """All 125 (R, F, M) combinations, placed with fixed edges, get GRID's segment of
    (R, floor((F + M + 1) / 2)): the SQL CASE and the dict agree everywhere."""
    recency = {5: 10.0, 4: 60.0, 3: 120.0, 2: 300.0, 1: 500.0}
    frequency = {1: 1, 2: 2, 3: 4, 4: 7, 5: 12}
    monetary = {1: 50.0, 2: 150.0, 3: 300.0, 4: 700.0, 5: 2000.0}
    data = {
        f"{r}{f}{m}": (recency[r], frequency[f], monetary[m])
        for r in range(1, 6)
        for f in range(1, 6)
        for m in range(1, 6)
    }
    got = scores(wh, features({D1: data}), EDGES)
    for key, row in got.items():
        r, f, m = (int(ch) for ch in key)
        fm = (f + m + 1) // 2
        assert (row["rfm_score"], row["fm_score"], row["rfm_segment"]) == (
            key,
            fm,
            GRID[r, fm],
        ), key
    assert {row["rfm_segment"] for row in got.values()} == set(SEGMENTS)


def test_three_bins_are_rescaled_to_the_grid(wh: IbisWarehouse) -> None:
    """bins=3: scores 1..3 by hand; the grid cell is ceil(5 * score / 3) -> 2, 4, 5 and FM
    is the rounded mean of the rescaled F and M."""
    got = scores(wh, features({D1: TOY}), RFMConfig(bins=3))
    expected = {
        # R  F  M  fm  grid_r grid_fm  segment
        "c01": (3, 3, 3, 3, 5, 5, "Champions"),
        "c02": (3, 3, 3, 3, 5, 5, "Champions"),
        "c03": (3, 3, 3, 3, 5, 5, "Champions"),
        "c04": (2, 2, 2, 2, 4, 4, "Loyal"),
        "c05": (2, 2, 2, 2, 4, 4, "Loyal"),
        "c06": (2, 2, 2, 2, 4, 4, "Loyal"),
        "c07": (1, 1, 1, 1, 2, 2, "Hibernating"),
        "c08": (1, 1, 1, 1, 2, 2, "Hibernating"),
        "c09": (1, 1, 1, 1, 2, 2, "Hibernating"),
        "c10": (1, 1, 1, 1, 2, 2, "Hibernating"),
    }
    for c, want in expected.items():
        row = got[c]
        have = (*rsf(row), row["fm_score"], row["grid_r"], row["grid_fm"], row["rfm_segment"])
        assert have == want, c
    assert got["c04"]["rfm_score"] == "222"


def test_three_bins_with_edges_and_mixed_scores(wh: IbisWarehouse) -> None:
    """bins=3 with edges; F=3, M=1 rescale to 5 and 2, whose rounded mean is FM 4."""
    cfg = RFMConfig(bins=3, edges={"recency": [30, 90], "frequency": [2, 5], "monetary": [1, 2]})
    data = {"a": (10.0, 6, 0.5), "b": (60.0, 2, 1.0), "c": (100.0, 1, 5.0)}
    got = scores(wh, features({D1: data}), cfg)
    assert {c: (*rsf(r), r["grid_r"], r["grid_fm"]) for c, r in got.items()} == {
        "a": (3, 3, 1, 5, 4),
        "b": (2, 2, 2, 4, 4),
        "c": (1, 1, 3, 2, 4),
    }
    assert [got[c]["rfm_segment"] for c in "abc"] == ["Champions", "Loyal", "At Risk"]
    assert got["a"]["fm_score"] == 2  # on the bins scale: floor((3 + 1 + 1) / 2)


def test_ten_bins_use_dashes(wh: IbisWarehouse) -> None:
    """bins=10: a score can have two digits, so the string is "R-F-M"."""
    got = scores(wh, features({D1: TOY}), RFMConfig(bins=10))
    # c01: 9 strictly worse in every dimension -> 1 + floor(10 * 9 / 10) = 10
    assert got["c01"]["rfm_score"] == "10-10-10"
    # c05: R 5 worse -> 6; F 4 worse -> 5; M 5 worse -> 6
    assert got["c05"]["rfm_score"] == "6-5-6"
    assert (got["c05"]["grid_r"], got["c05"]["grid_fm"]) == (3, 3)  # ceil(30/10), ceil(25/10)
    assert got["c10"]["rfm_score"] == "1-1-1"
    assert got["u1"]["rfm_score"] is None


def test_missing_feature_columns_are_named() -> None:
    t = features({D1: TOY}).drop("monetary")
    with pytest.raises(SchemaError, match="features lack monetary"):
        rfm_scores(t)


def test_compute_summary_and_grid_hand_computed(wh: IbisWarehouse) -> None:
    """The stored rows, the summary per segment (empty ones with 0) and the 25 cells."""
    wh.write("features", features({D1: TOY}))
    run = compute_rfm(wh, D1)
    assert (run.as_of, run.customers) == (D1, 10)
    assert wh.count(RFM) == 12  # the two unscored customers keep a row
    summary = {s["segment"]: s for s in run.summary}
    assert [s["segment"] for s in run.summary] == list(SEGMENTS)
    assert run.summary == rfm_summary(wh, D1) == rfm_summary(wh)
    total = 2760.0
    want = {
        # customers, mean recency, mean frequency, mean monetary, total monetary
        "Champions": (2, 3.5, 8.0, 700.0, 1400.0),
        "Loyal": (2, 8.5, 5.0, 375.0, 750.0),
        "Need Attention": (2, 37.5, 3.0, 210.0, 420.0),
        "Hibernating": (2, 75.0, 1.5, 70.0, 140.0),
        "Lost": (2, 300.0, 1.0, 25.0, 50.0),
    }
    for name, (n, rec, freq, mon, tot) in want.items():
        s = summary[name]
        assert s["customers"] == n
        assert s["share"] == pytest.approx(n / 10)
        assert s["mean_recency_days"] == pytest.approx(rec)
        assert s["mean_frequency"] == pytest.approx(freq)
        assert s["mean_monetary"] == pytest.approx(mon)
        assert s["total_monetary"] == pytest.approx(tot)
        assert s["revenue_share"] == pytest.approx(tot / total)
    for name in set(SEGMENTS) - set(want):
        assert summary[name] == {
            "segment": name,
            "customers": 0,
            "share": 0.0,
            "mean_recency_days": None,
            "mean_frequency": None,
            "mean_monetary": None,
            "total_monetary": 0.0,
            "revenue_share": 0.0,
        }
    cells = rfm_grid(wh, D1)
    assert [(c["r"], c["fm"]) for c in cells] == [
        (r, fm) for r in (5, 4, 3, 2, 1) for fm in (1, 2, 3, 4, 5)
    ]
    assert all(c["segment"] == GRID[c["r"], c["fm"]] for c in cells)
    assert {(c["r"], c["fm"]): c["customers"] for c in cells if c["customers"]} == {
        (5, 5): 1,
        (4, 5): 1,
        (4, 4): 2,
        (3, 3): 2,
        (2, 2): 2,
        (1, 1): 2,
    }


def test_recomputing_replaces_the_as_of_and_keeps_others(wh: IbisWarehouse) -> None:
    """The same as-of again gives one set of rows (the new ones); another as-of is kept."""
    wh.write("features", features({D1: TOY, D2: {"c01": TOY["c01"], "c10": TOY["c10"]}}))
    compute_rfm(wh, D1)
    compute_rfm(wh, D2)
    compute_rfm(wh, D1)
    fewer = {c: TOY[c] for c in ("c01", "c05", "c10")}
    wh.write("features", features({D1: fewer, D2: {"c01": TOY["c01"], "c10": TOY["c10"]}}))
    run = compute_rfm(wh, D1)
    rows = wh.to_arrow(wh.table(RFM)).to_pylist()
    assert Counter(r["as_of"] for r in rows) == {D1: 3, D2: 2}
    d1 = {r["customer_id"]: rsf(r) for r in rows if r["as_of"] == D1}
    # three scored now: 2 worse -> 1 + floor(10 / 3) = 4, 1 worse -> 2, none -> 1
    assert d1 == {"c01": (4, 4, 4), "c05": (2, 2, 2), "c10": (1, 1, 1)}
    assert run.customers == 3
    assert sum(s["customers"] for s in rfm_summary(wh, D2)) == 2
    assert sum(s["customers"] for s in rfm_summary(wh)) == 2  # the latest as-of is D2


def test_an_as_of_without_features_says_what_to_run(wh: IbisWarehouse) -> None:
    with pytest.raises(NotFoundError, match=r"segmint features --as-of 2024-05-01"):
        compute_rfm(wh, D1)
    wh.write("features", features({D2: TOY}))
    with pytest.raises(NotFoundError, match=r"no features as of 2024-05-01 00:00:00"):
        compute_rfm(wh, D1)
    with pytest.raises(NotFoundError, match='segmint features --as-of "2024-05-01 12:30:00"'):
        compute_rfm(wh, datetime(2024, 5, 1, 12, 30))
    with pytest.raises(NotFoundError, match="no RFM scores yet"):
        rfm_summary(wh)
    compute_rfm(wh, D2)
    with pytest.raises(NotFoundError, match="no RFM scores as of 2024-05-01"):
        rfm_grid(wh, D1)


def test_an_as_of_with_nobody_to_score(wh: IbisWarehouse) -> None:
    """Customers exist but none has ordered: all unscored, every segment empty."""
    wh.write("features", features({D1: {"u1": TOY["u1"], "u2": TOY["u2"]}}))
    run = compute_rfm(wh, D1)
    assert run.customers == 0
    assert wh.count(RFM) == 2
    assert [s["customers"] for s in run.summary] == [0] * 11
    assert sum(c["customers"] for c in rfm_grid(wh)) == 0


ORDERS = """\
order_id,customer_id,ts,status,total
o1,a,2024-04-29 10:00,delivered,300
o2,a,2024-04-20 10:00,delivered,200
o3,a,2024-03-01 10:00,delivered,100
o4,b,2024-04-01 10:00,delivered,80
o5,b,2024-02-01 10:00,delivered,50
o6,c,2024-01-15 10:00,delivered,60
o7,d,2023-06-01 10:00,delivered,20
o8,d,2023-06-10 10:00,returned,20
o9,e,2024-05-03 10:00,delivered,999
o10,f,2024-04-15 10:00,returned,40
"""


@pytest.mark.parametrize(
    "backend", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_from_ingested_orders(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Orders file -> ingest -> features -> RFM, on each warehouse: d's return is no order
    placed, f only returned (kept, unscored), e's only order is after the as-of (no row)."""
    url = "duckdb:///w.duckdb" if backend == "duckdb" else request.getfixturevalue("pg_url")
    write(tmp_path / "orders.csv", ORDERS)
    write(
        tmp_path / "segmint.yaml",
        f"project: r\nwarehouse: {url}\n"
        "sources:\n  - {name: shop, path: orders.csv, table: orders}\n",
    )
    cfg = load_config(tmp_path / "segmint.yaml")
    ingest(cfg)
    with connect(cfg.warehouse, cfg.base_dir) as w:
        compute_features(w, D1)
        run = compute_rfm(w, D1)
        got = {r["customer_id"]: r for r in w.to_arrow(w.table(RFM)).to_pylist()}
    assert run.customers == 4
    # 4 scored: R a (2 d) > b > c > d; F a 3, b 2, c = d 1; M a 600 > b 130 > c 60 > d
    assert {c: got[c]["rfm_score"] for c in "abcd"} == {
        "a": "444",
        "b": "333",
        "c": "212",
        "d": "111",
    }
    assert set(got) == set("abcdf")
    assert (got["f"]["frequency"], got["f"]["rfm_score"], got["f"]["rfm_segment"]) == (
        0,
        None,
        None,
    )
    assert got["d"]["frequency"] == 1


def test_the_grid_is_a_total_partition_into_the_eleven_segments() -> None:
    assert SEGMENTS == (
        "Champions",
        "Loyal",
        "Potential Loyalist",
        "New",
        "Promising",
        "Need Attention",
        "About to Sleep",
        "At Risk",
        "Can't Lose Them",
        "Hibernating",
        "Lost",
    )
    assert sorted(GRID) == [(r, fm) for r in range(1, 6) for fm in range(1, 6)]
    assert set(GRID.values()) == set(SEGMENTS)
    assert set(MEANINGS) == set(SEGMENTS)
    # a few cells straight from the definition
    assert (GRID[5, 1], GRID[4, 1], GRID[4, 4], GRID[4, 5], GRID[3, 3]) == (
        "New",
        "Promising",
        "Loyal",
        "Champions",
        "Need Attention",
    )
    assert (GRID[2, 5], GRID[1, 5], GRID[1, 3], GRID[2, 2], GRID[1, 2]) == (
        "Can't Lose Them",
        "Can't Lose Them",
        "At Risk",
        "Hibernating",
        "Lost",
    )


def test_segment_slugs() -> None:
    assert segment_slug("Can't Lose Them") == "rfm_cant_lose_them"
    assert segment_slug("Champions") == "rfm_champions"
    assert segment_slug("About to Sleep") == "rfm_about_to_sleep"
    slugs = [segment_slug(s) for s in SEGMENTS]
    assert len(set(slugs)) == 11
    assert all(re.fullmatch(r"rfm_[a-z0-9]+(_[a-z0-9]+)*", s) for s in slugs)


def test_the_doc_shows_the_grid_and_meanings_of_the_code() -> None:
    """docs/rfm.md's grid table and segment table are the ones GRID and MEANINGS give."""
    doc = (REPO / "docs" / "rfm.md").read_text(encoding="utf-8")
    for r in range(5, 0, -1):
        cells = " | ".join(GRID[r, fm] for fm in range(1, 6))
        assert f"| **R {r}** | {cells} |" in doc, r
    for name in SEGMENTS:
        meaning, action = MEANINGS[name]
        assert f"| {name} | `{segment_slug(name)}` | {meaning} | {action} |" in doc, name


def test_charts_render_offline() -> None:
    """Both charts export to SVG with vl-convert and show the segments they are given."""
    cells = [
        {"r": r, "fm": fm, "customers": r * fm, "segment": GRID[r, fm]}
        for r in range(5, 0, -1)
        for fm in range(1, 6)
    ]
    grid_svg = vlc.vegalite_to_svg(rfm_grid_chart(cells).to_dict())
    assert "Can't Lose Them" in grid_svg.replace("&apos;", "'").replace("&#39;", "'")
    assert "Champions" in grid_svg
    summary = [
        {"segment": s, "customers": i, "share": i / 55, "total_monetary": 10.0 * i}
        | {"revenue_share": 10.0 * i / 550}
        for i, s in enumerate(SEGMENTS, start=1)
    ]
    chart = rfm_summary_chart(summary)
    spec = chart.to_dict()
    assert spec["encoding"]["y"]["sort"] == list(SEGMENTS)
    assert len(spec["data"]["values"]) == 22
    svg = vlc.vegalite_to_svg(spec)
    assert "Hibernating" in svg


@pytest.mark.realdata
@pytest.mark.slow
def test_online_retail_scores_match_an_independent_pandas_computation(
    online_retail: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every scored customer's R, F and M equal the documented definition computed in pandas
    from the same features (rank(method="min")), and the segments add up."""
    monkeypatch.setenv("SEGMINT_DATA", str(online_retail.parents[1]))
    copy_example("online_retail", tmp_path / "ex")
    cfg = load_config(tmp_path / "ex" / "segmint.yaml")
    ingest(cfg)
    as_of = datetime(2011, 12, 10)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        compute_features(wh, as_of)
        run = compute_rfm(wh, as_of)
        f = wh.to_arrow(
            latest_features(wh, as_of).select(
                "customer_id", "recency_days", "frequency", "monetary"
            )
        ).to_pandas()
        ours = wh.to_arrow(wh.table(RFM)).to_pandas().set_index("customer_id")
    scored = f[f.frequency > 0].set_index("customer_id")
    n = len(scored)
    assert n > 4300

    def score(worse_to_better: pd.Series) -> pd.Series:
        below = worse_to_better.rank(method="min").astype(int) - 1  # strictly worse
        return 1 + (5 * below) // n

    ref = pd.DataFrame(
        {
            "r_score": score(-np.floor(scored.recency_days)),  # whole days
            "f_score": score(scored.frequency),
            "m_score": score(scored.monetary),
        }
    )
    assert len(ours) == len(f)  # unscored customers keep a row
    mine = ours.loc[ref.index, ["r_score", "f_score", "m_score"]].astype(int)
    mismatched = (mine != ref).any(axis=1)
    assert not mismatched.any(), mine[mismatched].join(ref, rsuffix="_ref").head()
    assert ours.drop(ref.index).r_score.isna().all()
    fm = (ref.f_score + ref.m_score + 1) // 2
    segments = [GRID[r, m] for r, m in zip(ref.r_score, fm, strict=True)]
    assert (ours.loc[ref.index, "rfm_segment"] == segments).all()
    counts = {s["segment"]: s["customers"] for s in run.summary}
    assert sum(counts.values()) == run.customers == n
    assert counts == {name: Counter(segments)[name] for name in SEGMENTS}
    assert sum(s["revenue_share"] for s in run.summary) == pytest.approx(1.0)
