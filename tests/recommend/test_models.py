"""Each model on data whose right answer is known by hand, and the interactions it learns from."""

from __future__ import annotations

import gzip
import io
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from segmint.errors import ConfigError, SchemaError, SourceError
from segmint.recommend import (
    ALS,
    BPR,
    EASE,
    EDLAE,
    ContentBased,
    Interactions,
    ItemKNN,
    Popularity,
)
from segmint.recommend._base import Recommender
from tests.conftest import data_dir

pytestmark = pytest.mark.filterwarnings(
    # implicit converts BM25/cosine weights through COO internally; not ours to fix
    "ignore:Method expects CSR input:implicit.utils.ParameterWarning"
)


# the checkerboard: two communities, one held-out product per customer ---------------------


def checkerboard() -> tuple[Interactions, dict[str, str]]:
    """20 customers x 10 products: customers 0-9 chose products 0-4, 10-19 chose 5-9.

    Each customer misses one product of their own block (``u % 5``), so the one right
    recommendation is known: the missing product, never one from the other block.
    """
    rows, held = [], {}
    for u in range(20):
        block = [f"i{(u // 10) * 5 + j}" for j in range(5)]
        cid = f"u{u:02d}"
        held[cid] = block[u % 5]
        rows += [(cid, p) for p in block if p != held[cid]]
    df = pd.DataFrame(rows, columns=["customer_id", "product_id"])
    return Interactions.from_frame(df), held


def community(product: str) -> int:
    return int(product[1:]) // 5


CHECKERBOARD_MODELS = {
    "item_knn_bm25": lambda seed: ItemKNN(similarity="bm25"),
    "item_knn_cosine": lambda seed: ItemKNN(similarity="cosine"),
    "ease": lambda seed: EASE(l2=1.0),
    "edlae": lambda seed: EDLAE(l2=1.0, dropout=0.25),
    "dlae": lambda seed: EDLAE(l2=1.0, dropout=0.25, emphasized=False),
    # two factors for two communities; many more memorise the zeros of the held-out items
    "als": lambda seed: ALS(factors=2, iterations=10, random_state=seed),
    "bpr": lambda seed: BPR(factors=8, iterations=300, random_state=seed),
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(CHECKERBOARD_MODELS))
def test_checkerboard_recommends_the_held_out_product(name: str, seed: int) -> None:
    inter, held = checkerboard()
    model = CHECKERBOARD_MODELS[name](seed).fit(inter)
    top = model.recommend(list(held), k=1).set_index("customer_id")["product_id"]
    assert top.to_dict() == held


@pytest.mark.parametrize("name", sorted(CHECKERBOARD_MODELS))
def test_checkerboard_own_community_scores_above_the_other(name: str) -> None:
    inter, held = checkerboard()
    model = CHECKERBOARD_MODELS[name](0).fit(inter)
    # without excluding history, the top five are exactly the customer's own block
    out = model.recommend(list(held), k=5, exclude_seen=False)
    for cid, group in out.groupby("customer_id"):
        own = community(held[cid])
        assert {community(p) for p in group["product_id"]} == {own}, (cid, group)


@pytest.mark.parametrize("name", ["item_knn_bm25", "ease", "edlae", "dlae", "als", "bpr"])
def test_checkerboard_reasons_name_a_history_product(name: str) -> None:
    inter, held = checkerboard()
    model = CHECKERBOARD_MODELS[name](0).fit(inter)
    labels = {p: f"Product {p.upper()}" for p in inter.items}
    model.set_labels(labels)
    out = model.recommend(list(held), k=1)
    hist = inter.frame.groupby("customer_id")["product_id"].agg(set)
    for row in out.itertuples():
        assert row.reason_product_id in hist[row.customer_id], row
        assert labels[row.reason_product_id] in row.reason, row


# EASE's closed form against the regression it solves ------------------------------------------


