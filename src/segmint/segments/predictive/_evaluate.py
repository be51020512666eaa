"""Honest numbers for a classifier: per-class and averaged precision, recall and F1, ROC-AUC,
PR-AUC, the confusion matrix, calibration (Brier score, reliability curve), lift and
cumulative gains, and the decision threshold that meets a target precision or recall.

Thresholds are always chosen on out-of-fold predictions of the training rows and only then
applied to the held-out rows, so the test figures are never tuned on the test set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)


def choose_threshold(
    y: np.ndarray,
    score: np.ndarray,
    *,
    target_precision: float | None = None,
    target_recall: float | None = None,
) -> dict[str, Any]:
    """The threshold on ``score`` (positive-class probability) a binary model decides at.

    Without a target: the one with the best F1 on ``y``. With ``target_precision``: the
    lowest threshold whose precision reaches it (the most recall at that precision); with
    ``target_recall``: the highest whose recall still reaches it. Returns the threshold and
    the precision, recall and F1 it gives on ``y``, and whether the target was met.

    >>> y = np.array([0, 0, 1, 1, 0, 1])
    >>> s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    >>> choose_threshold(y, s)["threshold"]
    0.35
    """
    p, r, t = precision_recall_curve(y, score)
    p, r = p[:-1], r[:-1]  # the last point has no threshold
    f1 = np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=(p + r) > 0)
    met = True
    goal: dict[str, Any]
    if target_precision is not None:
        ok = np.flatnonzero(p >= target_precision)
        met = bool(len(ok))
        i = int(ok[0]) if met else int(np.argmax(p))
        goal = {"target_precision": target_precision}
    elif target_recall is not None:
        ok = np.flatnonzero(r >= target_recall)
        met = bool(len(ok))
        i = int(ok[-1]) if met else 0
        goal = {"target_recall": target_recall}
    else:
        i = int(np.argmax(f1))
        goal = {"best": "f1"}
    return {
        "threshold": float(t[i]),
        "precision": float(p[i]),
        "recall": float(r[i]),
        "f1": float(f1[i]),
        "met": met,
        **goal,
    }


def as_labels(values: Any, classes: Sequence[Any]) -> np.ndarray:
    """Labels as an array scikit-learn reads as classes: integers, or strings."""
    if all(isinstance(c, int | np.integer) and not isinstance(c, bool) for c in classes):
        return np.asarray(list(values), dtype=np.int64)
    return np.asarray([str(v) for v in values], dtype=object)


def predict_labels(
    proba: np.ndarray, classes: Sequence[Any], threshold: float | None
) -> np.ndarray:
    """Predicted classes: binary at ``threshold`` on the positive (last) class, else argmax."""
    cls = as_labels(classes, classes)
    if len(cls) == 2 and threshold is not None:
        return np.where(proba[:, 1] >= threshold, cls[1], cls[0])
    return cls[np.argmax(proba, axis=1)]


def _gains(y: np.ndarray, score: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Cumulative gains and lift by decile of score (highest first)."""
    order = np.argsort(-score, kind="stable")
    ys = y[order]
    n, total = len(ys), max(int(ys.sum()), 1)
    rate = total / max(n, 1)
    out = []
    for k in range(1, bins + 1):
        top = ys[: round(n * k / bins)]
        share = len(top) / n
        hits = int(top.sum())
        out.append(
            {
                "share": round(share, 4),
                "gain": hits / total,
                "lift": (hits / max(len(top), 1)) / rate if rate else 0.0,
            }
        )
    return out


def _thin(xs: np.ndarray, ys: np.ndarray, points: int = 120) -> list[list[float]]:
    if len(xs) > points:
        keep = np.unique(np.linspace(0, len(xs) - 1, points).round().astype(int))
        xs, ys = xs[keep], ys[keep]
    return [[round(float(x), 5), round(float(y), 5)] for x, y in zip(xs, ys, strict=True)]


def _curves(y: np.ndarray, score: np.ndarray) -> dict[str, list[list[float]]]:
    """ROC (false positive rate, true positive rate) and PR (recall, precision) points."""
    fpr, tpr, _ = roc_curve(y, score)
    p, r, _ = precision_recall_curve(y, score)
    return {"roc": _thin(fpr, tpr), "pr": _thin(r[::-1], p[::-1])}


