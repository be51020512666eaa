"""The scoring container: the cold-start fallback takes exactly the thin rows; reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from segmint.segments.predictive import PredictiveModel
from segmint.segments.predictive._pipeline import build_pipeline


def test_fallback_scores_only_rows_below_min_history() -> None:
    X = pd.DataFrame({"views": [5.0, 0.0, 3.0], "country": ["DE", "FR", "DE"]})
    main = DummyClassifier(strategy="constant", constant=1).fit(X[["views"]], [0, 1, 1])
    fb = DummyClassifier(strategy="constant", constant=0).fit(X[["country"]], [0, 1, 0])
    model = PredictiveModel(main, [0, 1], ["views"], 0.5, fb, ["country"], min_history=1)
    proba = model.predict_proba(X, history=[4, 0, 2])
    assert proba[:, 1].tolist() == [1.0, 0.0, 1.0]  # the middle row has no history
    assert model.predict(X, history=[4, 0, 2]).tolist() == [1, 0, 1]
    # without histories (a session model) the main model scores everything
    assert model.predict_proba(X)[:, 1].tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="lack the model's features"):
        model.predict_proba(X.drop(columns="views"))


@pytest.mark.parametrize("algorithm", ["xgboost", "logistic", "random_forest", "lightgbm"])
def test_reasons_name_the_column_that_drives_the_score(algorithm: str) -> None:
    """Whatever the algorithm, the column the label depends on is the top reason for the
    rows it pushes up."""
    rng = np.random.RandomState(0)
    n = 600
    X = pd.DataFrame(
        {
            "page_values": rng.exponential(10, n),
            "noise": rng.normal(size=n),
            "device": rng.choice(["mobile", "desktop"], n),
        }
    )
    y = (X.page_values > 12).astype(int)
    pipe = build_pipeline(
        algorithm,
        ["page_values", "noise"],
        ["device"],
        imbalance="none",
        n_classes=2,
        random_state=0,
    )
    pipe.fit(X, y)
    model = PredictiveModel(
        pipe,
        [0, 1],
        list(X.columns),
        0.5,
        typical={"page_values": 7.0, "noise": 0.0, "device": "mobile"},
    )
    high = X[X.page_values > 30].head(5)
    for text in model.reasons(high):
        assert text.startswith("page_values="), text
