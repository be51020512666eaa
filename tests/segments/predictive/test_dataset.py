"""Training sets are point-in-time: features as of T, labels from after T, never the future."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from segmint.config import load_config
from segmint.errors import ConfigError, NotFoundError
from segmint.ingest import ingest
from segmint.segments.predictive import build_training_set, snapshot_times
from segmint.warehouse import connect
from tests.conftest import write

HEAD = "order_id,customer_id,ts,status,total\n"
# a: orders before T1 and 3 days after T1 (label 1 at T1); b: orders only long before
ORDERS_BEFORE = HEAD + (
    "o1,a,2024-02-01 10:00,delivered,20\n"
    "o2,a,2024-02-20 10:00,delivered,30\n"
    "o3,b,2024-01-05 10:00,delivered,50\n"
    "o4,a,2024-03-04 10:00,delivered,25\n"  # T1 = 2024-03-01: within 7 days
    "o5,c,2024-02-27 09:00,delivered,10\n"
)
ORDERS_AFTER = HEAD + (
    "o6,b,2024-03-09 10:00,delivered,500\n"  # T2 = 2024-03-08: b buys within 7 days of T2
    "o7,c,2024-03-30 10:00,delivered,999\n"  # long after every label window
)
EVENTS = """event_id,event_type,ts,customer_id,session_id,product_id,device
e1,product_view,2024-02-28 10:00,a,s1,p1,mobile
e2,product_view,2024-03-07 10:00,b,s2,p1,desktop
e3,product_view,2024-03-20 10:00,c,s3,p2,mobile
"""
MODEL = """
models:
  - name: intent
    label: {kind: purchase_within, days: 7}
    snapshots: 2
    every_days: 7
    as_of: "2024-03-08"
