"""``segmint train MODEL``: build the training set, search, evaluate honestly, register.

1. Split: a held-out test set, untouched until the end. ``temporal`` (customer models with
   several snapshots): the latest snapshot is the test set. ``stratified``: a stratified
   random ``test_size`` share. Rows of one customer at several snapshots stay on one side
   of every cross-validation fold (grouped folds).
2. Search: a randomized search over the algorithm's hyperparameters, scored by
   cross-validation on the training rows only (a successive-halving search on large sets).
3. Threshold: chosen on out-of-fold predictions of the training rows (best F1, or the
   target precision or recall), then applied unchanged to the test rows.
4. Report: every metric on the test rows, beside a majority-class and a logistic-regression
   baseline computed the same way, performance by history length, a fallback model for
   customers with little history, permutation importance and example reasons.
5. The final model is refitted on all rows with the chosen settings (``refit: auto``: below
   500,000 rows; larger sets keep the model the test rows judged) and registered.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import (
    StratifiedGroupKFold,
    StratifiedKFold,
    cross_val_predict,
    train_test_split,
)

from segmint.config import ModelConfig, ProjectConfig, SearchConfig
from segmint.segments.predictive._dataset import TrainingSet, build_training_set
from segmint.segments.predictive._evaluate import auc_gap, choose_threshold, evaluate, headline
from segmint.segments.predictive._explain import importance, typical_values
from segmint.segments.predictive._model import PredictiveModel
from segmint.segments.predictive._pipeline import (
    build_pipeline,
    fit_params,
    search_space,
)
from segmint.segments.predictive._search import plain, randomized_search, tried
from segmint.warehouse import IbisWarehouse

Progress = Callable[[str], None]
#: the largest training set searched by plain randomized search; larger ones use halving
PLAIN_SEARCH_ROWS = 60_000
#: most rows behind the out-of-fold threshold, the logistic baseline and the fallback check:
#: their answers settle long before this, and each costs several fits
SIDE_ROWS = 100_000
#: with ``refit: auto``, training sets of fewer rows are refitted on every row once judged;
#: larger ones keep the model fitted on the training rows (the held-out figures are its own,
#: and a fifth more rows changes little at that size)
AUTO_REFIT_ROWS = 500_000
#: training sets of fewer rows fit their trees on one thread: at that size the threads'
#: sync at every tree costs more than it saves, and on a busy machine far more (a 400-tree
#: XGBoost fit on 8,000 rows took 42 s on two threads of two shared cores, 5 s on one)
THREADED_ROWS = 100_000
#: attribute and context features the cold-start model may use
FALLBACK_FEATURES = (
    "country",
    "gender",
    "age",
    "loyalty_tier",
    "consent_email",
    "is_known",
    "days_since_signup",
    "days_since_first_seen",
    "share_mobile",
    "share_desktop",
    "share_tablet",
    "share_organic",
    "share_paid_search",
    "share_email",
    "share_social",
    "share_direct",
    "share_referral",
    "views_1d",
    "views_7d",
    "sessions_7d",
)
#: history = orders placed + sessions in the last 90 days, before T
HISTORY_BUCKETS = ((0, 0, "none"), (1, 2, "1-2"), (3, 9, "3-9"), (10, 10**9, "10+"))


@dataclass
class TrainResult:
    """What training produced: the model, its settings and every figure of the report."""

    name: str
    model: PredictiveModel
    metadata: dict[str, Any]
    version: int | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def _split(ts: TrainingSet, spec: ModelConfig) -> tuple[np.ndarray, np.ndarray, str]:
    n = len(ts.y)
    how = spec.split
    times = None if ts.as_of is None else pd.to_datetime(ts.as_of)
    if how == "auto":
        how = "temporal" if times is not None and times.nunique() > 1 else "stratified"
    if how == "temporal":
        if times is None or times.nunique() < 2:
            raise ValueError(
                f"models '{spec.name}': a temporal split needs two or more snapshots "
                "(snapshots: 2 or more), or use split: stratified"
            )
        last = times.max()
        test = np.flatnonzero((times == last).to_numpy())
        train = np.flatnonzero((times < last).to_numpy())
        return train, test, how
    idx = np.arange(n)
    train, test = train_test_split(
        idx, test_size=spec.test_size, stratify=ts.y, random_state=spec.random_state
    )
    return np.sort(train), np.sort(test), how


def _folds(ts: TrainingSet, spec: ModelConfig, rows: np.ndarray) -> tuple[Any, Any]:
    """CV splitter and groups: customers at several snapshots stay in one fold."""
    ids = ts.ids.iloc[rows]
    if ts.as_of is not None and ids.duplicated().any():
        return (
            StratifiedGroupKFold(spec.folds, shuffle=True, random_state=spec.random_state),
            ids.to_numpy(),
        )
    return StratifiedKFold(spec.folds, shuffle=True, random_state=spec.random_state), None


def _sample(y: pd.Series, rows: np.ndarray, size: int, seed: int) -> np.ndarray:
    if len(rows) <= size:
        return rows
    keep, _ = train_test_split(rows, train_size=size, stratify=y.iloc[rows], random_state=seed)
    return np.sort(keep)


def _scoring(ts: TrainingSet) -> str:
    return "roc_auc" if ts.binary else "neg_log_loss"


def _search(
    pipe: Any,
    ts: TrainingSet,
    spec: ModelConfig,
    rows: np.ndarray,
    say: Progress = lambda _msg: None,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """The best hyperparameters by cross-validation on ``rows`` (training rows only).

    Up to ``search.candidates`` random candidates, and the defaults, within the time budget
    (:func:`~segmint.segments.predictive._search.randomized_search`; boosted trees take
    their tree count from the folds). Large sets use successive halving instead (many
    candidates on small samples), which bounds its own time.
    """
    plan = spec.search
    n = plan.candidates
    if n == 0:
        return {}, [], {"candidates": 0}
    cv, groups = _folds(ts, spec, rows)
    X, y = ts.X.iloc[rows], ts.y.iloc[rows]
    params = fit_params(spec.algorithm, spec.imbalance, y)
    if len(rows) > PLAIN_SEARCH_ROWS:
        from sklearn.experimental import enable_halving_search_cv  # noqa: F401
        from sklearn.model_selection import HalvingRandomSearchCV

        search: Any = HalvingRandomSearchCV(
            pipe,
            search_space(spec.algorithm),
            n_candidates=max(n, 3),
            factor=3,
            min_resources=max(2_000, len(rows) // 27),
            scoring=_scoring(ts),
            cv=cv,
            random_state=spec.random_state,
            n_jobs=1,
            refit=False,
            error_score="raise",
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            search.fit(X, y, groups=groups, **params)
        res = search.cv_results_
        scored = [
            (
                dict(res["params"][i]),
                float(res["mean_test_score"][i]),
                float(res["std_test_score"][i]),
            )
            for i in range(len(res["params"]))
        ]
        halving = {"candidates": len(scored), "halving": True}
        return dict(search.best_params_), tried(scored), halving
    return randomized_search(
        pipe,
        spec.algorithm,
        X,
        y,
        candidates=n,
        budget=plan.budget(len(rows)),
        cv=cv,
        groups=groups,
        scoring=_scoring(ts),
        params=params,
        random_state=spec.random_state,
        say=say,
    )


def _fit(pipe: Any, ts: TrainingSet, spec: ModelConfig, rows: np.ndarray, cols: list[str]) -> Any:
    y = ts.y.iloc[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pipe.fit(ts.X.iloc[rows][cols], y, **fit_params(spec.algorithm, spec.imbalance, y))


def _pipeline(ts: TrainingSet, spec: ModelConfig, cols: list[str], algorithm: str) -> Any:
    cat = [c for c in ts.categorical if c in cols]
    num = [c for c in cols if c not in cat]
    return build_pipeline(
        algorithm,
        num,
        cat,
        imbalance=spec.imbalance,
        n_classes=len(ts.classes),
        random_state=spec.random_state,
        n_jobs=1 if len(ts.y) < THREADED_ROWS else 2,
    )


def train_model(
    cfg: ProjectConfig,
    wh: IbisWarehouse,
    spec: ModelConfig,
    *,
    progress: Progress | None = None,
) -> TrainResult:
    """Train, evaluate and return ``spec``'s model (not yet registered: see
    :func:`segmint.segments.predictive.train_and_register`)."""
    say = progress or (lambda _msg: None)
    # `model_copy(update={"search": 2})` skips validation: a bare number is a candidate count
    spec = spec.model_copy(update={"search": SearchConfig.model_validate(spec.search)})
    clock: dict[str, float] = {}
    t0 = time.perf_counter()
    say("building the training set")
    ts = build_training_set(cfg, wh, spec)
    clock["dataset"] = time.perf_counter() - t0
    train, test, how = _split(ts, spec)
    cols = list(ts.features)
    pipe = _pipeline(ts, spec, cols, spec.algorithm)
    t = time.perf_counter()
    say(f"searching {spec.algorithm} settings on {min(len(train), spec.sample_size):,} rows")
    search_rows = _sample(ts.y, train, spec.sample_size, spec.random_state)
    best, tried, search_info = _search(pipe, ts, spec, search_rows, say)
    pipe.set_params(**best)
    clock["search"] = time.perf_counter() - t
    t = time.perf_counter()
    say("choosing the decision threshold on out-of-fold predictions")
    side_rows = _sample(ts.y, search_rows, SIDE_ROWS, spec.random_state)
    threshold, oof_info = _threshold(pipe, ts, spec, side_rows, cols)
    clock["threshold"] = time.perf_counter() - t
    t = time.perf_counter()
    say(f"fitting on {len(train):,} training rows and scoring {len(test):,} held-out rows")
    fitted = _fit(clone(pipe), ts, spec, train, cols)
    test_X, test_y = ts.X.iloc[test][cols], ts.y.iloc[test]
    proba = fitted.predict_proba(test_X)
    metrics = evaluate(ts.decode(test_y), proba, ts.classes, threshold)
    clock["fit"] = time.perf_counter() - t
    t = time.perf_counter()
    say("baselines, history, fallback, importance")
    baselines, gap = _baselines(ts, spec, train, test, cols, proba)
    fallback_cols = [c for c in FALLBACK_FEATURES if c in cols]
    fb_fitted, fb_report = _fallback(ts, spec, train, test, fallback_cols, threshold, pipe)
    by_history = _by_history(ts, test, proba, threshold, fb_fitted, fallback_cols)
    imp = importance(fitted, test_X, test_y, scoring=_scoring(ts), random_state=spec.random_state)
    clock["report"] = time.perf_counter() - t
    t = time.perf_counter()
    refit = spec.refit if spec.refit != "auto" else len(ts.y) < AUTO_REFIT_ROWS
    final, final_fb = fitted, fb_fitted
    if refit:
        say(f"refitting on all {len(ts.y):,} rows")
        everything = np.arange(len(ts.y))
        final = _fit(clone(pipe), ts, spec, everything, cols)
        if fb_fitted is not None:
            fb_pipe = _pipeline(ts, spec, fallback_cols, spec.algorithm)
            final_fb = _fit(fb_pipe, ts, spec, everything, fallback_cols)
    clock["refit"] = time.perf_counter() - t
    model = PredictiveModel(
        final,
        ts.classes,
        cols,
        threshold if ts.binary else None,
        final_fb,
        fallback_cols,
        spec.min_history if final_fb is not None else 0,
        typical_values(ts.X[cols]),
    )
    meta = {
        "model": spec.name,
        "entity": spec.entity,
        "algorithm": spec.algorithm,
        "imbalance": spec.imbalance,
        "label": spec.label.model_dump(mode="json"),
        "features": cols,
        "dtypes": {c: ("string" if c in ts.categorical else "number") for c in cols},
        "categorical": [c for c in ts.categorical if c in cols],
        "classes": [plain(c) for c in ts.classes],
        "positive": plain(ts.positive),
        "threshold": threshold if ts.binary else None,
        "threshold_choice": oof_info,
        "params": {k.removeprefix("model__"): plain(v) for k, v in best.items()},
        "search": tried,
        "search_info": search_info,
        "split": {
            "kind": how,
            "train_rows": len(train),
            "test_rows": len(test),
            "search_rows": len(search_rows),
            "threshold_rows": len(side_rows),
            "refitted_on_all": bool(refit),
            "folds": spec.folds,
        },
        "window": ts.window,
        "rows": len(ts.y),
        "class_counts": {str(ts.classes[int(k)]): int(v) for k, v in ts.y.value_counts().items()},
        "metrics": metrics,
        "headline": headline(metrics),
        "baselines": baselines,
        "baseline_gap": gap,
        "by_history": by_history,
        "fallback": fb_report,
        "importance": imp[:25],
        "seconds": {k: round(v, 2) for k, v in clock.items()},
        "spec": spec.model_dump(mode="json"),
    }
    return TrainResult(spec.name, model, meta, seconds=clock)


def _threshold(
    pipe: Any, ts: TrainingSet, spec: ModelConfig, rows: np.ndarray, cols: list[str]
) -> tuple[float | None, dict[str, Any]]:
    if not ts.binary:
        return None, {}
    cv, groups = _folds(ts, spec, rows)
    X, y = ts.X.iloc[rows][cols], ts.y.iloc[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        oof = cross_val_predict(
            clone(pipe),
            X,
            y,
            cv=cv,
            groups=groups,
            method="predict_proba",
            params=fit_params(spec.algorithm, spec.imbalance, y),
        )[:, 1]
    yb = (y.to_numpy() == 1).astype(int)
    info = choose_threshold(
        yb, oof, target_precision=spec.target_precision, target_recall=spec.target_recall
    )
    info["oof_roc_auc"] = float(roc_auc_score(yb, oof))
    return info["threshold"], info


def _baselines(
    ts: TrainingSet,
    spec: ModelConfig,
    train: np.ndarray,
    test: np.ndarray,
    cols: list[str],
    proba: np.ndarray,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A majority-class model and a logistic regression, judged on the same test rows, and
    (binary models) the model's ROC-AUC gap over the logistic one with its bootstrap spread
    on those rows (``proba``: the model's test-row probabilities)."""
    X, y = ts.X.iloc[train][cols], ts.y.iloc[train]
    tX, ty = ts.X.iloc[test][cols], ts.y.iloc[test]
    out: dict[str, Any] = {}
    dummy = DummyClassifier(strategy="prior").fit(X, y)
    named = ts.decode(ty)
    out["majority"] = headline(evaluate(named, dummy.predict_proba(tX), ts.classes, 0.5))
    lr = _pipeline(ts, spec.model_copy(update={"imbalance": "class_weight"}), cols, "logistic")
    lr_rows = _sample(ts.y, train, min(spec.sample_size, SIDE_ROWS), spec.random_state)
    lr_spec = spec.model_copy(update={"imbalance": "class_weight", "algorithm": "logistic"})
    threshold = None
    if ts.binary:
        threshold, _ = _threshold(lr, ts, lr_spec, _sample(ts.y, lr_rows, 50_000, 1), cols)
    fitted = _fit(lr, ts, lr_spec, lr_rows, cols)
    lr_proba = fitted.predict_proba(tX)
    lg = evaluate(named, lr_proba, ts.classes, threshold)
    out["logistic"] = headline(lg)
    if not ts.binary:  # a stage model is judged class by class: so is its baseline
        out["logistic"]["per_class"] = lg["per_class"]
        return out, None
    gap = auc_gap(
        (ty.to_numpy() == 1).astype(int),
        proba[:, 1],
        lr_proba[:, 1],
        random_state=spec.random_state,
    )
    return out, gap


