"""Offline ranking metrics of recommendations against held-out interactions.

What counts as a hit: a recommended product the customer went on to interact with in test
(with positive combined weight, so a purchase returned in full does not count) and had not
already in train. A product already seen in train is what ``exclude_seen`` keeps out of
recommendations, so counting it would punish every model for obeying it.

Definitions, for one customer with relevant set ``R`` and recommendations ranked ``1..k``
(only ranks ``<= k`` are read; ``hit_i`` is 1 when the product at rank ``i`` is in ``R``):

* ``precision@k = hits / k`` (fewer than ``k`` recommendations still divide by ``k``);
* ``recall@k = hits / |R|``;
* ``ndcg@k = DCG / IDCG`` with ``DCG = sum_i hit_i / log2(i + 1)`` and ``IDCG`` the same sum
  over ranks ``1..min(|R|, k)`` (binary relevance, as Microsoft Recommenders' ``ndcg_at_k``);
* ``map@k``: mean of ``AP@k = sum_i hit_i * precision@i / |R|``, the field's definition
  (Microsoft Recommenders' ``map_at_k``, the published tables segmint compares with);
* ``map_capped@k``: the same sum divided by ``min(|R|, k)`` instead, so a perfect list scores
  1 however many products are relevant (some libraries call this MAP; it reads higher);
* ``hit_rate@k``: share of customers with at least one hit.

These are averaged over the *evaluated* customers: those with at least one relevant product
who are known in train (a collaborative model cannot recommend to a stranger; they are
counted apart as ``cold_users``). An evaluated customer without recommendations scores 0.
Over all their recommendations (ranks ``<= k``): ``coverage`` is the share of the catalogue
(train's products, or ``n_items``) recommended to someone, and ``novelty`` the mean of
``-log2(share of training customers with a positive interaction with the product)``, a product
no training customer had counting as ``log2(n_train_customers)``, as novel as one had by one.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from segmint.errors import ConfigError, SchemaError
from segmint.recommend._interactions import ITEM, USER, WEIGHT, Interactions

RANK = "rank"


def relevant_items(train: Interactions, test: Interactions) -> pd.DataFrame:
    """The (customer, product) pairs a recommender is expected to find.

    Parameters
    ----------
    train, test : Interactions
        The two sides of a split.

    Returns
    -------
    DataFrame of shape (n_relevant, 2)
        Columns ``customer_id, product_id``, sorted: the test pairs whose weights sum to more
        than zero and that are not among the customer's positive training pairs. Customers
        without any are absent.

    Examples
    --------
    >>> train = Interactions.from_frame(pd.DataFrame({"customer_id": ["a"], "product_id": ["x"]}))
    >>> test = Interactions.from_frame(
    ...     pd.DataFrame({"customer_id": ["a", "a", "b"], "product_id": ["x", "y", "y"]}))
    >>> relevant_items(train, test).values.tolist()
    [['a', 'y'], ['b', 'y']]
    """
    coded = _Coded(train, test)
    keys = coded.relevant_keys()
    out = pd.DataFrame(
        {
            USER: coded.user_ids[keys // coded.n_items],
            ITEM: coded.item_ids[keys % coded.n_items],
        }
    )
    return out.sort_values([USER, ITEM], ignore_index=True)


def ranking_metrics(
    recs: pd.DataFrame,
    train: Interactions,
    test: Interactions,
    *,
    k: int = 10,
    n_items: int | None = None,
) -> dict[str, float]:
    """Accuracy and beyond-accuracy metrics of ranked recommendations.

    Parameters
    ----------
    recs : DataFrame
        At least ``customer_id, product_id, rank`` (1 is best), as a recommender returns.
    train, test : Interactions
        The split the recommender was fitted on (``train``) and is judged by (``test``).
    k : int
        Cut-off: only ranks ``<= k`` count.
    n_items : int, optional
        Catalogue size for ``coverage``, which is then the number of distinct products
        recommended over it. By default the catalogue is the products in ``train`` and
        ``coverage`` the share of them recommended to someone.

    Returns
    -------
    dict
        ``precision@k, recall@k, ndcg@k, map@k, map_capped@k, hit_rate@k`` (means over
        evaluated customers,
        NaN when there are none), ``coverage``, ``novelty`` (NaN without recommendations),
        ``users`` (evaluated customers) and ``cold_users`` (customers with relevant products
        who are unknown in train). See the module docstring for the definitions.

    Examples
    --------
    Customer ``a`` has relevant ``{p, q}``; ``b`` (relevant ``{q}``) got no recommendations:

    >>> train = Interactions.from_frame(
    ...     pd.DataFrame({"customer_id": ["a", "b", "b"], "product_id": ["z", "z", "p"]}))
    >>> test = Interactions.from_frame(
    ...     pd.DataFrame({"customer_id": ["a", "a", "b"], "product_id": ["p", "q", "q"]}))
    >>> recs = pd.DataFrame({"customer_id": ["a", "a"], "product_id": ["q", "z"], "rank": [1, 2]})
    >>> m = ranking_metrics(recs, train, test, k=2)
    >>> m["precision@2"], m["recall@2"], m["hit_rate@2"], m["map@2"], m["users"]
    (0.25, 0.25, 0.5, 0.25, 2)
    >>> m["map_capped@2"]
    0.25
    >>> round(m["ndcg@2"], 4), m["coverage"], m["cold_users"]
    (0.3066, 0.5, 0)
    """
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"k={k!r} should be an int >= 1")
    k = int(k)
    missing = [c for c in (USER, ITEM, RANK) if c not in recs.columns]
    if missing:
        raise SchemaError(f"ranking_metrics: recs lack column(s) {missing}; got {list(recs)}")
    if n_items is not None and n_items < 1:
        raise ConfigError(f"n_items={n_items} should be >= 1")

    coded = _Coded(train, test, recs)
    relevant = coded.relevant_keys()
    rel_user = relevant // coded.n_items
    known = coded.in_train[rel_user]
    cold_users = len(_unique(rel_user[~known]))
    relevant, rel_user = relevant[known], rel_user[known]
    n_relevant = np.bincount(rel_user, minlength=coded.n_users)
    evaluated = np.flatnonzero(n_relevant)

    user, item, rank = coded.top_k(k, n_relevant > 0)
    hit = _member(user * coded.n_items + item, relevant).astype(np.float64)
    hits_so_far = _running_total(hit, user)

    def per_user(values: np.ndarray) -> np.ndarray:
        return np.bincount(user, weights=values, minlength=coded.n_users)[evaluated]

    hits = per_user(hit)
    n_rel = n_relevant[evaluated]
    ap = per_user(hit * hits_so_far / rank)
    ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))])
    return {
        f"precision@{k}": _mean(hits / k),
        f"recall@{k}": _mean(hits / n_rel),
        f"ndcg@{k}": _mean(per_user(hit / np.log2(rank + 1.0)) / ideal[np.minimum(n_rel, k)]),
        f"map@{k}": _mean(ap / n_rel),
        f"map_capped@{k}": _mean(ap / np.minimum(n_rel, k)),
        f"hit_rate@{k}": _mean(hits > 0),
        "coverage": coded.coverage(item, n_items),
        "novelty": coded.novelty(item),
        "users": len(evaluated),
        "cold_users": cold_users,
    }


# helpers ----------------------------------------------------------------------------------


class _Coded:
    """Train, test and recommendations with ids replaced by shared integer codes.

    Strings are hashed once here; every join after that is on int64 pair keys
    ``user * n_items + item``, which keeps 100k customers x 10 recommendations near a second.
    """

    def __init__(
        self, train: Interactions, test: Interactions, recs: pd.DataFrame | None = None
    ) -> None:
        frames = [train.frame, test.frame] + ([] if recs is None else [recs])
        users, self.user_ids = _factorize([f[USER] for f in frames])
        items, self.item_ids = _factorize([f[ITEM] for f in frames])
        self.n_users, self.n_items = len(self.user_ids), max(len(self.item_ids), 1)
        self._train = _positive_keys(users[0], items[0], train.frame[WEIGHT], self.n_items)
        self._test = _positive_keys(users[1], items[1], test.frame[WEIGHT], self.n_items)
        self.in_train = np.zeros(self.n_users, dtype=bool)
        self.in_train[users[0]] = True
        self._catalogue = np.zeros(self.n_items, dtype=bool)
        self._catalogue[items[0]] = True
        self._recs = None if recs is None else (users[2], items[2], recs[RANK])

    def relevant_keys(self) -> np.ndarray:
        """Sorted keys of positive test pairs that are not positive training pairs."""
        return self._test[~_member(self._test, self._train)]

    def top_k(self, k: int, evaluated: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Customer, product and rank of recommendations at ranks 1..k of evaluated customers.

        Sorted by (customer, rank); a product recommended twice to one customer counts once,
        at its best rank.
        """
        if self._recs is None:
            raise TypeError("no recommendations were given")
        user, item, rank_col = self._recs
        rank = pd.to_numeric(rank_col, errors="raise").to_numpy(dtype=np.float64)
        keep = (rank >= 1) & (rank <= k) & evaluated[user]
        if not np.array_equal(rank[keep], np.floor(rank[keep])):
            bad = rank[keep][rank[keep] != np.floor(rank[keep])][0]
            raise SchemaError(f"ranking_metrics: rank {bad} should be a whole number (1 = best)")
        pair = user[keep] * self.n_items + item[keep]
        # one int64 sort by (pair, rank) finds each pair's best rank; ranks are 1..k
        keys = _unique(pair * (k + 1) + rank[keep].astype(np.int64))
        pair, best = keys // (k + 1), keys % (k + 1)
        first = _run_starts(pair)
        pair, best = pair[first], best[first]
        user, item = pair // self.n_items, pair % self.n_items
        order = np.argsort(user * (k + 1) + best, kind="stable")
        return user[order], item[order], best[order].astype(np.float64)

    def coverage(self, item: np.ndarray, n_items: int | None) -> float:
        """Distinct recommended products over ``n_items``, or the share of train's products."""
        distinct = _unique(item)
        if n_items is not None:
            return len(distinct) / n_items
        return int(self._catalogue[distinct].sum()) / max(int(self._catalogue.sum()), 1)

    def novelty(self, item: np.ndarray) -> float:
        """Mean ``-log2`` of the share of training customers who had each product."""
        if len(item) == 0:
            return float("nan")
        n_train_users = max(int(self.in_train.sum()), 1)
        buyers = np.bincount(self._train % self.n_items, minlength=self.n_items)[item]
        # a product no training customer had is as novel as one only a single customer had
        return float(np.mean(np.log2(n_train_users / np.maximum(buyers, 1))))


