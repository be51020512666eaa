"""Feature checks: missing columns, changed dtypes, extra columns, every input form."""

from __future__ import annotations

import warnings
from typing import Any

import ibis
import pandas as pd
import pytest

from segmint.models import (
    ExtraFeaturesWarning,
    ModelMetadataError,
    ModelMismatchError,
    check_features,
    dtype_kind,
    feature_dtypes,
)

FEATURES = ["recency_days", "orders_90d", "country"]
META: dict[str, Any] = {
    "name": "purchase_intent",
    "version": 3,
    "features": FEATURES,
    "feature_dtypes": {"recency_days": "float64", "orders_90d": "int64", "country": "object"},
}


def test_all_features_present_passes_whatever_else_is_there() -> None:
    check_features(META, ["customer_id", "as_of", "country", "orders_90d", "recency_days"])


def test_missing_features_are_named_with_the_model_and_the_fix() -> None:
    with pytest.raises(ModelMismatchError) as info:
        check_features(META, ["customer_id", "recency_days"])
    message = str(info.value)
    assert message.startswith("model 'purchase_intent' v0003 cannot score these columns")
    assert "missing 2 of its 3 features: orders_90d, country" in message
    assert "`segmint train purchase_intent`" in message
    assert info.value.missing == ["orders_90d", "country"]


def test_dtype_kind_change_is_refused_but_width_changes_are_not() -> None:
    frame = pd.DataFrame(
        {"recency_days": [1, 2], "orders_90d": [1.0, None], "country": ["GB", "DE"]}
    )
    check_features(META, frame)  # int <-> float is the same kind: still numbers
    frame["orders_90d"] = ["1", "2"]
    with pytest.raises(
        ModelMismatchError, match=r"orders_90d \(int64, number -> object, text\)"
    ) as info:
        check_features(META, frame)
    assert info.value.changed == {"orders_90d": ("int64", "object")}
    assert info.value.missing == []


def test_mapping_and_ibis_table_give_dtypes() -> None:
    schema = {"recency_days": "float64", "orders_90d": "timestamp", "country": "string"}
    with pytest.raises(ModelMismatchError, match="orders_90d"):
        check_features(META, schema)
    table = ibis.table({"recency_days": "float64", "orders_90d": "int32", "country": "!string"})
    check_features(META, table)
    check_features(META, table.schema())


def test_without_recorded_dtypes_only_names_are_checked() -> None:
    meta = {k: v for k, v in META.items() if k != "feature_dtypes"}
    check_features(meta, {"recency_days": "object", "orders_90d": "object", "country": "x"})


def test_extra_columns_warn_only_when_asked_and_point_at_the_caller() -> None:
    available = [*FEATURES, "sessions_30d"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_features(META, available)
    with pytest.warns(ExtraFeaturesWarning, match="does not use 1 available column") as record:
        check_features(META, available, warn_extra=True)
    assert record[0].filename == __file__


def test_bad_inputs() -> None:
    with pytest.raises(TypeError, match="column names"):
        check_features(META, "recency_days")
    with pytest.raises(ModelMetadataError, match="non-empty list"):
        check_features({"name": "x"}, ["a"])
    with pytest.raises(ModelMetadataError, match="twice"):
        check_features({"features": ["a", "a"]}, ["a"])


@pytest.mark.parametrize(
    ("dtype", "kind"),
    [
        ("float32", "number"),
        ("Int64", "number"),
        ("uint8", "number"),
        ("boolean", "number"),
        ("decimal(10, 2)", "number"),
        ("category", "text"),
        ("string[pyarrow]", "text"),
        ("datetime64[us]", "datetime"),
        ("!timestamp('UTC')", "datetime"),
        ("date", "datetime"),
        ("date32[day]", "datetime"),
        ("interval", "interval"),  # regression: read as a number when kinds were prefixes
        ("time64[us]", "time64[us]"),
    ],
)
def test_dtype_kinds(dtype: str, kind: str) -> None:
    assert dtype_kind(dtype) == kind


def test_feature_dtypes_of_a_frame() -> None:
    frame = pd.DataFrame({"a": [1.5], "b": pd.Series(["x"], dtype="string")})
    assert feature_dtypes(frame) == {"a": "float64", "b": "string"}
    with pytest.raises(TypeError, match="DataFrame"):
        feature_dtypes(["a"])
