"""Prototypes: how every clustering method assigns a new point, in one arithmetic form.

A fitted model is kept as prototypes ``j`` with a centre ``c_j``, a cluster label, and
optionally a linear map ``W_j``, a bias ``b_j`` and a radius ``r_j``. A point ``y`` goes to
the prototype with the highest score

    ``s_j(y) = b_j - 0.5 * || (y - c_j) @ W_j ||^2``   (``W_j`` = identity when absent)

and takes its label, or ``-1`` (noise) when it lies further than ``r_j`` from that prototype
(without ``W_j`` the score is computed as the equivalent linear ``y . c_j - 0.5 ||c_j||^2``).
K-Means and Ward clusters are one prototype per cluster at its mean (nearest centroid); a
Gaussian mixture is one prototype per component with ``W_j`` its precision's Cholesky factor
and ``b_j`` its log weight plus log determinant (the same argmax as the mixture's
``predict``); a density cluster is a few prototypes at the centres of its core points, with a
radius that covers them. Every score is plain arithmetic, so the warehouse computes it too
(:mod:`segmint.segments.clusters._warehouse`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_CHUNK = 16_384  # rows scored at a time, to bound memory on large inputs
#: a density prototype's radius exceeds its farthest core point by this factor, so that no
#: training point sits exactly on the boundary, where rounding alone would decide its label
RADIUS_MARGIN = 1.01
#: every density prototype's radius is at least this (scaled units: about an interquartile
#: range), so a cluster of identical points (radius 0) keeps its points: the distance is
#: computed as ``||y||^2 - 2 * score``, which rounds to a tiny positive number, not to 0
RADIUS_FLOOR = 1e-4


@dataclass
class Prototypes:
    """Centres ``(P, d)``, labels ``(P,)``, and optional maps ``(P, d, d)``, biases, radii."""

    centers: np.ndarray
    labels: np.ndarray
    transforms: np.ndarray | None = None
    bias: np.ndarray | None = None
    radius: np.ndarray | None = None

    def constants(self) -> np.ndarray:
        """Per prototype, the constant part of its score (see :meth:`scores`)."""
        if self.transforms is not None:
            return np.zeros(len(self.centers)) if self.bias is None else self.bias
        const = -0.5 * (self.centers * self.centers).sum(axis=1)
        return const if self.bias is None else self.bias + const

    def scores(self, Y: np.ndarray) -> np.ndarray:
        """Scores ``(n, P)`` of each row of ``Y`` against each prototype.

        Without maps the score is ``y . c_j - 0.5 ||c_j||^2`` (``-0.5 ||y - c_j||^2`` less a
        term common to every prototype): linear, so cheaper in the warehouse. Sums run left to
        right over the coordinates, exactly as the warehouse's ``a + b + c`` does, so both
        sides produce the same floating-point scores.
        """
        const = self.constants()
        out = np.empty((len(Y), len(self.centers)))
        for j, c in enumerate(self.centers):
            if self.transforms is None:
                out[:, j] = _dot(Y, c) + const[j]
                continue
            w = self.transforms[j]
            d = [Y[:, i] - c[i] for i in range(len(c))]
            ys = [
                _lsum([d[i] * w[i, m] for i in range(len(c)) if w[i, m] != 0.0])
                for m in range(w.shape[1])
            ]
            out[:, j] = const[j] + -0.5 * _lsum([y * y for y in ys])
        return out

    def predict(self, Y: np.ndarray) -> np.ndarray:
        """The label of each row of ``Y`` (``-1`` for noise), as int64."""
        out = np.empty(len(Y), dtype=np.int64)
        for start in range(0, len(Y), _CHUNK):
            chunk = Y[start : start + _CHUNK]
            s = self.scores(chunk)
            best = np.argmax(s, axis=1)
            lab = self.labels[best].astype(np.int64)
            if self.radius is not None:
                # ||y - c||^2 = ||y||^2 - 2 * score for prototypes without a map or bias
                far = _dot(chunk, None) - 2.0 * s[np.arange(len(s)), best] > self.radius[best] ** 2
                lab[far] = -1
            out[start : start + _CHUNK] = lab
        return out

    def relabel(self, mapping: dict[int, int]) -> Prototypes:
        """A copy whose labels pass through ``mapping`` (labels absent from it are dropped)."""
        keep = np.array([int(lab) in mapping for lab in self.labels])
        labels = np.array([mapping[int(lab)] for lab in self.labels[keep]], dtype=np.int64)
        return Prototypes(
            centers=self.centers[keep],
            labels=labels,
            transforms=None if self.transforms is None else self.transforms[keep],
            bias=None if self.bias is None else self.bias[keep],
            radius=None if self.radius is None else self.radius[keep],
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able lists."""

        def lst(a: np.ndarray | None) -> Any:
            return None if a is None else a.tolist()

        return {
            "centers": self.centers.tolist(),
            "labels": [int(v) for v in self.labels],
            "transforms": lst(self.transforms),
            "bias": lst(self.bias),
            "radius": lst(self.radius),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Prototypes:
        """Inverse of :meth:`to_dict`."""

        def arr(key: str) -> np.ndarray | None:
            v = data.get(key)
            return None if v is None else np.asarray(v, dtype=np.float64)

        centers = arr("centers")
        if centers is None:
            raise ValueError("prototypes need 'centers'")
        return cls(
            centers=centers.reshape(len(centers), -1),
            labels=np.asarray(data["labels"], dtype=np.int64),
            transforms=arr("transforms"),
            bias=arr("bias"),
            radius=arr("radius"),
        )


def _lsum(terms: Sequence[np.ndarray | float]) -> np.ndarray | float:
    """Left-to-right sum (``((a + b) + c) + ...``), the order the warehouse adds in."""
    if not terms:
        return 0.0
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def _dot(Y: np.ndarray, c: np.ndarray | None) -> np.ndarray:
    """Row-wise ``y . c`` (``y . y`` when ``c`` is None), summed left to right."""
    cols = [Y[:, i] * (Y[:, i] if c is None else c[i]) for i in range(Y.shape[1])]
    return np.asarray(_lsum(cols), dtype=np.float64)


def centroid_prototypes(Y: np.ndarray, labels: np.ndarray) -> Prototypes:
    """One prototype per non-noise label, at the mean of its points."""
    ids = np.array(sorted(set(labels.tolist()) - {-1}), dtype=np.int64)
    centers = np.vstack([Y[labels == i].mean(axis=0) for i in ids])
    return Prototypes(centers=centers, labels=ids)


def gmm_prototypes(gmm: Any) -> Prototypes:
    """The prototypes of a fitted ``sklearn.mixture.GaussianMixture`` (same argmax as predict)."""
    k, d = gmm.means_.shape
    pc = np.asarray(gmm.precisions_cholesky_)
    kind = gmm.covariance_type
    if kind == "full":
        w = pc
    elif kind == "tied":
        w = np.broadcast_to(pc, (k, d, d)).copy()
    elif kind == "diag":
        w = np.stack([np.diag(row) for row in pc])
    else:  # spherical
        w = np.stack([np.eye(d) * s for s in pc])
    log_det = np.array([np.log(np.diag(m)).sum() for m in w])
    return Prototypes(
        centers=np.asarray(gmm.means_, dtype=np.float64),
        labels=np.arange(k, dtype=np.int64),
        transforms=w,
        bias=np.log(gmm.weights_) + log_det,
    )


def density_prototypes(
    Y: np.ndarray,
    labels: np.ndarray,
    core: np.ndarray,
    slack: float,
    per_cluster: int,
    seed: int,
) -> Prototypes:
    """Up to ``per_cluster`` prototypes per density cluster, at centres of its core points.

    ``core`` marks the core points; each prototype's radius covers the core points nearest to
    it (with :data:`RADIUS_MARGIN`, and at least :data:`RADIUS_FLOOR`) plus ``slack`` (DBSCAN's
    ``eps``: border points lie within it of a core point).
    """
    from sklearn.cluster import KMeans

    centers, labs, radii = [], [], []
    for lab in sorted(set(labels.tolist()) - {-1}):
        pts = Y[(labels == lab) & core]
        if len(pts) == 0:
            pts = Y[labels == lab]
        m = min(per_cluster, len(np.unique(pts, axis=0)))
        if m <= 1:
            cs = pts.mean(axis=0, keepdims=True)
            near = np.zeros(len(pts), dtype=np.int64)
        else:
            km = KMeans(n_clusters=m, n_init=1, random_state=seed).fit(pts)
            cs, near = km.cluster_centers_, km.labels_
        for j, c in enumerate(cs):
            mine = pts[near == j]
            r = float(np.sqrt(((mine - c) ** 2).sum(axis=1).max())) if len(mine) else 0.0
            centers.append(c)
            labs.append(lab)
            radii.append(max(r * RADIUS_MARGIN, RADIUS_FLOOR) + slack)
    return Prototypes(
        centers=np.vstack(centers),
        labels=np.asarray(labs, dtype=np.int64),
        radius=np.asarray(radii, dtype=np.float64),
    )
