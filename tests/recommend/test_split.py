"""Train/test splits: what is held out, and that nothing is lost, duplicated or leaked."""

from __future__ import annotations

import doctest
import gzip
import io
import itertools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.errors import ConfigError, SchemaError
from segmint.recommend import _split
from segmint.recommend._interactions import Interactions
from segmint.recommend._split import (
    SPLITS,
    leave_last_out,
    split,
    stratified_split,
    temporal_split,
    validation_split,
)

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def _inter(rows: list[tuple[str, str, float, int]]) -> Interactions:
    """Interactions from (customer, product, weight, day) rows."""
    df = pd.DataFrame(rows, columns=["customer_id", "product_id", "weight", "day"])
    df["ts"] = T0 + pd.to_timedelta(df.pop("day"), unit="D")
    df["device"] = "web"
    return Interactions(df)


def _random_inter(n_rows: int = 3000, seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 200, n_rows).astype(str),
            "product_id": rng.integers(0, 60, n_rows).astype(str),
            "weight": rng.choice([1.0, 2.0, -1.0], n_rows, p=[0.7, 0.2, 0.1]),
            "ts": T0 + pd.to_timedelta(rng.integers(0, 10**6, n_rows), unit="s"),
        }
    )
    return Interactions(df)


def _pairs(inter: Interactions) -> set[tuple[str, str]]:
    f = inter.frame
    return set(zip(f["customer_id"], f["product_id"], strict=True))


def _rows(inter: Interactions) -> pd.DataFrame:
    """The rows as a sorted frame, to compare splits regardless of row order."""
    cols = list(inter.frame.columns)
    return inter.frame.sort_values(cols, ignore_index=True)


def _check_partition(inter: Interactions, train: Interactions, test: Interactions) -> None:
    assert len(train) + len(test) == len(inter)
    both = pd.concat([train.frame, test.frame], ignore_index=True)
    pd.testing.assert_frame_equal(_rows(Interactions(both)), _rows(inter))


PAIR_SPLITS = {
    "stratified": lambda inter, seed=0: stratified_split(inter, 0.3, seed=seed),
    "leave_last_out": lambda inter, seed=0: leave_last_out(inter, n=2),
}


# shared invariants -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PAIR_SPLITS))
def test_pair_splits_are_disjoint_on_pairs_and_complete(name: str) -> None:
    inter = _random_inter()
    train, test = PAIR_SPLITS[name](inter)
    _check_partition(inter, train, test)
    assert len(test) > 0
    assert _pairs(train).isdisjoint(_pairs(test))
    assert _pairs(train) | _pairs(test) == _pairs(inter)


@pytest.mark.parametrize("method", SPLITS)
def test_input_is_not_mutated_and_context_columns_survive(method: str) -> None:
    inter = _random_inter()
    inter.frame["device"] = "app"
    before = inter.frame.copy()
    train, test = split(inter, method)
    pd.testing.assert_frame_equal(inter.frame, before)
    assert list(train.frame.columns) == list(before.columns) == list(test.frame.columns)
    train.frame["weight"] = 0.0  # the parts are copies, not views of the input
    pd.testing.assert_frame_equal(inter.frame, before)


@pytest.mark.parametrize("method", SPLITS)
def test_split_does_not_depend_on_row_order(method: str) -> None:
    inter = _random_inter()
    shuffled = Interactions(inter.frame.sample(frac=1.0, random_state=7))
    for a, b in zip(split(inter, method, seed=3), split(shuffled, method, seed=3), strict=True):
        pd.testing.assert_frame_equal(_rows(a), _rows(b))


def test_split_dispatches_to_each_method() -> None:
    inter = _random_inter()
    cases = {
        "stratified": stratified_split(inter, 0.25, seed=5),
        "temporal": temporal_split(inter, 0.2),
        "leave_last_out": leave_last_out(inter, n=1),
    }
    for method, expected in cases.items():
        got = split(inter, method, seed=5)
        for a, b in zip(got, expected, strict=True):
            pd.testing.assert_frame_equal(a.frame, b.frame)
    for a, b in zip(split(inter, "leave_last_out", n=3), leave_last_out(inter, n=3), strict=True):
        pd.testing.assert_frame_equal(a.frame, b.frame)


