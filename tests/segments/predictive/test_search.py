"""The hyperparameter search: boosted trees take their tree count from the folds, and the
count read off the folds is what a model of that many trees scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold, cross_val_score

from segmint.segments.predictive._pipeline import build_pipeline
from segmint.segments.predictive._search import cv_score, staged_cv


def _rows(noise: float, n: int = 600, both: bool = False) -> tuple[pd.DataFrame, pd.Series]:
    """Labels from column a (and b with ``both``) plus ``noise``; c is noise."""
    rng = np.random.default_rng(3)
    X = pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.choice(["x", "y", "z"], n)}
    )
    signal = X["a"] + (X["b"] if both else 0)
    y = pd.Series(((signal + noise * rng.normal(size=n)) > 0.5).astype(int))
    return X, y


def _pipe(algorithm: str, **params: object) -> object:
    pipe = build_pipeline(
        algorithm, ["a", "b"], ["c"], imbalance="none", n_classes=2, random_state=0, n_jobs=1
    )
    return pipe.set_params(**{f"model__{k}": v for k, v in params.items()})


CV = StratifiedKFold(3, shuffle=True, random_state=0)


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_the_tree_count_read_off_the_folds_is_what_that_many_trees_score(
    algorithm: str,
) -> None:
    """Guards the staged reading (issue 22): a tree count chosen from the folds' curves must
    score what a model of exactly that many trees scores on the same folds (an off-by-one
    in the iteration range, or scoring the fitting rows, would break it)."""
    X, y = _rows(noise=1.0)
    pipe = _pipe(algorithm, learning_rate=0.05, n_estimators=200)
    staged = staged_cv(pipe, X, y, cv=CV, groups=None, scoring="roc_auc", params={})
    assert staged is not None
    trees, scores = staged
    direct = cross_val_score(
        _pipe(algorithm, learning_rate=0.05, n_estimators=trees), X, y, cv=CV, scoring="roc_auc"
    )
    np.testing.assert_allclose(scores, direct, rtol=1e-9)


def test_an_overfitting_candidate_keeps_few_trees_and_a_slow_one_many() -> None:
    """Regression (issue 22): the tree count was a sampled setting, so a fast learning rate
    kept every one of its trees however much they overfitted, and a slow one stopped short.
    Read off the folds, a fast learner on noisy labels keeps few trees and a slow learner
    on a clean signal keeps most of its ceiling."""
    noisy_X, noisy_y = _rows(noise=2.0)
    fast = _pipe("xgboost", learning_rate=0.3, max_depth=6, n_estimators=300)
    _scores, chosen = cv_score(
        fast, noisy_X, noisy_y, cv=CV, groups=None, scoring="roc_auc", params={}
    )
    assert chosen["model__n_estimators"] < 100
    clean_X, clean_y = _rows(noise=0.3, both=True)  # an additive signal: stumps add up
    slow = _pipe("xgboost", learning_rate=0.01, max_depth=1, n_estimators=300)
    _scores, chosen = cv_score(
        slow, clean_X, clean_y, cv=CV, groups=None, scoring="roc_auc", params={}
    )
    assert chosen["model__n_estimators"] > 200


def test_other_models_are_scored_as_they_are() -> None:
    """The logistic model has no tree count: its folds are scored by plain cross-validation
    and it gets no settings from them."""
    X, y = _rows(noise=1.0)
    scores, chosen = cv_score(
        _pipe("logistic"), X, y, cv=CV, groups=None, scoring="roc_auc", params={}
    )
    assert chosen == {} and len(scores) == 3 and 0.5 < scores.mean() < 1


@pytest.mark.parametrize("algorithm", ["xgboost", "lightgbm"])
def test_a_multi_class_tree_count_is_scored_by_log_loss_as_refitted(algorithm: str) -> None:
    """Guards the multi-class reading (buyer stages are scored by log loss): the staged
    log loss at the chosen count is what a model of that many trees scores."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(
        {"a": rng.normal(size=600), "b": rng.normal(size=600), "c": rng.choice(["x", "y"], 600)}
    )
    y = pd.Series(np.digitize(X["a"] + rng.normal(size=600), [-0.5, 0.5]))
    pipe = build_pipeline(
        algorithm, ["a", "b"], ["c"], imbalance="none", n_classes=3, random_state=0, n_jobs=1
    ).set_params(model__n_estimators=200)
    staged = staged_cv(pipe, X, y, cv=CV, groups=None, scoring="neg_log_loss", params={})
    assert staged is not None
    trees, scores = staged
    direct = cross_val_score(
        pipe.set_params(model__n_estimators=trees), X, y, cv=CV, scoring="neg_log_loss"
    )
    np.testing.assert_allclose(scores, direct, rtol=1e-9)
    assert trees < 200  # three noisy classes overfit well before 200 trees
