"""Clustering segments: fit on a sample, choose k, profile and name, assign in the warehouse.

:class:`SegmentClusterer` is a scikit-learn estimator (K-Means, mini-batch K-Means, Gaussian
mixture, Ward, DBSCAN, HDBSCAN) over features prepared for skewed behavioural data by
:class:`Preprocessor`. A fitted model chooses k by silhouette (keeping every score for the
elbow chart), reports its bootstrap stability, describes and names each cluster
(:func:`profile`), keeps its ids across refits (:func:`align`), labels every customer inside
the warehouse (:func:`assign`, :func:`assign_expr`) and is stored as JSON
(:meth:`SegmentClusterer.to_dict`). :func:`run_clustering` does all of it for one
``clusters:`` entry of segmint.yaml and writes :data:`CLUSTERS`.

>>> import numpy as np, pandas as pd
>>> from segmint.segments.clusters import SegmentClusterer, assign
>>> rng = np.random.RandomState(0)
>>> X = pd.DataFrame({"frequency": np.r_[rng.poisson(12, 70), rng.poisson(1, 50)],
...                   "share_mobile": np.r_[rng.beta(8, 2, 70), rng.beta(2, 8, 50)]})
>>> model = SegmentClusterer(k="auto", k_range=(2, 5), random_state=0).fit(X)
>>> [p.name for p in model.profile_]
['frequent mobile customers', 'infrequent desktop customers']
"""

from __future__ import annotations

from segmint.segments.clusters._align import Alignment, align
from segmint.segments.clusters._charts import profile_heatmap, selection_chart, sizes_chart
from segmint.segments.clusters._data import ClusteringWarning
from segmint.segments.clusters._estimator import SegmentClusterer
from segmint.segments.clusters._preprocess import Preprocessor
from segmint.segments.clusters._profile import WORDS, ClusterProfile, profile
from segmint.segments.clusters._run import (
    CLUSTERS,
    CLUSTERS_SCHEMA,
    DEFAULT_FEATURES,
    ClusterCol,
    ClusterRun,
    load_model,
    resolve_features,
    run_clustering,
)
from segmint.segments.clusters._warehouse import assign, assign_expr

__all__ = [
    "CLUSTERS",
    "CLUSTERS_SCHEMA",
    "DEFAULT_FEATURES",
    "WORDS",
    "Alignment",
    "ClusterCol",
    "ClusterProfile",
    "ClusterRun",
    "ClusteringWarning",
    "Preprocessor",
    "SegmentClusterer",
    "align",
    "assign",
    "assign_expr",
    "load_model",
    "profile",
    "profile_heatmap",
    "resolve_features",
    "run_clustering",
    "selection_chart",
    "sizes_chart",
]