def test_ease_matches_constrained_ridge_regression() -> None:
    """B's column j is the ridge regression of product j on the other products (B_jj = 0)."""
    X = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 1], [1, 1, 1, 0], [0, 0, 1, 1]], float)
    l2 = 1.5
    df = pd.DataFrame(
        [(f"c{u}", f"p{i}") for u, i in zip(*np.nonzero(X), strict=True)],
        columns=["customer_id", "product_id"],
    )
    model = EASE(l2=l2).fit(Interactions.from_frame(df))
    n = X.shape[1]
    B = np.zeros((n, n))
    for j in range(n):
        others = [i for i in range(n) if i != j]
        Xo = X[:, others]
        B[others, j] = np.linalg.solve(Xo.T @ Xo + l2 * np.eye(n - 1), Xo.T @ X[:, j])
    np.testing.assert_allclose(model.weights_, B, atol=1e-5)
    np.testing.assert_allclose(model.score(np.arange(len(X))), X @ B, atol=1e-5)
    # the one unseen product of c0 gets exactly its closed-form score
    out = model.recommend(["c0"], k=1)
    unseen = np.flatnonzero(X[0] == 0)
    best = unseen[np.argmax((X @ B)[0, unseen])]
    assert out["product_id"].tolist() == [f"p{best}"]
    assert out["score"].iloc[0] == pytest.approx((X @ B)[0, best], abs=1e-5)


def test_ease_weighted_input_when_not_binary() -> None:
    df = pd.DataFrame(
        {"customer_id": ["a", "a", "b", "b"], "product_id": ["x", "y", "x", "y"], "w": [5, 1, 1, 1]}
    )
    inter = Interactions.from_frame(df, weight="w")
    binary = EASE(l2=1.0).fit(inter).weights_
    weighted = EASE(l2=1.0, binary=False).fit(inter).weights_
    X = np.array([[5.0, 1.0], [1.0, 1.0]])
    P = np.linalg.inv(X.T @ X + np.eye(2))
    expected = -P / np.diag(P)
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(weighted, expected, atol=1e-5)
    assert not np.allclose(binary, weighted)


# EDLAE / DLAE: the dropout's closed form against the regression it stands for -------------


def _toy_matrix() -> tuple[np.ndarray, Interactions]:
    X = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 1, 1], [1, 1, 1, 0], [0, 0, 1, 1]], float)
    df = pd.DataFrame(
        [(f"c{u}", f"p{i}") for u, i in zip(*np.nonzero(X), strict=True)],
        columns=["customer_id", "product_id"],
    )
    return X, Interactions.from_frame(df)


def test_edlae_is_ridge_regression_with_a_popularity_scaled_penalty() -> None:
    """EDLAE's column j is product j regressed on the others with the penalty
    ``l2 + p / (1 - p) * popularity(i)`` on each other product i's weight (Steck 2020)."""
    X, inter = _toy_matrix()
    l2, p = 1.5, 0.3
    model = EDLAE(l2=l2, dropout=p).fit(inter)
    order = model.items_.get_indexer([f"p{i}" for i in range(X.shape[1])])
    W = model.weights_[np.ix_(order, order)]
    n = X.shape[1]
    pen = l2 + p / (1 - p) * X.sum(axis=0)
    B = np.zeros((n, n))
    for j in range(n):
        o = [i for i in range(n) if i != j]
        Xo = X[:, o]
        B[o, j] = np.linalg.solve(Xo.T @ Xo + np.diag(pen[o]), Xo.T @ X[:, j])
    np.testing.assert_allclose(W, B, atol=1e-5)


def test_dlae_is_the_dropout_denoising_autoencoder_off_the_diagonal() -> None:
    """DLAE minimises ``E||X - (X * dropout mask / (1 - p)) B||^2 + l2 ||B||^2``, whose
    minimiser is ``(X'X + Lambda)^-1 X'X`` with ``Lambda = l2 + p / (1 - p) diag(X'X)``;
    checked against that normal-equation solve directly, off the diagonal."""
    X, inter = _toy_matrix()
    l2, p = 2.0, 0.5
    model = EDLAE(l2=l2, dropout=p, emphasized=False).fit(inter)
    order = model.items_.get_indexer([f"p{i}" for i in range(X.shape[1])])
    W = model.weights_[np.ix_(order, order)]
    G = X.T @ X
    expected = np.linalg.solve(G + np.diag(l2 + p / (1 - p) * np.diag(G)), G)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(W, expected, atol=1e-5)


