"""Vectorized helpers: ids as fixed-width strings, categorical draws, Arrow conversions.

Nothing here loops in Python over rows; every helper works on whole numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import ArrayLike

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = 0x9E3779B97F4A7C15


def scramble(values: np.ndarray, salt: int) -> np.ndarray:
    """A bijection of the 64-bit integers (the splitmix64 finalizer), salted.

    Distinct inputs give distinct outputs, so ids built from it are unique and look random.
    """
    z = values.astype(np.uint64) + np.uint64((salt * _GOLDEN) % 2**64)
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def _from_matrix(mat: np.ndarray) -> pa.StringArray:
    """Rows of an ``(n, width)`` uint8 matrix of ASCII codes as an Arrow string array."""
    n, width = mat.shape
    data = pa.py_buffer(np.ascontiguousarray(mat).tobytes())
    offsets = pa.py_buffer((np.arange(n + 1, dtype=np.int32) * width).tobytes())
    return pa.StringArray.from_buffers(n, offsets, data)


def _with_prefix(prefix: str, body: np.ndarray) -> pa.StringArray:
    pre = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    head = np.broadcast_to(pre, (body.shape[0], pre.size))
    return _from_matrix(np.concatenate([head, body], axis=1))


def hex_ids(prefix: str, values: np.ndarray) -> pa.StringArray:
    """``prefix`` followed by the 16 hex digits of each 64-bit value."""
    v = np.asarray(values, dtype=np.uint64)
    shifts = np.arange(60, -4, -4, dtype=np.uint64)
    nibbles = (v[:, None] >> shifts) & np.uint64(15)
    return _with_prefix(prefix, _HEX[nibbles.astype(np.intp)])


def dec_ids(prefix: str, values: np.ndarray, width: int) -> pa.StringArray:
    """``prefix`` followed by each value as ``width`` zero-padded decimal digits."""
    v = np.asarray(values, dtype=np.int64)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = (v[:, None] // powers) % 10
    return _with_prefix(prefix, _DIGITS[digits.astype(np.intp)])


def strings(values: Sequence[str]) -> pa.StringArray:
    """A small vocabulary as an Arrow array, for :func:`take`."""
    return pa.array(list(values), type=pa.string())


def take(vocab: pa.Array, index: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """``vocab[index]``; rows where ``missing`` is true (or ``index`` < 0) become null."""
    index = np.asarray(index, dtype=np.int64)
    mask = index < 0 if missing is None else (missing | (index < 0))
    if mask.any():
        return pc.take(vocab, pa.array(np.where(mask, 0, index), mask=mask))
    return pc.take(vocab, pa.array(index))


def null_where(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    """``arr`` with the rows where ``mask`` is true set to null."""
    if not mask.any():
        return arr
    return pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)


def replace(arr: pa.Array, rows: np.ndarray, values: pa.Array | Sequence[object]) -> pa.Array:
    """``arr`` with ``arr[rows] = values`` (``rows`` distinct, in any order)."""
    if len(rows) == 0:
        return arr
    mask = np.zeros(len(arr), dtype=bool)
    mask[rows] = True
    order = np.argsort(rows, kind="stable")
    vals = values if isinstance(values, pa.Array) else pa.array(list(values), type=arr.type)
    return pc.replace_with_mask(arr, pa.array(mask), vals.take(pa.array(order)))


def timestamps(seconds: np.ndarray) -> pa.Array:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SS`` strings (UTC)."""
    ts = pa.array(np.asarray(seconds, dtype=np.int64), type=pa.timestamp("s"))
    return ts.cast(pa.string())


def cumulative(weights: ArrayLike) -> np.ndarray:
    """Row-wise cumulative probabilities of a 2-D weight table (last column exactly 1)."""
    w = np.asarray(weights, dtype=np.float64)
    cum = np.cumsum(w / w.sum(axis=-1, keepdims=True), axis=-1)
    cum[..., -1] = 1.0
    return cum


def categorical(
    rng: np.random.Generator, cum: np.ndarray, rows: np.ndarray | None = None
) -> np.ndarray:
    """One draw per row: from ``cum`` (1-D) or from ``cum[rows[i]]`` (2-D table)."""
    if cum.ndim == 1:
        n = 0 if rows is None else len(rows)
        return np.searchsorted(cum, rng.random(n), side="right").clip(0, len(cum) - 1)
    assert rows is not None
    u = rng.random(len(rows))
    table = cum[rows]
    return (u[:, None] >= table).sum(axis=1).clip(0, cum.shape[1] - 1)


def draw_in_ranges(
    rng: np.random.Generator, cum: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """A weighted draw from each item range ``[lo[i], hi[i])``.

    ``cum`` holds the running total of item weights with a leading 0 (length items + 1).
    """
    u = cum[lo] + rng.random(len(lo)) * (cum[hi] - cum[lo])
    idx = np.searchsorted(cum, u, side="right") - 1
    return np.clip(idx, lo, hi - 1)


def ranks(counts: np.ndarray) -> np.ndarray:
    """For groups of the given sizes laid out one after another: each item's rank in its group."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(starts, counts)
