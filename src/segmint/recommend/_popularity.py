"""Popularity: what most customers chose, overall, in a customer's segment, or lately.

The baseline every other model is judged against, and the answer for customers no other
model knows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from segmint.errors import ConfigError
from segmint.recommend._base import ANCHOR, REASON, Recommender
from segmint.recommend._interactions import ITEM, TS, USER, Interactions


class Popularity(Recommender):
    """Most popular products: global, per segment, or trending over a recent window.

    Parameters
    ----------
    window_days : float, optional
        Count only interactions in the last ``window_days`` before the data ends ("trending").
    by_segment : bool
        Rank by popularity within the customer's segment (``fit(..., segments=)``), falling
        back to the global ranking when the segment is unknown or small.
    min_segment_size : int
        Segments with fewer customers use the global ranking.

    Unlike the other models, popularity answers every customer, known or not.

    Examples
    --------
    >>> df = pd.DataFrame({"customer_id": list("aabbc"), "product_id": list("xyxzx")})
    >>> model = Popularity().fit(Interactions.from_frame(df))
    >>> model.recommend(["c", "new"], k=2)[["customer_id", "product_id"]].values.tolist()
    [['c', 'y'], ['c', 'z'], ['new', 'x'], ['new', 'y']]
    """

    name = "popularity"

    def __init__(
        self,
        window_days: float | None = None,
        by_segment: bool = False,
        min_segment_size: int = 20,
    ) -> None:
        self.window_days = window_days
        self.by_segment = by_segment
        self.min_segment_size = min_segment_size

    def fit(self, interactions: Interactions, *, segments: pd.Series | None = None) -> Popularity:
        """Count customers per product; ``segments`` maps customer_id to a segment name."""
        if self.window_days is not None and self.window_days <= 0:
            raise ConfigError(f"window_days={self.window_days} should be > 0")
        self.segment_of_: dict[str, str] = {}
        self.segment_names_: list[str] = []
        self._segments = segments
        super().fit(interactions)
        return self

    def _fit(self, interactions: Interactions, X: sp.csr_matrix) -> None:
        f = interactions.frame
        if self.window_days is not None:
            if not interactions.has_time:
                raise ConfigError("popularity window_days needs interaction times (ts)")
            since = f[TS].max() - pd.Timedelta(days=float(self.window_days))
            f = f[f[TS] >= since]
        counts = _distinct_users_per_item(f, self.items_)
        # tiny tie-break by all-time popularity keeps the order stable
        self.global_ = counts + 1e-6 * self.popularity_ / max(1.0, self.popularity_.max())
        segments = getattr(self, "_segments", None)
        if self.by_segment and segments is not None and len(segments):
            seg = segments.astype(str)
            seg.index = seg.index.astype(str)
            self.segment_of_ = seg.to_dict()
            sizes = seg.value_counts()
            names = sorted(sizes[sizes >= self.min_segment_size].index)
            self.segment_names_ = names
            table = np.zeros((len(names), len(self.items_)), dtype=np.float64)
            member = f[USER].map(self.segment_of_)
            for i, name in enumerate(names):
                table[i] = _distinct_users_per_item(f[member == name], self.items_)
            self.segment_scores_ = table + 1e-3 * self.global_ / max(1.0, self.global_.max())
        else:
            self.segment_scores_ = np.zeros((0, len(self.items_)))
        self._segments = None

    def _state(self) -> dict[str, Any]:
        return {
            "global_": self.global_,
            "segment_scores_": self.segment_scores_,
            "segment_of_": self.segment_of_,
            "segment_names_": np.asarray(self.segment_names_, dtype=str),
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        super()._set_state(state)
        self.segment_of_ = dict(self.segment_of_)
        self.segment_names_ = [str(n) for n in np.atleast_1d(self.segment_names_)]

    def segment(self, customer_id: str) -> str | None:
        """The segment whose ranking ``customer_id`` gets, or None for the global one."""
        seg = self.segment_of_.get(str(customer_id))
        return seg if seg in self.segment_names_ else None

    def _score(self, rows: np.ndarray, context: Mapping[str, Any] | None) -> np.ndarray:
        ids = self.users_[rows] if len(rows) else []
        return self._scores_for([str(c) for c in ids], context)

    def _scores_for(self, ids: list[str], context: Mapping[str, Any] | None) -> np.ndarray:
        forced = None if context is None else context.get("segment")
        out = np.tile(self.global_, (len(ids), 1))
        if len(self.segment_names_):
            index = {n: i for i, n in enumerate(self.segment_names_)}
            for j, cid in enumerate(ids):
                seg = forced if forced is not None else self.segment_of_.get(cid)
                if seg in index:
                    out[j] = self.segment_scores_[index[seg]]
        return out

    def recommend(
        self,
        customer_ids: Iterable[str],
        *,
        k: int = 10,
        exclude_seen: bool = True,
        context: Mapping[str, Any] | None = None,
        exclude: Iterable[str] = (),
        explain: bool = True,
    ) -> pd.DataFrame:
        self._check_fitted()
        self._context = context
        try:
            return super().recommend(
                customer_ids,
                k=k,
                exclude_seen=exclude_seen,
                context=context,
                exclude=exclude,
                explain=explain,
            )
        finally:
            self._context = None

    def _recommend_unknown(
        self,
        customer_ids: list[str],
        *,
        k: int,
        context: Mapping[str, Any] | None,
        exclude: list[str],
        explain: bool,
    ) -> pd.DataFrame:
        scores = self._scores_for(customer_ids, context)
        blocked = self.items_.get_indexer(pd.Index(exclude))
        scores[:, blocked[blocked >= 0]] = -np.inf
        rows = np.full(len(customer_ids), -1)
        return self._frame(pd.Index(customer_ids), rows, scores, k, explain)

    def explain(
        self, recs: pd.DataFrame, *, context: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        # reasons depend on the customer's segment only, known or not
        self._check_fitted()
        out = recs.copy()
        out[REASON] = [self._why(str(c), context) for c in out[USER]]
        out[ANCHOR] = None
        return out

    def _prepare_explain(self, rows: np.ndarray, context: Mapping[str, Any] | None) -> None:
        self._context = context

    def _explain(
        self, i: int, customer_id: str, row: int, items: np.ndarray
    ) -> list[tuple[str, int, str]]:
        why = self._why(customer_id, getattr(self, "_context", None))
        return [(why, -1, self.name)] * len(items)

    def _why(self, customer_id: str, context: Mapping[str, Any] | None) -> str:
        seg = context.get("segment") if context else None
        seg = seg if seg in self.segment_names_ else self.segment(customer_id)
        if seg is not None:
            return f"popular in your segment ({seg})"
        if self.window_days is not None:
            return f"trending in the last {self.window_days:g} days"
        return "popular with all customers"


def _distinct_users_per_item(frame: pd.DataFrame, items: pd.Index) -> np.ndarray:
    pairs = frame[[USER, ITEM]].drop_duplicates()
    counts = pairs[ITEM].value_counts()
    out = np.zeros(len(items), dtype=np.float64)
    idx = items.get_indexer(counts.index)
    keep = idx >= 0
    out[idx[keep]] = counts.to_numpy()[keep]
    return out