def test_edlae_without_dropout_is_ease() -> None:
    _, inter = _toy_matrix()
    np.testing.assert_allclose(
        EDLAE(l2=3.0, dropout=0.0).fit(inter).weights_,
        EASE(l2=3.0).fit(inter).weights_,
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "params", [{"dropout": 1.0}, {"dropout": -0.1}, {"l2": -1.0}, {"dropout": float("nan")}]
)
def test_edlae_rejects_invalid_parameters(params: dict) -> None:
    _, inter = _toy_matrix()
    with pytest.raises(ConfigError):
        EDLAE(**params).fit(inter)


# BPR: the negatives' draw -----------------------------------------------------------------


def test_bpr_padding_makes_negatives_popularity_plus_a_constant() -> None:
    """implicit draws a negative as the product of a random entry of the matrix it is given;
    the padding rows make that ``popularity + D``, with ``D = smoothing * nnz / products``."""
    from segmint.recommend._factorization import _pad_negatives

    X, _ = _toy_matrix()
    Xs = sp.csr_matrix(X)
    padded = _pad_negatives(Xs, 2.0)
    pad = int(np.ceil(2.0 * Xs.nnz / X.shape[1]))  # 12 entries, 4 products: 6 rows
    assert padded.shape == (X.shape[0] + pad, X.shape[1])
    np.testing.assert_array_equal(padded[: X.shape[0]].toarray(), X)
    np.testing.assert_array_equal(np.asarray(padded.sum(axis=0)).ravel(), X.sum(axis=0) + pad)
    assert _pad_negatives(Xs, 0.0) is Xs


def test_bpr_without_smoothing_is_implicits_own_fit() -> None:
    """negative_smoothing=0 hands implicit the binary matrix unchanged: the same factors as
    implicit's BayesianPersonalizedRanking fitted directly (one thread, same seed)."""
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    inter, _ = checkerboard()
    model = BPR(factors=4, iterations=20, negative_smoothing=0.0, random_state=5).fit(inter)
    ref = BayesianPersonalizedRanking(
        factors=4,
        learning_rate=0.01,
        regularization=0.01,
        iterations=20,
        random_state=5,
        num_threads=1,
    )
    ref.fit(sp.csr_matrix(model.seen_, dtype=np.float32), show_progress=False)
    np.testing.assert_allclose(model.user_factors_, ref.user_factors, atol=1e-6)
    np.testing.assert_allclose(model.item_factors_, ref.item_factors, atol=1e-6)
    smoothed = BPR(factors=4, iterations=20, negative_smoothing=1.0, random_state=5).fit(inter)
    assert smoothed.user_factors_.shape == model.user_factors_.shape


@pytest.mark.parametrize("value", [-1.0, float("inf"), "2"])
def test_bpr_rejects_invalid_negative_smoothing(value: object) -> None:
    inter, _ = checkerboard()
    with pytest.raises(ConfigError, match="negative_smoothing"):
        BPR(negative_smoothing=value).fit(inter)  # type: ignore[arg-type]


# popularity ----------------------------------------------------------------------------------


def test_popularity_counts_distinct_customers_not_rows() -> None:
    # x: three customers once each; y: one customer ten times; z: two customers
    rows = [("a", "x"), ("b", "x"), ("c", "x"), ("a", "z"), ("b", "z")] + [("d", "y")] * 10
    df = pd.DataFrame(rows, columns=["customer_id", "product_id"])
    model = Popularity().fit(Interactions.from_frame(df))
    out = model.recommend(["new"], k=3)
    assert out["product_id"].tolist() == ["x", "z", "y"]
    np.testing.assert_allclose(out["score"], [3, 2, 1], atol=1e-3)
    assert set(out["reason"]) == {"popular with all customers"}
    # a known customer gets the same order minus what they have
    assert model.recommend(["d"], k=3)["product_id"].tolist() == ["x", "z"]


