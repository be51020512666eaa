"""Stable cluster ids across refits: match a new model's clusters to an old model's.

Both models' cluster centres are taken back to raw feature values (each through its own
preprocessing), then into the *old* model's scaled feature space, where one unit is about one
interquartile range of a feature. The Hungarian algorithm pairs new and old clusters at the
least total distance; a pair further apart than ``max_distance`` is refused, and unmatched new
clusters get fresh ids that no earlier cluster used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from segmint.errors import InvalidParameter
from segmint.segments.clusters._data import check_fitted

#: default refusal threshold, as a share of the old model's median nearest-centre distance
MATCH_SHARE = 0.5


@dataclass(frozen=True)
class Alignment:
    """The outcome of :func:`align`: ``mapping[new_id] = stable id``, and how far each match is.

    ``distances`` holds, per matched new id, its distance to the old centre it took;
    ``fresh`` the new ids that got fresh ids; ``threshold`` the refusal distance used.
    """

    mapping: dict[int, int]
    distances: dict[int, float]
    fresh: list[int]
    threshold: float


def centres_in(model: Any, reference: Any) -> np.ndarray:
    """``model``'s cluster centres in ``reference``'s scaled feature space (before PCA)."""
    raw = model.preprocessor_.inverse(model.cluster_centers_)
    return np.asarray(reference.preprocessor_.scaled(raw[reference.features_]))


def align(
    new_model: Any,
    old_model: Any,
    *,
    max_distance: float | None = None,
    keep_names: bool = True,
    relabel: bool = True,
) -> Alignment:
    """Give ``new_model``'s clusters the ids of the matching clusters of ``old_model``.

    Parameters
    ----------
    new_model, old_model : SegmentClusterer
        Fitted models on the same features (the new one typically refitted on fresh data).
    max_distance : float, optional
        Largest distance (old scaled units) at which a match is accepted; None takes
        :data:`MATCH_SHARE` times the old model's median distance from a centre to its
        nearest other centre.
    keep_names : bool, default True
        Matched clusters keep the old model's names, so a segment keeps its name as well as
        its id; fresh clusters keep their new names (made unique against the kept ones).
    relabel : bool, default True
        Apply the mapping to ``new_model`` (:meth:`SegmentClusterer.relabel`); with False,
        only return it.

    Returns
    -------
    Alignment

    Examples
    --------
    >>> from segmint.segments.clusters import SegmentClusterer
    >>> import pandas as pd
    >>> X = pd.DataFrame({"orders": [1, 2, 1, 30, 28, 31]})
    >>> old = SegmentClusterer(k=2, random_state=0).fit(X).relabel({0: 7, 1: 3})
    >>> new = SegmentClusterer(k=2, random_state=1).fit(X)
    >>> align(new, old).mapping
    {0: 7, 1: 3}
    """
    for m in (new_model, old_model):
        check_fitted(m, "prototypes_")
    missing = sorted(set(old_model.features_) - set(new_model.features_))
    if missing:
        raise InvalidParameter(f"the models do not share features: the new one lacks {missing}")
    old_c = centres_in(old_model, old_model)
    new_c = centres_in(new_model, old_model)
    threshold = _threshold(old_c) if max_distance is None else float(max_distance)
    dist = cdist(new_c, old_c)
    rows, cols = linear_sum_assignment(dist)
    new_ids = [int(i) for i in new_model.cluster_ids_]
    old_ids = [int(i) for i in old_model.cluster_ids_]
    mapping: dict[int, int] = {}
    distances: dict[int, float] = {}
    for r, c in zip(rows, cols, strict=True):
        if dist[r, c] <= threshold:
            mapping[new_ids[r]] = old_ids[c]
            distances[new_ids[r]] = float(dist[r, c])
    next_id = max([old_model.next_id_, *[i + 1 for i in old_ids]])
    fresh = [i for i in new_ids if i not in mapping]
    for i in fresh:
        mapping[i] = next_id
        next_id += 1
    result = Alignment(mapping, distances, fresh, threshold)
    if relabel:
        _apply(new_model, old_model, result, next_id, keep_names)
    return result


def _threshold(centres: np.ndarray) -> float:
    if len(centres) < 2:
        return float("inf")
    d = cdist(centres, centres)
    np.fill_diagonal(d, np.inf)
    return MATCH_SHARE * float(np.median(d.min(axis=1)))


def _apply(new: Any, old: Any, result: Alignment, next_id: int, keep_names: bool) -> None:
    new.relabel(result.mapping)
    new.next_id_ = max(new.next_id_, next_id)
    if not keep_names:
        return
    kept = {
        result.mapping[i]: old.names_[result.mapping[i]]
        for i in result.distances
        if result.mapping[i] in old.names_
    }
    taken = set(kept.values())
    for p in new.profile_:
        if p.id in kept:
            p.name = kept[p.id]
        elif p.id >= 0 and p.name in taken:
            n = 2
            while f"{p.name} ({n})" in taken:
                n += 1
            p.name = f"{p.name} ({n})"
        taken.add(p.name)
    new.names_ = {p.id: p.name for p in new.profile_}
