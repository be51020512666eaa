"""`SegmentClusterer`: clustering segments as a scikit-learn estimator."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.metrics import adjusted_rand_score
from sklearn.utils import check_random_state

from segmint.errors import InvalidParameter
from segmint.segments.clusters._data import (
    ClusteringWarning,
    as_frame,
    check_features,
    check_fitted,
    jsonable,
    sample_rows,
    sample_table,
)
from segmint.segments.clusters._preprocess import Preprocessor
from segmint.segments.clusters._profile import ClusterProfile, profile
from segmint.segments.clusters._prototypes import Prototypes
from segmint.segments.clusters._selection import DENSITY, METHODS, choose, fit_candidates

#: the most rows methods with quadratic memory (Ward's tree, neighbourhoods) are fitted on
MAX_FIT_ROWS = {"agglomerative": 10_000, "dbscan": 20_000, "hdbscan": 20_000}
FORMAT = "segmint.clusters"
FORMAT_VERSION = 1


class SegmentClusterer(ClusterMixin, BaseEstimator):
    """Customer segments by clustering, chosen, profiled and named.

    Features are imputed, logged when skewed and robustly scaled (:class:`Preprocessor`),
    optionally projected by PCA, then clustered on a sample of at most ``sample_size`` rows.
    With ``k='auto'`` every k in ``k_range`` is fitted and scored (inertia for the elbow,
    silhouette on a sample, Davies-Bouldin, Calinski-Harabasz) and the best silhouette wins
    (see :func:`~segmint.segments.clusters._selection.choose`). Cluster 0 is the largest.

    Every method assigns new rows the same way (:mod:`._prototypes`): K-Means and Ward by the
    nearest centroid, a Gaussian mixture by its most likely component, DBSCAN and HDBSCAN by
    the nearest of a few prototypes per cluster, or ``-1`` ("unclustered") when too far from
    all. :func:`~segmint.segments.clusters.assign` computes the same labels in the warehouse.

    Parameters
    ----------
    method : {'kmeans', 'minibatch', 'gmm', 'agglomerative', 'dbscan', 'hdbscan'}
        'minibatch' is K-Means by mini-batches, for large samples; 'agglomerative' is Ward
        linkage. Agglomerative fits on at most 10,000 rows, the density methods on 20,000.
    k : int or 'auto', default 'auto'
        Number of clusters, or 'auto' to choose it in ``k_range``. Density methods ignore it.
    k_range : (int, int), default (2, 10)
        Smallest and largest k tried by ``k='auto'``, both included.
    features : list of str, optional
        Feature columns; None takes every numeric or boolean column.
    log : 'auto', bool or list of str, default 'auto'
        Which columns take the signed log ``sign(x) * log(1 + |x|)`` (see :class:`Preprocessor`).
    pca : int, float or None, default None
        PCA components (int) or explained-variance share (float) after scaling.
    sample_size : int, default 200_000
        Most rows fitted on; larger inputs are sampled (warehouse tables inside the engine).
    random_state : int, RandomState or None
        Seed of sampling and of the algorithms. :meth:`to_dict` keeps an int; a RandomState
        is stored as None.
    covariance_type : str, default 'full'
        Covariance of the Gaussian mixture ('full', 'tied', 'diag', 'spherical').
    eps : float, optional
        DBSCAN radius; None estimates it from the distances to the min_samples-th neighbour.
    min_samples : int, optional
        Density threshold: neighbours a core point needs. None is, for DBSCAN, twice the
        number of dimensions (at least 5) and, for HDBSCAN, ``min_cluster_size``.
    min_cluster_size : int, optional
        HDBSCAN's smallest cluster; None is 1% of the sample (at least 5).
    silhouette_sample : int, default 10_000
        Rows the silhouette is computed on.
    n_init : int, default 4
        Initialisations of K-Means and the Gaussian mixture (the best is kept).
    words : dict, optional
        ``{feature: (word when high, word when low)}`` for cluster names, over the defaults.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Labels of the rows given to ``fit`` (of the sample, for a warehouse table).
    n_clusters_ : int
        Number of clusters found.
    cluster_ids_ : ndarray of shape (n_clusters,)
        Cluster ids, in the order of ``cluster_centers_`` (0..k-1 until relabelled).
    cluster_centers_ : ndarray of shape (n_clusters, n_components)
        Mean of each cluster in the clustering space.
    preprocessor_ : Preprocessor
        The fitted preprocessing.
    prototypes_ : Prototypes
        What assigns new rows.
    selection_ : list of dict
        Per candidate k: ``k, n_clusters, inertia, silhouette, davies_bouldin,
        calinski_harabasz, noise_share, chosen``.
    profile_ : list of ClusterProfile
        Each cluster described and named (on the rows given to ``fit``).
    names_ : dict of int to str
        Cluster id to name.
    stability_ : dict or None
        Result of :meth:`stability`, once run.
    next_id_ : int
        The id a new cluster would get (ids are never reused after :func:`align`).
    features_ : list of str
        Feature columns, in order.
    n_features_in_ : int
        Number of features.
    feature_names_in_ : ndarray of str
        Feature names, when ``fit`` was given named columns.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.RandomState(0)
    >>> X = pd.DataFrame({"frequency": np.r_[rng.poisson(12, 50), rng.poisson(1, 50)],
    ...                   "avg_order_value": np.r_[rng.gamma(4, 5, 50), rng.gamma(9, 10, 50)]})
    >>> model = SegmentClusterer(k_range=(2, 4), random_state=0).fit(X)
    >>> model.n_clusters_
    2
    >>> sorted(model.names_.values())
    ['frequent low-basket customers', 'infrequent high-basket customers']
    """

    def __init__(
        self,
        method: str = "kmeans",
        k: int | str = "auto",
        k_range: tuple[int, int] = (2, 10),
        features: list[str] | None = None,
        log: str | bool | list[str] = "auto",
        pca: int | float | None = None,
        sample_size: int = 200_000,
        random_state: Any = None,
        covariance_type: str = "full",
        eps: float | None = None,
        min_samples: int | None = None,
        min_cluster_size: int | None = None,
        silhouette_sample: int = 10_000,
        n_init: int = 4,
        words: dict[str, tuple[str | None, str | None]] | None = None,
    ) -> None:
        self.method = method
        self.k = k
        self.k_range = k_range
        self.features = features
        self.log = log
        self.pca = pca
        self.sample_size = sample_size
        self.random_state = random_state
        self.covariance_type = covariance_type
        self.eps = eps
        self.min_samples = min_samples
        self.min_cluster_size = min_cluster_size
        self.silhouette_sample = silhouette_sample
        self.n_init = n_init
        self.words = words

    # fitting

    def fit(self, X: Any, y: object = None) -> SegmentClusterer:
        """Fit on ``X``: a DataFrame, Arrow table, 2-D array or Ibis table of features.

        An Ibis table is sampled inside the warehouse (at most ``sample_size`` rows) and only
        the sample is read; label every row with :func:`~segmint.segments.clusters.assign`.
        """
        return self._fit(X)

    def _fit(self, X: Any, *, described: bool = True) -> SegmentClusterer:
        """:meth:`fit`; ``described=False`` (a stability refit, which only predicts) skips the
        selection scores, ``labels_`` and the profile. The random stream is the same either
        way, so the clusters are too."""
        self._check_params()
        rng = check_random_state(self.random_state)
        cap = self._fit_rows()
        if isinstance(X, ir.Table):
            full = sample_table(X, check_features(self.features), cap, rng.randint(2**31 - 1))
            named = True
            frame = full
        else:
            full, named = as_frame(X, check_features(self.features))
            if len(full) > cap and cap < self.sample_size:
                warnings.warn(
                    f"method={self.method!r} fits on at most {cap} rows: sampling {cap} of "
                    f"{len(full)} (sample_size={self.sample_size})",
                    ClusteringWarning,
                    stacklevel=2,
                )
            idx = sample_rows(len(full), cap, rng)
            frame = full if idx is None else full.iloc[idx]
        n = len(frame)
        if n < 2:
            raise InvalidParameter(f"n_samples={n} should be >= 2 to find clusters")
        ks = self._ks(n)
        self.preprocessor_ = Preprocessor(
            log=self.log, pca=self.pca, random_state=rng.randint(2**31 - 1)
        ).fit(frame)
        Y = self.preprocessor_.transform(frame)
        options = {
            "covariance_type": self.covariance_type,
            "eps": self.eps,
            "min_samples": self.min_samples,
            "min_cluster_size": self.min_cluster_size,
            "silhouette_sample": int(self.silhouette_sample),
            "n_init": int(self.n_init),
            "scored": described,
        }
        cands = fit_candidates(self.method, Y, ks, options, rng)
        best = choose(cands) if len(cands) > 1 else 0
        chosen = cands[best]
        self.selection_ = [dict(c.scores, chosen=i == best) for i, c in enumerate(cands)]
        self.prototypes_ = chosen.prototypes
        self.estimator_ = chosen.estimator
        ids = np.unique(chosen.labels[chosen.labels >= 0])
        self.cluster_ids_ = ids.astype(np.int64)
        self.n_clusters_ = len(ids)
        self.cluster_centers_ = np.vstack([Y[chosen.labels == i].mean(axis=0) for i in ids])
        self.next_id_ = self.n_clusters_
        self.features_ = list(self.preprocessor_.features_)
        self.n_features_in_ = len(self.features_)
        if named:
            self.feature_names_in_ = np.asarray(self.features_, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.n_samples_fit_ = n
        self.stability_: dict[str, Any] | None = None
        if not described:
            return self
        self.labels_ = self.predict(full)
        self.profile_ = profile(
            full, self.labels_, log=self.preprocessor_.logged_features, words=self.words
        )
        self.names_ = {p.id: p.name for p in self.profile_}
        return self

    def _check_params(self) -> None:
        if self.method not in METHODS:
            raise InvalidParameter(f"method={self.method!r}: expected one of {METHODS}")
        for name, least in (("sample_size", 2), ("silhouette_sample", 2), ("n_init", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < least:
                raise InvalidParameter(f"{name}={v!r} should be an int >= {least}")
        if self.covariance_type not in ("full", "tied", "diag", "spherical"):
            raise InvalidParameter(
                f"covariance_type={self.covariance_type!r}: expected full, tied, diag or spherical"
            )

    def _fit_rows(self) -> int:
        return int(min(self.sample_size, MAX_FIT_ROWS.get(self.method, math.inf)))

    def _ks(self, n: int) -> list[int]:
        if self.method in DENSITY:
            return []
        if isinstance(self.k, str):
            if self.k != "auto":
                raise InvalidParameter(f"k={self.k!r}: expected an int or 'auto'")
            lo, hi = _pair(self.k_range)
            top = min(hi, n - 1)
            if lo > top:
                raise InvalidParameter(
                    f"n_samples={n} is too few for k_range={self.k_range}: need at least {lo + 1}"
                )
            return list(range(lo, top + 1))
        if isinstance(self.k, bool) or not isinstance(self.k, int | np.integer) or self.k < 1:
            raise InvalidParameter(f"k={self.k!r}: expected an int >= 1 or 'auto'")
        if self.k > n:
            raise InvalidParameter(f"n_samples={n} should be >= k={self.k}")
        return [int(self.k)]

    # using a fitted model

    def predict(self, X: Any) -> np.ndarray:
        """Cluster id of each row of ``X`` (``-1``: unclustered, for density methods).

        Parameters
        ----------
        X : DataFrame, Arrow table or 2-D array
            Rows with the model's feature columns (others are ignored).

        Returns
        -------
        ndarray of int64, shape (n_samples,)
        """
        check_fitted(self, "prototypes_")
        frame, _ = as_frame(X, self.features_, type(self).__name__)
        return self.prototypes_.predict(self.preprocessor_.transform(frame))

    def stability(self, X: Any, n_boot: int = 10, *, eval_size: int = 5_000) -> dict[str, Any]:
        """How much the clustering changes when refitted on bootstrap samples.

        Each of ``n_boot`` refits (same parameters, k fixed at ``n_clusters_``, a bootstrap
        sample of ``X`` of the size the model fits on) labels a common evaluation set of
        ``eval_size`` rows; its adjusted Rand index against this model's labels measures
        agreement (1: identical partitions, about 0: chance).

        Returns
        -------
        dict
            ``{"n_boot", "eval_size", "mean", "min", "scores"}``, also kept as ``stability_``.
        """
        check_fitted(self, "prototypes_")
        if n_boot < 1:
            raise InvalidParameter(f"n_boot={n_boot} should be >= 1")
        frame, _ = as_frame(X, self.features_)
        rng = check_random_state(self.random_state)
        ev = sample_rows(len(frame), eval_size, rng)
        evaluation = frame if ev is None else frame.iloc[ev]
        base = self.predict(evaluation)
        size = min(len(frame), self._fit_rows())
        params: dict[str, Any] = {"features": None}
        if self.method not in DENSITY:
            params["k"] = self.n_clusters_
        scores = []
        for _ in range(n_boot):
            idx = rng.randint(0, len(frame), size=size)
            refit = clone(self).set_params(**params, random_state=rng.randint(2**31 - 1))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ClusteringWarning)
                refit._fit(frame.iloc[idx], described=False)
            scores.append(float(adjusted_rand_score(base, refit.predict(evaluation))))
        self.stability_ = {
            "n_boot": n_boot,
            "eval_size": len(evaluation),
            "mean": float(np.mean(scores)),
            "min": float(np.min(scores)),
            "scores": scores,
        }
        return self.stability_

    def relabel(self, mapping: Mapping[int, int]) -> SegmentClusterer:
        """Rename cluster ids: ``mapping[old] = new`` (ids not in it keep theirs).

        Returns
        -------
        self
        """
        check_fitted(self, "prototypes_")
        full = {int(i): int(mapping.get(int(i), int(i))) for i in self.cluster_ids_}
        new = list(full.values())
        if len(set(new)) != len(new) or min(new, default=0) < 0:
            raise InvalidParameter(f"relabelling must give distinct ids >= 0, got {full}")
        full[-1] = -1
        self.prototypes_ = self.prototypes_.relabel(full)
        self.cluster_ids_ = np.array([full[int(i)] for i in self.cluster_ids_], dtype=np.int64)
        if hasattr(self, "labels_"):
            self.labels_ = pd.Series(self.labels_).map(full).to_numpy(dtype=np.int64)
        self.names_ = {full[i]: name for i, name in self.names_.items()}
        for p in self.profile_:
            p.id = full[p.id]
        self.next_id_ = max(self.next_id_, max(new, default=-1) + 1)
        return self

    # persistence

    def to_dict(self) -> dict[str, Any]:
        """The fitted model as a JSON-able dict (no pickle): see :meth:`from_dict`.

        Holds the parameters, preprocessing constants, prototypes, cluster ids, centres,
        names, profiles, selection scores and stability; not ``labels_`` (one per row).
        """
        check_fitted(self, "prototypes_")
        params = self.get_params(deep=False)
        seed = params["random_state"]
        # a RandomState's position cannot be stored: the saved model refits unseeded
        params["random_state"] = (
            int(seed) if isinstance(seed, int | np.integer) and not isinstance(seed, bool) else None
        )
        params["k_range"] = list(params["k_range"])
        if params["words"] is not None:
            params["words"] = {f: list(w) for f, w in params["words"].items()}
        return jsonable(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "params": params,
                "features": self.features_,
                "named": hasattr(self, "feature_names_in_"),
                "preprocessor": self.preprocessor_.to_dict(),
                "prototypes": self.prototypes_.to_dict(),
                "cluster_ids": self.cluster_ids_.tolist(),
                "cluster_centers": self.cluster_centers_.tolist(),
                "next_id": self.next_id_,
                "n_samples_fit": self.n_samples_fit_,
                "profile": [p.to_dict() for p in self.profile_],
                "selection": self.selection_,
                "stability": self.stability_,
            }
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SegmentClusterer:
        """A fitted model from :meth:`to_dict`'s output; predicts exactly as the original."""
        if data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
            raise InvalidParameter(
                f"not a segmint cluster model: format={data.get('format')!r}, "
                f"version={data.get('version')!r} (expected {FORMAT!r}, {FORMAT_VERSION})"
            )
        params = dict(data["params"])
        params["k_range"] = tuple(params["k_range"])
        if params.get("words") is not None:
            params["words"] = {f: tuple(w) for f, w in params["words"].items()}
        model = cls(**params)
        model.preprocessor_ = Preprocessor.from_dict(data["preprocessor"])
        model.prototypes_ = Prototypes.from_dict(data["prototypes"])
        model.features_ = list(data["features"])
        model.n_features_in_ = len(model.features_)
        if data.get("named"):
            model.feature_names_in_ = np.asarray(model.features_, dtype=object)
        model.cluster_ids_ = np.asarray(data["cluster_ids"], dtype=np.int64)
        model.n_clusters_ = len(model.cluster_ids_)
        model.cluster_centers_ = np.asarray(data["cluster_centers"], dtype=np.float64)
        model.next_id_ = int(data["next_id"])
        model.n_samples_fit_ = int(data["n_samples_fit"])
        model.profile_ = [ClusterProfile.from_dict(p) for p in data["profile"]]
        model.names_ = {p.id: p.name for p in model.profile_}
        model.selection_ = [dict(r) for r in data["selection"]]
        model.stability_ = data.get("stability")
        return model

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _pair(value: object) -> tuple[int, int]:
    if (
        not isinstance(value, tuple | list)
        or len(value) != 2
        or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value)
    ):
        raise InvalidParameter(f"k_range={value!r} should be two ints (smallest k, largest k)")
    lo, hi = int(value[0]), int(value[1])
    if not 2 <= lo <= hi:
        raise InvalidParameter(f"k_range={value!r} should satisfy 2 <= smallest <= largest")
    return lo, hi
