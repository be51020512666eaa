"""The registry on real files: round trips, versions, races, promotion, tampering, checks."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from segmint.config import ProjectConfig
from segmint.models import (
    ArtifactExistsError,
    LibraryVersionWarning,
    LocalArtifacts,
    ModelIntegrityError,
    ModelMetadataError,
    ModelMismatchError,
    ModelNameError,
    ModelNotFoundError,
    ModelRegistry,
    UntrustedModelError,
    feature_dtypes,
    project_registry,
)
from tests.models._pipelines import FEATURES, VARIANTS, columns, customers
from tests.models._tripwire import Tripwire

ROOT = "models/predictive"


def _meta(X: pd.DataFrame, **extra: Any) -> dict[str, Any]:
    return {
        "entity": "customer",
        "label": {"kind": "purchase_within", "days": 30},
        "window": {"train_from": datetime(2011, 1, 1), "train_to": datetime(2011, 9, 1)},
        "parameters": {"n_estimators": 20},
        "metrics": {"roc_auc": 0.81, "pr_auc": 0.44, "per_class": {"1": {"f1": 0.5}}},
        "classes": [0, 1],
        "feature_dtypes": feature_dtypes(X),
        **extra,
    }


def _small(registry: ModelRegistry, name: str = "churn", seed: int = 0, **extra: Any) -> Any:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"orders_90d": rng.poisson(2, 50), "recency_days": rng.integers(0, 300, 50)})
    clf = LogisticRegression().fit(X, (X.orders_90d > 2).astype(int))
    return registry.register(name, clf, _meta(X, **extra))


def _file(store: LocalArtifacts, name: str, version: int, file: str) -> Path:
    return store.root / ROOT / name / f"v{version:04d}" / file


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_round_trip_gives_identical_probabilities(
    variant: str, models: dict[str, Any], data: Any, registry: ModelRegistry
) -> None:
    X, _, _ = data
    model = models[variant]
    registered = registry.register("purchase_intent", model, _meta(X[columns(variant)]))
    loaded = registry.get("purchase_intent")
    assert loaded.version == registered
    assert loaded.features == columns(variant)
    assert type(loaded.estimator) is type(model)
    np.testing.assert_array_equal(loaded.estimator.classes_, model.classes_)
    unseen = customers(n=80, seed=9)[0]  # rows neither model has seen
    for frame in (X, unseen):
        np.testing.assert_array_equal(
            loaded.estimator.predict_proba(frame[loaded.features]),
            model.predict_proba(frame[columns(variant)]),
        )


def test_files_and_metadata(models: dict[str, Any], data: Any, store: LocalArtifacts) -> None:
    X, _, _ = data
    registry = ModelRegistry(store)
    before = datetime.now(UTC)
    version = registry.register("purchase_intent", models["xgboost_smote"], _meta(X[FEATURES]))
    model_file = _file(store, "purchase_intent", 1, "model.skops")
    meta = json.loads(_file(store, "purchase_intent", 1, "metadata.json").read_text())
    data_bytes = model_file.read_bytes()

    assert meta["content_hash"] == "sha256:" + hashlib.sha256(data_bytes).hexdigest()
    assert meta["size"] == len(data_bytes) == version.size
    assert meta["name"] == "purchase_intent" and meta["version"] == 1
    assert meta["features"] == FEATURES  # from the pipeline's feature_names_in_
    assert meta["window"] == {
        "train_from": "2011-01-01T00:00:00",
        "train_to": "2011-09-01T00:00:00",
    }
    assert meta["feature_dtypes"]["email_consent"] == "object"
    created = datetime.fromisoformat(meta["created_at"])
    assert created.utcoffset() == timedelta(0) and before <= created <= datetime.now(UTC)
    assert set(meta["libraries"]) >= {
        "python",
        "segmint",
        "scikit-learn",
        "imbalanced-learn",
        "xgboost",
        "lightgbm",
        "skops",
        "numpy",
        "pandas",
    }
    assert meta["estimator_type"] == "imblearn.pipeline.Pipeline"
    assert "xgboost.core.Booster" in meta["trusted_types"]
    assert meta["format"] == "skops" and meta["file"] == "model.skops"
    assert version.metrics == {"roc_auc": 0.81, "pr_auc": 0.44}
    assert registry.metadata("purchase_intent") == meta


def test_versions_increment_and_are_never_overwritten(store: LocalArtifacts) -> None:
    registry = ModelRegistry(store)
    first = _small(registry, seed=1)
    original = _file(store, "churn", 1, "model.skops").read_bytes()
    second, third = _small(registry, seed=2), _small(registry, seed=3)
    assert [v.version for v in registry.versions("churn")] == [1, 2, 3]
    assert [first.label, second.label, third.label] == ["v0001", "v0002", "v0003"]
    assert _file(store, "churn", 1, "model.skops").read_bytes() == original
    with pytest.raises(ArtifactExistsError):
        store.write_bytes(f"{ROOT}/churn/v0001/model.skops", b"other", overwrite=False)
    assert registry.get("churn", 1).version.content_hash == first.content_hash


def test_half_written_version_is_not_listed_and_its_number_is_not_reused(
    store: LocalArtifacts,
) -> None:
    """A crash after the model file and before the metadata leaves a folder with a model
    only: it is no version, ``get`` never picks it, and the next one does not take its
    number (which would put new metadata beside a stranger's model)."""
    registry = ModelRegistry(store)
    _small(registry, seed=1)
    store.write_bytes(f"{ROOT}/churn/v0002/model.skops", b"half-registered", overwrite=False)
    assert [v.version for v in registry.versions("churn")] == [1]
    assert registry.get("churn").version.version == 1
    assert _small(registry, seed=2).version == 3
    assert [v.version for v in registry.versions("churn")] == [1, 3]
    assert store.read_bytes(f"{ROOT}/churn/v0002/model.skops") == b"half-registered"


def test_threads_registering_at_once_get_distinct_versions(store: LocalArtifacts) -> None:
    start = threading.Barrier(8)
    results: dict[int, Any] = {}
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        start.wait()
        try:
            results[seed] = _small(ModelRegistry(store), seed=seed, seed_used=seed)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(v.version for v in results.values()) == list(range(1, 9))
    registry = ModelRegistry(store)
    for seed, version in results.items():  # each number holds its own thread's model
        loaded = registry.get("churn", version.version)
        assert loaded.version.content_hash == version.content_hash
        assert loaded.metadata["seed_used"] == seed


def test_promote_production_and_defaults(store: LocalArtifacts) -> None:
    registry = ModelRegistry(store)
    for seed in (1, 2):
        _small(registry, seed=seed)
    assert registry.production("churn") is None
    assert registry.get("churn").version.version == 2  # nothing promoted: latest
    with pytest.raises(
        ModelNotFoundError, match=r"no production version.*segmint models promote churn"
    ):
        registry.get("churn", "production")

    promoted = registry.promote("churn", 1)
    _small(registry, seed=3)
    assert promoted.version == 1
    assert registry.production("churn") == registry.versions("churn")[0]
    assert registry.get("churn").version.version == 1  # promoted beats newer
    assert registry.get("churn", "production").version.version == 1
    assert registry.get("churn", "latest").version.version == 3
    assert [registry.get("churn", spec).version.version for spec in (2, "2", "v0002")] == [2] * 3
    pointer = json.loads((store.root / ROOT / "churn" / "production.json").read_text())
    assert pointer["version"] == 1 and pointer["previous"] is None
    assert datetime.fromisoformat(pointer["promoted_at"]).utcoffset() == timedelta(0)
    assert "promoted_by" in pointer

    registry.promote("churn", "latest")
    pointer = json.loads((store.root / ROOT / "churn" / "production.json").read_text())
    assert (pointer["version"], pointer["previous"]) == (3, 1)
    assert registry.get("churn").version.version == 3


def test_unknown_names_and_versions(registry: ModelRegistry) -> None:
    with pytest.raises(ModelNotFoundError, match=r"no model 'churn'.*`segmint train churn`"):
        registry.get("churn")
    _small(registry)
    with pytest.raises(ModelNotFoundError, match="no version 7; it has v0001"):
        registry.get("churn", 7)
    for spec in ("prod", 0, -1, True, "v"):
        with pytest.raises(ModelNameError, match="expected a number"):
            registry.get("churn", spec)
    for name in ("../churn", "Churn", "churn/v0001", ""):
        with pytest.raises(ModelNameError, match="lowercase identifier"):
            registry.get(name)
    with pytest.raises(ModelNameError):
        registry.promote("churn", "production")


def test_changed_model_bytes_are_refused(store: LocalArtifacts) -> None:
    registry = ModelRegistry(store)
    _small(registry)
    path = _file(store, "churn", 1, "model.skops")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="does not match the content hash"):
        registry.get("churn")
    with pytest.raises(ModelIntegrityError, match="does not match the content hash"):
        registry.promote("churn", 1)
    path.unlink()
    with pytest.raises(ModelIntegrityError, match=r"model file .* is gone"):
        registry.get("churn")


