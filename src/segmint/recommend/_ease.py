"""Closed-form linear item-item models: EASE and its dropout-denoising variants.

EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019):
``B = -P / diag(P)`` with ``P = (X'X + l2 I)^-1`` and a zero diagonal; scores are ``X B``.

EDLAE and DLAE (Steck, "Autoencoders that don't overfit towards the Identity", NeurIPS 2020):
the closed form of a linear autoencoder trained with dropout of probability ``p`` on its input,
which penalises each product's weights in proportion to its popularity,
``Lambda = l2 I + p / (1 - p) diag(X'X)``, ``P = (X'X + Lambda)^-1``. DLAE is
``B = I - P Lambda``; EDLAE (the dropout *emphasised* on the dropped entries) is EASE's form
``B = -P / diag(P)`` with that penalty, i.e. EASE with a per-product ridge.

One dense products x products solve each, so they are sized for catalogues up to a few tens of
thousands of products; beyond ``max_items`` only the most popular products are modelled.
"""

from __future__ import annotations

import math
import numbers
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
        if not _positive(self.l2):
            raise ConfigError(f"l2={self.l2} should be a finite number > 0")
        keep, G = self._gram(X)
        G[np.diag_indices_from(G)] += self.l2
        P = scipy.linalg.inv(G, overwrite_a=True, check_finite=False)
        B = P / (-np.diag(P))
        self._set_weights(keep, B)

    def _gram(self, X: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """The modelled products (the ``max_items`` most popular) and their dense ``X'X``."""
        if self.max_items < 1:
            raise ConfigError(f"max_items={self.max_items} should be >= 1")
        n = X.shape[1]
        keep = np.arange(n)
        if n > self.max_items:
            keep = np.sort(np.argsort(-self.popularity_, kind="stable")[: self.max_items])
        Xk = self._input(X)[:, keep]
        return keep, np.asarray((Xk.T @ Xk).todense(), dtype=np.float64)

    def _set_weights(self, keep: np.ndarray, B: np.ndarray) -> None:
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


class EDLAE(EASE):
    """Dropout-denoising linear autoencoder: EASE whose ridge grows with each product's
    popularity, so popular products cannot explain the others alone (Steck 2020).

    Parameters
    ----------
    l2 : float
        Ridge penalty on every item-item weight (as EASE's; 0 leaves only the dropout's).
    dropout : float
        Dropout probability ``p`` in [0, 1) the closed form stands for: product ``j``'s
        weights get the extra penalty ``p / (1 - p) * popularity(j)``. 0 is EASE.
    emphasized : bool
        True: EDLAE, the zero-diagonal (EASE) form ``-P / diag(P)``. False: DLAE,
        ``I - P Lambda``, whose diagonal is dropped too (it only scores products the
        customer already has, which recommendations leave out).
    binary : bool
        Learn from which products were chosen (True) or from interaction weights.
    max_items : int
        Most products modelled (the most popular); the rest score as unknown.

    Examples
    --------
    >>> import pandas as pd
    >>> from segmint.recommend import Interactions
    >>> df = pd.DataFrame({"customer_id": ["a", "a", "b", "b", "c"],
    ...                    "product_id": ["x", "y", "x", "y", "x"]})
    >>> EDLAE(l2=1.0, dropout=0.25).fit(Interactions.from_frame(df)).recommend(
    ...     ["c"], k=1, explain=False)["product_id"].tolist()
    ['y']
    """

    name = "edlae"

    def __init__(
        self,
        l2: float = 300.0,
        dropout: float = 0.33,
        emphasized: bool = True,
        binary: bool = True,
        max_items: int = 30_000,
    ) -> None:
        super().__init__(l2=l2, binary=binary, max_items=max_items)
        self.dropout = dropout
        self.emphasized = emphasized

    def _fit(self, interactions: Interactions, X: sp.csr_matrix) -> None:
        if not (_finite(self.l2) and self.l2 >= 0):
            raise ConfigError(f"l2={self.l2} should be a finite number >= 0")
        if not (_finite(self.dropout) and 0 <= self.dropout < 1):
            raise ConfigError(f"dropout={self.dropout} should be a number in [0, 1)")
        keep, G = self._gram(X)
        penalty = self.l2 + self.dropout / (1.0 - self.dropout) * np.diag(G)
        # a product nobody chose has a zero row; without l2 nothing else keeps G invertible
        penalty = np.where(penalty > 0, penalty, 1.0)
        G[np.diag_indices_from(G)] += penalty
        P = scipy.linalg.inv(G, overwrite_a=True, check_finite=False)
        B = P / (-np.diag(P)) if self.emphasized else -P * penalty[None, :]
        self._set_weights(keep, B)


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any) -> bool:
    return _finite(value) and value > 0
