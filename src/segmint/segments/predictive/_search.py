"""The hyperparameter search of ``segmint train``: candidates scored by cross-validation on
training rows only, within a time budget.

For the boosted trees (XGBoost, LightGBM) the number of trees is not a sampled setting but
read off the folds: each candidate is fitted once per fold with its ``n_estimators`` as a
ceiling, its validation fold is scored after every few trees, and the candidate keeps the
tree count whose mean score over the folds is best (``xgb.cv``'s early stopping, by the
same folds that score the candidate). Low learning rates with many trees then cost one fit
per fold, not one per tree count, and no count is ever chosen on the test rows.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import ParameterSampler, cross_val_score

from segmint.segments.predictive._pipeline import search_space

Progress = Callable[[str], None]
#: models whose tree count is read off the folds
STAGED = frozenset({"XGBClassifier", "LGBMClassifier"})
#: tree counts at which a staged candidate's validation folds are scored
CHECKPOINTS = 40
#: fewest trees a staged candidate may keep
MIN_TREES = 25


def staged_cv(
    pipe: Any,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    cv: Any,
    groups: Any,
    scoring: str,
    params: dict[str, Any],
) -> tuple[int, np.ndarray] | None:
    """The best tree count of a boosted-tree ``pipe`` and its per-fold scores at that count.

    Each fold fits ``pipe`` once with its ``n_estimators`` as the ceiling, then scores the
    validation fold at ``CHECKPOINTS`` tree counts; the count with the best mean over the
    folds wins. None for a pipeline this does not apply to (other models, SMOTE steps).
    """
    model = pipe.named_steps.get("model")
    if type(model).__name__ not in STAGED or "smote" in pipe.named_steps:
        return None
    ceiling = int(model.get_params()["n_estimators"])
    counts = np.unique(np.linspace(min(MIN_TREES, ceiling), ceiling, CHECKPOINTS).astype(int))
    curves = []
    for fit_rows, val_rows in cv.split(X, y, groups):
        fold = clone(pipe)
        fold_params = {k: np.asarray(v)[fit_rows] for k, v in params.items()}
        fold.fit(X.iloc[fit_rows], y.iloc[fit_rows], **fold_params)
        Xv, yv = fold[:-1].transform(X.iloc[val_rows]), y.iloc[val_rows].to_numpy()
        fitted = fold.named_steps["model"]
        n_classes = len(fitted.classes_)
        curves.append(
            [_score(yv, _proba_at(fitted, Xv, int(k)), scoring, n_classes) for k in counts]
        )
    scores = np.asarray(curves)
    best = int(np.argmax(scores.mean(axis=0)))
    return int(counts[best]), scores[:, best]


def _proba_at(model: Any, X: Any, trees: int) -> np.ndarray:
    if type(model).__name__ == "XGBClassifier":
        return np.asarray(model.predict_proba(X, iteration_range=(0, trees)))
    return np.asarray(model.predict_proba(X, num_iteration=trees))


def _score(y: np.ndarray, proba: np.ndarray, scoring: str, n_classes: int) -> float:
    if scoring == "roc_auc":
        return float(roc_auc_score(y, proba[:, 1]))
    return -float(log_loss(y, proba, labels=np.arange(n_classes)))


def cv_score(
    pipe: Any,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    cv: Any,
    groups: Any,
    scoring: str,
    params: dict[str, Any],
) -> tuple[np.ndarray, dict[str, Any]]:
    """Per-fold scores of ``pipe``, and settings the folds chose (the tree count)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        staged = staged_cv(pipe, X, y, cv=cv, groups=groups, scoring=scoring, params=params)
        if staged is not None:
            trees, scores = staged
            return scores, {"model__n_estimators": trees}
        scores = cross_val_score(
            pipe,
            X,
            y,
            groups=groups,
            cv=cv,
            scoring=scoring,
            params=params,
            error_score="raise",
        )
    return np.asarray(scores), {}


def randomized_search(
    pipe: Any,
    algorithm: str,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    candidates: int,
    budget: float,
    cv: Any,
    groups: Any,
    scoring: str,
    params: dict[str, Any],
    random_state: int,
    say: Progress = lambda _msg: None,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """The defaults, then up to ``candidates`` random settings, each scored by the same folds
    one at a time with progress, until ``budget`` seconds are spent (the candidate that
    passes it finishes). The defaults are scored first, so the search never returns settings
    its own folds judge worse than them."""
    plan: list[dict[str, Any]] = [{}]  # the defaults
    plan += list(
        ParameterSampler(
            search_space(algorithm, trees_by_cv=True), n_iter=candidates, random_state=random_state
        )
    )
    scored: list[tuple[dict[str, Any], float, float]] = []
    start = time.perf_counter()
    for i, cand in enumerate(plan, 1):
        scores, chosen = cv_score(
            clone(pipe).set_params(**cand),
            X,
            y,
            cv=cv,
            groups=groups,
            scoring=scoring,
            params=params,
        )
        scored.append(({**cand, **chosen}, float(np.mean(scores)), float(np.std(scores))))
        spent = time.perf_counter() - start
        best = max(s for _c, s, _d in scored)
        trees = f", {chosen['model__n_estimators']} trees" if chosen else ""
        say(
            f"search: candidate {i}/{len(plan)} scored {scored[-1][1]:.4f}{trees} "
            f"(best {best:.4f}; {spent:.0f} of {budget:.0f} s)"
        )
        if spent > budget and i < len(plan):
            say(f"search: time budget of {budget:.0f} s spent after {i} of {len(plan)}")
            break
    info: dict[str, Any] = {
        "candidates": len(scored),
        "planned": len(plan),
        "budget_s": budget,
        "seconds": round(time.perf_counter() - start, 2),
        "stopped_by_budget": len(scored) < len(plan),
        "trees_by_cv": any("model__n_estimators" in c for c, _s, _d in scored),
    }
    best_params = max(scored, key=lambda c: c[1])[0]
    return best_params, tried(scored), info


def tried(scored: list[tuple[dict[str, Any], float, float]]) -> list[dict[str, Any]]:
    """The ten best candidates, best first, for the report (the defaults are ``{}``, or for
    boosted trees only the tree count their folds chose)."""
    ranked = sorted(scored, key=lambda c: -c[1])[:10]
    return [
        {
            "params": {k.removeprefix("model__"): plain(v) for k, v in cand.items()},
            "score": score,
            "std": std,
        }
        for cand, score, std in ranked
    ]


def plain(v: Any) -> Any:
    """A NumPy scalar as the Python value (for JSON metadata)."""
    return v.item() if isinstance(v, np.generic) else v