def evaluate(
    y: Sequence[Any],
    proba: np.ndarray,
    classes: Sequence[Any],
    threshold: float | None = None,
) -> dict[str, Any]:
    """Every figure of one model on one set of rows (see the module docstring).

    ``proba`` has a column per class, in ``classes`` order. Binary models are judged at
    ``threshold`` on the second class (the positive one); multi-class by the likeliest.
    """
    y_arr = as_labels(y, classes)
    cls = list(as_labels(classes, classes))
    pred = predict_labels(proba, cls, threshold)
    p, r, f, s = precision_recall_fscore_support(y_arr, pred, labels=cls, zero_division=0)
    per_class = {
        str(c): {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
        }
        for i, c in enumerate(cls)
    }
    out: dict[str, Any] = {
        "rows": len(y_arr),
        "accuracy": float(accuracy_score(y_arr, pred)),
        "per_class": per_class,
        "confusion": confusion_matrix(y_arr, pred, labels=cls).tolist(),
        "classes": [str(c) for c in cls],
    }
    for avg in ("macro", "weighted"):
        ap, ar, af, _ = precision_recall_fscore_support(
            y_arr, pred, labels=cls, average=avg, zero_division=0
        )
        out[avg] = {"precision": float(ap), "recall": float(ar), "f1": float(af)}
    present = [i for i, c in enumerate(cls) if (y_arr == c).any()]
    if len(cls) == 2:
        yb = (y_arr == cls[1]).astype(int)
        score = proba[:, 1]
        if 0 < yb.sum() < len(yb):
            out["roc_auc"] = float(roc_auc_score(yb, score))
            out["pr_auc"] = float(average_precision_score(yb, score))
        out["brier"] = float(brier_score_loss(yb, score))
        frac, mean = calibration_curve(yb, score, n_bins=10, strategy="quantile")
        out["reliability"] = [
            {"predicted": float(m), "observed": float(o)} for m, o in zip(mean, frac, strict=True)
        ]
        out["gains"] = _gains(yb, score)
        if 0 < yb.sum() < len(yb):
            out["curves"] = _curves(yb, score)
        out["threshold"] = threshold
        out["positive"] = str(cls[1])
    elif len(present) > 1:
        onehot = np.stack([(y_arr == c).astype(int) for c in cls], axis=1)
        keep = [i for i in present if 0 < onehot[:, i].sum() < len(y_arr)]
        if len(keep) > 1:
            out["roc_auc"] = float(
                np.mean([roc_auc_score(onehot[:, i], proba[:, i]) for i in keep])
            )
            out["pr_auc"] = float(
                np.mean([average_precision_score(onehot[:, i], proba[:, i]) for i in keep])
            )
        out["brier"] = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
        for i, c in enumerate(cls):
            if i in keep:
                per_class[str(c)]["roc_auc"] = float(roc_auc_score(onehot[:, i], proba[:, i]))
    return out


def headline(m: dict[str, Any]) -> dict[str, Any]:
    """The few numbers a listing shows: ROC-AUC, PR-AUC, F1 (positive class or macro)."""
    out = {k: m.get(k) for k in ("roc_auc", "pr_auc", "accuracy", "brier")}
    if "positive" in m:
        out["f1"] = m["per_class"][m["positive"]]["f1"]
        out["precision"] = m["per_class"][m["positive"]]["precision"]
        out["recall"] = m["per_class"][m["positive"]]["recall"]
    else:
        out["f1"] = m["macro"]["f1"]
    return out


def auc_gap(
    y: np.ndarray,
    score: np.ndarray,
    baseline: np.ndarray,
    *,
    resamples: int = 1000,
    level: float = 0.95,
    random_state: int = 0,
) -> dict[str, Any] | None:
    """How far ``score`` beats ``baseline`` in ROC-AUC on the same rows, with the spread.

    The rows are resampled with replacement ``resamples`` times (a paired bootstrap: both
    scores on the same draw). ``spread`` is the standard deviation of ``score``'s ROC-AUC
    over the draws (how far another draw of held-out rows of this size moves it, the
    split-to-split spread a benchmark over several seeds measures); ``low`` and ``high``
    bound the ``level`` interval of the gap itself. None when ``y`` has one class only.

    >>> y = np.array([0, 0, 0, 1, 1, 1] * 20)
    >>> good = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9] * 20)
    >>> poor = np.array([0.1, 0.8, 0.3, 0.7, 0.2, 0.9] * 20)  # 6 of 9 pairs in order
    >>> g = auc_gap(y, good, poor)
    >>> round(g["gap"], 4), g["gap"] > g["spread"], g["low"] > 0
    (0.3333, True, True)
    """
    y = np.asarray(y).astype(int)
    if not 0 < y.sum() < len(y):
        return None
    gap = float(roc_auc_score(y, score) - roc_auc_score(y, baseline))
    rng = np.random.default_rng(random_state)
    mine, draws = [], []
    for _ in range(resamples):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            mine.append(roc_auc_score(y[i], score[i]))
            draws.append(mine[-1] - roc_auc_score(y[i], baseline[i]))
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return {
        "gap": gap,
        "spread": float(np.std(mine, ddof=1)),
        "low": float(low),
        "high": float(high),
        "level": level,
        "resamples": len(draws),
        "rows": len(y),
    }
