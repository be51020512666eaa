"""Train/test splits of interactions for offline evaluation of recommenders.

Three ways to hold out what a model must predict:

* :func:`stratified_split` - a random share of each customer's products (Microsoft
  Recommenders' ``python_stratified_split``), for data without time;
* :func:`temporal_split` - one global time cut, everything after it is the future to predict;
* :func:`leave_last_out` - each customer's latest product(s), the usual next-item protocol.

The random and leave-last-out splits work on distinct (customer, product) *pairs*: every row
of a pair lands on the same side, so a product bought twice is never both "known" and "to be
predicted". A temporal cut splits rows, so a repeat purchase after the cut is in test; the
metrics (:func:`segmint.recommend._metrics.relevant_items`) count as relevant only test
products the customer had not already bought in train.

Every split is a pure function of its input (and seed): the input is never modified and the
result does not depend on the order of its rows.
"""

from __future__ import annotations

import numbers
from typing import Literal

import numpy as np
import pandas as pd

from segmint.errors import ConfigError, SchemaError
from segmint.recommend._interactions import ITEM, TS, USER, Interactions

SplitMethod = Literal["stratified", "temporal", "leave_last_out"]
SPLITS: tuple[str, ...] = ("stratified", "temporal", "leave_last_out")

#: the test share each method uses when none is given (leave_last_out holds out ``n`` products)
_DEFAULT_TEST_SIZE = {"stratified": 0.25, "temporal": 0.2}


def stratified_split(
    inter: Interactions,
    test_size: float = 0.25,
    *,
    seed: int = 0,
    min_interactions: int = 2,
) -> tuple[Interactions, Interactions]:
    """Hold out a random share of each customer's distinct products.

    Each customer's distinct products are shuffled with a generator seeded by ``seed`` and
    ``round(test_size * n)`` of them (at least 1, at most ``n - 1``) go to test with all their
    rows. Customers with fewer than ``min_interactions`` distinct products stay wholly in
    train: there is nothing to both learn from and check.

    Parameters
    ----------
    inter : Interactions
        The interactions to split, of ``n_rows`` rows.
    test_size : float
        Share of each customer's distinct products to hold out, in (0, 1).
    seed : int
        Seed of the shuffle; the same seed gives the same split.
    min_interactions : int
        Distinct products a customer needs, >= 2, to have any held out.

    Returns
    -------
    train, test : Interactions
        The rows of ``inter`` in two parts (``n_train + n_test = n_rows``) that share no
        (customer, product) pair.

    Examples
    --------
    >>> df = pd.DataFrame({"customer_id": ["a"] * 4 + ["b"], "product_id": list("wxyzw")})
    >>> train, test = stratified_split(Interactions.from_frame(df), 0.25, seed=1)
    >>> len(train), len(test), sorted(test.frame["customer_id"])
    (4, 1, ['a'])
    """
    _check_share(test_size)
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
        raise TypeError(f"seed={seed!r} should be an int")
    if min_interactions < 2:
        raise ConfigError(
            f"min_interactions={min_interactions} should be >= 2: a customer needs a product "
            "in train and one in test"
        )
    pair_of_row, pair_user = _pairs(inter.frame)
    counts = np.bincount(pair_user, minlength=int(pair_user.max(initial=-1)) + 1)
    # pairs come sorted by (customer, product), so the draw does not depend on row order
    draw = np.random.default_rng(seed).integers(0, 2**32, size=len(pair_user), dtype=np.int64)
    order = np.argsort((pair_user << 32) | draw, kind="stable")
    position = np.empty(len(pair_user), dtype=np.int64)
    position[order] = np.arange(len(pair_user)) - _starts(counts)[pair_user[order]]
    wanted = np.floor(test_size * counts + 0.5).astype(np.int64)  # round half up
    n_test = np.where(counts >= min_interactions, np.clip(wanted, 1, counts - 1), 0)
    return _by_pair(inter, pair_of_row, position < n_test[pair_user])


def temporal_split(
    inter: Interactions,
    test_size: float = 0.2,
    *,
    cutoff: str | pd.Timestamp | None = None,
) -> tuple[Interactions, Interactions]:
    """Cut all interactions at one moment: before it is train, from it on is test.

    Parameters
    ----------
    inter : Interactions
        The interactions to split; they need a ``ts``.
    test_size : float
        Share of rows to hold out, in (0, 1), when ``cutoff`` is not given: the cut is the
        ``1 - test_size`` quantile of ``ts``.
    cutoff : str or Timestamp, optional
        The moment of the cut (naive times are read as UTC).

    Returns
    -------
    train, test : Interactions
        Rows with ``ts < cutoff`` and rows with ``ts >= cutoff``. A customer's repeat of a
        product after the cut is kept in test; metrics leave it out of what is relevant.

    Raises
    ------
    SchemaError
        When ``inter`` has no ``ts`` (or some rows lack one).

    Examples
    --------
    >>> df = pd.DataFrame({"customer_id": list("aab"), "product_id": list("xyx"),
    ...                    "ts": ["2024-01-01", "2024-01-03", "2024-01-02"]})
    >>> train, test = temporal_split(Interactions.from_frame(df, ts="ts"), cutoff="2024-01-02")
    >>> train.frame["product_id"].tolist(), test.frame["product_id"].tolist()
    (['x'], ['y', 'x'])
    """
    ts = _times(inter, "temporal_split")
    if cutoff is None:
        _check_share(test_size)
        cut = pd.Timestamp(ts.quantile(1.0 - test_size))
    else:
        cut = pd.Timestamp(cutoff)
        cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")
    test = (ts >= cut).to_numpy()
    return inter.subset(~test), inter.subset(test)


