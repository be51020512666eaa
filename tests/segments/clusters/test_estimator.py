"""SegmentClusterer: the scikit-learn contract, groups recovered, choice of k, seeds, JSON."""

from __future__ import annotations

import json
from collections.abc import Callable

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from segmint.segments.clusters import ClusteringWarning, SegmentClusterer, _estimator
from tests.segments.clusters.synthetic import behaviour, blobs, noise, with_gaps

METHODS = ("kmeans", "minibatch", "gmm", "agglomerative", "dbscan", "hdbscan")
K_METHODS = ("kmeans", "minibatch", "gmm", "agglomerative")


def _check_instances() -> list[SegmentClusterer]:
    out = [SegmentClusterer(method=m, k=3, random_state=0) for m in K_METHODS]
    out.append(SegmentClusterer(method="kmeans", k="auto", k_range=(2, 4), random_state=0))
    out.append(SegmentClusterer(method="dbscan", random_state=0))
    # the checks fit on 10 to 60 random points, where HDBSCAN's default (clusters of 5 or
    # more, as dense as 5 neighbours) finds only noise, which fit refuses on purpose: ask
    # for smaller clusters, as scikit-learn's own checks of HDBSCAN do
    out.append(SegmentClusterer(method="hdbscan", min_cluster_size=3, min_samples=2))
    return out


@parametrize_with_checks(_check_instances())
def test_sklearn_contract(estimator: SegmentClusterer, check: Callable[..., None]) -> None:
    check(estimator)


# ground truth


# ARI observed with these seeds: blobs 1.000 (density methods 0.999); behaviour kmeans,
# minibatch and Ward 0.998, gmm 1.000, dbscan 0.987, hdbscan 0.881 (a small extra cluster
# and 10% noise)
@pytest.mark.parametrize(
    ("method", "blobs_ari", "behaviour_ari"),
    [
        ("kmeans", 0.97, 0.95),
        ("minibatch", 0.97, 0.95),
        ("gmm", 0.97, 0.95),
        ("agglomerative", 0.97, 0.95),
        ("dbscan", 0.95, 0.93),
        ("hdbscan", 0.95, 0.8),
    ],
)
def test_recovers_known_groups(method: str, blobs_ari: float, behaviour_ari: float) -> None:
    X, y = blobs()  # k='auto' chooses k; the density methods find their own number
    model = SegmentClusterer(method=method, k="auto", k_range=(2, 8), random_state=0).fit(X)
    assert adjusted_rand_score(y, model.labels_) > blobs_ari
    assert model.n_clusters_ == 4
    Xb, yb = behaviour()
    model = SegmentClusterer(method=method, k="auto", k_range=(2, 6), random_state=0).fit(Xb)
    assert adjusted_rand_score(yb, model.labels_) > behaviour_ari
    assert adjusted_rand_score(yb, model.predict(Xb)) > behaviour_ari
    if method in K_METHODS:  # k='auto' found the three groups
        assert model.n_clusters_ == 3


def test_skewed_counts_are_logged() -> None:
    X, _ = behaviour()
    model = SegmentClusterer(k=3, random_state=0).fit(X)
    assert set(model.preprocessor_.logged_features) == {
        "frequency",
        "avg_order_value",
        "views_30d",
    }


@pytest.mark.parametrize("method", K_METHODS)
def test_auto_k_picks_the_true_k_and_keeps_every_score(method: str) -> None:
    X, _ = blobs()
    model = SegmentClusterer(method=method, k="auto", k_range=(2, 8), random_state=0).fit(X)
    sel = pd.DataFrame(model.selection_)
    assert sel["k"].tolist() == list(range(2, 9))
    for col in ("inertia", "silhouette", "davies_bouldin", "calinski_harabasz"):
        assert sel[col].notna().all(), col
    assert sel["chosen"].sum() == 1
    best = sel[sel["chosen"]].iloc[0]
    assert best["k"] == model.n_clusters_ == 4
    # on well-separated groups every score agrees on the true k
    assert best["silhouette"] == sel["silhouette"].max()
    assert best["davies_bouldin"] == sel["davies_bouldin"].min()
    assert best["calinski_harabasz"] == sel["calinski_harabasz"].max()
    if method == "kmeans":  # the elbow curve: more clusters, less within-cluster spread
        assert sel["inertia"].is_monotonic_decreasing


