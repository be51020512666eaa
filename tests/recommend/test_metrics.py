"""Ranking metrics: hand-computed cases and a slow pure-Python reference on random data."""

from __future__ import annotations

import doctest
import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from segmint.errors import ConfigError, SchemaError
from segmint.recommend import _metrics
from segmint.recommend._interactions import Interactions
from segmint.recommend._metrics import ranking_metrics, relevant_items
from segmint.recommend._split import stratified_split


def _inter(pairs: list[tuple[str, str]] | list[tuple[str, str, float]]) -> Interactions:
    rows = [p if len(p) == 3 else (*p, 1.0) for p in pairs]
    return Interactions(pd.DataFrame(rows, columns=["customer_id", "product_id", "weight"]))


def _recs(lists: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(c, p, 1.0 / r, r) for c, ps in lists.items() for r, p in enumerate(ps, start=1)]
    out = pd.DataFrame(rows, columns=["customer_id", "product_id", "score", "rank"])
    out["reason"], out["reason_product_id"] = "test", None
    return out


# hand-computed -----------------------------------------------------------------------------


def test_one_customer_by_hand() -> None:
    # relevant {a, b, c}; recommended a, x, b: hits at ranks 1 and 3
    train = _inter([("u", "seen"), ("v", "x")])
    test = _inter([("u", "a"), ("u", "b"), ("u", "c")])
    m = ranking_metrics(_recs({"u": ["a", "x", "b"]}), train, test, k=3)
    assert m["precision@3"] == pytest.approx(2 / 3)
    assert m["recall@3"] == pytest.approx(2 / 3)
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@3"] == pytest.approx(dcg / idcg)
    assert m["map@3"] == m["map_capped@3"] == pytest.approx((1 / 1 + 2 / 3) / 3)
    assert m["hit_rate@3"] == 1.0
    assert (m["users"], m["cold_users"]) == (1, 0)
    # train's catalogue is {seen, x}: of it only x was recommended
    assert m["coverage"] == 0.5
    # with a catalogue size given, every distinct recommended product counts
    assert ranking_metrics(_recs({"u": ["a", "x"]}), train, test, k=3, n_items=10)[
        "coverage"
    ] == pytest.approx(0.2)
    # 2 training customers; x had by 1 of them -> log2(2); a and b unseen -> log2(2) as well
    assert m["novelty"] == pytest.approx(1.0)


def test_ndcg_ideal_is_capped_at_k_and_map_divides_by_all_relevant() -> None:
    """Regression (issue 22, defect 5): map@k divided by min(|R|, k), not the field's |R|,
    so figures read about twice the published ones; that variant is map_capped@k now."""
    # 5 relevant, k=2, both recommendations hit: a perfect list
    train = _inter([("u", "z")])
    test = _inter([("u", p) for p in "abcde"])
    m = ranking_metrics(_recs({"u": ["b", "d"]}), train, test, k=2)
    assert m["ndcg@2"] == pytest.approx(1.0)
    assert m["map@2"] == pytest.approx((1 / 1 + 2 / 2) / 5)
    assert m["map_capped@2"] == pytest.approx(1.0)
    assert m["precision@2"] == 1.0
    assert m["recall@2"] == pytest.approx(2 / 5)


def test_only_ranks_up_to_k_count() -> None:
    train = _inter([("u", "z")])
    test = _inter([("u", "a")])
    recs = _recs({"u": ["x", "y", "a"]})
    assert ranking_metrics(recs, train, test, k=2)["hit_rate@2"] == 0.0
    m = ranking_metrics(recs, train, test, k=3)
    assert m["hit_rate@3"] == 1.0
    assert m["ndcg@3"] == pytest.approx(1 / math.log2(4))
    assert m["map@3"] == pytest.approx(1 / 3)


def test_customer_without_recommendations_counts_as_zero() -> None:
    train = _inter([("u", "z"), ("w", "z")])
    test = _inter([("u", "a"), ("w", "a")])
    m = ranking_metrics(_recs({"u": ["a"]}), train, test, k=1)
    assert m["users"] == 2
    assert m["precision@1"] == m["recall@1"] == m["ndcg@1"] == m["map@1"] == 0.5
    assert m["hit_rate@1"] == 0.5


def test_customers_unknown_in_train_are_counted_apart() -> None:
    train = _inter([("u", "z"), ("v", "a")])
    test = _inter([("u", "a"), ("new", "z"), ("new2", "b"), ("new2", "a")])
    recs = _recs({"u": ["a"], "new": ["z"]})  # recs for a stranger are not evaluated
    m = ranking_metrics(recs, train, test, k=1)
    assert (m["users"], m["cold_users"]) == (1, 2)
    assert m["precision@1"] == 1.0
    assert m["coverage"] == 0.5  # a, recommended to u, of train's {a, z}; new's z not read