def _segmented() -> tuple[Interactions, pd.Series]:
    rows = []
    for i in range(3):
        rows += [(f"a{i}", "sa"), (f"a{i}", "common")]
        rows += [(f"b{i}", "sb"), (f"b{i}", "common")]
    rows += [("b0", "sb2"), ("b1", "sb2"), ("loner", "sa")]
    df = pd.DataFrame(rows, columns=["customer_id", "product_id"])
    segments = pd.Series(
        {**{f"a{i}": "A" for i in range(3)}, **{f"b{i}": "B" for i in range(3)},
         "newA": "A", "newB": "B", "loner": "tiny", "newTiny": "tiny"}
    )  # fmt: skip
    return Interactions.from_frame(df), segments


def test_popularity_ranks_within_the_segment() -> None:
    inter, segments = _segmented()
    model = Popularity(by_segment=True, min_segment_size=3).fit(inter, segments=segments)
    out = model.recommend(["newA", "newB", "newTiny"], k=2)
    top = out.groupby("customer_id")["product_id"].agg(list).to_dict()
    # A: sa and common 3 customers each; the global tie-break puts common (7) before sa (4)
    assert top["newA"] == ["common", "sa"]
    assert top["newB"] == ["common", "sb"]
    # a segment under min_segment_size (tiny has two) gets the global ranking
    assert top["newTiny"] == ["common", "sa"]
    reasons = out.groupby("customer_id")["reason"].first().to_dict()
    assert reasons == {
        "newA": "popular in your segment (A)",
        "newB": "popular in your segment (B)",
        "newTiny": "popular with all customers",
    }
    assert model.segment("a0") == "A" and model.segment("loner") is None
    # the segment's own third product: sb2 in B, nothing of B's in A
    assert model.recommend(["newB"], k=3)["product_id"].tolist()[2] == "sb2"
    assert "sb2" not in model.recommend(["newA"], k=3)["product_id"].tolist()[:2]


def test_popularity_context_segment_overrides_the_customers() -> None:
    inter, segments = _segmented()
    model = Popularity(by_segment=True, min_segment_size=3).fit(inter, segments=segments)
    out = model.recommend(["newA"], k=3, context={"segment": "B"})
    assert out["product_id"].tolist() == ["common", "sb", "sb2"]
    assert set(out["reason"]) == {"popular in your segment (B)"}


def test_popularity_trending_counts_only_the_recent_window() -> None:
    end = pd.Timestamp("2024-06-30", tz="UTC")
    rows = [(f"o{i}", "old", end - pd.Timedelta(days=60)) for i in range(5)]
    rows += [(f"n{i}", "new", end - pd.Timedelta(days=i)) for i in range(2)]
    rows += [("n0", "old", end - pd.Timedelta(days=8))]  # just outside a 7-day window
    df = pd.DataFrame(rows, columns=["customer_id", "product_id", "ts"])
    inter = Interactions.from_frame(df, ts="ts")
    overall = Popularity().fit(inter).recommend(["x"], k=2)
    assert overall["product_id"].tolist() == ["old", "new"]
    trending = Popularity(window_days=7).fit(inter).recommend(["x"], k=2)
    assert trending["product_id"].tolist() == ["new", "old"]
    np.testing.assert_allclose(trending["score"], [2, 0], atol=1e-3)
    assert set(trending["reason"]) == {"trending in the last 7 days"}
    wider = Popularity(window_days=9).fit(inter).recommend(["x"], k=2)
    np.testing.assert_allclose(wider["score"], [2, 1], atol=1e-3)


# content -------------------------------------------------------------------------------------


def _shop() -> tuple[Interactions, pd.DataFrame]:
    catalogue = pd.DataFrame(
        {
            "product_id": ["shoe1", "shoe2", "hat1", "hat2", "newshoe"],
            "title": [
                "red leather running shoe",
                "grey mesh trail shoe",
                "blue wool winter hat",
                "green cotton sun hat",
                "red leather running shoe lite",
            ],
            "category": ["Shoes>Running", "Shoes>Trail", "Hats>Winter", "Hats>Summer",
                         "Shoes>Running"],
            "brand": ["Acme", "Trek", "Knit", "Knit", "Acme"],
        }
    )  # fmt: skip
    rows = [("fan", "shoe1"), ("h1", "hat1"), ("h1", "hat2"), ("h2", "hat2"), ("h2", "shoe2")]
    df = pd.DataFrame(rows, columns=["customer_id", "product_id"])
    df["event_type"] = "purchase"
    return Interactions.from_frame(df, context=["event_type"]), catalogue