def test_fixed_k_has_one_candidate_and_cluster_zero_is_largest() -> None:
    X, _ = behaviour(sizes=(200, 500, 300))
    model = SegmentClusterer(k=3, random_state=0).fit(X)
    assert [r["k"] for r in model.selection_] == [3]
    assert model.selection_[0]["chosen"] is True
    sizes = np.bincount(model.labels_)
    assert list(sizes) == sorted(sizes, reverse=True)
    assert model.cluster_ids_.tolist() == [0, 1, 2]
    assert model.next_id_ == 3


def test_density_methods_report_noise() -> None:
    X, _ = blobs()
    far = pd.DataFrame([[40.0, 40.0, 40.0, 40.0]], columns=X.columns)
    for method in ("dbscan", "hdbscan"):
        model = SegmentClusterer(method=method, random_state=0).fit(X)
        assert model.predict(far).tolist() == [-1]
        assert model.selection_[0]["noise_share"] < 0.01


# stability


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_stability_high_on_groups_lower_on_noise(method: str) -> None:
    # observed: kmeans 1.000 on groups, 0.34 on noise; gmm 1.000 and 0.26
    X, _ = behaviour()
    model = SegmentClusterer(method=method, k=3, random_state=0).fit(X)
    st = model.stability(X, n_boot=4)
    assert st == model.stability_
    assert st["n_boot"] == len(st["scores"]) == 4
    assert st["mean"] > 0.95
    N = noise()
    unstable = SegmentClusterer(method=method, k=3, random_state=0).fit(N).stability(N, n_boot=4)
    assert unstable["mean"] < 0.7
    assert unstable["min"] <= unstable["mean"] <= max(unstable["scores"])


def test_stability_is_repeatable_with_a_seed() -> None:
    X, _ = behaviour()
    a = SegmentClusterer(method="agglomerative", k=3, random_state=3).fit(X).stability(X, 3)
    b = SegmentClusterer(method="agglomerative", k=3, random_state=3).fit(X).stability(X, 3)
    assert a["scores"] == b["scores"]


@pytest.mark.parametrize("method", ["kmeans", "gmm", "dbscan"])
def test_stability_refits_that_skip_scores_give_the_full_fits_labels(method: str) -> None:
    """The refits only predict, so they skip selection scores and profiles: the same seeds
    through a full ``fit`` give the same labels, hence the same agreement scores."""
    X, _ = behaviour()
    model = SegmentClusterer(method=method, k=3, random_state=4).fit(X)
    rng = np.random.RandomState(11)
    for _ in range(3):
        seed = rng.randint(2**31 - 1)
        idx = rng.randint(0, len(X), size=len(X))
        params = {
            "features": None,
            "random_state": seed,
            **({} if method == "dbscan" else {"k": 3}),
        }
        full = clone(model).set_params(**params).fit(X.iloc[idx])
        light = clone(model).set_params(**params)._fit(X.iloc[idx], described=False)
        assert not hasattr(light, "profile_") and "silhouette" not in light.selection_[0]
        assert full.selection_[0]["silhouette"] is not None
        assert (light.predict(X) == full.predict(X)).all()


def test_stability_needs_one_refit() -> None:
    X, _ = behaviour()
    model = SegmentClusterer(k=3, random_state=0).fit(X)
    with pytest.raises(ValueError, match="n_boot=0"):
        model.stability(X, n_boot=0)


# inputs


def test_inputs_frame_arrow_array_and_warehouse_table_agree() -> None:
    X, _ = behaviour()
    labels = SegmentClusterer(k=3, random_state=0).fit(X).labels_
    arrow = pa.Table.from_pandas(X)
    assert (SegmentClusterer(k=3, random_state=0).fit(arrow).labels_ == labels).all()
    model = SegmentClusterer(k=3, random_state=0).fit(X.to_numpy())
    assert (model.labels_ == labels).all()
    assert not hasattr(model, "feature_names_in_")
    table = ibis.duckdb.connect().create_table("x", X)
    model = SegmentClusterer(k=3, random_state=0).fit(table)
    assert (model.labels_ == labels).all()
    assert model.feature_names_in_.tolist() == list(X.columns)