def _fallback(
    ts: TrainingSet,
    spec: ModelConfig,
    train: np.ndarray,
    test: np.ndarray,
    cols: list[str],
    threshold: float | None,
    pipe: Any,
) -> tuple[Any, dict[str, Any] | None]:
    """The cold-start model on attributes and context, kept only if it judges customers with
    little history better than the main model does, on validation rows of the training set.

    The main model sees those customers' (empty) behaviour too; the fallback earns its place
    only where that misleads it. The choice never looks at the test rows.
    """
    if ts.history is None or not cols or spec.min_history <= 0:
        return None, None
    hist = ts.history.to_numpy()
    if (hist[train] < spec.min_history).sum() < 50:
        return None, {"used": False, "why": "fewer than 50 training rows with little history"}
    rows = _sample(ts.y, train, min(spec.sample_size, SIDE_ROWS), spec.random_state)
    fit_rows, val = train_test_split(
        rows, test_size=0.25, stratify=ts.y.iloc[rows], random_state=spec.random_state
    )
    thin_val = val[hist[val] < spec.min_history]
    report: dict[str, Any] = {"features": cols, "min_history": spec.min_history}
    if len(thin_val) < 30 or ts.y.iloc[thin_val].nunique() < 2:
        report.update(used=False, why="too few validation rows with little history to compare")
        return None, report
    fb_pipe = _pipeline(ts, spec, cols, spec.algorithm)
    main_v = _fit(clone(pipe), ts, spec, fit_rows, ts.features)
    fb_v = _fit(clone(fb_pipe), ts, spec, fit_rows, cols)
    named = ts.decode(ts.y.iloc[thin_val])
    main_auc = evaluate(
        named, main_v.predict_proba(ts.X.iloc[thin_val][ts.features]), ts.classes, threshold
    ).get("roc_auc", 0.0)
    fb_auc = evaluate(
        named, fb_v.predict_proba(ts.X.iloc[thin_val][cols]), ts.classes, threshold
    ).get("roc_auc", 0.0)
    report["validation"] = {
        "rows": len(thin_val),
        "main_roc_auc": main_auc,
        "fallback_roc_auc": fb_auc,
    }
    if fb_auc <= main_auc + 0.005:
        report.update(used=False, why="the main model judges them as well or better")
        return None, report
    fitted = _fit(clone(fb_pipe), ts, spec, train, cols)
    report["used"] = True
    thin_test = test[hist[test] < spec.min_history]
    ty = ts.y.iloc[thin_test]
    if len(thin_test) >= 20 and ty.nunique() > 1:
        fp = fitted.predict_proba(ts.X.iloc[thin_test][cols])
        report["metrics"] = headline(evaluate(ts.decode(ty), fp, ts.classes, threshold))
    return fitted, report


