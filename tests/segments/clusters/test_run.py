"""run_clustering end to end: sample, fit, align, store versions, write every customer."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from segmint.config import ClusterConfig
from segmint.errors import ConfigError
from segmint.segments.clusters import (
    CLUSTERS,
    DEFAULT_FEATURES,
    ClusteringWarning,
    load_model,
    resolve_features,
    run_clustering,
)
from segmint.warehouse import IbisWarehouse
from tests.segments.clusters.synthetic import behaviour

T1 = datetime(2026, 9, 1)
T2 = datetime(2026, 10, 1)


def _features(seed: int, as_of: datetime) -> tuple[pd.DataFrame, np.ndarray]:
    """One as-of of a features table: the behaviour groups, the same 1,200 customers at
    every as-of (each keeps their group), plus columns clustering must leave alone."""
    X, y = behaviour(seed=seed)
    X["monetary"] = X["frequency"] * X["avg_order_value"]
    X.insert(0, "customer_id", [f"c{i:05d}" for i in range(len(X))])
    X.insert(1, "as_of", as_of)
    X["country"] = "DE"
    return X, y


def _load(wh: IbisWarehouse, *frames: pd.DataFrame) -> None:
    wh.import_arrow("features", pa.Table.from_pandas(pd.concat(frames), preserve_index=False))


def _at(wh: IbisWarehouse, as_of: datetime) -> ibis.Table:
    f = wh.table("features")
    return f.filter(f.as_of == ibis.timestamp(as_of))


def _assignments(wh: IbisWarehouse, as_of: datetime) -> pd.DataFrame:
    a = wh.table(CLUSTERS)
    rows = wh.to_arrow(a.filter(a.as_of == ibis.timestamp(as_of))).to_pandas()
    return rows.set_index("customer_id").sort_index()


def _majority(clusters: pd.Series, y: np.ndarray, ids: pd.Index) -> dict[int, int]:
    c = clusters.reindex(ids).to_numpy()
    return {int(g): int(pd.Series(c[y == g]).mode()[0]) for g in np.unique(y)}


def test_two_as_ofs_keep_ids(wh: IbisWarehouse, tmp_path: Path) -> None:
    X1, y = _features(0, T1)
    X2, _ = _features(1, T2)
    _load(wh, X1, X2)
    spec = ClusterConfig(name="behaviour", k=3, stability=3)

    first = run_clustering(wh, spec, _at(wh, T1), T1, tmp_path)
    assert (first.name, first.as_of, first.version, first.alignment) == ("behaviour", T1, 1, None)
    assert first.model.n_clusters_ == 3
    assert first.model.features_ == ["frequency", "monetary", "avg_order_value", "share_mobile"]
    assert first.model.stability_ is not None
    assert first.model.stability_["mean"] > 0.95
    assert first.model_path == tmp_path / "behaviour" / "v0001.json"
    rows1 = _assignments(wh, T1)
    assert len(rows1) == len(X1)
    assert first.sizes == rows1["cluster"].value_counts().to_dict()
    assert sum(first.sizes.values()) == len(X1)
    assert (rows1["clustering"] == "behaviour").all()
    assert (rows1["model_version"] == 1).all()
    assert (rows1["cluster_name"] == rows1["cluster"].map(first.model.names_)).all()
    np.testing.assert_array_equal(
        rows1["cluster"].reindex(X1["customer_id"]).to_numpy(), first.model.predict(X1)
    )

    second = run_clustering(wh, spec, _at(wh, T2), T2, tmp_path)
    assert second.version == 2
    assert second.alignment is not None
    assert second.alignment.fresh == []
    assert second.note is None
    rows2 = _assignments(wh, T2)
    assert (rows2["model_version"] == 2).all()
    ids = pd.Index(X1["customer_id"])
    assert _majority(rows2["cluster"], y, ids) == _majority(rows1["cluster"], y, ids)
    assert second.model.names_ == first.model.names_
    assert len(_assignments(wh, T1)) == len(X1)  # the first as-of's rows are kept

    assert sorted(p.name for p in (tmp_path / "behaviour").iterdir()) == [
        "v0001.json",
        "v0002.json",
    ]
    model, meta = load_model(tmp_path, "behaviour")
    np.testing.assert_array_equal(model.predict(X2), second.model.predict(X2))
    assert meta["version"] == 2
    assert meta["as_of"] == T2.isoformat()
    assert meta["n_customers"] == len(X2)
    assert meta["spec"]["name"] == "behaviour"
    assert meta["alignment"]["previous_version"] == 1
    assert {int(k): v for k, v in meta["alignment"]["mapping"].items()} == (
        second.alignment.mapping
    )
    assert load_model(tmp_path, "behaviour", version=1)[1]["alignment"] is None


def test_rerunning_an_as_of_replaces_its_rows_and_repeats_the_fit(
    wh: IbisWarehouse, tmp_path: Path
) -> None:
    X1, _ = _features(0, T1)
    _load(wh, X1)
    spec = ClusterConfig(name="again", k=3, sample_size=500, stability=0)
    first = run_clustering(wh, spec, _at(wh, T1), T1, tmp_path)
    assert first.model.n_samples_fit_ == 500
    assert first.model.stability_ is None
    second = run_clustering(wh, spec, _at(wh, T1), T1, tmp_path)
    assert second.version == 2
    rows = _assignments(wh, T1)
    assert len(rows) == len(X1)
    assert (rows["model_version"] == 2).all()
    # the sample is the same customers on every run, so the refit is the same model
    np.testing.assert_array_equal(first.model.cluster_centers_, second.model.cluster_centers_)
    assert second.alignment is not None
    assert all(k == v for k, v in second.alignment.mapping.items())


def test_changed_features_start_fresh_ids(tmp_path: Path) -> None:
    from segmint.warehouse import connect

    with connect("duckdb://:memory:") as wh:
        X1, _ = _features(0, T1)
        _load(wh, X1)
        first = run_clustering(
            wh, ClusterConfig(name="c", k=3, stability=0), _at(wh, T1), T1, tmp_path
        )
        spec = ClusterConfig(name="c", k=3, stability=0, features=["frequency", "views_30d"])
        with pytest.warns(ClusteringWarning, match="features changed"):
            second = run_clustering(wh, spec, _at(wh, T1), T1, tmp_path)
    assert second.note is not None
    assert "views_30d" in second.note
    assert sorted(second.sizes) == [3, 4, 5]  # from the first model's next_id_
    assert first.model.next_id_ == 3
    assert second.alignment is not None
    assert second.alignment.fresh == [0, 1, 2]
    meta = json.loads(second.model_path.read_text())["metadata"]
    assert "features changed" in meta["alignment"]["note"]


def test_unknown_features_name_the_feature_and_a_near_miss() -> None:
    table = ibis.table({"customer_id": "string", "frequency": "int64", "country": "string"})
    spec = ClusterConfig(name="x", features=["frequncy", "country", "zzz"])
    with pytest.raises(ConfigError) as err:
        resolve_features(spec, table)
    problems = err.value.problems
    assert problems[0] == "clusters 'x': unknown feature 'frequncy' (did you mean 'frequency'?)"
    assert "feature 'country' is string, not a number" in problems[1]
    assert "unknown feature 'zzz'" in problems[2]
    assert "frequncy" in str(err.value)


def test_default_features_skip_absent_ones() -> None:
    table = ibis.table(
        {"customer_id": "string", "share_mobile": "float64", "frequency": "int64", "x": "float64"}
    )
    assert resolve_features(ClusterConfig(name="x"), table) == ["frequency", "share_mobile"]
    assert set(DEFAULT_FEATURES) >= {"frequency", "monetary", "share_mobile"}
    with pytest.raises(ConfigError, match="none of the default features"):
        resolve_features(ClusterConfig(name="x"), ibis.table({"customer_id": "string"}))


def test_load_model_without_models() -> None:
    with pytest.raises(FileNotFoundError, match="no model of clustering 'nope'"):
        load_model(Path("/nonexistent"), "nope")
