"""Scores of a labelling and the choice of k among candidates."""

from __future__ import annotations

import numpy as np
import pytest

from segmint.segments.clusters._prototypes import Prototypes
from segmint.segments.clusters._selection import (
    SILHOUETTE_TIE,
    Candidate,
    _finish,
    choose,
    score,
)


def _candidate(k: int, silhouette: float | None, db: float | None = None) -> Candidate:
    protos = Prototypes(centers=np.zeros((k, 1)), labels=np.arange(k))
    scores = {"k": k, "silhouette": silhouette, "davies_bouldin": db}
    return Candidate(protos, np.zeros(1, dtype=np.int64), scores, None)


def test_highest_silhouette_wins_and_near_ties_go_to_the_smaller_k() -> None:
    assert choose([_candidate(2, 0.40), _candidate(3, 0.60), _candidate(4, 0.50)]) == 1
    tie = 0.60 - SILHOUETTE_TIE / 2
    assert choose([_candidate(2, 0.40), _candidate(3, tie), _candidate(4, 0.60)]) == 1


def test_without_silhouettes_davies_bouldin_decides() -> None:
    assert choose([_candidate(2, None, 0.9), _candidate(3, None, 0.4)]) == 1
    assert choose([_candidate(2, None), _candidate(3, None)]) == 0


def test_scores_by_hand() -> None:
    Y = np.array([[0.0], [2.0], [10.0], [12.0], [100.0]])
    labels = np.array([0, 0, 1, 1, -1])
    s = score(Y, labels, silhouette_sample=100, seed=0)
    assert s["n_clusters"] == 2
    assert s["inertia"] == pytest.approx(4.0)  # (1 + 1) + (1 + 1), noise left out
    assert s["noise_share"] == pytest.approx(0.2)
    # each point: a = 2 to its neighbour, b = mean distance to the other pair (11 or 9)
    assert s["silhouette"] == pytest.approx((9 / 11 + 7 / 9 + 7 / 9 + 9 / 11) / 4)
    assert s["davies_bouldin"] == pytest.approx((1 + 1) / 10)
    assert s["calinski_harabasz"] > 0


def test_one_cluster_has_no_scores() -> None:
    s = score(np.arange(6.0).reshape(-1, 1), np.zeros(6, dtype=np.int64), 100, 0)
    assert s["silhouette"] is s["davies_bouldin"] is s["calinski_harabasz"] is None


def test_labels_renumbered_by_size_and_noise_kept() -> None:
    """Cluster 0 is the largest (ties: the smaller old id); noise stays -1; an empty cluster
    is dropped; the scores are skipped when asked, the random stream is not."""
    centers = np.array([[0.0], [10.0], [20.0], [99.0]])
    protos = Prototypes(centers=centers, labels=np.array([3, 5, 1, 7]), radius=np.full(4, 2.0))
    Y = np.array([[0.0], [10.1], [10.2], [19.9], [20.1], [20.0], [50.0], [0.1]])
    options = {"silhouette_sample": 100, "scored": False}
    rng = np.random.RandomState(0)
    cand = _finish(protos, Y, None, options, rng, None)
    # old 1 (three points) -> 0; old 3 and old 5 (two each) -> 1 and 2 by old id; 7 empty
    assert cand.labels.tolist() == [1, 2, 2, 0, 0, 0, -1, 1]
    assert cand.scores == {"n_clusters": 3, "k": 3}
    assert sorted(cand.prototypes.labels.tolist()) == [0, 1, 2]
    scored = _finish(protos, Y, None, {**options, "scored": True}, np.random.RandomState(0), None)
    assert scored.labels.tolist() == cand.labels.tolist()
    assert scored.scores["silhouette"] is not None
    assert rng.randint(10**6) == np.random.RandomState(0).randint(10**6, size=2)[1]