def test_split_names_valid_methods_for_an_unknown_one() -> None:
    with pytest.raises(ConfigError, match="method='random'") as err:
        split(_random_inter(), "random")
    for name in SPLITS:
        assert name in str(err.value)


def test_leave_last_out_ignores_test_size() -> None:
    """Regression: evaluate passes one test_size to every method; leave-last-out refused it."""
    inter = _random_inter()
    _, a_test = split(inter, "leave_last_out", test_size=0.2)
    _, b_test = split(inter, "leave_last_out")
    pd.testing.assert_frame_equal(a_test.frame, b_test.frame)


def test_validation_split_carves_from_train_only() -> None:
    inter = _random_inter()
    train, test = split(inter, "stratified", seed=1)
    fit, valid = validation_split(train, "stratified", seed=1)
    _check_partition(train, fit, valid)
    assert _pairs(fit).isdisjoint(_pairs(valid))
    # nothing of test reaches tuning
    assert (_pairs(fit) | _pairs(valid)).isdisjoint(_pairs(test))


# stratified --------------------------------------------------------------------------------


def test_stratified_holds_out_the_rounded_share_of_each_customers_products() -> None:
    rows = [("a", f"p{i}", 1.0, i) for i in range(8)]  # 8 products -> 2 at 0.25
    rows += [("b", f"p{i}", 1.0, i) for i in range(3)]  # 0.75 rounds to 1
    rows += [("c", f"p{i}", 1.0, i) for i in range(2)]  # 0.5 rounds up to 1, keeps 1
    rows += [("d", "p0", 1.0, 0), ("d", "p0", 1.0, 1)]  # one product twice: nothing to split
    rows += [("e", f"p{i}", 1.0, i) for i in range(5)]
    train, test = stratified_split(_inter(rows), 0.25, seed=0)
    held = test.frame.groupby("customer_id")["product_id"].nunique().to_dict()
    assert held == {"a": 2, "b": 1, "c": 1, "e": 1}
    assert set(train.frame["customer_id"]) == set("abcde")


def test_stratified_keeps_one_product_in_train_at_a_large_test_size() -> None:
    rows = [("a", f"p{i}", 1.0, i) for i in range(4)]
    train, test = stratified_split(_inter(rows), 0.99)
    assert (len(train), len(test)) == (1, 3)


def test_stratified_leaves_customers_below_min_interactions_in_train() -> None:
    rows = [("a", f"p{i}", 1.0, i) for i in range(4)] + [("b", f"p{i}", 1.0, i) for i in range(5)]
    train, test = stratified_split(_inter(rows), 0.4, min_interactions=5)
    assert set(test.frame["customer_id"]) == {"b"}
    assert len(test) == 2
    assert (train.frame["customer_id"] == "a").sum() == 4


def test_stratified_keeps_every_row_of_a_pair_together() -> None:
    # each customer buys each product three times; a split on rows would cut pairs apart
    rows = [(c, p, 1.0, d) for c in "abc" for p in "wxyz" for d in range(3)]
    train, test = stratified_split(_inter(rows), 0.5, seed=2)
    assert _pairs(train).isdisjoint(_pairs(test))
    assert test.frame.groupby(["customer_id", "product_id"]).size().eq(3).all()


def test_stratified_share_per_customer_is_close_to_test_size() -> None:
    rng = np.random.default_rng(4)
    rows = [
        (f"c{c}", f"p{p}", 1.0, 0)
        for c in range(50)
        for p in rng.choice(500, size=int(rng.integers(10, 40)), replace=False)
    ]
    inter = _inter(rows)
    _, test = stratified_split(inter, 0.2, seed=0)
    share = test.frame.groupby("customer_id").size() / inter.frame.groupby("customer_id").size()
    assert share.between(0.2 - 0.5 / 10, 0.2 + 0.5 / 10).all()  # within half a product


