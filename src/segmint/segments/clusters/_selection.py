"""Fitting one clustering method, and choosing the number of clusters by its scores.

Each candidate is fitted with scikit-learn (SciPy for Ward's tree, which is built once and cut
at every k), turned into :class:`Prototypes`, and scored on the labels those prototypes give,
so the scores describe the model that will actually assign customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from segmint.segments.clusters._prototypes import (
    Prototypes,
    centroid_prototypes,
    density_prototypes,
    gmm_prototypes,
)

METHODS = ("kmeans", "minibatch", "gmm", "agglomerative", "dbscan", "hdbscan")
DENSITY = ("dbscan", "hdbscan")
#: silhouettes within this of the best count as a tie, won by the smallest k
SILHOUETTE_TIE = 0.005
#: prototypes kept per density cluster
PROTOTYPES_PER_CLUSTER = 16


@dataclass
class Candidate:
    """One fitted candidate: its prototypes (labels 0..k-1 by size), sample labels, scores."""

    prototypes: Prototypes
    labels: np.ndarray
    scores: dict[str, Any]
    estimator: Any


def fit_candidates(
    method: str, Y: np.ndarray, ks: list[int], options: dict[str, Any], rng: np.random.RandomState
) -> list[Candidate]:
    """Fit ``method`` on ``Y`` for each k in ``ks`` (density methods: once, k unused)."""
    if method == "agglomerative":
        tree = linkage(Y, method="ward")
        return [
            _finish(
                centroid_prototypes(Y, fcluster(tree, t=k, criterion="maxclust") - 1),
                Y,
                k,
                options,
                rng,
                tree,
            )
            for k in ks
        ]
    if method in DENSITY:
        protos, est = _fit_density(method, Y, options, int(rng.randint(2**31 - 1)))
        return [_finish(protos, Y, None, options, rng, est)]
    out = []
    for k in ks:
        seed = int(rng.randint(2**31 - 1))
        if method == "gmm":
            from sklearn.mixture import GaussianMixture

            est = GaussianMixture(
                n_components=k,
                covariance_type=options["covariance_type"],
                n_init=options["n_init"],
                random_state=seed,
            ).fit(Y)
            protos = gmm_prototypes(est)
        else:
            from sklearn.cluster import KMeans, MiniBatchKMeans

            if method == "kmeans":
                est = KMeans(n_clusters=k, n_init=options["n_init"], random_state=seed).fit(Y)
            else:
                est = MiniBatchKMeans(
                    n_clusters=k, n_init=options["n_init"], batch_size=4096, random_state=seed
                ).fit(Y)
            protos = Prototypes(centers=est.cluster_centers_.copy(), labels=np.arange(k))
        out.append(_finish(protos, Y, k, options, rng, est))
    return out


def _fit_density(
    method: str, Y: np.ndarray, options: dict[str, Any], seed: int
) -> tuple[Prototypes, Any]:
    n, d = Y.shape
    if method == "dbscan":
        from sklearn.cluster import DBSCAN

        min_samples = options["min_samples"]
        if min_samples is None:
            min_samples = max(2 * d, 5)
        eps = estimate_eps(Y, min_samples) if options["eps"] is None else options["eps"]
        est = DBSCAN(eps=eps, min_samples=min_samples).fit(Y)
        core = np.zeros(n, dtype=bool)
        core[est.core_sample_indices_] = True
        slack = eps
    else:
        from sklearn.cluster import HDBSCAN

        size = options["min_cluster_size"]
        if size is None:
            size = max(5, n // 100)
        est = HDBSCAN(min_cluster_size=size, min_samples=options["min_samples"], copy=True).fit(Y)
        core = np.asarray(est.probabilities_) > 0
        slack = 0.0
    if (est.labels_ < 0).all():
        raise ValueError(
            f"{method} found no cluster on {n} rows (every point is noise): raise eps or lower "
            "min_samples/min_cluster_size"
        )
    protos = density_prototypes(Y, est.labels_, core, slack, PROTOTYPES_PER_CLUSTER, seed)
    return protos, est


def estimate_eps(Y: np.ndarray, min_samples: int) -> float:
    """DBSCAN radius: the 90th percentile of each point's distance to its min_samples-th
    neighbour (on at most 5,000 points)."""
    from sklearn.neighbors import NearestNeighbors

    sample = Y if len(Y) <= 5000 else Y[np.random.RandomState(0).choice(len(Y), 5000, False)]
    k = min(min_samples, len(sample) - 1)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(sample).kneighbors(sample)
    eps = float(np.quantile(dist[:, k], 0.9))
    return eps if eps > 0 else 1e-6


def _finish(
    protos: Prototypes,
    Y: np.ndarray,
    k: int | None,
    options: dict[str, Any],
    rng: np.random.RandomState,
    est: Any,
) -> Candidate:
    """Relabel by size (0 = largest), drop empty clusters, score (unless ``options`` say
    ``scored=False``: a refit that only needs labels)."""
    raw = protos.predict(Y)
    ids, counts = np.unique(raw[raw >= 0], return_counts=True)
    order = ids[np.lexsort((ids, -counts))]
    mapping = {int(old): new for new, old in enumerate(order)}
    protos = protos.relabel(mapping)
    # new label by old one; the last slot, never an old label, is where -1 (noise) looks
    lookup = np.full(int(raw.max(initial=-1)) + 2, -1, dtype=np.int64)
    lookup[order] = np.arange(len(order))
    labels = lookup[raw]
    seed = int(rng.randint(2**31 - 1))  # drawn either way: the generator's stream is the same
    if options.get("scored", True):
        scores = score(Y, labels, options["silhouette_sample"], seed)
    else:
        scores = {"n_clusters": len(order)}
    scores["k"] = k if k is not None else len(order)
    return Candidate(protos, labels, scores, est)


def score(Y: np.ndarray, labels: np.ndarray, silhouette_sample: int, seed: int) -> dict[str, Any]:
    """Inertia, silhouette (on a sample), Davies-Bouldin and Calinski-Harabasz of a labelling.

    Noise (label -1) is left out of every score and reported as ``noise_share``; a score that
    is undefined (one cluster, as many clusters as points) is None.
    """
    keep = labels >= 0
    Yk, lk = Y[keep], labels[keep]
    n_clusters = len(np.unique(lk))
    inertia = 0.0
    for lab in np.unique(lk):
        pts = Yk[lk == lab]
        inertia += float(((pts - pts.mean(axis=0)) ** 2).sum())
    out: dict[str, Any] = {
        "n_clusters": n_clusters,
        "inertia": inertia,
        "silhouette": None,
        "davies_bouldin": None,
        "calinski_harabasz": None,
        "noise_share": float(1 - keep.mean()) if len(labels) else 0.0,
    }
    if 2 <= n_clusters <= len(lk) - 1:
        size = min(len(lk), silhouette_sample)
        out["silhouette"] = float(silhouette_score(Yk, lk, sample_size=size, random_state=seed))
        out["davies_bouldin"] = float(davies_bouldin_score(Yk, lk))
        out["calinski_harabasz"] = float(calinski_harabasz_score(Yk, lk))
    return out


def choose(candidates: list[Candidate]) -> int:
    """Index of the chosen candidate.

    The highest silhouette wins; silhouettes within :data:`SILHOUETTE_TIE` of the best are a
    tie, which the smallest k wins (fewer segments are easier to act on). Without any
    silhouette (too few rows), the lowest Davies-Bouldin, else the first candidate.
    """
    sil = [c.scores["silhouette"] for c in candidates]
    if any(s is not None for s in sil):
        best = max(s for s in sil if s is not None)
        return next(i for i, s in enumerate(sil) if s is not None and s >= best - SILHOUETTE_TIE)
    db = [c.scores["davies_bouldin"] for c in candidates]
    if any(v is not None for v in db):
        return int(np.argmin([np.inf if v is None else v for v in db]))
    return 0