def test_content_recommends_a_catalogue_only_product() -> None:
    inter, catalogue = _shop()
    assert "newshoe" not in set(inter.items)
    model = ContentBased().fit(inter, catalogue=catalogue)
    out = model.recommend(["fan"], k=2)
    assert out["product_id"].iloc[0] == "newshoe"
    assert out["reason_product_id"].iloc[0] == "shoe1"
    assert out["reason"].iloc[0] == "similar to red leather running shoe, which you bought"


def test_content_similar_ranks_the_same_category_first() -> None:
    # titles share no words; only the category (and nothing else) links s1 and s2
    catalogue = pd.DataFrame(
        {
            "product_id": ["s1", "s2", "h1", "h2"],
            "title": ["alpha", "bravo", "charlie", "delta"],
            "category": ["Shoes>Trail", "Shoes>Trail", "Hats>Caps", "Hats>Winter"],
        }
    )
    df = pd.DataFrame({"customer_id": ["a", "b"], "product_id": ["s1", "h1"]})
    model = ContentBased().fit(Interactions.from_frame(df), catalogue=catalogue)
    sims = model.similar("s1", k=3)
    assert sims.index[0] == "s2"
    assert sims.iloc[0] > 0
    np.testing.assert_allclose(sims.iloc[1:], 0, atol=1e-6)
    # a shared top level (Hats) links h1 and h2, less than a shared full path would
    hats = model.similar("h1", k=3)
    assert hats.index[0] == "h2" and 0 < hats.iloc[0] < sims.iloc[0]


# reasons from every item-explained model ----------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [ItemKNN(), EASE(l2=1.0), ALS(factors=2, iterations=10), ContentBased()],
    ids=["item_knn", "ease", "als", "content"],
)
def test_reasons_name_a_product_from_the_history(model: Recommender) -> None:
    inter, catalogue = _shop()
    rows = inter.frame[["customer_id", "product_id"]]
    extra = pd.DataFrame(
        [("fan", "newshoe"), ("h3", "hat1"), ("h3", "shoe1"), ("h3", "newshoe"), ("h4", "hat2"),
         ("h4", "hat1")],
        columns=["customer_id", "product_id"],
    )  # fmt: skip
    frame = pd.concat([rows, extra], ignore_index=True).assign(event_type="purchase")
    inter = Interactions.from_frame(frame, context=["event_type"])
    if isinstance(model, ContentBased):
        model.fit(inter, catalogue=catalogue)
    else:
        model.fit(inter)
        model.set_labels(catalogue.set_index("product_id")["title"].to_dict())
    out = model.recommend(["fan", "h1", "h2"], k=2)
    hist = frame.groupby("customer_id")["product_id"].agg(set)
    titles = catalogue.set_index("product_id")["title"]
    named = out.dropna(subset=["reason_product_id"])
    assert len(named) >= 3
    for row in named.itertuples():
        assert row.reason_product_id in hist[row.customer_id]
        assert titles[row.reason_product_id] in row.reason


# interactions: matrix modes, netting, files -------------------------------------------------


def _netting() -> Interactions:
    rows = [
        ("a", "x", 2.0), ("a", "x", 3.0), ("a", "y", 1.0),
        ("b", "x", 4.0), ("b", "x", -4.0),  # bought and returned: nets to nothing
        ("b", "y", 5.0), ("b", "y", -2.0),  # bought 5, returned 2
    ]  # fmt: skip
    return Interactions(pd.DataFrame(rows, columns=["customer_id", "product_id", "weight"]))


@pytest.mark.parametrize(
    ("repeat", "expected"),
    [
        ("sum", [[5.0, 1.0], [0.0, 3.0]]),
        # the strongest interaction, stored only while the pair nets positive
        ("max", [[3.0, 1.0], [0.0, 5.0]]),
        ("log", [[1 + np.log(5.0), 1.0], [0.0, 1 + np.log(3.0)]]),
    ],
)
def test_matrix_repeat_modes_and_returns(repeat: str, expected: list[list[float]]) -> None:
    inter = _netting()
    inter.repeat = repeat  # type: ignore[assignment]
    m = inter.matrix()
    assert m.dtype == np.float32
    np.testing.assert_allclose(m.toarray(), expected, rtol=1e-6)
    assert m.nnz == 3  # the fully returned pair is not stored
    assert Interactions(inter.frame.copy(), repeat=repeat).matrix().nnz == 3  # type: ignore[arg-type]


