"""RP3beta: a random walk of three steps on the customer-product graph, popularity penalised.

Paudel, Christoffel, Newell and Bernstein, "Updatable, accurate, diverse, and scalable
recommendations for interactive applications" (ACM TiiS 7(1), 2016), as benchmarked by Dacrema,
Cremonesi and Jannach, "Are we really making much progress?" (RecSys 2019).

With ``P_ui`` the customer -> product transition probabilities (each customer's row L1
normalised) and ``P_iu`` the product -> customer ones (each product's buyers, L1 normalised),
both raised elementwise to ``alpha``, the item-item weight is

    W[i, j] = (P_iu P_ui)[i, j] / popularity(j) ** beta,   W[i, i] = 0,

of which each product keeps its ``neighbours`` largest, and each row is L1 normalised again
(as the reference implementations do). A customer's scores are their history times ``W``.
NumPy/SciPy only; ``W`` is built a block of rows at a time, so memory stays bounded by the
block, not by products squared.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from segmint.errors import ConfigError
from segmint.recommend._base import Recommender, history_anchor
from segmint.recommend._interactions import Interactions

#: dense cells of one block of ``P_iu P_ui`` (rows x products), about 32 MB of float64
_BLOCK_CELLS = 4_000_000


class RP3beta(Recommender):
    """Item-item graph random walk ``P^3`` with popularity penalty ``beta``.

    Parameters
    ----------
    alpha : float
        Exponent on every transition probability (1: the plain walk; below 1 flattens it).
    beta : float
        Popularity penalty: the walk's arrival at product ``j`` is divided by
        ``popularity(j) ** beta`` (0: no penalty).
    neighbours : int
        Most similar products kept per product (the reference's ``topK``).
    binary : bool
        Walk from which products were chosen (True) or from the interaction weights.
    """

    name = "rp3beta"
    explains_by_item = True

    def __init__(
        self, alpha: float = 0.8, beta: float = 0.5, neighbours: int = 200, binary: bool = True
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        self.neighbours = neighbours
        self.binary = binary

    def _fit(self, interactions: Interactions, X: sp.csr_matrix) -> None:
        self._check_params()
        self.similarity_ = rp3beta_similarity(
            self._input(X), alpha=self.alpha, beta=self.beta, neighbours=self.neighbours
        )
        self._by_target = sp.csr_matrix(self.similarity_.T)

    def _check_params(self) -> None:
        if not (isinstance(self.alpha, numbers.Real) and math.isfinite(self.alpha)) or (
            self.alpha < 0
        ):
            raise ConfigError(f"alpha={self.alpha} should be a finite number >= 0")
        if not (isinstance(self.beta, numbers.Real) and math.isfinite(self.beta)):
            raise ConfigError(f"beta={self.beta} should be a finite number")
        if not isinstance(self.neighbours, numbers.Integral) or self.neighbours < 1:
            raise ConfigError(f"neighbours={self.neighbours} should be an integer >= 1")

    def _input(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """Positive interactions only (a returned product nets to 0 or below), 1 if binary."""
        out = sp.csr_matrix(X, dtype=np.float64, copy=True)
        out.data = np.where(out.data > 0, 1.0 if self.binary else out.data, 0.0)
        out.eliminate_zeros()
        return out

    def _score(self, rows: np.ndarray, context: Mapping[str, Any] | None) -> np.ndarray:
        return np.asarray((self._input(self.seen_[rows]) @ self.similarity_).todense())

    def _state(self) -> dict[str, Any]:
        return {"similarity_": self.similarity_}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        super()._set_state(state)
        self.similarity_ = sp.csr_matrix(self.similarity_, dtype=np.float32)
        self._by_target = sp.csr_matrix(self.similarity_.T)

    def _anchor(self, row: int, items: np.ndarray) -> np.ndarray:
        # columns of the similarity are rows of its transpose: slicing CSR columns scans it all
        return history_anchor(self._input(self.seen_[row]), self._by_target[items].T, items)


def rp3beta_similarity(
    X: sp.csr_matrix, *, alpha: float, beta: float, neighbours: int
) -> sp.csr_matrix:
    """RP3beta's item-item matrix (products x products, float32) from customers x products ``X``.

    ``X`` holds non-negative weights; see the module docstring for the formula.
    """
    X = sp.csr_matrix(X, dtype=np.float64)
    n_items = X.shape[1]
    # customer -> product: each customer's row sums to 1
    p_ui = _l1_rows(X)
    # product -> customer: each product's buyers, equally likely (as in the reference)
    chosen = sp.csr_matrix(X.T, copy=True)
    chosen.data[:] = 1.0
    p_iu = _l1_rows(chosen)
    if alpha != 1.0:
        p_ui.data **= alpha
        p_iu.data **= alpha
    popularity = np.asarray(chosen.sum(axis=1)).ravel()
    penalty = np.zeros(n_items)
    has = popularity > 0
    penalty[has] = popularity[has] ** -float(beta)
    keep = min(int(neighbours), max(n_items - 1, 1))
    block = max(1, _BLOCK_CELLS // max(n_items, 1))
    data, indices, indptr = [], [], [0]
    p_ui = p_ui.tocsc().tocsr()  # sorted indices for a fast product
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        dense = (p_iu[start:stop] @ p_ui).toarray()
        dense *= penalty[None, :]
        dense[np.arange(stop - start), np.arange(start, stop)] = 0.0
        if keep < n_items:
            top = np.argpartition(-dense, keep - 1, axis=1)[:, :keep]
        else:
            top = np.tile(np.arange(n_items), (stop - start, 1))
        vals = np.take_along_axis(dense, top, axis=1)
        for r in range(stop - start):
            nz = vals[r] > 0
            cols, v = top[r][nz], vals[r][nz]
            order = np.argsort(cols)
            indices.append(cols[order])
            data.append(v[order])
            indptr.append(indptr[-1] + len(cols))
    W = sp.csr_matrix(
        (
            np.concatenate(data) if data else np.array([], np.float64),
            np.concatenate(indices) if indices else np.array([], np.int64),
            np.asarray(indptr),
        ),
        shape=(n_items, n_items),
    )
    return _l1_rows(W).astype(np.float32)


def _l1_rows(M: sp.csr_matrix) -> sp.csr_matrix:
    """``M`` with each row divided by its sum (rows summing to 0 stay 0)."""
    M = sp.csr_matrix(M, dtype=np.float64, copy=True)
    sums = np.asarray(M.sum(axis=1)).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    M.data *= np.repeat(scale, np.diff(M.indptr))
    return M
