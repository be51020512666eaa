"""The one interface every recommender has: ``fit(interactions)`` and ``recommend(ids, k)``.

Public methods validate and map ids, then call the model's private ``_fit`` and
``_score``. Scores are computed here with NumPy/SciPy from learned arrays (factors, an
item-item matrix), so a fitted model answers without the library that trained it and saves to
a plain ``.npz`` file (no pickle): :func:`save_model` / :func:`load_model`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from segmint.errors import ConfigError, NotFittedError, SchemaError
from segmint.recommend._interactions import ITEM, USER, Interactions

SCORE, RANK, REASON, ANCHOR = "score", "rank", "reason", "reason_product_id"
#: which path answered: the model's name, or a hybrid's "blend", "thin_history", "cold_start"
STRATEGY = "strategy"
OUTPUT_COLUMNS = (USER, ITEM, SCORE, RANK, REASON, ANCHOR, STRATEGY)
_BATCH = 1024


class Recommender(BaseEstimator):
    """Base class. Subclasses set :attr:`name` and implement ``_fit`` and ``_score``.

    After :meth:`fit`: ``users_`` and ``items_`` (the ids, in matrix order), ``seen_`` (the
    customer x product training matrix) and ``popularity_`` (interactions per product).
    """

    name: ClassVar[str] = "base"
    #: whether ``_anchor`` can name a product from the customer's history behind a pick
    explains_by_item: ClassVar[bool] = False

    # public -------------------------------------------------------------------------------

    def fit(self, interactions: Interactions) -> Recommender:
        """Learn from ``interactions``; refitting forgets everything learned before."""
        if not isinstance(interactions, Interactions):
            raise TypeError(f"fit expects Interactions, got {type(interactions).__name__}")
        if len(interactions) == 0:
            raise SchemaError(f"{self.name}: no interactions to learn from")
        self.users_ = interactions.users
        self.items_ = self._item_universe(interactions)
        self.seen_ = interactions.matrix(self.users_, self.items_)
        self.popularity_ = np.asarray((self.seen_ > 0).sum(axis=0)).ravel().astype(np.float64)
        self.item_labels_: dict[str, str] = {}
        self.verb_ = interactions.verb
        self._fit(interactions, self.seen_)
        return self

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
        """Top ``k`` products per customer: ``customer_id, product_id, score, rank, reason``.

        Customers the model has never seen get no rows (a :class:`Hybrid` answers them from
        its fallback chain). ``exclude_seen`` leaves out what the customer already touched;
        ``exclude`` leaves out products for everyone (out of stock). ``context`` is accepted
        by every model and used by the context-aware ones. ``explain=False`` leaves
        ``reason`` empty, which is much faster; :meth:`explain` fills it in later for the
        rows that are kept.
        """
        self._check_fitted()
        if k < 1:
            raise ConfigError(f"k={k} should be >= 1")
        ids = pd.Index([str(c) for c in customer_ids])
        exclude = [str(x) for x in exclude]
        rows = self.users_.get_indexer(ids)
        known = rows >= 0
        blocked = self.items_.get_indexer(pd.Index(exclude))
        blocked = blocked[blocked >= 0]
        parts = []
        known_ids, known_rows = ids[known], rows[known]
        for start in range(0, len(known_rows), _BATCH):
            r = known_rows[start : start + _BATCH]
            scores = self.score(r, context=context)
            if exclude_seen:
                _mask_seen(scores, self.seen_[r])
            if len(blocked):
                scores[:, blocked] = -np.inf
            parts.append(self._frame(known_ids[start : start + _BATCH], r, scores, k, explain))
        if not known.all():
            cold = self._recommend_unknown(
                list(ids[~known]), k=k, context=context, exclude=exclude, explain=explain
            )
            if cold is not None and len(cold):
                parts.append(cold)
        if not parts:
            return empty_recommendations()
        out = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        if known.all():
            return out
        # back in the order asked for
        order = pd.Series(np.arange(len(ids)), index=ids).groupby(level=0).first()
        at = order.reindex(out[USER].astype(str)).to_numpy()
        return out.iloc[np.lexsort((out[RANK].to_numpy(), at))].reset_index(drop=True)

    def _recommend_unknown(
        self,
        customer_ids: list[str],
        *,
        k: int,
        context: Mapping[str, Any] | None,
        exclude: list[str],
        explain: bool,
    ) -> pd.DataFrame | None:
        """Rows for customers the model never saw; None (no rows) unless a fallback exists."""
        return None

    def score(self, rows: np.ndarray, *, context: Mapping[str, Any] | None = None) -> np.ndarray:
        """Dense scores (``len(rows)`` x products, float32) for customers at matrix ``rows``."""
        self._check_fitted()
        out = np.asarray(self._score(np.asarray(rows, dtype=np.int64), context), np.float32)
        return out

    def set_labels(self, labels: Mapping[str, str]) -> None:
        """Product titles for reasons ("because you bought <title>")."""
        self.item_labels_ = {str(k): str(v) for k, v in labels.items() if v}

    # for subclasses -----------------------------------------------------------------------

    def _item_universe(self, interactions: Interactions) -> pd.Index:
        """The products the model can recommend; the content model adds catalogue-only ones."""
        return interactions.items

    def _fit(self, interactions: Interactions, X: sp.csr_matrix) -> None:
        raise NotImplementedError

    def _score(self, rows: np.ndarray, context: Mapping[str, Any] | None) -> np.ndarray:
        raise NotImplementedError

    def _anchor(self, row: int, items: np.ndarray) -> np.ndarray:
        """Index of the history item behind each pick (-1: none). Item-based models override."""
        return np.full(len(items), -1)

    def _reason(self, item: int, anchor: int) -> str:
        if anchor >= 0:
            return f"because you {self.verb_} {self._label(anchor)}"
        return self.name

    def _state(self) -> dict[str, Any]:
        """Learned arrays beyond the base ones, for :func:`save_model`."""
        return {}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)

    # helpers ------------------------------------------------------------------------------

    def _label(self, item: int) -> str:
        pid = str(self.items_[item])
        return self.item_labels_.get(pid, pid)

    def _check_fitted(self) -> None:
        if not hasattr(self, "seen_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(interactions)")

    def explain(
        self, recs: pd.DataFrame, *, context: Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """``recs`` (from :meth:`recommend`) with ``reason`` and ``reason_product_id`` filled."""
        self._check_fitted()
        out = recs.copy()
        if not len(out):
            return out
        known = self.users_.get_indexer(pd.Index(out[USER].astype(str))) >= 0
        if not known.all():
            cold = self._explain_unknown(out[~known], context)
            warm = self.explain(out[known], context=context) if known.any() else out[known]
            return pd.concat([warm, cold]).sort_index()
        out = out.sort_values([USER, RANK], kind="stable")
        reasons: list[str] = []
        anchors: list[str | None] = []
        users = out[USER].astype(str).to_numpy()
        all_items = self.items_.get_indexer(out[ITEM].astype(str))
        starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
        bounds = np.r_[starts, len(users)]
        ids = users[starts]
        all_rows = self.users_.get_indexer(pd.Index(ids))
        for start in range(0, len(ids), _BATCH):
            rows = all_rows[start : start + _BATCH]
            self._prepare_explain(rows, context)
            for i, row in enumerate(rows):
                g = start + i
                items = all_items[bounds[g] : bounds[g + 1]]
                for reason, anchor, _ in self._explain(i, str(ids[g]), int(row), items):
                    reasons.append(reason)
                    anchors.append(str(self.items_[anchor]) if anchor >= 0 else None)
        out[REASON] = reasons
        out[ANCHOR] = anchors
        return out.sort_index()

    def _explain_unknown(
        self, recs: pd.DataFrame, context: Mapping[str, Any] | None
    ) -> pd.DataFrame:
        """Reasons for rows of customers the model never saw (from its fallback)."""
        return recs

    def _prepare_explain(self, rows: np.ndarray, context: Mapping[str, Any] | None) -> None:
        """Hook run before explaining a batch of rows (a hybrid re-scores them)."""

    def _strategies(self, rows: np.ndarray) -> np.ndarray:
        return np.full(len(rows), self.name, dtype=object)

    def _frame(
        self, ids: pd.Index, rows: np.ndarray, scores: np.ndarray, k: int, explain: bool = True
    ) -> pd.DataFrame:
        top = top_k(scores, k)
        picked = np.take_along_axis(scores, top, axis=1)
        valid = np.isfinite(picked)
        if not explain:
            counts = valid.sum(axis=1)
            who = np.repeat(np.arange(len(rows)), counts)
            return pd.DataFrame(
                {
                    USER: np.asarray(ids, dtype=object)[who],
                    ITEM: self.items_.to_numpy()[top[valid]],
                    SCORE: picked[valid].astype(np.float64),
                    RANK: np.concatenate([np.arange(1, c + 1) for c in counts]).astype(np.int64)
                    if len(counts)
                    else np.array([], np.int64),
                    REASON: None,
                    ANCHOR: None,
                    STRATEGY: self._strategies(rows)[who],
                }
            )
        out_rows = []
        for i in range(len(rows)):
            items = top[i][valid[i]]
            explained = self._explain(i, str(ids[i]), int(rows[i]), items)
            for rank, (item, (reason, anchor, strategy)) in enumerate(
                zip(items, explained, strict=True), start=1
            ):
                out_rows.append(
                    (
                        ids[i],
                        self.items_[item],
                        float(picked[i, rank - 1]),
                        rank,
                        reason,
                        str(self.items_[anchor]) if anchor >= 0 else None,
                        strategy,
                    )
                )
        return pd.DataFrame(out_rows, columns=list(OUTPUT_COLUMNS))

    def _explain(
        self, i: int, customer_id: str, row: int, items: np.ndarray
    ) -> list[tuple[str, int, str]]:
        """``(reason, anchor product index or -1, strategy)`` for each pick of one customer."""
        if self.explains_by_item and len(items):
            anchors = self._anchor(row, items)
        else:
            anchors = np.full(len(items), -1)
        return [
            (self._reason(int(it), int(a)), int(a), self.name)
            for it, a in zip(items, anchors, strict=True)
        ]


def empty_recommendations() -> pd.DataFrame:
    """A recommendations frame with no rows and the right columns."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in OUTPUT_COLUMNS}).astype(
        {SCORE: "float64", RANK: "int64"}
    )


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of each row's ``k`` largest scores, best first (ties: lower index)."""
    k = min(k, scores.shape[1])
    if k == scores.shape[1]:
        part = np.tile(np.arange(k), (scores.shape[0], 1))
    else:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1)