def test_matrix_follows_given_users_and_items() -> None:
    m = _netting().matrix(pd.Index(["b", "zz"]), pd.Index(["y", "x"]))
    np.testing.assert_allclose(m.toarray(), [[3.0, 0.0], [0.0, 0.0]])


def test_repeat_mode_is_validated() -> None:
    with pytest.raises(SchemaError, match="repeat='mean'"):
        Interactions(_netting().frame, repeat="mean")  # type: ignore[arg-type]


def test_from_file_reads_recbole_atomic_tsv(tmp_path: Path) -> None:
    path = tmp_path / "ml.inter"
    path.write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "196\t242\t3\t881250949\n"
        "186\t302\t3\t891717742\n"
        "196\t377\t1\t878887116\n"
    )
    inter = Interactions.from_file(path)
    f = inter.frame
    assert f["customer_id"].tolist() == ["196", "186", "196"]
    assert f["product_id"].tolist() == ["242", "302", "377"]
    assert f["weight"].tolist() == [3.0, 3.0, 1.0]
    assert f["ts"].iloc[0] == pd.Timestamp(881250949, unit="s", tz="UTC")
    assert inter.has_time and inter.n_users == 2 and inter.n_items == 3


@pytest.mark.parametrize("gz", [False, True], ids=["csv", "csv.gz"])
def test_from_file_reads_movielens_csv(tmp_path: Path, gz: bool) -> None:
    text = "userId,movieId,rating,timestamp\n1,10,4.0,964982703\n1,20,2.5,964981247\n2,10,5.0,1\n"
    path = tmp_path / ("ratings.csv.gz" if gz else "ratings.csv")
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    inter = Interactions.from_file(path)
    assert inter.frame["weight"].tolist() == [4.0, 2.5, 5.0]
    assert inter.frame["product_id"].tolist() == ["10", "20", "10"]
    liked = Interactions.from_file(path, min_weight=4.0)
    assert liked.frame[["customer_id", "product_id", "weight"]].values.tolist() == [
        ["1", "10", 4.0],
        ["2", "10", 5.0],
    ]
    binary = Interactions.from_file(path, min_weight=3.0, binary=True)
    assert binary.frame["weight"].tolist() == [1.0, 1.0]
    assert binary.matrix().toarray().tolist() == [[1.0], [1.0]]


UDATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t377\t1\t878887116\n"


@pytest.mark.parametrize(
    ("name", "text", "columns"),
    [
        ("u.data", UDATA, None),  # MovieLens 100K: tab-separated, no header
        ("ratings.dat", UDATA.replace("\t", "::"), None),  # MovieLens 1M
        ("u.data", UDATA, ["user", "item", "rating", "timestamp"]),
        ("plain.csv", UDATA.replace("\t", ","), ["user", "item", "rating", "_"]),
        ("swapped.csv", "242,196,3\n302,186,3\n377,196,1\n", ["item", "user", "rating"]),
        (
            "header.csv",
            "user_id,item_id,rating\n196,242,3\n186,302,3\n196,377,1\n",
            ["user", "item", "rating"],
        ),
    ],
)
def test_from_file_reads_headerless_files(
    tmp_path: Path, name: str, text: str, columns: list[str] | None
) -> None:
    """Regression (issue 22, defect 1): a headerless user-item file was refused ("no
    customer_id column ... found ['196', '242', '3', '881250949']") with no way to name the
    columns. Columns are given in file order, or the common layouts are recognised."""
    path = tmp_path / name
    path.write_text(text)
    inter = Interactions.from_file(path, columns=columns)
    f = inter.frame
    assert f["customer_id"].tolist() == ["196", "186", "196"]
    assert f["product_id"].tolist() == ["242", "302", "377"]
    assert f["weight"].tolist() == [3.0, 3.0, 1.0]
    implicit = Interactions.from_file(path, columns=columns, min_weight=3, binary=True)
    assert implicit.frame["product_id"].tolist() == ["242", "302"]