def test_stratified_seeds_repeat_and_differ() -> None:
    inter = _random_inter()
    a1, b1 = stratified_split(inter, seed=11)
    a2, b2 = stratified_split(inter, seed=11)
    _, b3 = stratified_split(inter, seed=12)
    pd.testing.assert_frame_equal(b1.frame, b2.frame)
    pd.testing.assert_frame_equal(a1.frame, a2.frame)
    assert _pairs(b1) != _pairs(b3)


@pytest.mark.parametrize("test_size", [0.0, 1.0, -0.1, 1.5, "0.2"])
def test_stratified_rejects_a_test_size_outside_0_1(test_size: object) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"test_size={test_size!r}")):
        stratified_split(_random_inter(), test_size)  # type: ignore[arg-type]


def test_stratified_rejects_min_interactions_below_2() -> None:
    with pytest.raises(ConfigError, match="min_interactions=1"):
        stratified_split(_random_inter(), min_interactions=1)


@pytest.mark.parametrize("seed", [1.5, None, "3", True])
def test_stratified_rejects_a_seed_that_is_not_an_int(seed: object) -> None:
    with pytest.raises(TypeError, match="seed="):
        stratified_split(_random_inter(), seed=seed)  # type: ignore[arg-type]


def test_stratified_accepts_numpy_int_seed_and_empty_input() -> None:
    inter = _random_inter()
    a, _ = stratified_split(inter, seed=np.int64(3))
    b, _ = stratified_split(inter, seed=3)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    empty = inter.subset(np.zeros(len(inter), dtype=bool))
    train, test = stratified_split(empty)
    assert (len(train), len(test)) == (0, 0)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from("abcdef"),
            st.sampled_from("uvwxyz"),
            st.sampled_from([1.0, 3.0, -1.0]),
        ),
        min_size=0,
        max_size=60,
    ),
    test_size=st.floats(0.01, 0.99),
    seed=st.integers(0, 2**32 - 1),
    min_interactions=st.integers(2, 4),
)
def test_stratified_split_properties(
    rows: list[tuple[str, str, float]], test_size: float, seed: int, min_interactions: int
) -> None:
    df = pd.DataFrame(rows, columns=["customer_id", "product_id", "weight"])
    inter = Interactions(df)
    train, test = stratified_split(inter, test_size, seed=seed, min_interactions=min_interactions)
    _check_partition(inter, train, test)
    assert _pairs(train).isdisjoint(_pairs(test))
    distinct = df.drop_duplicates(["customer_id", "product_id"]).groupby("customer_id").size()
    train_n = train.frame.drop_duplicates(["customer_id", "product_id"])["customer_id"]
    test_n = test.frame.drop_duplicates(["customer_id", "product_id"])["customer_id"]
    for customer, n in distinct.items():
        in_test = int((test_n == customer).sum())
        assert int((train_n == customer).sum()) >= 1
        if n >= min_interactions:
            assert 1 <= in_test <= n - 1
            assert in_test == min(max(int(np.floor(test_size * n + 0.5)), 1), n - 1)
        else:
            assert in_test == 0


# temporal ----------------------------------------------------------------------------------


def test_temporal_puts_every_train_row_before_every_test_row() -> None:
    inter = _random_inter()
    train, test = temporal_split(inter, 0.2)
    _check_partition(inter, train, test)
    assert train.frame["ts"].max() < test.frame["ts"].min()
    assert len(test) / len(inter) == pytest.approx(0.2, abs=0.01)


def test_temporal_cuts_at_an_explicit_moment_and_keeps_repeats_in_test() -> None:
    rows = [("a", "x", 1.0, 0), ("a", "y", 1.0, 2), ("a", "x", 1.0, 3), ("b", "x", 1.0, 1)]
    inter = _inter(rows)
    train, test = temporal_split(inter, cutoff="2024-01-02")  # naive: read as UTC
    assert sorted(_pairs(train)) == [("a", "x")]
    assert sorted(_pairs(test)) == [("a", "x"), ("a", "y"), ("b", "x")]
    same = temporal_split(inter, cutoff=pd.Timestamp("2024-01-02 01:00", tz="Europe/Paris"))
    pd.testing.assert_frame_equal(same[1].frame, test.frame)


