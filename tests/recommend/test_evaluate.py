"""Offline evaluation: no test interaction reaches a model or a tuning choice, the table is
reproducible and says what ``ranking_metrics`` says, and EASE beats popularity where it must.

The data is a synthetic two-community shop: 60 customers of community ``a`` choose among
12 ``a`` products, 30 of community ``b`` among 12 ``b`` products. Popularity recommends ``a``
products to everyone (more customers had them), so it is wrong for every ``b`` customer; a
collaborative model sees which community a customer belongs to and is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from segmint.errors import ConfigError
from segmint.recommend import (
    EASE,
    MODELS,
    SEARCH_SPACES,
    Interactions,
    Popularity,
    evaluate,
    ranking_metrics,
    sample_space,
    split,
    tune,
)
from segmint.recommend._split import validation_split

K = 5
METRICS = [f"{m}@{K}" for m in ("precision", "recall", "ndcg", "map", "hit_rate")]
Row = tuple[str, str, pd.Timestamp]


def communities(seed: int = 0) -> Interactions:
    """Two communities of customers, each choosing 6 of its own 12 products, at distinct times
    drawn at random (so a temporal cut leaves both communities on both sides)."""
    rng = np.random.default_rng(seed)
    rows = []
    for comm, users in (("a", 60), ("b", 30)):
        for u in range(users):
            for it in rng.choice(12, size=6, replace=False):
                rows.append((f"{comm}{u:02d}", f"{comm}-item{it:02d}"))
    df = pd.DataFrame(rows, columns=["customer_id", "product_id"])
    minutes = rng.permutation(len(df))
    df["ts"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(minutes, unit="min")
    return Interactions.from_frame(df, ts="ts")


def rows_of(inter: Interactions) -> set[Row]:
    """Each interaction as (customer, product, time); times are distinct, so rows are too."""
    f = inter.frame
    return set(zip(f["customer_id"], f["product_id"], f["ts"], strict=True))


def pairs_of(inter: Interactions) -> set[tuple[str, str]]:
    f = inter.frame
    return set(zip(f["customer_id"], f["product_id"], strict=True))


@pytest.fixture(scope="module")
def inter() -> Interactions:
    data = communities()
    assert len(rows_of(data)) == len(data)  # the row-level checks below rely on it
    return data


def spy_class(base: type[Any], name: str) -> type[Any]:
    """A subclass of ``base`` that records the rows of every ``fit`` it is given, then fits.

    Each call makes a fresh class with its own record, so tests do not share one."""

    class Spy(base):
        fits: ClassVar[list[set[Row]]] = []

        def fit(self, interactions: Interactions, **kwargs: Any) -> Any:
            type(self).fits.append(rows_of(interactions))
            return super().fit(interactions, **kwargs)

    Spy.name = name
    Spy.fits = []
    return Spy


# --- no leakage -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["stratified", "temporal", "leave_last_out"])
def test_models_are_fitted_on_train_only(inter: Interactions, method: str) -> None:
    """Regression guard for the issue's leakage requirement: a model handed to ``evaluate``
    is fitted on the training part of the split only, never on a test interaction."""
    spy = spy_class(EASE, "spy_ease")
    spy_pop = spy_class(Popularity, "popularity")
    evaluate(inter, [spy_pop(), spy()], split_method=method, test_size=0.25, k=K, seed=3)
    train, test = split(inter, method, test_size=0.25, seed=3)
    assert len(test) > 0
    for recorded in (spy.fits, spy_pop.fits):
        # one fit each (the spy popularity is the baseline: no second one is added)
        assert recorded == [rows_of(train)]
        assert not recorded[0] & rows_of(test)
    if method != "temporal":
        # the pair splits hold out whole (customer, product) pairs
        fitted_pairs = {(c, p) for c, p, _ in spy.fits[0]}
        assert not fitted_pairs & pairs_of(test)


@pytest.mark.parametrize("method", ["stratified", "temporal", "leave_last_out"])
def test_tuning_and_blending_see_only_a_part_of_train(
    inter: Interactions, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hyperparameters (``tune``) and blend weights (``tune_blend``) are chosen on a validation
    split carved from train: every model fitted while choosing saw a strict part of train and
    nothing of test. The spy replaces ``ease`` in the registry, so every EASE the search, the
    blend and the final hybrid build is recorded."""
    spy = spy_class(EASE, "ease")
    monkeypatch.setitem(MODELS, "ease", spy)
    ev = evaluate(
        inter,
        ["ease", "item_knn", "hybrid"],
        split_method=method,
        test_size=0.25,
        k=K,
        seed=4,
        search=2,
    )
    train, test = split(inter, method, test_size=0.25, seed=4)
    train_rows, test_rows = rows_of(train), rows_of(test)
    assert "ease" in ev.params and set(ev.weights) == {"ease", "item_knn"}
    # 2 candidates tried, 1 hybrid fitted for the blend, the final ease and the final hybrid
    assert len(spy.fits) == 5
    for seen in spy.fits:
        assert seen <= train_rows
        assert not seen & test_rows
    while_choosing = [seen for seen in spy.fits if seen != train_rows]
    assert len(while_choosing) == 3
    vtrain, vvalid = validation_split(train, method, test_size=0.25, seed=5)
    assert all(seen == rows_of(vtrain) for seen in while_choosing)
    assert rows_of(vvalid) and rows_of(vvalid) <= train_rows


