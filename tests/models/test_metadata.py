"""Metadata made plain for JSON, and the library versions recorded."""

from __future__ import annotations

from datetime import date
from importlib import metadata as importlib_metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn

import segmint
from segmint.models import ModelMetadataError, library_versions
from segmint.models._metadata import headline, plain


def test_plain_converts_what_training_code_produces() -> None:
    value = {
        "window": {"train_from": date(2011, 1, 1), "as_of": [pd.Timestamp("2011-09-01", tz="UTC")]},
        "metrics": {"roc_auc": np.float64(0.8125), "n": np.int64(120), "auc_ci": (0.7, 0.9)},
        "classes": np.array([0, 1]),
        "features": pd.Index(["recency_days", "frequency"]),
        np.int64(1): {"f1": float("inf")},
        "tags": {"b", "a"},
        "path": Path("x/y"),
        "ok": np.bool_(True),
    }
    assert plain(value) == {
        "window": {"train_from": "2011-01-01", "as_of": ["2011-09-01T00:00:00+00:00"]},
        "metrics": {"roc_auc": 0.8125, "n": 120, "auc_ci": [0.7, 0.9]},
        "classes": [0, 1],
        "features": ["recency_days", "frequency"],
        "1": {"f1": None},
        "tags": ["a", "b"],
        "path": "x/y",
        "ok": True,
    }
    assert type(plain(np.float32(0.5))) is float


def test_a_value_without_json_form_is_named_by_its_place() -> None:
    with pytest.raises(
        ModelMetadataError, match=r"metadata\['metrics'\]\['model'\] is a .*LinearRegression"
    ):
        from sklearn.linear_model import LinearRegression

        plain({"metrics": {"model": LinearRegression()}})
    with pytest.raises(ModelMetadataError, match="key of type tuple"):
        plain({(1, 2): 3})


def test_headline_keeps_top_level_numbers() -> None:
    assert headline({"roc_auc": 0.8, "ok": True, "per_class": {"0": 1.0}, "n": 3}) == {
        "roc_auc": 0.8,
        "n": 3,
    }
    assert headline(None) == {}


def test_library_versions_come_from_the_installed_distributions() -> None:
    versions = library_versions()
    assert versions["segmint"] == segmint.__version__
    assert versions["scikit-learn"] == sklearn.__version__
    assert versions["python"].count(".") == 2
    import xgboost

    assert versions["xgboost"] == xgboost.__version__  # installed as xgboost-cpu
    for name in ("imbalanced-learn", "lightgbm", "skops", "numpy", "scipy", "pandas"):
        assert versions[name] == importlib_metadata.version(name)