"""


def shop(tmp_path: Path, *, later: bool) -> Path:
    write(tmp_path / "orders" / "before.csv", ORDERS_BEFORE)
    if later:
        write(tmp_path / "orders" / "after.csv", ORDERS_AFTER)
    write(tmp_path / "events.csv", EVENTS)
    write(
        tmp_path / "segmint.yaml",
        "project: p\nsources:\n  - {name: shop, path: orders/*.csv, table: orders}\n"
        "  - {name: web, path: events.csv, table: events}\n" + MODEL,
    )
    ingest(load_config(tmp_path / "segmint.yaml"))
    return tmp_path / "segmint.yaml"


def rows(path: Path) -> pd.DataFrame:
    cfg = load_config(path)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        ts = build_training_set(cfg, wh, cfg.models[0])
    frame = ts.X.assign(cid=ts.ids, t=pd.to_datetime(ts.as_of), y=ts.decode(ts.y))
    return frame.sort_values(["t", "cid"]).reset_index(drop=True)


def test_labels_come_from_the_window_after_each_snapshot(tmp_path: Path) -> None:
    got = rows(shop(tmp_path, later=True))
    labels = {(r.t.strftime("%m-%d"), r.cid): r.y for r in got.itertuples()}
    assert labels == {
        ("03-01", "a"): 1,  # o4 on 03-04
        ("03-01", "b"): 0,
        ("03-01", "c"): 0,  # o5 was before T1; o7 is weeks later
        ("03-08", "a"): 0,
        ("03-08", "b"): 1,  # o6 on 03-09
        ("03-08", "c"): 0,
    }


def test_features_never_see_what_happened_after_t(tmp_path: Path) -> None:
    """The rows' inputs are identical whether or not the data after T exists: only the labels
    read past T. (Regression guard for any feature that looks at the whole table.)"""
    full = rows(shop(tmp_path / "full", later=True))
    early = shop(tmp_path / "early", later=False)
    # same snapshot times, fixed by as_of; without the later orders every label is 0 or 1
    partial = rows(early)
    inputs = [c for c in full.columns if c not in ("y",)]
    pd.testing.assert_frame_equal(full[inputs], partial[inputs], check_like=True)
    # and the labels did change: they are the only thing that looks past T
    assert (full.y != partial.y).any()
    # b's 500 after T never reaches its monetary at T2
    b = full[(full.cid == "b") & (full.t == datetime(2024, 3, 8))].iloc[0]
    assert b.monetary == pytest.approx(50.0)


def test_snapshots_end_one_horizon_before_the_data(tmp_path: Path) -> None:
    cfg = load_config(shop(tmp_path, later=True))
    spec = cfg.models[0].model_copy(update={"as_of": None, "snapshots": 3})
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        times = snapshot_times(wh, spec)
    # data ends 2024-03-30 -> day after = 03-31; minus 7 days = 03-24, then every 7 days
    assert times == [datetime(2024, 3, 10), datetime(2024, 3, 17), datetime(2024, 3, 24)]


def test_churn_only_asks_about_customers_who_had_bought(tmp_path: Path) -> None:
    path = shop(tmp_path, later=True)
    text = path.read_text().replace("kind: purchase_within, days: 7", "kind: churn, days: 7")
    path.write_text(text)
    got = rows(path)
    at_t1 = got[got.t == datetime(2024, 3, 1)].set_index("cid").y.to_dict()
    assert at_t1 == {"a": 0, "b": 1, "c": 1}  # all had bought before 03-01; only a buys again


def test_session_rows_and_a_missing_label_column(tmp_path: Path) -> None:
    write(
        tmp_path / "s.csv",
        "sid,pages,device,bought\n1,3,mobile,true\n2,1,desktop,false\n"
        "3,9,mobile,true\n4,2,desktop,false\n",
    )
    write(
        tmp_path / "segmint.yaml",
        "project: s\nsources:\n  - {name: s, path: s.csv, table: sess, key: [sid]}\n"
        "models:\n  - name: m\n    entity: session\n    table: sess\n    key: sid\n"
        "    label: {kind: column, column: bought}\n",
    )
    cfg = load_config(tmp_path / "segmint.yaml")
    ingest(cfg)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        ts = build_training_set(cfg, wh, cfg.models[0])
        assert ts.features == ["pages", "device"] and ts.categorical == ["device"]
        assert sorted(ts.decode(ts.y)) == [0, 0, 1, 1] and ts.as_of is None
        bad = cfg.models[0].model_copy(
            update={"label": cfg.models[0].label.model_copy(update={"column": "boughtt"})}
        )
        with pytest.raises(ConfigError, match="no label column 'boughtt' \\(did you mean 'bought'"):
            build_training_set(cfg, wh, bad)
        one = cfg.models[0].model_copy(update={"columns": ["nope"]})
        with pytest.raises(ConfigError, match="no column \\['nope'\\]"):
            build_training_set(cfg, wh, one)


def test_a_single_class_is_a_clear_error(tmp_path: Path) -> None:
    path = shop(tmp_path, later=False)
    path.write_text(path.read_text().replace('as_of: "2024-03-08"', 'as_of: "2024-01-10"'))
    cfg = load_config(path)
    spec = cfg.models[0].model_copy(update={"snapshots": 1})
    with (
        connect(cfg.warehouse, cfg.base_dir) as wh,
        pytest.raises(NotFoundError, match="at least two classes"),
    ):
        build_training_set(cfg, wh, spec)


CHURN = (
    "customerID,tenure,TotalCharges,Contract,Churn\n"
    "0001,1,29.85,Month-to-month,No\n"
    "0002,34,1889.5,One year,No\n"
    "0003,2, ,Month-to-month,Yes\n"  # a blank written as a space, as the Telco export does
    "0004,45,1840.75,One year,No\n"
    "0005,2,151.65,Month-to-month,Yes\n"
    "0006,8,  ,Two year,Yes\n"
)


def churn_table(tmp_path: Path, label: str, extra: str = "") -> Path:
    write(tmp_path / "churn.csv", CHURN)
    return write(
        tmp_path / "segmint.yaml",
        "project: churn\nsources:\n  - {name: c, path: churn.csv, table: churn, key: [customerID]"
        f"{extra}}}\n"
        "models:\n  - name: m\n    entity: customer\n    table: churn\n    key: customer_id\n"
        f"    label: {label}\n",
    )


@pytest.mark.parametrize("positive", ['["Yes"]', '["yes"]', "[true]"])
def test_a_yes_no_label_matches_positive_as_written(tmp_path: Path, positive: str) -> None:
    """Regression (issue 22, defect 2): a Yes/No label column is stored as booleans, and the
    documented `positive: ["Yes"]` then matched nothing ("every training row has the label
    0"). Positive values are matched as the source wrote them."""
    cfg = load_config(
        churn_table(tmp_path, f"{{kind: column, column: churn, positive: {positive}}}")
    )
    ingest(cfg)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        ts = build_training_set(cfg, wh, cfg.models[0])
    got = dict(zip(ts.ids, ts.decode(ts.y), strict=True))
    assert got == {"0001": 0, "0002": 0, "0003": 1, "0004": 0, "0005": 1, "0006": 1}


def test_a_positive_matching_nothing_says_what_the_column_holds(tmp_path: Path) -> None:
    """Regression (issue 22, defect 2): the error did not say the column became true/false."""
    cfg = load_config(churn_table(tmp_path, '{kind: column, column: churn, positive: ["Si"]}'))
    ingest(cfg)
    with (
        connect(cfg.warehouse, cfg.base_dir) as wh,
        pytest.raises(ConfigError, match=r"matches no training row.*booleans \(true/false\)"),
    ):
        build_training_set(cfg, wh, cfg.models[0])


@pytest.mark.parametrize(
    "extra",
    [
        "",
        ", columns: {customer_id: customerID, tenure: tenure, churn: Churn, contract: Contract,"
        " total_charges: {expr: \"TRY_CAST(NULLIF(trim(TotalCharges), '') AS DOUBLE)\"}}",
    ],
)
def test_a_number_column_with_blank_values_is_a_number(tmp_path: Path, extra: str) -> None:
    """Regression (issue 22, defect 3): a number column with a few values written as spaces
    was stored as text and fed to the model as a category, and a mapping expression casting
    it to DOUBLE still stored text. Blanks are nulls, counted in the report; an expression's
    type is the stored type."""
    cfg = load_config(
        churn_table(tmp_path, '{kind: column, column: churn, positive: ["Yes"]}', extra)
    )
    report = ingest(cfg)
    col = "total_charges"
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        schema = wh.table("churn").schema()
        values = wh.to_arrow(wh.table("churn").select(col).order_by(col)).column(0).to_pylist()
        ts = build_training_set(cfg, wh, cfg.models[0])
    assert schema[col].is_floating(), schema
    assert values[:4] == [29.85, 151.65, 1840.75, 1889.5] and values[4:] == [None, None]
    assert col not in ts.categorical
    (f,) = report.files
    assert f.loaded == 6 and f.rejected == 0
    if not extra:  # the file's own column: its blanks are counted, the rows kept
        assert f.rules.get(f"{col}_blank") == {"action": "nullified", "rows": 2}