def test_warehouse_table_is_sampled_inside_the_engine() -> None:
    X, _ = behaviour()
    table = ibis.duckdb.connect().create_table("x", X)
    a = SegmentClusterer(k=3, sample_size=400, random_state=0).fit(table)
    b = SegmentClusterer(k=3, sample_size=400, random_state=0).fit(table)
    assert 300 < a.n_samples_fit_ <= 400
    assert len(a.labels_) == a.n_samples_fit_
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)


def test_missing_values_and_booleans() -> None:
    X = with_gaps(behaviour()[0])
    model = SegmentClusterer(k=3, random_state=0).fit(X)
    assert "customer_id" not in model.features_
    assert "is_active" in model.features_
    assert (model.predict(X) >= 0).all()


def test_features_select_columns_and_predict_ignores_others() -> None:
    X, _ = behaviour()
    model = SegmentClusterer(k=3, features=["frequency", "share_mobile"], random_state=0).fit(X)
    assert model.features_ == ["frequency", "share_mobile"]
    reordered = X[["views_30d", "share_mobile", "frequency"]]
    np.testing.assert_array_equal(model.predict(reordered), model.labels_)


def test_large_input_is_sampled_for_quadratic_methods(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ward's tree takes memory quadratic in the rows: it fits on at most MAX_FIT_ROWS of them
    # (10,000; lowered here to keep the test fast), and labels every row
    monkeypatch.setitem(_estimator.MAX_FIT_ROWS, "agglomerative", 500)
    X, y = blobs(n=1200)
    with pytest.warns(ClusteringWarning, match="at most 500 rows"):
        model = SegmentClusterer(method="agglomerative", k=4, random_state=0).fit(X)
    assert model.n_samples_fit_ == 500
    assert len(model.labels_) == 1200
    assert adjusted_rand_score(y, model.labels_) > 0.97
    quiet = SegmentClusterer(method="agglomerative", k=4, sample_size=400, random_state=0)
    assert quiet.fit(X).n_samples_fit_ == 400  # a sample_size of one's own: no warning


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"method": "spectral"}, "method='spectral'"),
        ({"k": 0}, "k=0"),
        ({"k": "many"}, "k='many'"),
        ({"k_range": (1, 4)}, r"k_range=\(1, 4\)"),
        ({"k_range": (5, 3)}, r"k_range=\(5, 3\)"),
        ({"sample_size": 1}, "sample_size=1"),
        ({"n_init": 0}, "n_init=0"),
        ({"covariance_type": "round"}, "covariance_type='round'"),
        ({"log": "sometimes"}, "log must be"),
        ({"features": ["frequency", "nope"]}, r"lacks the feature columns \['nope'\]"),
        ({"pca": 1.5}, "pca=1.5"),
        ({"k": 2000}, "n_samples=1200 should be >= k=2000"),
    ],
)
def test_bad_parameters_are_refused_in_fit(params: dict, message: str) -> None:
    X, _ = behaviour()
    model = SegmentClusterer(**params)  # __init__ only stores them
    with pytest.raises(ValueError, match=message):
        model.fit(X)


def test_predict_needs_fit_and_the_model_features() -> None:
    X, _ = behaviour()
    with pytest.raises(Exception, match="not fitted"):
        SegmentClusterer().predict(X)
    model = SegmentClusterer(k=3, random_state=0).fit(X)
    with pytest.raises(ValueError, match="views_30d"):
        model.predict(X.drop(columns="views_30d"))
    with pytest.raises(TypeError, match="assign"):
        model.predict(ibis.memtable(X))


# seeds