def test_from_file_names_what_columns_accepts(tmp_path: Path) -> None:
    path = tmp_path / "u.data"
    path.write_text(UDATA)
    with pytest.raises(ConfigError, match="'stars' is not one of user, item, rating"):
        Interactions.from_file(path, columns=["user", "item", "stars"])


def test_from_file_names_the_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("who,what\n1,2\n")
    with pytest.raises(SourceError, match=r"no customer_id column.*user_id.*\['who', 'what'\]"):
        Interactions.from_file(path)
    half = tmp_path / "half.csv"
    half.write_text("user_id,what\n1,2\n")
    with pytest.raises(SourceError, match=r"no product_id column.*item_id"):
        Interactions.from_file(half)
    # naming the columns makes the same file readable
    inter = Interactions.from_file(path, user="who", item="what")
    assert inter.frame[["customer_id", "product_id", "weight"]].values.tolist() == [["1", "2", 1.0]]
    with pytest.raises(SourceError, match="does not exist"):
        Interactions.from_file(tmp_path / "missing.csv")


def test_from_frame_names_the_missing_column() -> None:
    df = pd.DataFrame({"CustomerID": ["1"], "StockCode": ["A"]})
    with pytest.raises(
        SchemaError, match=r"item column 'sku' not in \['CustomerID', 'StockCode'\]"
    ):
        Interactions.from_frame(df, user="CustomerID", item="sku")
    with pytest.raises(SchemaError, match="empty 'CustomerID'"):
        Interactions.from_frame(
            pd.DataFrame({"CustomerID": [None], "StockCode": ["A"]}),
            user="CustomerID",
            item="StockCode",
        )


# real data -----------------------------------------------------------------------------------

RETAIL_LINES = 30_000


@pytest.fixture(scope="module")
def retail() -> pd.DataFrame:
    folder = data_dir()
    path = None if folder is None else folder / "online_retail" / "online_retail.csv.gz"
    if path is None or not path.is_file():
        pytest.skip(
            "online_retail.csv.gz not found: set SEGMINT_DATA to the folder holding "
            "online_retail/online_retail.csv.gz (default ../shared/data)"
        )
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        head = list(itertools.islice(fh, RETAIL_LINES + 1))
    df = pd.read_csv(io.StringIO("".join(head)), dtype={"CustomerID": str, "StockCode": str})
    return df.dropna(subset=["CustomerID"]).reset_index(drop=True)


@pytest.mark.realdata
@pytest.mark.parametrize(
    "model",
    [EASE(l2=200.0), EDLAE(l2=100.0, dropout=0.33), ALS(factors=32, iterations=10)],
    ids=["ease", "edlae", "als"],
)
def test_real_retail_customers_get_explained_new_products(
    retail: pd.DataFrame, model: Recommender
) -> None:
    inter = Interactions.from_frame(retail, user="CustomerID", item="StockCode", ts="InvoiceDate")
    assert inter.n_users > 100 and inter.n_items > 500
    model.fit(inter)
    bought = retail.groupby("CustomerID")["StockCode"].agg(set)
    # five real customers with a few products each, chosen by a fixed rule
    customers = sorted(c for c, items in bought.items() if 5 <= len(items) <= 60)[:5]
    assert len(customers) == 5
    out = model.recommend(customers, k=10)
    assert set(out["customer_id"]) == set(customers)
    assert (out.groupby("customer_id").size() == 10).all()
    for row in out.itertuples():
        assert row.product_id not in bought[row.customer_id]
    named = out.dropna(subset=["reason_product_id"])
    assert len(named) >= len(out) // 2
    for row in named.itertuples():
        assert row.reason_product_id in bought[row.customer_id]
        assert row.reason_product_id in row.reason


def test_project_file_names_every_recommender() -> None:
    """Regression guard: a model added to MODELS but not to config.RECOMMENDERS could not be
    named in segmint.yaml (and a name only in the config would fail at train time)."""
    from segmint.config import RECOMMENDERS
    from segmint.recommend import MODELS

    assert set(RECOMMENDERS) == set(MODELS)


