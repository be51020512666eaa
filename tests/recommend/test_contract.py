"""The contract every recommender in ``segmint.recommend.MODELS`` keeps.

One suite, parametrized over every model (like implicit's ``RecommenderBaseTestMixin``): fit
returns the model, the output frame has one shape, ranks and scores agree, seen and excluded
products never come back, refitting forgets, save -> load answers identically, the input is not
touched, seeds repeat, and errors are the documented ones.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from segmint.errors import ConfigError, NotFittedError
from segmint.recommend import MODELS, OUTPUT_COLUMNS, Interactions, load_model, save_model
from segmint.recommend._base import Recommender

pytestmark = pytest.mark.filterwarnings(
    # implicit converts BM25/cosine weights through COO internally; not ours to fix
    "ignore:Method expects CSR input:implicit.utils.ParameterWarning"
)

#: small, fast parameters per model; every model in MODELS must appear here
FAST_PARAMS: dict[str, dict] = {
    "popularity": {"by_segment": True, "min_segment_size": 2},
    "item_knn": {"neighbours": 20},
    "als": {"factors": 8, "iterations": 5, "random_state": 3},
    "bpr": {"factors": 8, "iterations": 30, "random_state": 3},
    "ease": {"l2": 10.0},
    "edlae": {"l2": 5.0, "dropout": 0.25},
    "rp3beta": {"alpha": 0.8, "beta": 0.3, "neighbours": 5},
    "content": {},
    "hybrid": {"params": {"als": {"factors": 8, "iterations": 5}}, "thin_history": 2},
    "context": {"base": "ease", "params": {"l2": 10.0}, "strength": 1.0, "smoothing": 5.0},
}
#: models that answer customers they never saw (the others give them no rows)
ANSWERS_UNKNOWN = {"popularity": "popularity", "hybrid": "cold_start"}

T0 = pd.Timestamp("2024-03-01", tz="UTC")


def toy(prefix: str = "p", customers: str = "c", n_customers: int = 12) -> pd.DataFrame:
    """Two communities of five products each; every customer misses one of theirs.

    Customer ``u`` is in community ``u % 2`` and skips product ``(u // 2) % 5`` of it; the
    weights vary so weighted and binary models differ, and there are times and devices.
    """
    rows = []
    for u in range(n_customers):
        block = u % 2
        for j in range(5):
            if j != (u // 2) % 5:
                rows.append((f"{customers}{u:02d}", f"{prefix}{block * 5 + j}", 1.0 + (u * j) % 3))
    df = pd.DataFrame(rows, columns=["customer_id", "product_id", "weight"])
    df["ts"] = T0 + pd.to_timedelta(np.arange(len(df)) * 7, unit="h")
    df["device"] = np.where(np.arange(len(df)) % 3 == 0, "mobile", "desktop")
    return df


def catalogue(prefix: str = "p") -> pd.DataFrame:
    """Titles, categories and brands that follow the two communities, plus one new product."""
    ids = [f"{prefix}{i}" for i in range(10)] + [f"{prefix}new"]
    shoes = [True] * 5 + [False] * 5 + [True]
    return pd.DataFrame(
        {
            "product_id": ids,
            "title": [
                f"{'red running shoe' if s else 'blue wool hat'} {name}"
                for s, name in zip(shoes, ids, strict=True)
            ],
            "category": ["Shoes>Running" if s else "Hats>Caps" for s in shoes],
            "brand": ["Acme" if i % 2 else "Zed" for i in range(len(ids))],
        }
    )


def segments_of(df: pd.DataFrame) -> pd.Series:
    users = sorted(df["customer_id"].unique())
    return pd.Series(
        ["even" if int(u[-2:]) % 2 == 0 else "odd" for u in users], index=users, name="segment"
    )


def build(name: str) -> Recommender:
    return MODELS[name](**FAST_PARAMS[name])


def fit(model: Recommender, df: pd.DataFrame, prefix: str = "p") -> Recommender:
    """Fit with what the model's ``fit`` accepts (catalogue, segments): a capability, not a name."""
    accepted = inspect.signature(model.fit).parameters
    kwargs = {}
    if "catalogue" in accepted:
        kwargs["catalogue"] = catalogue(prefix)
    if "segments" in accepted:
        kwargs["segments"] = segments_of(df)
    out = model.fit(Interactions(df.copy()), **kwargs)
    assert out is model
    return model


@pytest.fixture(params=sorted(MODELS))
def name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def data() -> pd.DataFrame:
    return toy()


@pytest.fixture
def fitted(name: str, data: pd.DataFrame) -> Recommender:
    return fit(build(name), data)


KNOWN = ["c00", "c01", "c04", "c07"]


def history(df: pd.DataFrame, customer: str) -> set[str]:
    return set(df.loc[df["customer_id"] == customer, "product_id"])


def test_every_model_has_fast_params() -> None:
    assert set(FAST_PARAMS) == set(MODELS)


def test_fit_returns_self(name: str, data: pd.DataFrame) -> None:
    model = build(name)
    accepted = inspect.signature(model.fit).parameters
    kwargs = {"catalogue": catalogue()} if "catalogue" in accepted else {}
    assert model.fit(Interactions(data), **kwargs) is model


def test_output_columns_and_dtypes(fitted: Recommender) -> None:
    out = fitted.recommend(KNOWN, k=3)
    assert list(out.columns) == list(OUTPUT_COLUMNS)
    assert len(out) > 0
    assert out["score"].dtype == np.float64
    assert out["rank"].dtype == np.int64
    for col in ("customer_id", "product_id", "reason", "strategy"):
        assert out[col].map(lambda v: isinstance(v, str) and v != "").all(), col
    assert out["reason_product_id"].map(lambda v: v is None or isinstance(v, str)).all()
    assert set(out["customer_id"]) == set(KNOWN)


def test_ranks_and_scores_agree(fitted: Recommender) -> None:
    out = fitted.recommend(KNOWN, k=4)
    for _, group in out.groupby("customer_id"):
        assert group["rank"].tolist() == list(range(1, len(group) + 1))
        scores = group.sort_values("rank")["score"].to_numpy()
        assert (np.diff(scores) <= 1e-9).all(), scores
        assert group["product_id"].is_unique


@pytest.mark.parametrize("k", [1, 3, 50])
def test_at_most_k_rows_per_customer(fitted: Recommender, data: pd.DataFrame, k: int) -> None:
    out = fitted.recommend(KNOWN, k=k, exclude_seen=False)
    counts = out.groupby("customer_id").size()
    assert (counts <= k).all()
    # k beyond the catalogue: every product the model knows, no more
    assert (counts == min(k, len(fitted.items_))).all()


def test_exclude_seen_never_returns_history(fitted: Recommender, data: pd.DataFrame) -> None:
    out = fitted.recommend(KNOWN, k=50, exclude_seen=True)
    assert len(out)
    for cid, group in out.groupby("customer_id"):
        assert not set(group["product_id"]) & history(data, cid)
    # and without it, history comes back (so the check above could fail)
    both = fitted.recommend(KNOWN, k=50, exclude_seen=False)
    assert any(set(g["product_id"]) & history(data, c) for c, g in both.groupby("customer_id"))


def test_exclude_removes_products_for_everyone(fitted: Recommender) -> None:
    before = fitted.recommend(KNOWN, k=2)
    banned = sorted(set(before["product_id"]))
    assert banned
    after = fitted.recommend(KNOWN, k=2, exclude=banned)
    assert not set(after["product_id"]) & set(banned)


def test_reasons_name_history_products(fitted: Recommender, data: pd.DataFrame) -> None:
    out = fitted.recommend(KNOWN, k=3)
    for row in out.itertuples():
        if row.reason_product_id is not None:
            assert row.reason_product_id in history(data, row.customer_id), row


def test_refit_resets_state(name: str, data: pd.DataFrame) -> None:
    model = fit(build(name), data)
    other = toy(prefix="q", customers="d", n_customers=8)
    fit(model, other, prefix="q")
    assert list(model.users_) == sorted(other["customer_id"].unique())
    assert set(other["product_id"]) <= set(model.items_)
    assert not any(str(p).startswith("p") for p in model.items_)
    out = model.recommend(["d00", "d01", "c00"], k=50)
    assert len(out)
    assert out["product_id"].str.startswith("q").all()
    if name not in ANSWERS_UNKNOWN:
        assert set(out["customer_id"]) == {"d00", "d01"}  # c00 is forgotten


def _plain(params: dict) -> dict:
    return json.loads(json.dumps(params))


def test_save_load_gives_identical_recommendations(
    fitted: Recommender, name: str, tmp_path: Path
) -> None:
    ids = [*KNOWN, "stranger"]
    before = fitted.recommend(ids, k=4)
    path = save_model(fitted, tmp_path / f"{name}.npz", meta={"note": "toy"})
    loaded, meta = load_model(path)
    assert type(loaded) is type(fitted)
    assert meta == {"note": "toy"}
    # JSON keeps tuples as lists; the values are what must survive
    assert _plain(loaded.get_params()) == _plain(fitted.get_params())
    after = loaded.recommend(ids, k=4)
    cols = ["customer_id", "product_id", "rank", "reason", "reason_product_id", "strategy"]
    pd.testing.assert_frame_equal(after[cols], before[cols])
    np.testing.assert_allclose(after["score"], before["score"], rtol=0, atol=1e-6)


def test_save_load_keeps_exclusions(fitted: Recommender, tmp_path: Path) -> None:
    loaded, _ = load_model(save_model(fitted, tmp_path / "m.npz"))
    banned = sorted(set(fitted.recommend(KNOWN, k=1)["product_id"]))
    pd.testing.assert_frame_equal(
        loaded.recommend(KNOWN, k=3, exclude=banned), fitted.recommend(KNOWN, k=3, exclude=banned)
    )


def test_fit_does_not_mutate_input(name: str, data: pd.DataFrame) -> None:
    inter = Interactions(data)
    frame_before = inter.frame.copy(deep=True)
    model = build(name)
    accepted = inspect.signature(model.fit).parameters
    cat = catalogue()
    cat_before = cat.copy(deep=True)
    kwargs = {"catalogue": cat} if "catalogue" in accepted else {}
    if "segments" in accepted:
        kwargs["segments"] = segments_of(data)
    model.fit(inter, **kwargs)
    model.recommend(KNOWN, k=3)
    pd.testing.assert_frame_equal(inter.frame, frame_before)
    pd.testing.assert_frame_equal(cat, cat_before)


def test_same_seed_same_output(name: str, data: pd.DataFrame) -> None:
    first = fit(build(name), data).recommend(KNOWN, k=4)
    second = fit(build(name), data).recommend(KNOWN, k=4)
    pd.testing.assert_frame_equal(first, second)


def test_recommend_before_fit_raises(name: str) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        build(name).recommend(["c00"], k=3)


def test_unknown_customers(fitted: Recommender, name: str) -> None:
    out = fitted.recommend(["stranger", "c00"], k=3)
    strangers = out[out["customer_id"] == "stranger"]
    if name in ANSWERS_UNKNOWN:
        assert strangers["rank"].tolist() == [1, 2, 3]
        assert (strangers["strategy"] == ANSWERS_UNKNOWN[name]).all()
        # rows follow the order the customers were asked in
        assert out["customer_id"].tolist() == ["stranger"] * 3 + ["c00"] * 3
    else:
        assert strangers.empty
        assert set(out["customer_id"]) == {"c00"}
    assert fitted.recommend(["stranger"], k=3).columns.tolist() == list(OUTPUT_COLUMNS)


def test_clone_round_trips_params(fitted: Recommender, name: str) -> None:
    copy = clone(fitted)
    assert type(copy) is type(fitted)
    assert copy.get_params() == fitted.get_params() == build(name).get_params()
    assert not hasattr(copy, "seen_")
    with pytest.raises(NotFittedError):
        copy.recommend(["c00"], k=1)
    copy.set_params(**fitted.get_params())
    assert copy.get_params() == fitted.get_params()


@pytest.mark.parametrize("k", [0, -1])
def test_k_below_one_raises(fitted: Recommender, k: int) -> None:
    with pytest.raises(ConfigError, match=f"k={k}"):
        fitted.recommend(["c00"], k=k)
    with pytest.raises(ConfigError, match=f"k={k}"):
        fitted.recommend(["stranger"], k=k)


def test_fit_rejects_non_interactions(name: str, data: pd.DataFrame) -> None:
    with pytest.raises(TypeError, match="Interactions"):
        fit_raw = build(name)
        accepted = inspect.signature(fit_raw.fit).parameters
        kwargs = {"catalogue": catalogue()} if "catalogue" in accepted else {}
        fit_raw.fit(data, **kwargs)


def test_explain_later_gives_the_same_reasons(fitted: Recommender, name: str) -> None:
    """``explain=False`` then :meth:`explain` is the same frame as explaining at once.

    Regression: a context model's quick rows said "context" where explained ones named the
    base model's strategy.
    """
    ids = [*KNOWN, "stranger"]
    full = fitted.recommend(ids, k=3)
    quick = fitted.recommend(ids, k=3, explain=False)
    cols = ["customer_id", "product_id", "rank", "strategy"]
    pd.testing.assert_frame_equal(quick[cols], full[cols])
    np.testing.assert_allclose(quick["score"], full["score"], rtol=0, atol=1e-6)
    pd.testing.assert_frame_equal(fitted.explain(quick), full)