def _mask_seen(scores: np.ndarray, seen: sp.csr_matrix) -> None:
    coo = seen.tocoo()
    scores[coo.row, coo.col] = -np.inf


def history_anchor(
    seen_row: sp.csr_matrix, sim_columns: np.ndarray | sp.spmatrix, items: np.ndarray
) -> np.ndarray:
    """For item-item models: the history item contributing most to each picked item.

    ``sim_columns`` is the item-item similarity restricted to the picked items' columns
    (products x len(items)).
    """
    hist = seen_row.indices
    if len(hist) == 0 or len(items) == 0:
        return np.full(len(items), -1)
    contrib = sim_columns[hist]
    contrib = contrib.toarray() if sp.issparse(contrib) else np.asarray(contrib)
    contrib = contrib * seen_row.data[:, None]
    best = contrib.argmax(axis=0)
    return np.where(contrib.max(axis=0) > 0, hist[best], -1)


# saving -------------------------------------------------------------------------------------

_BASE_STATE = ("users_", "items_", "seen_", "popularity_", "verb_")


def save_model(
    model: Recommender, path: str | Path, *, meta: Mapping[str, Any] | None = None
) -> Path:
    """Write a fitted model to ``path`` (``.npz``: arrays and JSON, never pickle)."""
    from segmint.recommend._registry import class_name

    model._check_fitted()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    state = {k: getattr(model, k) for k in _BASE_STATE}
    state.update(model._state())
    kinds: dict[str, str] = {}
    for key, value in state.items():
        kinds[key] = _pack(arrays, key, value)
    header = {
        "class": class_name(model),
        "params": model.get_params(deep=False),
        "labels": model.item_labels_,
        "kinds": kinds,
        "meta": dict(meta or {}),
    }
    arrays["__header__"] = np.frombuffer(json.dumps(header, default=str).encode(), np.uint8)
    with path.open("wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
    return path


def load_model(path: str | Path) -> tuple[Recommender, dict[str, Any]]:
    """Read a model written by :func:`save_model`; returns it and its ``meta``."""
    from segmint.recommend._registry import model_class

    with np.load(Path(path), allow_pickle=False) as data:
        header = json.loads(bytes(data["__header__"]).decode())
        model = model_class(header["class"])(**header["params"])
        state = {k: _unpack(data, k, kind) for k, kind in header["kinds"].items()}
    base = {k: state.pop(k) for k in _BASE_STATE}
    for key, value in base.items():
        setattr(model, key, value)
    model.item_labels_ = dict(header["labels"])
    model._set_state(state)
    return model, dict(header["meta"])


def _pack(arrays: dict[str, np.ndarray], key: str, value: Any) -> str:
    if sp.issparse(value):
        csr = sp.csr_matrix(value)
        arrays[f"{key}.data"], arrays[f"{key}.indices"] = csr.data, csr.indices
        arrays[f"{key}.indptr"], arrays[f"{key}.shape"] = csr.indptr, np.asarray(csr.shape)
        return "csr"
    if isinstance(value, pd.Index):
        arrays[key] = np.asarray(value.astype(str), dtype=str)
        return "index"
    if isinstance(value, Mapping):
        arrays[key] = np.frombuffer(json.dumps(dict(value)).encode(), np.uint8)
        return "json"
    arrays[key] = np.asarray(value)
    return "array"


def _unpack(data: Any, key: str, kind: str) -> Any:
    if kind == "csr":
        shape = tuple(int(x) for x in data[f"{key}.shape"])
        return sp.csr_matrix(
            (data[f"{key}.data"], data[f"{key}.indices"], data[f"{key}.indptr"]), shape=shape
        )
    if kind == "index":
        return pd.Index(data[key].astype(object))
    if kind == "json":
        return json.loads(bytes(data[key]).decode())
    value = data[key]
    return value.item() if value.ndim == 0 else value


def member_state(model: Recommender, prefix: str) -> dict[str, Any]:
    """A fitted member's whole state under ``prefix``, for models that hold other models."""
    state = {k: getattr(model, k) for k in _BASE_STATE}
    state.update(model._state())
    state["params_"] = model.get_params(deep=False)
    state["labels_"] = model.item_labels_
    return {prefix + k: v for k, v in state.items()}


def restore_member(model: Recommender, state: Mapping[str, Any], prefix: str) -> Any:
    """Rebuild a member written by :func:`member_state`."""
    own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    model.set_params(**own.pop("params_"))
    model.item_labels_ = dict(own.pop("labels_"))
    for key in _BASE_STATE:
        setattr(model, key, own.pop(key))
    model._set_state(own)
    return model