def test_a_forged_file_with_a_matching_hash_still_runs_nothing(
    store: LocalArtifacts, tmp_path: Path
) -> None:
    """Someone who can write the store replaces the model and fixes up the hash: the
    allowlist still refuses the payload before anything in it is built."""
    registry = ModelRegistry(store)
    _small(registry)
    marker = tmp_path / "ran"
    payload = sio.dumps({"model": Tripwire(marker)})
    _file(store, "churn", 1, "model.skops").write_bytes(payload)
    meta_path = _file(store, "churn", 1, "metadata.json")
    meta = json.loads(meta_path.read_text())
    meta["content_hash"] = "sha256:" + hashlib.sha256(payload).hexdigest()
    meta["size"] = len(payload)
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(
        UntrustedModelError, match=r"model 'churn' v0001 holds types .*Tripwire"
    ) as info:
        registry.get("churn")
    assert info.value.types == ["tests.models._tripwire.Tripwire"]
    assert not marker.exists()


def test_register_refuses_what_it_would_not_load(data: Any, store: LocalArtifacts) -> None:
    X, y, _ = data
    hgb = HistGradientBoostingClassifier(max_iter=5).fit(X[FEATURES[:5]], y)
    with pytest.raises(UntrustedModelError, match=r"TreePredictor.*trusted=") as info:
        ModelRegistry(store).register("churn", hgb, {})
    assert info.value.types == ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
    assert store.list_keys() == []
    trusting = ModelRegistry(store, trusted=info.value.types)
    trusting.register("churn", hgb, {})
    np.testing.assert_array_equal(
        trusting.get("churn").estimator.predict_proba(X[FEATURES[:5]]),
        hgb.predict_proba(X[FEATURES[:5]]),
    )
    with pytest.raises(UntrustedModelError):
        ModelRegistry(store).get("churn")  # another registry, without that trust


