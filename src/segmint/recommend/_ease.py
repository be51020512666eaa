"""EASE: a closed-form linear item-item model (Steck, "Embarrassingly Shallow Autoencoders", 2019).

``B = -P / diag(P)`` with ``P = (X'X + l2 I)^-1`` and a zero diagonal; scores are ``X B``. One
dense products x products solve, so it is sized for catalogues up to a few tens of thousands
of products; beyond ``max_items`` only the most popular products are modelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from segmint.errors import ConfigError
from segmint.recommend._base import Recommender
from segmint.recommend._interactions import Interactions


class EASE(Recommender):
    """Embarrassingly shallow autoencoder.

    Parameters
    ----------
    l2 : float
        Ridge penalty on the item-item weights.
    binary : bool
        Learn from which products were chosen (True) or from interaction weights.
    max_items : int
        Most products modelled (the most popular); the rest score as unknown.
    """

    name = "ease"
    explains_by_item = True

    def __init__(self, l2: float = 500.0, binary: bool = True, max_items: int = 30_000) -> None:
        self.l2 = l2
        self.binary = binary
        self.max_items = max_items

    def _fit(self, interactions: Interactions, X: sp.csr_matrix) -> None:
        if self.l2 <= 0:
            raise ConfigError(f"l2={self.l2} should be > 0")
        if self.max_items < 1:
            raise ConfigError(f"max_items={self.max_items} should be >= 1")
        n = X.shape[1]
        keep = np.arange(n)
        if n > self.max_items:
            keep = np.sort(np.argsort(-self.popularity_, kind="stable")[: self.max_items])
        Xk = self._input(X)[:, keep]
        G = np.asarray((Xk.T @ Xk).todense(), dtype=np.float64)
        G[np.diag_indices_from(G)] += self.l2
        P = scipy.linalg.inv(G, overwrite_a=True, check_finite=False)
        B = P / (-np.diag(P))
        B[np.diag_indices_from(B)] = 0.0
        self.kept_ = keep
        # C order: scipy's sparse @ dense copies a Fortran-ordered matrix on every call,
        # which made one customer's recommendations take 100 ms instead of 1
        self.weights_ = np.ascontiguousarray(B, dtype=np.float32)

    def _set_state(self, state: Mapping[str, Any]) -> None:
        super()._set_state(state)
        self.weights_ = np.ascontiguousarray(self.weights_, dtype=np.float32)

    def _state(self) -> dict[str, Any]:
        return {"kept_": self.kept_, "weights_": self.weights_}

    def _input(self, X: sp.csr_matrix) -> sp.csr_matrix:
        if not self.binary:
            return X
        out = X.copy()
        out.data[:] = 1.0
        return out

    def _score(self, rows: np.ndarray, context: Mapping[str, Any] | None) -> np.ndarray:
        X = self._input(self.seen_[rows])
        if len(self.kept_) == len(self.items_):
            return np.asarray(X @ self.weights_)
        part = np.asarray(X[:, self.kept_] @ self.weights_)
        out = np.full((len(rows), len(self.items_)), -np.inf, dtype=np.float32)
        out[:, self.kept_] = part
        return out

    def _anchor(self, row: int, items: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.kept_, items)
        pos = np.clip(pos, 0, len(self.kept_) - 1)
        modelled = self.kept_[pos] == items
        hist = self._input(self.seen_[row])[:, self.kept_]
        if hist.nnz == 0 or len(items) == 0:
            return np.full(len(items), -1)
        # only the history rows of the picked columns: a whole-column gather per customer
        # cost six times the scoring
        contrib = self.weights_[np.ix_(hist.indices, pos)] * hist.data[:, None]
        best = hist.indices[contrib.argmax(axis=0)]
        found = np.where(contrib.max(axis=0) > 0, self.kept_[best], -1)
        return np.where(modelled, found, -1)