def _by_history(
    ts: TrainingSet,
    test: np.ndarray,
    proba: np.ndarray,
    threshold: float | None,
    fallback: Any,
    fallback_cols: list[str],
) -> list[dict[str, Any]]:
    if ts.history is None:
        return []
    h = ts.history.iloc[test].to_numpy()
    out = []
    for lo, hi, label in HISTORY_BUCKETS:
        mask = (h >= lo) & (h <= hi)
        ty = ts.y.iloc[test][mask]
        row: dict[str, Any] = {"history": label, "rows": int(mask.sum())}
        if mask.sum() >= 20 and ty.nunique() > 1:
            row["main"] = headline(evaluate(ts.decode(ty), proba[mask], ts.classes, threshold))
            if fallback is not None:
                fp = fallback.predict_proba(ts.X.iloc[test][mask][fallback_cols])
                row["fallback"] = headline(evaluate(ts.decode(ty), fp, ts.classes, threshold))
        out.append(row)
    return out


def train_and_register(
    cfg: ProjectConfig,
    wh: IbisWarehouse,
    spec: ModelConfig,
    *,
    progress: Progress | None = None,
) -> TrainResult:
    """:func:`train_model`, then register the model as a new version and write its report.

    The report is ``<home>/reports/model-<name>-vNNNN.html``; its path is kept in the
    result's metadata under ``report``.
    """
    from segmint.segments.predictive._registry import registry_for
    from segmint.segments.predictive._report import write_model_report

    result = train_model(cfg, wh, spec, progress=progress)
    if progress is not None:
        progress("registering the model")
    reg = registry_for(cfg)
    version = reg.register(spec.name, result.model, result.metadata)
    result.version = version.version
    meta = reg.metadata(spec.name, version.version)
    result.metadata = meta
    if progress is not None:
        progress("drawing the report")
    result.metadata["report"] = str(write_model_report(cfg, meta))
    return result
