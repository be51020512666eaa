"""Small fitted pipelines shaped like the ones ``segments/predictive`` trains.

Preprocessing is a ColumnTransformer (median imputation with indicators and scaling for
numbers, constant fill and one-hot encoding with rare values pooled for text), SMOTE comes
in an imbalanced-learn pipeline, and the classifiers are XGBoost, LightGBM, random forest
and logistic regression, bare or inside CalibratedClassifierCV. Everything runs on one
thread: random forests summing tree votes on two threads differ in the last bit from run
to run, which would hide what a round trip changes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

NUMERIC = ["recency_days", "frequency", "monetary", "orders_90d", "sessions_30d"]
CATEGORICAL = ["country", "loyalty_tier", "email_consent"]
FEATURES = NUMERIC + CATEGORICAL
ALGORITHMS = ("xgboost", "lightgbm", "random_forest", "logistic")


def customers(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Customer features as of T, a binary label (bought in the next 30 days) and a
    three-class buyer stage, with missing values where the warehouse has them."""
    rng = np.random.default_rng(seed)
    frequency = rng.poisson(3, n)
    X = pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "recency_days": rng.integers(0, 400, n).astype(float),
            "frequency": frequency,
            "monetary": np.round(rng.gamma(2.0, 40.0, n) * (frequency + 1), 2),
            "orders_90d": rng.binomial(frequency, 0.4).astype(float),
            "sessions_30d": rng.poisson(4, n).astype(float),
            "country": rng.choice(
                np.array(["GB", "DE", "FR", "NL", None], dtype=object),
                n,
                p=[0.5, 0.2, 0.15, 0.1, 0.05],
            ),
            "loyalty_tier": rng.choice(["none", "silver", "gold"], n, p=[0.6, 0.3, 0.1]),
            "email_consent": rng.choice(np.array([True, False, None], dtype=object), n),
        }
    )
    X.loc[rng.random(n) < 0.08, "monetary"] = np.nan
    X.loc[rng.random(n) < 0.05, "sessions_30d"] = np.nan
    signal = 0.6 * X.orders_90d - 0.01 * X.recency_days + 0.2 * X.sessions_30d.fillna(0)
    y = (signal + rng.normal(0, 1, n) > np.quantile(signal, 0.7)).astype(int).to_numpy()
    stage = np.digitize(signal + rng.normal(0, 1, n), np.quantile(signal, [0.4, 0.75]))
    return X, y, stage


def _preprocessor(algorithm: str, text_columns: bool) -> ColumnTransformer:
    if algorithm in ("xgboost", "lightgbm"):
        numbers: Any = "passthrough"
    else:
        steps: list[tuple[str, Any]] = [
            ("impute", SimpleImputer(strategy="median", add_indicator=True))
        ]
        if algorithm == "logistic":
            steps.append(("scale", StandardScaler()))
        numbers = Pipeline(steps)
    text = Pipeline(
        [
            ("fill", SimpleImputer(strategy="constant", fill_value="(missing)")),
            (
                "onehot",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist", min_frequency=5, sparse_output=False
                ),
            ),
        ]
    )
    parts: list[tuple[str, Any, list[str]]] = [("num", numbers, NUMERIC)]
    if text_columns:
        parts.append(("cat", text, CATEGORICAL))
    return ColumnTransformer(parts)


def classifier(algorithm: str) -> Any:
    if algorithm == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1, random_state=0)
    if algorithm == "lightgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(n_estimators=20, num_leaves=8, n_jobs=1, random_state=0, verbose=-1)
    if algorithm == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=15, min_samples_leaf=2, n_jobs=1, random_state=0, class_weight="balanced"
        )
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000, class_weight="balanced")


def pipeline(
    algorithm: str, *, smote: bool = False, calibration: str | None = None, text: bool = True
) -> Any:
    """An unfitted pipeline: preprocessing, optional SMOTE, the classifier, optionally
    calibrated (``"sigmoid"`` or ``"isotonic"``); ``text=False`` uses the numbers only."""
    model = classifier(algorithm)
    if smote:
        from imblearn.over_sampling import SMOTE
        from imblearn.pipeline import Pipeline as ImbPipeline

        steps: list[tuple[str, Any]] = [("pre", _preprocessor(algorithm, text))]
        if algorithm in ("xgboost", "lightgbm"):  # SMOTE interpolates complete rows only
            steps.append(("impute", SimpleImputer(strategy="median")))
        built: Any = ImbPipeline([*steps, ("smote", SMOTE(random_state=0)), ("model", model)])
    else:
        built = Pipeline([("pre", _preprocessor(algorithm, text)), ("model", model)])
    if calibration:
        return CalibratedClassifierCV(built, method=calibration, cv=3)
    return built


#: every variant the allowlist must cover: (algorithm, smote, calibration, multi-class,
#: text columns). SMOTE's neighbour search keeps a KD-tree only for few input columns
#: (scikit-learn's "auto" goes brute force above 15), hence the numbers-only variant.
VARIANTS: dict[str, tuple[str, bool, str | None, bool, bool]] = {
    **{algo: (algo, False, None, False, True) for algo in ALGORITHMS},
    **{f"{algo}_smote": (algo, True, None, False, True) for algo in ALGORITHMS},
    "logistic_smote_numbers": ("logistic", True, None, False, False),
    "random_forest_sigmoid": ("random_forest", False, "sigmoid", False, True),
    "xgboost_isotonic": ("xgboost", False, "isotonic", False, True),
    "lightgbm_smote_sigmoid": ("lightgbm", True, "sigmoid", False, True),
    "xgboost_stage": ("xgboost", False, None, True, True),
    "lightgbm_stage": ("lightgbm", False, None, True, True),
    "logistic_stage": ("logistic", False, None, True, True),
}


def columns(variant: str) -> list[str]:
    """The input columns of a variant."""
    return FEATURES if VARIANTS[variant][4] else NUMERIC


def fitted(variant: str, X: pd.DataFrame, y: np.ndarray, stage: np.ndarray) -> Any:
    algorithm, smote, calibration, multi, text = VARIANTS[variant]
    model = pipeline(algorithm, smote=smote, calibration=calibration, text=text)
    return model.fit(X[columns(variant)], stage if multi else y)
