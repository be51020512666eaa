"""Prototypes: one arithmetic form that assigns new points as each method would."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from segmint.segments.clusters._prototypes import (
    Prototypes,
    centroid_prototypes,
    density_prototypes,
    gmm_prototypes,
)


def test_nearest_centroid_by_hand() -> None:
    protos = Prototypes(centers=np.array([[0.0, 0.0], [10.0, 0.0]]), labels=np.array([4, 7]))
    Y = np.array([[1.0, 1.0], [6.0, -2.0], [5.0, 0.0]])
    assert protos.predict(Y).tolist() == [4, 7, 4]  # a tie goes to the first, as argmax


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_gaussian_mixture_prototypes_predict_as_the_mixture(covariance_type: str) -> None:
    rng = np.random.RandomState(0)
    Y = np.vstack([rng.normal(0, 1, (200, 3)), rng.normal(2, 0.5, (150, 3))])
    gmm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(Y)
    probe = rng.normal(1, 2, (2000, 3))
    np.testing.assert_array_equal(gmm_prototypes(gmm).predict(probe), gmm.predict(probe))


def test_kmeans_centres_predict_as_kmeans() -> None:
    rng = np.random.RandomState(1)
    Y = rng.normal(size=(500, 4))
    km = KMeans(5, n_init=2, random_state=0).fit(Y)
    protos = Prototypes(centers=km.cluster_centers_, labels=np.arange(5))
    probe = rng.normal(size=(3000, 4))
    np.testing.assert_array_equal(protos.predict(probe), km.predict(probe))


def test_density_prototypes_cover_their_points_and_leave_far_ones_out() -> None:
    rng = np.random.RandomState(2)
    Y = np.vstack([rng.normal(0, 0.3, (100, 2)), rng.normal(5, 0.3, (100, 2))])
    labels = np.r_[np.zeros(100, int), np.ones(100, int)]
    protos = density_prototypes(Y, labels, np.ones(200, bool), 0.0, 8, seed=0)
    np.testing.assert_array_equal(protos.predict(Y), labels)
    assert protos.predict(np.array([[2.5, 2.5], [20.0, 0.0]])).tolist() == [-1, -1]


def test_a_cluster_of_identical_points_keeps_its_points() -> None:
    # its radius would be 0, and the warehouse, whose LN differs from NumPy's in the last
    # bit, puts the points a rounding error away: the radius floor keeps them in
    same = np.tile([0.55362844, -0.8532404], (12, 1))
    Y = np.vstack([same, np.random.RandomState(0).rand(30, 2)])
    labels = np.r_[np.zeros(12, int), np.full(30, -1)]
    protos = density_prototypes(Y, labels, labels == 0, 0.0, 16, seed=0)
    assert (protos.predict(same) == 0).all()
    assert (protos.predict(same + 1e-9) == 0).all()
    assert (protos.predict(same + 0.01) == -1).all()


def test_relabel_and_dict_round_trip() -> None:
    rng = np.random.RandomState(3)
    Y = rng.normal(size=(60, 2))
    protos = centroid_prototypes(Y, np.repeat([0, 1, 2], 20))
    moved = protos.relabel({0: 5, 2: 9})  # label 1 is dropped
    assert moved.labels.tolist() == [5, 9]
    back = Prototypes.from_dict(moved.to_dict())
    np.testing.assert_array_equal(back.predict(Y), moved.predict(Y))