def _factorize(columns: list[pd.Series]) -> tuple[list[np.ndarray], np.ndarray]:
    """Integer codes of several id columns in one code space, and the ids they stand for."""
    # Interactions already hold str ids; a recommendations frame may not
    values = pd.concat(
        [c if c.dtype == object else c.astype(str) for c in columns], ignore_index=True
    )
    codes, uniques = pd.factorize(values)
    codes = codes.astype(np.int64)
    bounds = np.cumsum([len(c) for c in columns])[:-1]
    return list(np.split(codes, bounds)), np.asarray(uniques, dtype=object)


def _positive_keys(
    users: np.ndarray, items: np.ndarray, weight: pd.Series, n_items: int
) -> np.ndarray:
    """Sorted keys of the pairs whose weights sum to more than zero.

    A pair's weight is positive under every ``repeat`` exactly when its sum is, which is
    also when :meth:`Interactions.matrix` stores it.
    """
    keys, inverse = np.unique(users * n_items + items, return_inverse=True)
    total = np.bincount(inverse.ravel(), weights=weight.to_numpy(dtype=np.float64))
    return keys[total > 0]


def _running_total(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` restarting at each group (``groups`` sorted)."""
    running = np.cumsum(values)
    first = np.flatnonzero(_run_starts(groups))
    before = running[first] - values[first]
    return running - np.repeat(before, np.diff(np.r_[first, len(values)]))


def _run_starts(values: np.ndarray) -> np.ndarray:
    """Whether each element starts a run of equal values."""
    starts = np.ones(len(values), dtype=bool)
    starts[1:] = values[1:] != values[:-1]
    return starts


def _unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (NumPy 2.3+'s hashing ``np.unique`` is ~40x slower on int64)."""
    ordered = np.sort(values)
    return ordered[_run_starts(ordered)]


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Whether each value is in ``sorted_set`` (sorted, distinct), by binary search."""
    if len(sorted_set) == 0:
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[at] == values


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")