def test_register_refuses_bad_metadata(store: LocalArtifacts) -> None:
    registry = ModelRegistry(store)
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    fitted = LogisticRegression().fit(X, [0, 0, 1, 1])
    on_arrays = LogisticRegression().fit(X.to_numpy(), [0, 0, 1, 1])
    cases: list[tuple[Any, dict[str, Any], str]] = [
        (fitted, {"version": 9}, "metadata sets version, which the registry writes"),
        (fitted, {"content_hash": "x"}, "content_hash"),
        (fitted, {"features": ["b", "a"]}, r"not the columns the estimator was fitted on \(a, b\)"),
        (on_arrays, {}, "non-empty list of column names"),
        (fitted, {"metrics": {"fitted": fitted}}, r"metadata\['metrics'\]\['fitted'\]"),
        (fitted, {"feature_dtypes": {"c": "float64"}}, "not features: \\['c'\\]"),
    ]
    for estimator, meta, message in cases:
        with pytest.raises(ModelMetadataError, match=message):
            registry.register("churn", estimator, meta)
    assert store.list_keys() == []
    registry.register("churn", on_arrays, {"features": ["a", "b"]})
    assert registry.get("churn").features == ["a", "b"]


def test_feature_check_on_get(data: Any, models: dict[str, Any], registry: ModelRegistry) -> None:
    X, _, _ = data
    registry.register("purchase_intent", models["lightgbm"], _meta(X[FEATURES]))
    scoring = X.drop(columns=["sessions_30d"])
    with pytest.raises(ModelMismatchError) as info:
        registry.get("purchase_intent", available=scoring)
    assert str(info.value).startswith(
        "model 'purchase_intent' v0001 cannot score these columns: missing 1 of its 8 "
        "features: sessions_30d"
    )
    assert "Retrain it on the current features with `segmint train purchase_intent`" in str(
        info.value
    )
    changed = X.assign(frequency=X.frequency.astype(str))
    with pytest.raises(ModelMismatchError, match=r"frequency \(int64, number -> object, text\)"):
        registry.get("purchase_intent", available=changed)
    loaded = registry.get("purchase_intent", available=X)  # extra id column is fine
    with pytest.raises(ModelMismatchError, match="sessions_30d"):
        loaded.check_features(list(scoring.columns))