def test_random_state_int_none_and_randomstate() -> None:
    X, _ = behaviour()
    a = SegmentClusterer(method="minibatch", k=3, random_state=7).fit(X)
    b = SegmentClusterer(method="minibatch", k=3, random_state=7).fit(X)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    c = SegmentClusterer(method="minibatch", k=3, random_state=np.random.RandomState(7)).fit(X)
    d = SegmentClusterer(method="minibatch", k=3, random_state=np.random.RandomState(7)).fit(X)
    np.testing.assert_array_equal(c.cluster_centers_, d.cluster_centers_)
    e = SegmentClusterer(method="minibatch", k=3, random_state=None).fit(X)
    for m in (a, c, e):  # whatever the seed, the groups are the same
        assert adjusted_rand_score(a.labels_, m.labels_) > 0.99
    assert a.to_dict()["params"]["random_state"] == 7
    assert c.to_dict()["params"]["random_state"] is None
    assert e.to_dict()["params"]["random_state"] is None
    numpy_int = SegmentClusterer(k=3, random_state=np.int64(5)).fit(X)
    assert numpy_int.to_dict()["params"]["random_state"] == 5


def test_clone_and_get_params() -> None:
    model = SegmentClusterer(method="gmm", k=4, pca=0.9, words={"x": ("big", "small")})
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert twin.set_params(k=2).k == 2


# persistence


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("pca", [None, 2])
def test_json_round_trip_predicts_identically(method: str, pca: int | None) -> None:
    X = with_gaps(behaviour()[0])
    model = SegmentClusterer(method=method, k=3, pca=pca, random_state=0).fit(X)
    model.stability(X, n_boot=2)
    text = json.dumps(model.to_dict(), allow_nan=False)
    back = SegmentClusterer.from_dict(json.loads(text))
    np.testing.assert_array_equal(back.predict(X), model.predict(X))
    assert back.names_ == model.names_
    assert back.stability_ == model.stability_
    assert back.get_params() == model.get_params()
    assert back.to_dict() == json.loads(text)


def test_from_dict_refuses_other_documents() -> None:
    with pytest.raises(ValueError, match="not a segmint cluster model"):
        SegmentClusterer.from_dict({"format": "something", "version": 1})


def test_relabel_renames_everything() -> None:
    X, _ = behaviour()
    model = SegmentClusterer(k=3, random_state=0).fit(X)
    before = model.predict(X)
    names = dict(model.names_)
    model.relabel({0: 10, 2: 4})
    mapping = {0: 10, 1: 1, 2: 4}
    np.testing.assert_array_equal(model.predict(X), [mapping[v] for v in before])
    np.testing.assert_array_equal(model.labels_, [mapping[v] for v in before])
    assert model.names_ == {mapping[i]: n for i, n in names.items()}
    assert sorted(p.id for p in model.profile_) == [1, 4, 10]
    assert model.next_id_ == 11
    with pytest.raises(ValueError, match="distinct ids"):
        model.relabel({10: 1})


def test_every_refusal_is_a_segmint_error_and_what_scikit_learn_expects() -> None:
    """Regression (issue 16, item 4): the clusterer raised bare ValueError and scikit-learn's
    NotFittedError, which ``except SegmintError`` missed; they are segmint errors now, and
    still the ValueError / NotFittedError scikit-learn's conventions name."""
    from sklearn.exceptions import NotFittedError as SklearnNotFitted

    from segmint.errors import NotFittedError, SegmintError

    with pytest.raises(SklearnNotFitted) as unfitted:
        SegmentClusterer().predict(np.ones((3, 2)))
    assert isinstance(unfitted.value, NotFittedError)
    with pytest.raises(ValueError, match="n_samples=1") as few:
        SegmentClusterer(k=2).fit(np.ones((1, 2)))
    assert isinstance(few.value, SegmintError)
    with pytest.raises(ValueError, match="method='nope'") as bad:
        SegmentClusterer(method="nope").fit(np.ones((10, 2)))
    assert isinstance(bad.value, SegmintError)
    with pytest.raises(ValueError) as inf:  # scikit-learn's own words, as a segmint error
        SegmentClusterer(k=2).fit(np.array([[1.0, np.inf], [2.0, 3.0], [4.0, 5.0]]))
    assert isinstance(inf.value, SegmintError) and "infinity" in str(inf.value)
