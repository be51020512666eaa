"""Hybrid: a weighted blend of models, with a fallback chain so every customer gets an answer.

- a known customer with at least ``thin_history`` products: the blend of the collaborative
  models (weights chosen on a validation split by :func:`segmint.recommend.tune_blend`);
- a thin history: content similarity plus their segment's popularity (with a catalogue;
  without one, the blend still answers, as a short history beats popularity alone);
- a customer nobody has seen: their segment's popularity when the CRM places them in one,
  else global popularity.

Each pick is explained by the member that contributed most to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from segmint.errors import ConfigError
from segmint.recommend._base import STRATEGY, Recommender
from segmint.recommend._interactions import Interactions
from segmint.recommend._popularity import Popularity

#: weights of content and segment popularity for thin histories
THIN_WEIGHTS = {"content": 0.6, "popularity": 0.4}


class Hybrid(Recommender):
    """Blend of member models plus the fallback chain.

    Parameters
    ----------
    models : sequence of str
        Member model names (see :data:`segmint.recommend.MODELS`).
    weights : mapping, optional
        Blend weight per member (default equal). Members missing from it weigh 0.
    params : mapping, optional
        Constructor parameters per member name.
    thin_history : int
        Customers with fewer distinct products get content + segment popularity.
    """

    name = "hybrid"
    explains_by_item = True

    def __init__(
        self,
        models: tuple[str, ...] | list[str] = ("ease", "item_knn", "als", "content"),
        weights: Mapping[str, float] | None = None,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        thin_history: int = 3,
    ) -> None:
        self.models = models
        self.weights = weights
        self.params = params
        self.thin_history = thin_history

    # fitting ------------------------------------------------------------------------------

    def fit(
        self,
        interactions: Interactions,
        *,
        catalogue: pd.DataFrame | None = None,
        segments: pd.Series | None = None,
    ) -> Hybrid:
        """Fit every member, and segment popularity for the fallback chain."""
        from segmint.recommend._registry import build

        if not self.models:
            raise ConfigError("hybrid: models is empty; name at least one member")
        if "hybrid" in self.models:
            raise ConfigError("hybrid: a hybrid cannot be its own member")
        params = dict(self.params or {})
        self.members_: dict[str, Recommender] = {}
        self.skipped_: dict[str, str] = {}
        for name in self.models:
            model = build(name, params.get(name))
            if name == "content" and catalogue is None:
                self.skipped_[name] = "no catalogue"
                continue
            self.members_[name] = _fit_member(model, interactions, catalogue, segments)
        self.fallback_ = Popularity(by_segment=segments is not None).fit(
            interactions, segments=segments
        )
        weights = dict(self.weights) if self.weights else dict.fromkeys(self.members_, 1.0)
        unknown = set(weights) - set(self.models) - {"popularity"}
        if unknown:
            raise ConfigError(f"hybrid weights name {sorted(unknown)}, not members {self.models}")
        if any(w < 0 for w in weights.values()):
            raise ConfigError(f"hybrid weights should be >= 0, got {weights}")
        self.weights_ = {n: float(weights.get(n, 0.0)) for n in self.members_}
        self._universe = _union([m.items_ for m in self.members_.values()])
        super().fit(interactions)
        return self

    def _item_universe(self, interactions: Interactions) -> pd.Index:
        return self._universe

    def _fit(self, interactions: Interactions, X: sp.csr_matrix) -> None:
        self.history_ = np.diff(X.indptr).astype(np.int64)
        # titles the content member read from the catalogue serve every member's reasons
        labels = {k: v for m in self.members_.values() for k, v in m.item_labels_.items()}
        self.set_labels(labels)
        self.positions_ = {n: self.items_.get_indexer(m.items_) for n, m in self.members_.items()}
        self.fallback_positions_ = self.items_.get_indexer(self.fallback_.items_)
        self._local_cache: dict[str, np.ndarray] = {}

    def set_labels(self, labels: Mapping[str, str]) -> None:
        super().set_labels(labels)
        for m in getattr(self, "members_", {}).values():
            m.set_labels(labels)

    # scoring ------------------------------------------------------------------------------

    def member_scores(
        self, rows: np.ndarray, only: set[str] | None = None
    ) -> dict[str, np.ndarray]:
        """Each member's scores for ``rows`` (or those in ``only``), scaled to [0, 1] per
        customer, on ``items_``; ``"popularity"`` is the fallback's."""
        out = {}
        for name, m in self.members_.items():
            if only is None or name in only:
                out[name] = self._scatter(normalise(m.score(rows)), self.positions_[name])
        if only is None or "popularity" in only:
            pop = normalise(self.fallback_.score(rows))
            out["popularity"] = self._scatter(pop, self.fallback_positions_)
        return out

    def _scatter(self, scores: np.ndarray, positions: np.ndarray) -> np.ndarray:
        if len(positions) == len(self.items_) and np.array_equal(
            positions, np.arange(len(positions))
        ):
            return scores
        full = np.zeros((scores.shape[0], len(self.items_)), dtype=np.float32)
        full[:, positions] = scores
        return full

    def blend_weights(self, rows: np.ndarray) -> list[dict[str, float]]:
        """The weights each row is scored with: the blend, or the thin-history mix."""
        thin = {n: w for n, w in THIN_WEIGHTS.items() if n in self.members_ or n == "popularity"}
        rich = {**self.weights_, "popularity": 0.0}
        return [thin if t else rich for t in self._is_thin(rows)]

    def _is_thin(self, rows: np.ndarray) -> np.ndarray:
        """Rows given content + segment popularity. Without a content member there is no
        such path: a short history still says more than popularity alone (on the
        clickstream, sending a third of the sessions to popularity cost 0.04 nDCG@10)."""
        if "content" not in self.members_:
            return np.zeros(len(rows), dtype=bool)
        return self.history_[rows] < self.thin_history

    def _score(self, rows: np.ndarray, context: Mapping[str, Any] | None) -> np.ndarray:
        weights = self.blend_weights(rows)
        # a member no row weighs is not scored at all (popularity, for long histories)
        used = {n for wt in weights for n, w in wt.items() if w}
        parts = self.member_scores(rows, only=used) if used else self.member_scores(rows)
        total = np.zeros((len(rows), len(self.items_)), dtype=np.float32)
        contrib = np.full((len(rows), len(self.items_)), -1.0, dtype=np.float32)
        owner = np.zeros((len(rows), len(self.items_)), dtype=np.int8)
        names = list(parts)
        for j, name in enumerate(names):
            w = np.array([wt.get(name, 0.0) for wt in weights], dtype=np.float32)[:, None]
            part = parts[name] * w
            total += part
            better = part > contrib
            owner[better] = j
            contrib[better] = part[better]
        self._owner: tuple[list[str], np.ndarray] | None = (names, owner)
        return total

    def _frame(
        self, ids: pd.Index, rows: np.ndarray, scores: np.ndarray, k: int, explain: bool = True
    ) -> pd.DataFrame:
        try:
            return super()._frame(ids, rows, scores, k, explain)
        finally:
            self._owner = None

    def _locals(self, name: str) -> np.ndarray:
        """For member ``name``: its own index of each of the hybrid's products (-1: none)."""
        cache = self.__dict__.setdefault("_local_cache", {})
        if name not in cache:
            out = np.full(len(self.items_), -1, dtype=np.int64)
            out[self.positions_[name]] = np.arange(len(self.positions_[name]))
            cache[name] = out
        return cache[name]

    def _strategies(self, rows: np.ndarray) -> np.ndarray:
        return np.where(self._is_thin(rows), "thin_history", "blend").astype(object)

    def _prepare_explain(self, rows: np.ndarray, context: Mapping[str, Any] | None) -> None:
        self._score(rows, context)  # sets who owns each pick

    def explain(
        self, recs: pd.DataFrame, *, context: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        try:
            return super().explain(recs, context=context)
        finally:
            self._owner = None

    def _explain(
        self, i: int, customer_id: str, row: int, items: np.ndarray
    ) -> list[tuple[str, int, str]]:
        names, owner = self._owner if self._owner is not None else ([], None)
        strategy = "thin_history" if self._is_thin(np.array([row]))[0] else "blend"
        owners = [names[owner[i, it]] if owner is not None else "popularity" for it in items]
        result: list[tuple[str, int, str]] = [("", -1, strategy)] * len(items)
        for name in set(owners):
            picks = [j for j, o in enumerate(owners) if o == name]
            if name == "popularity":
                why = self.fallback_._why(customer_id, None)
                for j in picks:
                    result[j] = (why, -1, strategy)
                continue
            member, to_global = self.members_[name], self.positions_[name]
            local = self._locals(name)[items[picks]]
            if member.explains_by_item:
                anchors = member._anchor(row, local)
            else:
                anchors = np.full(len(picks), -1)
            for j, loc, anchor in zip(picks, local, anchors, strict=True):
                glob = int(to_global[anchor]) if anchor >= 0 else -1
                result[j] = (member._reason(int(loc), int(anchor)), glob, strategy)
        return result

    # the fallback chain -------------------------------------------------------------------

    def _recommend_unknown(
        self,
        customer_ids: list[str],
        *,
        k: int,
        context: Mapping[str, Any] | None,
        exclude: list[str],
        explain: bool,
    ) -> pd.DataFrame:
        out = self.fallback_.recommend(
            customer_ids, k=k, context=context, exclude=exclude, explain=explain
        )
        out[STRATEGY] = "cold_start"
        return out

    def _explain_unknown(
        self, recs: pd.DataFrame, context: Mapping[str, Any] | None
    ) -> pd.DataFrame:
        return self.fallback_.explain(recs, context=context)

    # saving -------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        from segmint.recommend._base import member_state

        state: dict[str, Any] = {"weights_": self.weights_, "skipped_": self.skipped_}
        for name, m in {**self.members_, "popularity": self.fallback_}.items():
            state.update(member_state(m, f"{name}/"))
        return state

    def _set_state(self, state: Mapping[str, Any]) -> None:
        from segmint.recommend._base import restore_member
        from segmint.recommend._registry import build

        self.weights_ = dict(state["weights_"])
        self.skipped_ = dict(state["skipped_"])
        params = dict(self.params or {})
        self.members_ = {}
        for name in self.models:
            if name in self.skipped_:
                continue
            self.members_[name] = restore_member(build(name, params.get(name)), state, f"{name}/")
        self.fallback_ = restore_member(Popularity(), state, "popularity/")
        self.fallback_.by_segment = bool(self.fallback_.segment_names_)
        self.history_ = np.diff(self.seen_.indptr).astype(np.int64)
        self.positions_ = {n: self.items_.get_indexer(m.items_) for n, m in self.members_.items()}
        self.fallback_positions_ = self.items_.get_indexer(self.fallback_.items_)
        self._local_cache = {}
        self._owner = None


def normalise(scores: np.ndarray) -> np.ndarray:
    """Scale each row's finite scores to [0, 1]; what a model cannot score becomes 0."""
    s = np.where(np.isfinite(scores), scores, np.nan).astype(np.float32)
    lo = np.nanmin(np.where(np.isnan(s), np.inf, s), axis=1, keepdims=True)
    hi = np.nanmax(np.where(np.isnan(s), -np.inf, s), axis=1, keepdims=True)
    span = np.where(hi > lo, hi - lo, 1.0)
    out = (s - lo) / span
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def _fit_member(
    model: Recommender,
    interactions: Interactions,
    catalogue: pd.DataFrame | None,
    segments: pd.Series | None,
) -> Recommender:
    if isinstance(model, Popularity):
        return model.fit(interactions, segments=segments)
    if model.name in ("hybrid", "context"):
        return model.fit(interactions, catalogue=catalogue, segments=segments)  # type: ignore[call-arg]
    if model.name == "content":
        return model.fit(interactions, catalogue=catalogue)  # type: ignore[call-arg]
    return model.fit(interactions)


def _union(indexes: list[pd.Index]) -> pd.Index:
    values = np.unique(np.concatenate([ix.to_numpy().astype(str) for ix in indexes]))
    return pd.Index(values.astype(object), name="product_id")
