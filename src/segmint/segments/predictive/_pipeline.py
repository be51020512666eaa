"""The model pipelines: preprocessing and classifier in one scikit-learn (or imbalanced-learn)
pipeline, so encoding, scaling, imputation and oversampling are refitted inside every
cross-validation fold and never see a validation row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import loguniform, randint, uniform
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

#: algorithms whose trees take missing numbers as they are
NATIVE_MISSING = frozenset({"xgboost", "lightgbm"})
#: categories rarer than this are pooled into one "infrequent" column
MIN_CATEGORY_ROWS = 20
MAX_CATEGORIES = 30


def preprocessor(numeric: list[str], categorical: list[str], algorithm: str) -> ColumnTransformer:
    """Numbers imputed (median, with missing-value indicators) and scaled for the linear
    model; strings one-hot encoded with rare and unseen values pooled."""
    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        if algorithm in NATIVE_MISSING:
            parts.append(("num", "passthrough", numeric))
        else:
            steps: list[tuple[str, Any]] = [
                (
                    "impute",
                    SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                )
            ]
            if algorithm == "logistic":
                steps.append(("scale", StandardScaler()))
            parts.append(("num", Pipeline(steps), numeric))
    if categorical:
        parts.append(
            (
                "cat",
                Pipeline(
                    [
                        ("fill", SimpleImputer(strategy="constant", fill_value="(missing)")),
                        (
                            "onehot",
                            OneHotEncoder(
                                handle_unknown="infrequent_if_exist",
                                min_frequency=MIN_CATEGORY_ROWS,
                                max_categories=MAX_CATEGORIES,
                                sparse_output=False,
                            ),
                        ),
                    ]
                ),
                categorical,
            )
        )
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=True)


def classifier(
    algorithm: str, *, balanced: bool, n_classes: int, random_state: int, n_jobs: int = 2
) -> Any:
    """The classifier with defaults that work without a search, on ``n_jobs`` threads."""
    weight = "balanced" if balanced else None
    if algorithm == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(
            n_estimators=400,
            max_depth=4,
            learning_rate=0.05,
            subsample=0.8,
            colsample_bytree=0.8,
            min_child_weight=3,
            tree_method="hist",
            n_jobs=n_jobs,
            random_state=random_state,
            eval_metric="logloss" if n_classes == 2 else "mlogloss",
        )
    if algorithm == "lightgbm":
        try:
            from lightgbm import LGBMClassifier
        except ImportError:
            from segmint.errors import ConfigError

            raise ConfigError(
                "algorithm: lightgbm needs LightGBM: pip install 'segmint[lightgbm]'"
            ) from None

        return LGBMClassifier(
            n_estimators=400,
            learning_rate=0.05,
            num_leaves=31,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            class_weight=weight,
            n_jobs=n_jobs,
            random_state=random_state,
            verbose=-1,
        )
    if algorithm == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=300,
            min_samples_leaf=2,
            max_features="sqrt",
            class_weight=weight,
            n_jobs=n_jobs,
            random_state=random_state,
        )
    if algorithm == "logistic":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=2000, C=1.0, class_weight=weight)
    raise ValueError(
        f"algorithm={algorithm!r}: expected xgboost, lightgbm, random_forest, logistic"
    )


def build_pipeline(
    algorithm: str,
    numeric: list[str],
    categorical: list[str],
    *,
    imbalance: str,
    n_classes: int,
    random_state: int,
    n_jobs: int = 2,
) -> Any:
    """Preprocessing, optional SMOTE, then the classifier, as one estimator.

    With ``imbalance='smote'`` it is an imbalanced-learn pipeline: SMOTE resamples only when
    the pipeline is fitted (each training fold), never when it predicts.
    """
    pre = preprocessor(numeric, categorical, algorithm)
    model = classifier(
        algorithm,
        balanced=imbalance == "class_weight",
        n_classes=n_classes,
        random_state=random_state,
        n_jobs=n_jobs,
    )
    if imbalance == "smote":
        from imblearn.over_sampling import SMOTE
        from imblearn.pipeline import Pipeline as ImbPipeline

        impute = algorithm in NATIVE_MISSING  # SMOTE interpolates: it needs complete rows
        steps: list[tuple[str, Any]] = [("pre", pre)]
        if impute:
            steps.append(("impute", SimpleImputer(strategy="median", keep_empty_features=True)))
        steps += [("smote", SMOTE(random_state=random_state, k_neighbors=5)), ("model", model)]
        return ImbPipeline(steps)
    return Pipeline([("pre", pre), ("model", model)])


def fit_params(algorithm: str, imbalance: str, y: Any) -> dict[str, Any]:
    """Fit parameters the pipeline needs: XGBoost takes class weights as sample weights."""
    if imbalance == "class_weight" and algorithm == "xgboost":
        return {"model__sample_weight": compute_sample_weight("balanced", np.asarray(y))}
    return {}


def search_space(algorithm: str, *, trees_by_cv: bool = False) -> dict[str, Any]:
    """Hyperparameter distributions for the randomized search (``model__`` prefixed).

    With ``trees_by_cv`` (the plain search, which reads a boosted model's tree count off its
    folds) ``n_estimators`` is a ceiling, so the boosted trees reach lower learning rates
    with more trees; the successive-halving search of large sets samples the count itself.
    """
    spaces: dict[str, dict[str, Any]] = {
        "xgboost": {
            "n_estimators": randint(150, 800),
            "max_depth": randint(2, 8),
            "learning_rate": loguniform(0.01, 0.2),
            "subsample": uniform(0.6, 0.4),
            "colsample_bytree": uniform(0.4, 0.6),
            "min_child_weight": loguniform(1, 20),
            "reg_lambda": loguniform(0.3, 30),
        },
        "lightgbm": {
            "n_estimators": randint(150, 800),
            "num_leaves": randint(8, 96),
            "learning_rate": loguniform(0.01, 0.2),
            "min_child_samples": randint(5, 80),
            "colsample_bytree": uniform(0.4, 0.6),
            "reg_lambda": loguniform(0.01, 30),
        },
        "random_forest": {
            "n_estimators": randint(150, 500),
            "max_depth": [None, 6, 10, 16, 24],
            "min_samples_leaf": randint(1, 20),
            "max_features": ["sqrt", 0.2, 0.35, 0.5],
        },
        "logistic": {"C": loguniform(1e-3, 1e2)},
    }
    if trees_by_cv:
        spaces["xgboost"].update(
            n_estimators=randint(400, 1500),
            learning_rate=loguniform(0.01, 0.1),
            max_depth=randint(2, 7),
            subsample=uniform(0.5, 0.5),
            colsample_bytree=uniform(0.3, 0.7),
            min_child_weight=loguniform(1, 30),
        )
        spaces["lightgbm"].update(
            n_estimators=randint(400, 1500),
            learning_rate=loguniform(0.01, 0.1),
            num_leaves=randint(4, 64),
            min_child_samples=randint(5, 100),
            subsample=uniform(0.5, 0.5),
            colsample_bytree=uniform(0.3, 0.7),
        )
    return {f"model__{k}": v for k, v in spaces[algorithm].items()}