def leave_last_out(inter: Interactions, *, n: int = 1) -> tuple[Interactions, Interactions]:
    """Hold out each customer's ``n`` most recent distinct products.

    A product's time is its latest interaction; among products of equal time the one with
    the greater ``product_id`` counts as later, so the split is deterministic. Customers with
    ``n`` distinct products or fewer stay wholly in train.

    Parameters
    ----------
    inter : Interactions
        The interactions to split; they need a ``ts``.
    n : int
        Distinct products to hold out per customer, >= 1.

    Returns
    -------
    train, test : Interactions
        The rows of ``inter`` in two parts that share no (customer, product) pair.

    Raises
    ------
    SchemaError
        When ``inter`` has no ``ts`` (or some rows lack one).

    Examples
    --------
    >>> df = pd.DataFrame({"customer_id": list("aaab"), "product_id": list("xyxz"),
    ...                    "ts": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-01"]})
    >>> train, test = leave_last_out(Interactions.from_frame(df, ts="ts"))
    >>> train.frame["product_id"].tolist(), test.frame["product_id"].tolist()
    (['y', 'z'], ['x', 'x'])
    """
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"leave_last_out: n={n!r} should be an int >= 1")
    ts = _times(inter, "leave_last_out")
    pair_of_row, pair_user = _pairs(inter.frame)
    last = ts.groupby(pair_of_row).max().to_numpy(dtype="datetime64[ns]")
    counts = np.bincount(pair_user, minlength=int(pair_user.max(initial=-1)) + 1)
    # pairs come sorted by (customer, product) and both sorts are stable, so this orders each
    # customer's pairs by time, then product id
    by_time = np.argsort(last, kind="stable")
    order = by_time[np.argsort(pair_user[by_time], kind="stable")]
    from_end = np.empty(len(pair_user), dtype=np.int64)
    ends = _starts(counts) + counts
    from_end[order] = ends[pair_user[order]] - 1 - np.arange(len(pair_user))
    held = (from_end < n) & (counts[pair_user] > n)
    return _by_pair(inter, pair_of_row, held)


def split(
    inter: Interactions,
    method: str,
    *,
    test_size: float | None = None,
    seed: int = 0,
    n: int = 1,
) -> tuple[Interactions, Interactions]:
    """Split ``inter`` by ``method``: one of :data:`SPLITS`.

    ``test_size`` defaults to 0.25 for ``"stratified"`` and 0.2 for ``"temporal"``;
    ``"leave_last_out"`` holds out ``n`` products per customer and ignores ``test_size``
    (so one call can try every method).
    ``seed`` matters only to ``"stratified"`` (the other two are deterministic).

    Examples
    --------
    >>> df = pd.DataFrame({"customer_id": ["a"] * 4, "product_id": list("wxyz")})
    >>> train, test = split(Interactions.from_frame(df), "stratified", test_size=0.5, seed=3)
    >>> len(train), len(test)
    (2, 2)
    """
    if method not in SPLITS:
        raise ConfigError(f"split method={method!r} should be one of {SPLITS}")
    if method == "leave_last_out":
        return leave_last_out(inter, n=n)
    share = _DEFAULT_TEST_SIZE[method] if test_size is None else test_size
    if method == "temporal":
        return temporal_split(inter, share)
    return stratified_split(inter, share, seed=seed)


def validation_split(
    train: Interactions,
    method: str,
    *,
    test_size: float | None = None,
    seed: int = 0,
    n: int = 1,
) -> tuple[Interactions, Interactions]:
    """Carve a validation set out of a training set, for tuning.

    The same split as :func:`split`, applied to ``train`` only, so hyperparameters are
    chosen without ever seeing the test set. Returns ``(fit, validation)``.
    """
    return split(train, method, test_size=test_size, seed=seed, n=n)


# helpers ----------------------------------------------------------------------------------


def _check_share(test_size: float) -> None:
    if not isinstance(test_size, numbers.Real) or not 0.0 < float(test_size) < 1.0:
        raise ConfigError(f"test_size={test_size!r} should be a number in (0, 1)")


def _times(inter: Interactions, what: str) -> pd.Series:
    if not inter.has_time:
        present = TS in inter.frame.columns
        why = "some rows have no time" if present else f"no such column in {list(inter.frame)}"
        raise SchemaError(f"{what} needs column {TS!r} on every interaction: {why}")
    return inter.frame[TS]


def _pairs(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (customer, product) pairs, sorted by customer then product id.

    Returns each row's pair index and each pair's customer code (codes follow sorted ids).
    """
    users = pd.factorize(frame[USER], sort=True)[0].astype(np.int64)
    items, item_ids = pd.factorize(frame[ITEM], sort=True)
    n_items = max(len(item_ids), 1)
    # np.unique with an inverse sorts (fast); without one NumPy 2.3+ hashes, far slower here
    keys, pair_of_row = np.unique(users * n_items + items, return_inverse=True)
    return pair_of_row.ravel(), keys // n_items


def _starts(counts: np.ndarray) -> np.ndarray:
    """Offset of each group's first element when groups of ``counts`` are laid end to end."""
    return np.cumsum(counts) - counts


def _by_pair(
    inter: Interactions, pair_of_row: np.ndarray, pair_in_test: np.ndarray
) -> tuple[Interactions, Interactions]:
    test = pair_in_test[pair_of_row]
    return inter.subset(~test), inter.subset(test)
