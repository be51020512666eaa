"""What a trained predictive model is at scoring time: the main pipeline, and a fallback for
customers with too little history to judge by behaviour.

The fallback is fitted on the customer's attributes and context only (country, device and
channel mix, tier, ...): a new visitor with no orders is scored by what is known about them,
not by zeros in every behaviour column.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


class PredictiveModel:
    """A fitted model ready to score: ``predict_proba(X, history)``.

    Parameters
    ----------
    main : fitted pipeline over ``features``.
    classes : the class labels, in the order of ``predict_proba``'s columns.
    features : the input columns of ``main``.
    threshold : the decision threshold on the positive class (binary models).
    fallback : optional fitted pipeline over ``fallback_features``, used for rows whose
        ``history`` is below ``min_history``.
    typical : each feature's training median or mode (for occlusion explanations).
    """

    def __init__(
        self,
        main: Any,
        classes: list[Any],
        features: list[str],
        threshold: float | None = None,
        fallback: Any = None,
        fallback_features: list[str] | None = None,
        min_history: int = 0,
        typical: dict[str, Any] | None = None,
    ) -> None:
        self.main = main
        self.classes = list(classes)
        self.features = list(features)
        self.threshold = threshold
        self.fallback = fallback
        self.fallback_features = list(fallback_features or [])
        self.min_history = int(min_history)
        self.typical = dict(typical or {})

    def thin(self, history: Any) -> np.ndarray:
        """Which rows the fallback scores (history below ``min_history``)."""
        if self.fallback is None or history is None:
            return np.zeros(0 if history is None else len(history), dtype=bool)
        return np.asarray(pd.Series(history).fillna(0).to_numpy() < self.min_history)

    def predict_proba(self, X: pd.DataFrame, history: Any = None) -> np.ndarray:
        """Class probabilities per row, columns in ``classes`` order."""
        missing = [c for c in self.features if c not in X.columns]
        if missing:
            raise ValueError(f"the rows lack the model's features {missing}")
        out = np.asarray(self.main.predict_proba(X[self.features]), dtype=float)
        thin = self.thin(history)
        if thin.any():
            fb = np.asarray(
                self.fallback.predict_proba(X.loc[thin, self.fallback_features]), dtype=float
            )
            out[thin] = fb
        return out

    def reasons(
        self,
        X: pd.DataFrame,
        history: Any = None,
        top: int = 3,
        values: pd.DataFrame | None = None,
    ) -> list[str]:
        """Each row's top reasons as text, from the pipeline that scored it; ``values`` (the
        rows as read, before :func:`prepare`) are what the text shows, so a boolean reads
        ``partner=yes``, not the 1.0 the model was fed."""
        from segmint.segments.predictive._explain import contributions, reason_text, top_reasons

        out = [""] * len(X)
        thin = self.thin(history)
        for pipe, cols, mask in (
            (self.main, self.features, ~thin if thin.size else np.ones(len(X), dtype=bool)),
            (self.fallback, self.fallback_features, thin),
        ):
            if pipe is None or not mask.size or not mask.any():
                continue
            rows = X.loc[mask, cols]
            typical = {c: self.typical.get(c) for c in cols}
            shown = rows
            if values is not None:
                shown = rows.copy()
                for c in cols:
                    if c in values.columns and _is_bool(values[c]):
                        shown[c] = values.loc[mask, c].to_numpy()
            found = top_reasons(contributions(pipe, rows, typical), shown, top)
            for i, r in zip(np.flatnonzero(mask), found, strict=True):
                out[i] = reason_text(r)
        return out

    def predict(self, X: pd.DataFrame, history: Any = None) -> np.ndarray:
        """Predicted classes (binary: at ``threshold`` on the positive class)."""
        from segmint.segments.predictive._evaluate import predict_labels

        return predict_labels(self.predict_proba(X, history), self.classes, self.threshold)


def _is_bool(col: pd.Series) -> bool:
    if col.dtype == bool or str(col.dtype) == "boolean":
        return True
    present = col.dropna()
    return col.dtype == object and len(present) > 0 and all(type(v) is bool for v in present)