def test_library_version_change_warns_for_libraries_the_model_uses(store: LocalArtifacts) -> None:
    registry = ModelRegistry(store)
    _small(registry)
    path = _file(store, "churn", 1, "metadata.json")
    meta = json.loads(path.read_text())
    meta["libraries"].update({"scikit-learn": "0.24.2", "xgboost": "1.0.0"})
    path.write_text(json.dumps(meta))
    with pytest.warns(LibraryVersionWarning, match=r"scikit-learn 0\.24\.2 \(now ") as record:
        registry.get("churn")
    assert len(record) == 1 and "xgboost" not in str(record[0].message)  # not in this model
    assert record[0].filename == __file__


def test_models_lists_latest_and_production(store: LocalArtifacts) -> None:
    registry = ModelRegistry(store)
    assert registry.models() == []
    for seed in (1, 2, 3):
        _small(registry, "churn", seed)
    _small(registry, "purchase_intent", 4)
    registry.promote("churn", 2)
    store.write_bytes(f"{ROOT}/abandoned/v0001/model.skops", b"x")  # never completed
    summary = {m.name: m for m in registry.models()}
    assert sorted(summary) == ["churn", "purchase_intent"]
    churn = summary["churn"]
    assert (churn.latest.version, churn.production and churn.production.version, churn.count) == (
        3,
        2,
        3,
    )
    assert churn.latest.metrics == {"roc_auc": 0.81, "pr_auc": 0.44}
    assert summary["purchase_intent"].production is None
    assert isinstance(churn.latest.created_at, datetime)


def test_a_pointer_to_another_file_is_refused(store: LocalArtifacts) -> None:
    registry = ModelRegistry(store)
    _small(registry)
    registry.promote("churn", 1)
    path = store.root / ROOT / "churn" / "production.json"
    pointer = json.loads(path.read_text())
    path.write_text(json.dumps({**pointer, "content_hash": "sha256:00"}))
    with pytest.raises(ModelIntegrityError, match="not the file that was promoted"):
        registry.get("churn")
    path.write_text(json.dumps({**pointer, "version": 5}))
    with pytest.raises(ModelIntegrityError, match="points at version 5"):
        registry.production("churn")


def test_project_registry_lives_in_the_project_home(tmp_path: Path) -> None:
    cfg = ProjectConfig(project="shop", base_dir=tmp_path)
    registry = project_registry(cfg)
    _small(registry)
    assert (
        tmp_path / ".segmint" / "models" / "predictive" / "churn" / "v0001" / "model.skops"
    ).is_file()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert registry.get("churn").version.version == 1


def test_listing_and_promoting_do_not_import_skops(store: LocalArtifacts) -> None:
    """skops imports every scikit-learn estimator (seconds); `segmint models list|show|
    promote` must stay quick, so only saving and loading may import it."""
    registry = ModelRegistry(store)
    _small(registry)
    code = (
        "import sys; from pathlib import Path; "
        "from segmint.models import LocalArtifacts, ModelRegistry; "
        f"r = ModelRegistry(LocalArtifacts(Path({str(store.root)!r}))); "
        "r.models(); r.metadata('churn'); r.promote('churn', 1); r.versions('churn'); "
        "print(sorted(m for m in ('skops', 'sklearn', 'xgboost', 'lightgbm') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