def test_project_file_rejects_an_unknown_recommender() -> None:
    from pydantic import ValidationError

    from segmint.config import RecommendConfig

    with pytest.raises(ValidationError, match=r"'eas' is not a recommender.*did you mean 'ease'"):
        RecommendConfig(models=["popularity", "eas"])


def test_ease_weights_stay_c_ordered_after_a_reload(tmp_path) -> None:
    """Regression: EASE's weights came out of the solve (and the .npz) in Fortran order, and
    scipy's sparse @ dense copied the whole products x products matrix on every call: one
    customer's recommendations took 100 ms instead of about 1."""
    from segmint.recommend import EASE, load_model, save_model

    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 50, 600).astype(str),
            "product_id": rng.integers(0, 40, 600).astype(str),
        }
    )
    model = EASE(l2=10.0).fit(Interactions.from_frame(df))
    assert model.weights_.flags.c_contiguous
    again, _ = load_model(save_model(model, tmp_path / "e.npz"))
    assert again.weights_.flags.c_contiguous


# RP3beta: the walk's weights worked out by hand ---------------------------------------------


def _rp3_toy() -> Interactions:
    """3 customers x 3 products: c0 chose p0 and p1, c1 p0 and p2, c2 p1 only."""
    pairs = [("c0", "p0"), ("c0", "p1"), ("c1", "p0"), ("c1", "p2"), ("c2", "p1")]
    return Interactions.from_frame(pd.DataFrame(pairs, columns=["customer_id", "product_id"]))


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # alpha 1: P_iu P_ui rows p0 [.5 .25 .25], p1 [.25 .75 0], p2 [.5 0 .5]; / popularity
        # [2 2 1] ** 1, diagonal 0: p0 [0 .125 .25], p1 [.125 0 0], p2 [.25 0 0]; L1 rows
        ({"alpha": 1.0, "beta": 1.0, "neighbours": 2}, [[0, 1 / 3, 2 / 3], [1, 0, 0], [1, 0, 0]]),
        # one neighbour: p0 keeps p2 (.25 beats .125)
        ({"alpha": 1.0, "beta": 1.0, "neighbours": 1}, [[0, 0, 1], [1, 0, 0], [1, 0, 0]]),
        # alpha 2, no penalty: squared transitions give p0 [.125 .0625 .0625], p1 [.0625 .3125 0]
        ({"alpha": 2.0, "beta": 0.0, "neighbours": 2}, [[0, 0.5, 0.5], [1, 0, 0], [1, 0, 0]]),
    ],
)
def test_rp3beta_weights_and_scores_match_the_hand_computed_walk(
    params: dict, expected: list[list[float]]
) -> None:
    """Guards RP3beta's formula: the alpha exponent on both transition matrices, the division
    by the arrival product's popularity ** beta, the zero diagonal, the top-k cut and the L1
    rows; and that a customer's scores are their history times those weights."""
    from segmint.recommend import RP3beta

    model = RP3beta(**params).fit(_rp3_toy())
    order = model.items_.get_indexer(["p0", "p1", "p2"])
    W = model.similarity_.toarray()[np.ix_(order, order)]
    np.testing.assert_allclose(W, expected, atol=1e-6)
    # c0 (p0, p1): row p0 + row p1; only p2 is new to them
    recs = model.recommend(["c0"], k=3)
    assert recs["product_id"].tolist() == ["p2"]
    assert recs["score"].iloc[0] == pytest.approx(expected[0][2] + expected[1][2], abs=1e-6)
    # c2 (p1): p1's row, best first
    recs = model.recommend(["c2"], k=3)
    assert recs["product_id"].iloc[0] == "p0"
    assert recs["reason_product_id"].iloc[0] == "p1"


@pytest.mark.parametrize(
    "params", [{"alpha": -1.0}, {"beta": float("nan")}, {"neighbours": 0}, {"neighbours": 2.5}]
)
def test_rp3beta_rejects_invalid_parameters(params: dict) -> None:
    """Guards the documented ConfigError (not a NumPy error or NaN scores) on bad parameters."""
    from segmint.recommend import RP3beta

    with pytest.raises(ConfigError):
        RP3beta(**params).fit(_rp3_toy())
