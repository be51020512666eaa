"""Why a model scores what it scores: global permutation importance, and per-row reasons.

Per-row reasons are each input column's contribution to the row's score (in the model's
margin: log-odds for binary models), summed back from the encoded columns to the column
the user knows: path attributions along each tree for XGBoost (Saabas; exact tree SHAP is
an order of magnitude slower), tree SHAP values for LightGBM, coefficient times scaled
value for the logistic model, and for a random forest the change in probability when the
column is set to its training median or most common value (an occlusion estimate).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.inspection import permutation_importance


def importance(
    pipeline: Any,
    X: pd.DataFrame,
    y: pd.Series,
    *,
    scoring: str,
    sample: int = 5_000,
    n_repeats: int = 3,
    random_state: int = 0,
) -> list[dict[str, Any]]:
    """Permutation importance of each input column on (a sample of) held-out rows."""
    if len(X) > sample:
        idx = np.random.RandomState(random_state).choice(len(X), sample, replace=False)
        X, y = X.iloc[idx], y.iloc[idx]
    r = permutation_importance(
        pipeline,
        X,
        y,
        scoring=scoring,
        n_repeats=n_repeats,
        random_state=random_state,
        n_jobs=1,
    )
    rows = [
        {"feature": c, "importance": float(m), "std": float(s)}
        for c, m, s in zip(X.columns, r.importances_mean, r.importances_std, strict=True)
    ]
    return sorted(rows, key=lambda d: -d["importance"])


def _owners(pipeline: Any, columns: list[str]) -> list[str]:
    """For each encoded column, the input column it came from."""
    names = list(pipeline.named_steps["pre"].get_feature_names_out())
    out = []
    for n in names:
        raw = n.split("__", 1)[1] if "__" in n else n
        raw = raw.removeprefix("missingindicator_")
        owner = next(
            (
                c
                for c in sorted(columns, key=len, reverse=True)
                if raw == c or raw.startswith(c + "_")
            ),
            raw,
        )
        out.append(owner)
    return out


def contributions(
    pipeline: Any, X: pd.DataFrame, typical: dict[str, Any] | None = None
) -> pd.DataFrame:
    """Each row's contribution per input column (columns of ``X``), larger = more positive.

    For multi-class models, contributions are to each row's likeliest class. ``typical``
    (column -> training median or mode) is what the occlusion estimate sets a column to;
    without it, the medians of ``X``.
    """
    cols = list(X.columns)
    model = pipeline.named_steps["model"]
    kind = type(model).__name__
    if kind not in ("XGBClassifier", "LGBMClassifier", "LogisticRegression"):
        return _occlusion(pipeline, X, typical)
    Xt = X
    for name, step in list(pipeline.named_steps.items())[:-1]:
        if name != "smote":  # resampling happens only while fitting
            Xt = step.transform(Xt)
    Xt = np.asarray(Xt, dtype=float)
    n, width = Xt.shape
    rows = np.arange(n)
    best = np.argmax(pipeline.predict_proba(X), axis=1)
    if kind == "XGBClassifier":
        import xgboost as xgb

        # the path-based (Saabas) attribution: exact tree SHAP costs depth^2 per leaf and
        # took 10 ms a row for a 600-tree model; this is depth per tree
        booster = model.get_booster()
        raw = np.asarray(booster.predict(xgb.DMatrix(Xt), pred_contribs=True, approx_contribs=True))
        enc = (raw[rows, best, :] if raw.ndim == 3 else raw)[:, :width]
    elif kind == "LGBMClassifier":
        raw = np.asarray(model.predict(Xt, pred_contrib=True))
        if raw.shape[1] != width + 1:  # multi-class: the classes side by side
            raw = raw.reshape(n, -1, width + 1)[rows, best, :]
        enc = raw[:, :width]
    else:  # inputs are scaled (numbers centred on the training mean): coefficient x value
        coef = np.asarray(model.coef_)
        enc = Xt * (coef[0] if coef.shape[0] == 1 else coef[best])
    owners = _owners(pipeline, cols)
    frame = pd.DataFrame(enc, index=X.index)
    grouped = frame.T.groupby(np.asarray(owners)).sum().T
    return grouped.reindex(columns=cols, fill_value=0.0)


def _occlusion(pipeline: Any, X: pd.DataFrame, typical: dict[str, Any] | None) -> pd.DataFrame:
    proba = pipeline.predict_proba(X)
    rows = np.arange(len(X))
    best = np.argmax(proba, axis=1)
    base = proba[rows, best]
    typical = typical or typical_values(X)
    out = {}
    for c in X.columns:
        swapped = X.copy()
        swapped[c] = typical.get(c)
        out[c] = base - pipeline.predict_proba(swapped)[rows, best]
    return pd.DataFrame(out, index=X.index)


def typical_values(X: pd.DataFrame) -> dict[str, Any]:
    """Each column's median (numbers) or most common value (strings)."""
    out: dict[str, Any] = {}
    for c in X.columns:
        col = X[c].dropna()
        if col.empty:
            out[c] = None
        elif pd.api.types.is_numeric_dtype(col):
            out[c] = float(col.median())
        else:
            out[c] = col.mode().iloc[0]
    return out


def top_reasons(contrib: pd.DataFrame, X: pd.DataFrame, top: int = 3) -> list[list[dict[str, Any]]]:
    """The ``top`` columns pushing each row's score up, with the row's value."""
    out = []
    values = X.to_dict("records")
    for i, row in enumerate(contrib.to_numpy()):
        order = np.argsort(-row)[:top]
        out.append(
            [
                {
                    "feature": contrib.columns[j],
                    "value": _plain(values[i][contrib.columns[j]]),
                    "contribution": round(float(row[j]), 4),
                }
                for j in order
                if row[j] > 0
            ]
        )
    return out


def _plain(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v


def reason_text(reasons: list[dict[str, Any]]) -> str:
    """``page_values=53.2 (+0.31); month=Nov (+0.12)``."""
    parts = []
    for r in reasons:
        v = r["value"]
        if isinstance(v, bool):
            shown = "yes" if v else "no"
        else:
            shown = f"{v:.4g}" if isinstance(v, float) else str(v)
        parts.append(f"{r['feature']}={shown} (+{r['contribution']:.2f})")
    return "; ".join(parts)
