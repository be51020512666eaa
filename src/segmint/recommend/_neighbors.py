"""Item-item neighbourhood: products chosen by the same customers, cosine or BM25 weighted.

Fitted by ``implicit``'s nearest-neighbour recommenders; scoring is the customer's history
times the learned similarity matrix, so each pick is explained by the history item that
contributed most.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from segmint.errors import ConfigError
from segmint.recommend._base import Recommender, history_anchor
from segmint.recommend._interactions import Interactions

SIMILARITIES = ("cosine", "bm25")


class ItemKNN(Recommender):
    """Item-based collaborative filtering.

    Parameters
    ----------
    similarity : {"cosine", "bm25"}
        ``bm25`` down-weights very active customers and very popular products.
    neighbours : int
        Most similar products kept per product.
    k1, b : float
        BM25's saturation and length normalisation.
    """

    name = "item_knn"
    explains_by_item = True

    def __init__(
        self, similarity: str = "bm25", neighbours: int = 100, k1: float = 1.2, b: float = 0.75
    ) -> None:
        self.similarity = similarity
        self.neighbours = neighbours
        self.k1 = k1
        self.b = b

    def _fit(self, interactions: Interactions, X: sp.csr_matrix) -> None:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

        if self.similarity not in SIMILARITIES:
            raise ConfigError(f"similarity={self.similarity!r} should be one of {SIMILARITIES}")
        if self.neighbours < 1:
            raise ConfigError(f"neighbours={self.neighbours} should be >= 1")
        if self.similarity == "bm25":
            model = BM25Recommender(K=self.neighbours, K1=self.k1, B=self.b, num_threads=1)
        else:
            model = CosineRecommender(K=self.neighbours, num_threads=1)
        with warnings.catch_warnings():
            # implicit's own neighbour code hands itself a COO matrix and warns about it
            warnings.filterwarnings("ignore", message="Method expects CSR input")
            model.fit(X, show_progress=False)
        self.similarity_ = sp.csr_matrix(model.similarity, dtype=np.float32)

    def _score(self, rows: np.ndarray, context: Mapping[str, Any] | None) -> np.ndarray:
        return np.asarray((self.seen_[rows] @ self.similarity_).todense())

    def _state(self) -> dict[str, Any]:
        return {"similarity_": self.similarity_}

    def _reason(self, item: int, anchor: int) -> str:
        if anchor >= 0:
            return f"customers who chose {self._label(anchor)} also chose this"
        return "chosen by customers like you"

    def _anchor(self, row: int, items: np.ndarray) -> np.ndarray:
        # columns of the similarity are rows of its transpose: slicing CSR columns scans it all
        by_target = self.__dict__.get("_by_target")
        if by_target is None or by_target.shape != self.similarity_.shape:
            by_target = self._by_target = sp.csr_matrix(self.similarity_.T)
        return history_anchor(self.seen_[row], by_target[items].T, items)
