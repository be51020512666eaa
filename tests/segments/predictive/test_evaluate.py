"""Metrics, thresholds and gains on hand-checked inputs, and against scikit-learn directly."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from segmint.segments.predictive import choose_threshold, evaluate, headline

Y = np.array([0, 0, 0, 0, 1, 1, 0, 1, 1, 0])
S = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.65, 0.7, 0.9, 0.05])


def test_best_f1_threshold_is_found_on_the_given_rows() -> None:
    t = choose_threshold(Y, S)
    # at 0.4: 4 of the 5 scored at or above are positive, and all 4 positives are found
    assert t["threshold"] == 0.4
    assert (t["precision"], t["recall"]) == (pytest.approx(4 / 5), 1.0)
    assert t["f1"] == pytest.approx(f1_score(Y, S >= 0.4))


def test_target_precision_takes_the_most_recall_that_meets_it() -> None:
    t = choose_threshold(Y, S, target_precision=0.99)
    assert t["threshold"] == 0.7 and t["met"]  # 0.7 and 0.9: both positive
    assert t["recall"] == pytest.approx(0.5)
    miss = choose_threshold(np.array([0, 1]), np.array([0.9, 0.1]), target_precision=0.9)
    assert not miss["met"]


def test_target_recall_keeps_the_highest_threshold_that_meets_it() -> None:
    t = choose_threshold(Y, S, target_recall=0.75)
    assert t["threshold"] == 0.6 and t["recall"] == 0.75


def test_binary_metrics_agree_with_scikit_learn() -> None:
    proba = np.c_[1 - S, S]
    m = evaluate(Y, proba, [0, 1], 0.4)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(Y, S))
    assert m["per_class"]["1"]["f1"] == pytest.approx(f1_score(Y, S >= 0.4))
    assert m["confusion"] == [[5, 1], [0, 4]]
    assert m["gains"][-1]["gain"] == 1.0 and m["gains"][0]["lift"] == pytest.approx(2.5)
    assert {p["predicted"] for p in m["reliability"]} and 0 <= m["brier"] <= 1
    assert headline(m)["f1"] == m["per_class"]["1"]["f1"]
    assert m["curves"]["roc"][0] == [0.0, 0.0] and m["curves"]["roc"][-1] == [1.0, 1.0]


def test_multiclass_metrics_use_class_names() -> None:
    y = ["a", "b", "c", "a", "b", "c"]
    proba = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.2, 0.7],
            [0.3, 0.6, 0.1],
            [0.1, 0.8, 0.1],
            [0.2, 0.2, 0.6],
        ]
    )
    m = evaluate(y, proba, ["a", "b", "c"])
    assert m["per_class"]["a"] == {
        "precision": 1.0,
        "recall": 0.5,
        "f1": pytest.approx(2 / 3),
        "support": 2,
        "roc_auc": 1.0,
    }
    assert m["macro"]["f1"] == pytest.approx((2 / 3 + 0.8 + 1.0) / 3)
    assert "threshold" not in m and m["roc_auc"] == pytest.approx(
        np.mean([m["per_class"][c]["roc_auc"] for c in "abc"])
    )
