"""Scores of a labelling and the choice of k among candidates."""

from __future__ import annotations

import numpy as np
import pytest

from segmint.segments.clusters._prototypes import Prototypes
from segmint.segments.clusters._selection import SILHOUETTE_TIE, Candidate, choose, score


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
