"""Assignment inside the warehouse gives the labels ``predict`` gives, on every backend."""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from segmint.segments.clusters import SegmentClusterer, assign, assign_expr
from segmint.warehouse import IbisWarehouse
from tests.segments.clusters.synthetic import behaviour, with_gaps

METHODS = ("kmeans", "minibatch", "gmm", "agglomerative", "dbscan", "hdbscan")


def _customers(wh: IbisWarehouse) -> pd.DataFrame:
    X = with_gaps(behaviour()[0])
    far = X.iloc[:3].copy()  # far from every cluster: unclustered for the density methods
    far[["frequency", "avg_order_value", "share_mobile", "views_30d"]] = [[1e6, 1e9, 50.0, 1e6]] * 3
    far["customer_id"] = ["far1", "far2", "far3"]
    X = pd.concat([X, far], ignore_index=True)
    wh.import_arrow("customers_x", pa.Table.from_pandas(X, preserve_index=False))
    return X


def _labels(wh: IbisWarehouse, expr: ibis.Table, ids: pd.Series) -> np.ndarray:
    got = wh.to_arrow(expr).to_pandas().set_index("customer_id")["cluster"]
    return got.reindex(ids).to_numpy()


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("pca", [None, 2])
def test_assign_equals_predict(wh: IbisWarehouse, method: str, pca: int | None) -> None:
    X = _customers(wh)
    features = [c for c in X.columns if c != "customer_id"]
    model = SegmentClusterer(method=method, k=3, features=features, pca=pca, random_state=0)
    model.fit(X.iloc[:-3])
    expected = model.predict(X)
    if method in ("dbscan", "hdbscan"):
        assert (expected[-3:] == -1).all()
    # nulls in a float, an integer and a boolean column: NULL must take the median in SQL as
    # NaN does in NumPy (a boolean's NULL once fell to the ELSE of a CASE: 0)
    assert X[["avg_order_value", "views_30d", "is_active"]].isna().any().all()
    table = wh.table("customers_x")
    labelled = assign(model, table)
    assert labelled.columns == (*table.columns, "cluster")
    np.testing.assert_array_equal(_labels(wh, labelled, X["customer_id"]), expected)


def test_assign_expr_is_the_same_expression(wh: IbisWarehouse) -> None:
    X = _customers(wh)
    model = SegmentClusterer(method="gmm", k=3, random_state=0).fit(X)
    t = wh.table("customers_x")
    expr = t.select("customer_id", cluster=assign_expr(model, t))
    np.testing.assert_array_equal(_labels(wh, expr, X["customer_id"]), model.predict(X))
    per_cluster = wh.to_arrow(
        t.group_by(cluster=assign_expr(model, t)).aggregate(n=t.count())
    ).to_pylist()
    assert {r["cluster"]: r["n"] for r in per_cluster} == dict(
        zip(*np.unique(model.predict(X), return_counts=True), strict=True)
    )


def test_an_existing_column_is_replaced_and_a_relabelled_model_assigns_its_ids() -> None:
    X, _ = behaviour()
    model = SegmentClusterer(k=3, random_state=0).fit(X).relabel({0: 7, 1: 4, 2: 12})
    t = ibis.memtable(X.assign(segment=-5))
    out = ibis.duckdb.connect().to_pandas(assign(model, t, column="segment"))
    assert list(out.columns) == [*X.columns, "segment"]
    np.testing.assert_array_equal(out["segment"].to_numpy(), model.predict(X))
    assert set(out["segment"]) == {4, 7, 12}


def test_missing_feature_columns_are_named() -> None:
    X, _ = behaviour()
    model = SegmentClusterer(k=3, random_state=0).fit(X)
    with pytest.raises(ValueError, match=r"lacks the feature columns \['views_30d'\]"):
        assign(model, ibis.memtable(X.drop(columns="views_30d")))