@pytest.mark.parametrize("func", [temporal_split, leave_last_out])
def test_time_splits_name_ts_when_there_is_none(func: object) -> None:
    df = pd.DataFrame({"customer_id": ["a"], "product_id": ["x"], "weight": [1.0]})
    with pytest.raises(SchemaError, match="'ts'"):
        func(Interactions(df))  # type: ignore[operator]


def test_temporal_rejects_a_bad_test_size() -> None:
    with pytest.raises(ConfigError, match=r"test_size=1\.2"):
        temporal_split(_random_inter(), 1.2)


# leave last out ----------------------------------------------------------------------------


def test_leave_last_out_holds_out_the_latest_product() -> None:
    rows = [
        ("a", "x", 1.0, 0),
        ("a", "y", 1.0, 5),
        ("a", "z", 1.0, 3),
        ("a", "x", 1.0, 9),  # x bought again last: x is the latest product, both rows go
        ("b", "x", 1.0, 1),  # a single product: stays in train
        ("c", "q", 1.0, 4),
        ("c", "p", 1.0, 4),  # a tie in time: the greater product id counts as later
    ]
    train, test = leave_last_out(_inter(rows))
    assert sorted(test.frame["product_id"] + "@" + test.frame["customer_id"]) == [
        "q@c",
        "x@a",
        "x@a",
    ]
    assert sorted(_pairs(train)) == [("a", "y"), ("a", "z"), ("b", "x"), ("c", "p")]
    _, test2 = leave_last_out(_inter(rows), n=2)
    assert sorted(_pairs(test2)) == [("a", "x"), ("a", "y")]  # c has only 2 products


@pytest.mark.parametrize("n", [0, -1, 1.5])
def test_leave_last_out_rejects_n_below_1(n: object) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"n={n!r}")):
        leave_last_out(_random_inter(), n=n)  # type: ignore[arg-type]


# docs and speed ----------------------------------------------------------------------------


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_split, raise_on_error=False)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.slow
def test_one_million_rows_split_in_seconds() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    df = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 100_000, n).astype(str),
            "product_id": rng.integers(0, 20_000, n).astype(str),
            "weight": 1.0,
            "ts": T0 + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s"),
        }
    )
    inter = Interactions(df)
    for method in SPLITS:
        train, test = split(inter, method)
        assert len(train) + len(test) == n


# real data ---------------------------------------------------------------------------------


@pytest.mark.realdata
def test_time_splits_on_real_online_retail(online_retail: Path) -> None:
    with gzip.open(online_retail, "rt", encoding="utf-8") as src:
        head = "".join(itertools.islice(src, 20_001))
    df = pd.read_csv(io.StringIO(head), dtype={"CustomerID": str, "StockCode": str})
    # reset the index: from_frame aligns ts and weight on the frame's index (see the report)
    df = df.dropna(subset=["CustomerID"]).reset_index(drop=True)
    inter = Interactions.from_frame(df, user="CustomerID", item="StockCode", ts="InvoiceDate")
    assert len(inter) > 10_000

    train, test = temporal_split(inter, 0.2)
    _check_partition(inter, train, test)
    assert train.frame["ts"].max() < test.frame["ts"].min()
    assert 0.1 < len(test) / len(inter) < 0.3

    train, test = leave_last_out(inter)
    _check_partition(inter, train, test)
    assert _pairs(train).isdisjoint(_pairs(test))
    # each held-out product is no earlier than anything its customer kept in train
    last_kept = train.frame.groupby("customer_id")["ts"].max()
    held = test.frame.groupby("customer_id")["ts"].max()
    assert (held >= last_kept.reindex(held.index)).all()
    assert test.frame.groupby("customer_id")["product_id"].nunique().eq(1).all()
    products = inter.frame.groupby("customer_id")["product_id"].nunique()
    assert set(held.index) == set(products[products > 1].index)