def test_recommendations_of_customers_without_relevant_items_are_ignored() -> None:
    train = _inter([("u", "z"), ("w", "z"), ("v", "a")])
    test = _inter([("u", "a"), ("w", "z")])  # w only repeats what it had
    m = ranking_metrics(_recs({"u": ["a"], "w": ["z"]}), train, test, k=2)
    assert m["users"] == 1
    assert m["coverage"] == 0.5  # only u's "a" is read, of train's {a, z}


def test_a_product_recommended_twice_counts_once_at_its_best_rank() -> None:
    train = _inter([("u", "z")])
    test = _inter([("u", "a"), ("u", "b")])
    recs = _recs({"u": ["x", "a", "a"]})
    m = ranking_metrics(recs, train, test, k=3)
    assert m["precision@3"] == pytest.approx(1 / 3)
    assert m["ndcg@3"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))


def test_novelty_uses_share_of_training_customers() -> None:
    # 4 training customers: p had by all 4 (novelty 0), q by 1 (2), r by none (2 = the max)
    train = _inter([(c, "p") for c in "abcd"] + [("a", "q")])
    test = _inter([("a", "t")])
    m = ranking_metrics(_recs({"a": ["p", "q", "r"]}), train, test, k=3)
    assert m["novelty"] == pytest.approx((0 + 2 + 2) / 3)


def test_no_evaluated_customers_gives_nan_not_an_error() -> None:
    train = _inter([("u", "z")])
    test = _inter([("u", "z")])
    m = ranking_metrics(_recs({"u": ["a"]}), train, test, k=5)
    assert m["users"] == 0
    assert math.isnan(m["precision@5"]) and math.isnan(m["novelty"])
    assert m["coverage"] == 0.0


def test_relevant_items_leave_out_seen_and_fully_returned_products() -> None:
    train = _inter([("u", "seen", 1.0), ("u", "returned", 1.0), ("u", "returned", -1.0)])
    test = _inter(
        [
            ("u", "seen", 1.0),  # seen in train: excluded
            ("u", "returned", 2.0),  # netted to zero in train, so not excluded as seen
            ("u", "back", 1.0),
            ("u", "back", -1.0),  # bought and returned in test: not relevant
            ("u", "new", 2.0),
            ("w", "new", 1.0),
        ]
    )
    got = relevant_items(train, test)
    assert list(got.columns) == ["customer_id", "product_id"]
    assert got.values.tolist() == [["u", "new"], ["u", "returned"], ["w", "new"]]


# errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, -3, 2.5, True])
def test_k_must_be_a_positive_int(k: object) -> None:
    with pytest.raises(ConfigError, match=f"k={k!r}"):
        ranking_metrics(_recs({}), _inter([("u", "a")]), _inter([("u", "b")]), k=k)  # type: ignore[arg-type]


def test_recs_without_rank_name_the_missing_column() -> None:
    recs = pd.DataFrame({"customer_id": ["u"], "product_id": ["a"]})
    with pytest.raises(SchemaError, match=r"\['rank'\]"):
        ranking_metrics(recs, _inter([("u", "a")]), _inter([("u", "b")]))


def test_fractional_rank_is_rejected() -> None:
    recs = pd.DataFrame({"customer_id": ["u"], "product_id": ["b"], "rank": [1.5]})
    with pytest.raises(SchemaError, match=r"rank 1\.5"):
        ranking_metrics(recs, _inter([("u", "a")]), _inter([("u", "b")]))


def test_inputs_are_not_mutated() -> None:
    train, test = _inter([("u", "a"), ("w", "b")]), _inter([("u", "b"), ("w", "a")])
    recs = _recs({"u": ["b", "a"], "w": ["a"]})
    before = (train.frame.copy(), test.frame.copy(), recs.copy())
    ranking_metrics(recs, train, test, k=2)
    relevant_items(train, test)
    for frame, copy in zip((train.frame, test.frame, recs), before, strict=True):
        pd.testing.assert_frame_equal(frame, copy)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(_metrics, raise_on_error=False)
    assert result.attempted > 0
    assert result.failed == 0


# two routes to the same answer -------------------------------------------------------------


