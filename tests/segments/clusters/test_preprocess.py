"""Preprocessor: imputation, log of skewed columns, robust scaling, PCA, in NumPy and SQL."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pytest

from segmint.segments.clusters import Preprocessor
from tests.segments.clusters.synthetic import behaviour, with_gaps


def test_hand_computed_constants() -> None:
    X = pd.DataFrame({"orders": [0, 1, 1, 2, 3, 40], "share": [0.0, 0.2, 0.5, 0.5, 0.8, 1.0]})
    pre = Preprocessor().fit(X)
    assert pre.logged_features == ["orders"]  # skewness 2.0 vs -0.0
    logged = np.log1p([0, 1, 1, 2, 3, 40])
    q25, med, q75 = np.percentile(logged, [25, 50, 75])
    np.testing.assert_allclose(pre.center_, [med, 0.5])
    np.testing.assert_allclose(pre.scale_, [q75 - q25, 0.725 - 0.275])
    np.testing.assert_allclose(pre.transform(X)[:, 0], (logged - med) / (q75 - q25))


def test_missing_values_take_the_raw_median() -> None:
    X = pd.DataFrame({"a": [1.0, np.nan, 3.0, 5.0, np.nan]})
    pre = Preprocessor(log=False).fit(X)
    assert pre.medians_.tolist() == [3.0]
    z = pre.transform(X)
    assert z[1, 0] == z[2, 0] == 0.0


def test_zero_iqr_falls_back_to_the_standard_deviation() -> None:
    rare = np.zeros(100)
    rare[:5] = 1.0  # most customers never do it: interquartile range 0
    pre = Preprocessor(log=False).fit(pd.DataFrame({"rare": rare, "const": np.ones(100)}))
    np.testing.assert_allclose(pre.scale_, [rare.std(), 1.0])


@pytest.mark.parametrize(
    ("log", "expected"),
    [(True, ["a", "b"]), (False, []), (["b"], ["b"]), ("auto", ["a"])],
)
def test_log_choices(log: object, expected: list[str]) -> None:
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"a": rng.lognormal(0, 1.5, 300), "b": rng.normal(size=300)})
    assert Preprocessor(log=log).fit(X).logged_features == expected  # type: ignore[arg-type]


def test_log_names_must_be_features() -> None:
    with pytest.raises(ValueError, match=r"not features: \['c'\]"):
        Preprocessor(log=["c"]).fit(pd.DataFrame({"a": [1.0, 2.0]}))


def test_signed_log_keeps_negative_values_apart() -> None:
    X = pd.DataFrame({"net": [-50.0, 0.0, 1.0, 2.0, 3.0, 500.0]})
    z = Preprocessor(log=True).fit(X).transform(X)[:, 0]
    assert (np.diff(z) > 0).all()


@pytest.mark.parametrize(("pca", "components"), [(2, 2), (0.999, 4)])
def test_pca_by_count_or_variance_share(pca: float, components: int) -> None:
    X, _ = behaviour()
    pre = Preprocessor(pca=pca, random_state=0).fit(X)
    assert pre.output_names == [f"pc{i + 1}" for i in range(components)]
    assert pre.transform(X).shape == (len(X), components)


def test_inverse_undoes_the_transformation() -> None:
    X, _ = behaviour()
    pre = Preprocessor().fit(X)
    np.testing.assert_allclose(pre.inverse(pre.transform(X)).to_numpy(), X.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("pca", [None, 3])
def test_warehouse_expression_equals_transform(pca: int | None) -> None:
    X = with_gaps(behaviour()[0])
    pre = Preprocessor(features=[c for c in X.columns if c != "customer_id"], pca=pca)
    pre.fit(X)
    t = ibis.memtable(X)
    got = ibis.duckdb.connect().to_pandas(t.select(**pre.expr(t)))
    np.testing.assert_allclose(got.to_numpy(), pre.transform(X), rtol=0, atol=1e-12)


def test_round_trip_through_a_dict() -> None:
    X, _ = behaviour()
    pre = Preprocessor(pca=2, random_state=0).fit(X)
    back = Preprocessor.from_dict(pre.to_dict())
    np.testing.assert_array_equal(back.transform(X), pre.transform(X))
    assert back.get_feature_names_out().tolist() == ["pc1", "pc2"]
