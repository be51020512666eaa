"""Stable ids across refits: "cluster 5" keeps its meaning, new clusters get new ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmint.segments.clusters import SegmentClusterer, align
from tests.segments.clusters.synthetic import behaviour, blobs

K_METHODS = ("kmeans", "minibatch", "gmm", "agglomerative")
OLD_IDS = {0: 5, 1: 2, 2: 9}


def _ids_by_group(model: SegmentClusterer, X: pd.DataFrame, y: np.ndarray) -> dict[int, int]:
    """The id most of each true group gets."""
    labels = pd.Series(model.predict(X))
    return {int(g): int(labels[y == g].mode()[0]) for g in np.unique(y)}


def _old(method: str) -> tuple[SegmentClusterer, pd.DataFrame, np.ndarray]:
    X, y = behaviour(seed=0)
    return SegmentClusterer(method=method, k=3, random_state=0).fit(X).relabel(OLD_IDS), X, y


def _refreshed(seed: int = 7) -> tuple[pd.DataFrame, np.ndarray]:
    """New customers of the same groups, in other proportions (so the raw ids, which go by
    size, differ) and shuffled."""
    X, y = behaviour(sizes=(300, 500, 350), seed=seed)
    order = np.random.RandomState(seed).permutation(len(X))
    return X.iloc[order].reset_index(drop=True), y[order]


def _with_big_spenders(seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = behaviour(seed=seed)
    rng = np.random.RandomState(seed)
    extra = pd.DataFrame(
        {
            "frequency": rng.poisson(40, 300),
            "avg_order_value": rng.lognormal(6, 0.3, 300),
            "share_mobile": rng.beta(2, 2, 300),
            "views_30d": rng.poisson(300, 300),
        }
    )
    return pd.concat([X, extra], ignore_index=True), np.r_[y, np.full(300, 3)]


@pytest.mark.parametrize("method", K_METHODS)
def test_refit_on_new_data_keeps_ids_and_names(method: str) -> None:
    old, X, y = _old(method)
    X2, y2 = _refreshed()
    new = SegmentClusterer(method=method, k=3, random_state=11).fit(X2)
    assert _ids_by_group(new, X2, y2) != _ids_by_group(old, X, y)  # before: arbitrary ids
    result = align(new, old)
    assert result.fresh == []
    assert sorted(result.mapping.values()) == [2, 5, 9]
    assert _ids_by_group(new, X2, y2) == _ids_by_group(old, X, y)
    assert (new.predict(X2) == old.predict(X2)).mean() > 0.99
    assert new.names_ == old.names_
    assert sorted(new.cluster_ids_.tolist()) == [2, 5, 9]
    assert new.next_id_ == 10
    assert all(d <= result.threshold for d in result.distances.values())


@pytest.mark.parametrize("method", ["dbscan", "hdbscan"])
def test_density_refit_keeps_ids(method: str) -> None:
    X, y = blobs(seed=0)
    old = SegmentClusterer(method=method, random_state=0).fit(X)
    old.relabel({int(i): int(i) + 20 for i in old.cluster_ids_})
    perturbed = X + np.random.RandomState(1).normal(0, 0.05, X.shape)
    order = np.random.RandomState(2).permutation(len(X))
    X2, y2 = perturbed.iloc[order].reset_index(drop=True), y[order]
    new = SegmentClusterer(method=method, random_state=5).fit(X2)
    align(new, old)
    assert _ids_by_group(new, X2, y2) == _ids_by_group(old, X, y)


def test_a_new_group_gets_an_id_never_used_before() -> None:
    old, X, y = _old("kmeans")
    X4, y4 = _with_big_spenders(seed=5)
    new = SegmentClusterer(k=4, random_state=0).fit(X4)
    result = align(new, old)
    ids = _ids_by_group(new, X4, y4)
    assert {g: ids[g] for g in range(3)} == _ids_by_group(old, X, y)
    assert ids[3] == 10  # the old model's next_id_
    assert len(result.fresh) == 1
    assert new.next_id_ == 11
    assert new.names_[10] not in old.names_.values()
    assert {i: new.names_[i] for i in (2, 5, 9)} == old.names_

    # the big spenders leave and another group arrives: it must not inherit id 10
    X3, _ = behaviour(seed=9)
    extra = pd.DataFrame(
        {"frequency": [0] * 300, "avg_order_value": [2000.0] * 300, "share_mobile": [0.0] * 300}
    ).assign(views_30d=np.random.RandomState(0).poisson(2, 300))
    X5 = pd.concat([X3, extra], ignore_index=True)
    newer = SegmentClusterer(k=4, random_state=0).fit(X5)
    align(newer, new)
    labels = newer.predict(X5)
    assert np.bincount(labels[len(X3) :]).argmax() == 11
    assert 10 not in newer.cluster_ids_


def test_a_vanished_cluster_retires_its_id() -> None:
    old, X, y = _old("kmeans")
    before = _ids_by_group(old, X, y)
    keep = y != 2  # the heavy browsers are gone
    new = SegmentClusterer(k=2, random_state=0).fit(X[keep])
    result = align(new, old)
    assert result.fresh == []
    assert _ids_by_group(new, X[keep], y[keep]) == {0: before[0], 1: before[1]}
    assert before[2] not in new.cluster_ids_
    assert new.next_id_ == 10  # the browsers' id is never handed out again


def test_max_distance_zero_refuses_every_match() -> None:
    old, _, _ = _old("kmeans")
    X2, _ = _refreshed()
    new = SegmentClusterer(k=3, random_state=0).fit(X2)
    result = align(new, old, max_distance=0.0)
    assert sorted(result.fresh) == [0, 1, 2]
    assert sorted(new.cluster_ids_.tolist()) == [10, 11, 12]


def test_only_computing_the_mapping_and_new_names() -> None:
    old, _, _ = _old("kmeans")
    X2, _ = _refreshed()
    new = SegmentClusterer(k=3, random_state=0).fit(X2)
    before = new.predict(X2)
    result = align(new, old, relabel=False)
    np.testing.assert_array_equal(new.predict(X2), before)
    assert set(result.mapping.values()) == {2, 5, 9}
    names = dict(new.names_)
    align(new, old, keep_names=False)
    assert sorted(new.names_.values()) == sorted(names.values())


def test_models_must_share_features() -> None:
    old, X, _ = _old("kmeans")
    new = SegmentClusterer(k=3, features=["frequency", "share_mobile"], random_state=0).fit(X)
    with pytest.raises(ValueError, match="the new one lacks"):
        align(new, old)