def _reference(
    recs: pd.DataFrame, train: Interactions, test: Interactions, k: int
) -> dict[str, float]:
    """The same metrics, one customer at a time in plain Python."""

    def positive(inter: Interactions) -> dict[str, set[str]]:
        total: dict[tuple[str, str], float] = defaultdict(float)
        for c, p, w in inter.frame[["customer_id", "product_id", "weight"]].itertuples(index=False):
            total[(c, p)] += w
        out: dict[str, set[str]] = defaultdict(set)
        for (c, p), w in total.items():
            if w > 0:
                out[c].add(p)
        return out

    seen, held = positive(train), positive(test)
    train_users = set(train.frame["customer_id"])
    lists: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for c, p, r in recs[["customer_id", "product_id", "rank"]].itertuples(index=False):
        lists[c].append((r, p))
    buyers: dict[str, int] = defaultdict(int)
    for products in seen.values():
        for p in products:
            buyers[p] += 1

    scores: dict[str, list[float]] = defaultdict(list)
    cold, recommended = 0, []
    for c, products in held.items():
        rel = products - seen.get(c, set())
        if not rel:
            continue
        if c not in train_users:
            cold += 1
            continue
        ranked, taken = [], set()
        for r, p in sorted(lists.get(c, [])):
            if r <= k and p not in taken:
                ranked.append((r, p))
                taken.add(p)
        recommended += [p for _, p in ranked]
        hits, dcg, ap = 0, 0.0, 0.0
        for r, p in ranked:
            if p in rel:
                hits += 1
                dcg += 1 / math.log2(r + 1)
                ap += hits / r
        idcg = sum(1 / math.log2(i + 1) for i in range(1, min(len(rel), k) + 1))
        scores["precision"].append(hits / k)
        scores["recall"].append(hits / len(rel))
        scores["ndcg"].append(dcg / idcg)
        scores["map"].append(ap / len(rel))
        scores["map_capped"].append(ap / min(len(rel), k))
        scores["hit_rate"].append(float(hits > 0))
    n_train = len(train_users)
    out = {f"{name}@{k}": sum(v) / len(v) for name, v in scores.items()}
    out["coverage"] = len(set(recommended) & set(train.frame["product_id"])) / train.n_items
    out["novelty"] = sum(math.log2(n_train / max(buyers[p], 1)) for p in recommended) / len(
        recommended
    )
    out["users"] = len(scores["precision"])
    out["cold_users"] = cold
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_a_slow_reference_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 4000
    df = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 300, n).astype(str),
            "product_id": rng.integers(0, 80, n).astype(str),
            "weight": rng.choice([1.0, 2.0, -1.0], n, p=[0.6, 0.25, 0.15]),
        }
    )
    train, test = stratified_split(Interactions(df), 0.3, seed=seed)
    extra = pd.DataFrame(  # customers only in test: cold
        {"customer_id": [f"cold{i}" for i in range(7)], "product_id": "1", "weight": 1.0}
    )
    test = Interactions(pd.concat([test.frame, extra], ignore_index=True))
    # ragged lists with gaps, duplicates, unknown products, ranks past k and unknown customers
    rows = []
    for c in [*train.users[::2], "cold0", "nobody"]:
        length = int(rng.integers(0, 15))
        for r, p in enumerate(rng.integers(0, 100, length), start=1):
            rows.append((c, str(p), int(r)))
    recs = pd.DataFrame(rows, columns=["customer_id", "product_id", "rank"])
    for k in (1, 5, 10):
        got = ranking_metrics(recs, train, test, k=k)
        want = _reference(recs, train, test, k)
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-12), key
        assert got["cold_users"] == 7


def test_relevant_items_match_a_plain_set_difference() -> None:
    rng = np.random.default_rng(9)
    df = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 50, 1000).astype(str),
            "product_id": rng.integers(0, 30, 1000).astype(str),
            "weight": rng.choice([1.0, -1.0], 1000, p=[0.8, 0.2]),
        }
    )
    half = rng.random(1000) < 0.5
    train, test = Interactions(df[half]), Interactions(df[~half])
    t = test.frame.groupby(["customer_id", "product_id"])["weight"].sum()
    s = train.frame.groupby(["customer_id", "product_id"])["weight"].sum()
    want = sorted(set(t[t > 0].index) - set(s[s > 0].index))
    got = relevant_items(train, test)
    assert list(got.itertuples(index=False, name=None)) == want


@pytest.mark.slow
def test_hundred_thousand_customers_in_seconds() -> None:
    rng = np.random.default_rng(0)
    n = 1_000_000
    df = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 100_000, n).astype(str),
            "product_id": rng.integers(0, 5_000, n).astype(str),
            "weight": 1.0,
        }
    )
    train, test = stratified_split(Interactions(df), 0.2)
    users = train.users.to_numpy()
    recs = pd.DataFrame(
        {
            "customer_id": np.repeat(users, 10),
            "product_id": rng.integers(0, 5_000, len(users) * 10).astype(str),
            "rank": np.tile(np.arange(1, 11), len(users)),
        }
    )
    m = ranking_metrics(recs, train, test, k=10)
    assert m["users"] > 90_000