def test_tune_fits_only_on_what_it_is_given(
    inter: Interactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = spy_class(EASE, "ease")
    monkeypatch.setitem(MODELS, "ease", spy)
    train, valid = split(inter, "stratified", test_size=0.25, seed=0)
    best = tune("ease", train, valid, k=K, n=3, seed=0)
    assert spy.fits == [rows_of(train)] * 3
    assert set(best) == {"l2"} and best["l2"] in SEARCH_SPACES["ease"]["l2"]


# --- reproducible -----------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_table(inter: Interactions) -> None:
    models = ["popularity", "ease", "item_knn", "als", "bpr", "hybrid"]
    first = evaluate(inter, models, split_method="stratified", k=K, seed=7, search=1)
    again = evaluate(inter, models, split_method="stratified", k=K, seed=7, search=1)
    pd.testing.assert_frame_equal(
        first.table.drop(columns="fit_seconds"), again.table.drop(columns="fit_seconds")
    )
    assert (first.params, first.weights) == (again.params, again.weights)


def test_a_different_seed_gives_a_different_split(inter: Interactions) -> None:
    seen = []
    for seed in (0, 1):
        spy = spy_class(EASE, "spy_ease")
        ev = evaluate(inter, [spy()], split_method="stratified", k=K, seed=seed)
        seen.append(spy.fits[0])
        assert ev.train_rows == len(spy.fits[0])
    assert seen[0] != seen[1]


# --- the table --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ev(inter: Interactions) -> Any:
    return evaluate(
        inter, ["ease", "item_knn", "hybrid"], split_method="stratified", test_size=0.25, k=K
    )


def test_a_row_per_model_with_popularity_always_there(ev: Any) -> None:
    assert list(ev.table.index) == ["popularity", "ease", "item_knn", "hybrid"]
    assert set(ev.models) == set(ev.table.index)
    for col in [*METRICS, "coverage", "novelty", "users", "cold_users", "fit_seconds"]:
        assert col in ev.table.columns
    t = ev.table
    assert t["ndcg_vs_popularity"].to_numpy() == pytest.approx(
        (t[f"ndcg@{K}"] / t.loc["popularity", f"ndcg@{K}"]).to_numpy()
    )
    assert t.loc["popularity", "ndcg_vs_popularity"] == pytest.approx(1.0)
    assert ev.best == t[f"ndcg@{K}"].idxmax()
    assert (ev.k, ev.split) == (K, "stratified")


def test_popularity_is_added_once(inter: Interactions) -> None:
    ev = evaluate(inter, ["ease", "popularity"], split_method="stratified", k=K)
    assert list(ev.table.index) == ["ease", "popularity"]


def test_ease_beats_popularity_on_two_communities(ev: Any) -> None:
    t = ev.table
    assert t.loc["ease", f"ndcg@{K}"] > 1.3 * t.loc["popularity", f"ndcg@{K}"]
    assert t.loc["ease", "ndcg_vs_popularity"] > 1.3
    assert ev.best != "popularity"
    # popularity names the big community's products to the small one; EASE does not
    b_users = [f"b{u:02d}" for u in range(30)]
    pop = ev.models["popularity"].recommend(b_users, k=K)
    assert len(pop) == 30 * K and pop.product_id.str.startswith("a-").all()
    ease = ev.models["ease"].recommend(b_users, k=K)
    assert ease.product_id.str.startswith("b-").mean() > 0.9


@pytest.mark.parametrize("model", ["popularity", "ease", "item_knn", "hybrid"])
def test_table_equals_metrics_recomputed_from_recommend(
    inter: Interactions, ev: Any, model: str
) -> None:
    """Two routes: the table's row against the fitted model's own recommendations for the
    test customers of the same split, scored again; and a plain set count of hits."""
    train, test = split(inter, "stratified", test_size=0.25, seed=0)
    assert ev.train_rows == len(train) and ev.test_rows == len(test)
    users = sorted(set(test.frame["customer_id"]) & set(train.frame["customer_id"]))
    recs = ev.models[model].recommend(users, k=K)
    again = ranking_metrics(recs, train, test, k=K)
    row = ev.table.loc[model]
    for col in [*METRICS, "coverage", "novelty"]:
        assert row[col] == pytest.approx(again[col]), col
    assert row["users"] == again["users"] == len(users)
    # by hand: every test pair is relevant (each pair occurs once in the data)
    relevant = pairs_of(test)
    picked = zip(recs.customer_id, recs.product_id, strict=True)
    hits = recs[[pair in relevant for pair in picked]]
    per_user = hits.groupby("customer_id").size().reindex(users, fill_value=0)
    wanted = test.frame.groupby("customer_id").size().reindex(users)
    assert row[f"precision@{K}"] == pytest.approx((per_user / K).mean())
    assert row[f"recall@{K}"] == pytest.approx((per_user / wanted).mean())
    assert row[f"hit_rate@{K}"] == pytest.approx((per_user > 0).mean())


def test_save_chart(ev: Any, tmp_path: Path) -> None:
    svg = ev.save_chart(tmp_path / "charts" / "eval.svg")
    assert svg.read_text().lstrip().startswith("<svg") and "ease" in svg.read_text()
    png = ev.save_chart(tmp_path / "eval.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    with pytest.raises(ConfigError, match=r"'eval\.txt'.*\.svg, \.png or \.html"):
        ev.save_chart(tmp_path / "eval.txt")
    assert not (tmp_path / "eval.txt").exists()


def test_unknown_model_and_split_are_named(inter: Interactions) -> None:
    with pytest.raises(ConfigError, match="recommender 'eaze' is unknown"):
        evaluate(inter, ["eaze"])
    with pytest.raises(ConfigError, match="split method='bogus' should be one of"):
        evaluate(inter, ["ease"], split_method="bogus")


# --- sample_space -----------------------------------------------------------------------------


def test_sample_space_distinct_deterministic_and_capped() -> None:
    space: dict[str, list[Any]] = {"a": [1, 2, 3], "b": ["x", "y"], "c": [0.1, 0.2]}  # 12
    five = sample_space(space, 5, seed=0)
    assert len(five) == 5
    assert len({tuple(sorted(c.items())) for c in five}) == 5
    assert all(set(c) == set(space) and all(c[k] in space[k] for k in c) for c in five)
    assert five[0] == {"a": 2, "b": "y", "c": 0.2}  # each list's middle first
    assert sample_space(space, 5, seed=0) == five
    others = [sample_space(space, 5, seed=s) for s in range(1, 6)]
    assert any(o != five for o in others)
    every = sample_space(space, 100, seed=0)
    assert len(every) == 12 and len({tuple(sorted(c.items())) for c in every}) == 12
    assert sample_space(space, 0, seed=0) == [] and sample_space({}, 3, seed=0) == []


def test_sample_space_over_every_search_space() -> None:
    for name, space in SEARCH_SPACES.items():
        total = int(np.prod([len(v) for v in space.values()])) if space else 0
        got = sample_space(space, 8, seed=1)
        assert len(got) == min(8, total), name
        assert len({tuple(sorted(c.items())) for c in got}) == len(got), name
