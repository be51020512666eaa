"""Inputs of the clusterer: frames, arrays, and samples drawn inside the warehouse."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from segmint.segments.clusters._data import as_frame, check_features, sample_table


def test_frames_keep_numeric_and_boolean_columns() -> None:
    df = pd.DataFrame(
        {"a": [1, 2], "flag": pd.array([True, None], dtype="boolean"), "s": ["x", "y"]}
    )
    frame, named = as_frame(df, None)
    assert named
    assert list(frame.columns) == ["a", "flag"]
    assert frame["flag"].tolist()[0] == 1.0
    assert np.isnan(frame["flag"].tolist()[1])


def test_text_features_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="feature column 's' is not numeric"):
        as_frame(pd.DataFrame({"s": ["x", "y"]}), ["s"])


def test_arrays_are_read_positionally() -> None:
    frame, named = as_frame(np.arange(6.0).reshape(3, 2), None)
    assert not named
    assert list(frame.columns) == ["x0", "x1"]
    with pytest.raises(ValueError, match="X has 2 features, but the model is expecting 3"):
        as_frame(np.arange(6.0).reshape(3, 2), ["a", "b", "c"])
    with pytest.raises(ValueError, match="infinity"):
        as_frame(np.array([[1.0], [np.inf]]), None)


@pytest.mark.parametrize(
    ("features", "error"), [("abc", TypeError), ([], ValueError), (["a", "a"], ValueError)]
)
def test_feature_lists_are_checked(features: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_features(features)


def test_warehouse_sample_reaches_every_part_of_the_table() -> None:
    # a limit after a larger draw would keep only the first rows in scan order
    con = ibis.duckdb.connect()
    table = con.create_table("t", pd.DataFrame({"i": np.arange(100_000, dtype=float)}))
    df = sample_table(table, ["i"], 10_000, seed=3)
    assert 9_500 <= len(df) <= 10_000
    tenths = np.bincount((df["i"] // 10_000).astype(int), minlength=10)
    assert tenths.min() > 0.8 * tenths.mean()
    again = sample_table(table, ["i"], 10_000, seed=3)
    assert again["i"].tolist() == df["i"].tolist()  # DuckDB samples with a seed


def test_small_tables_are_read_whole() -> None:
    table = ibis.memtable(pd.DataFrame({"i": [1.0, 2.0, 3.0], "s": ["a", "b", "c"]}))
    df = sample_table(table, None, 10, seed=0)
    assert df["i"].tolist() == [1.0, 2.0, 3.0]
    assert list(df.columns) == ["i"]
