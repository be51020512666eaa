"""The allowlist: complete for segmint's pipelines, nothing more, and nothing else loads."""

from __future__ import annotations

import importlib
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from segmint.models import TRUSTED_TYPES, ModelIntegrityError, UntrustedModelError
from segmint.models._safety import dump_estimator, load_estimator, untrusted_types
from tests.models._pipelines import FEATURES, VARIANTS
from tests.models._tripwire import Tripwire


def test_allowlist_is_exactly_what_the_pipelines_need(models: dict[str, Any]) -> None:
    """Every type skops reports for every pipeline variant is allowed, and every allowed
    type is needed by some variant: the list neither misses a type (a model that cannot be
    loaded) nor grows types nothing uses."""
    reported: dict[str, set[str]] = {}
    for name, model in models.items():
        for t in sio.get_untrusted_types(data=sio.dumps(model)):
            reported.setdefault(t, set()).add(name)
    assert set(reported) - TRUSTED_TYPES == set()
    assert TRUSTED_TYPES - set(reported) == set()
    assert len(models) == len(VARIANTS)


@pytest.mark.parametrize("name", sorted(TRUSTED_TYPES))
def test_each_allowed_name_is_where_the_library_keeps_it(name: str) -> None:
    """Regression guard for a library release moving a private class (imblearn's SMOTE
    lives in ``_smote.base``): the name would then never match and loads would fail."""
    module, _, attr = name.rpartition(".")
    assert isinstance(getattr(importlib.import_module(module), attr), type)


def test_function_transformer_calling_os_system_is_refused() -> None:
    data = dump_estimator(Pipeline([("run", FunctionTransformer(func=os.system))]))
    refused = sorted(set(untrusted_types(data, what="x")) - TRUSTED_TYPES)
    assert refused and all(t.endswith(".system") for t in refused)
    with pytest.raises(UntrustedModelError, match=r"evil holds types .*\.system") as info:
        load_estimator(data, trusted=TRUSTED_TYPES, what="evil")
    assert info.value.types == refused


def test_refused_type_is_never_constructed(tmp_path: Path) -> None:
    """Nothing in a refused file runs: the tripwire's ``__setstate__`` would write the
    marker. The control load, trusting the type, shows that it would."""
    marker = tmp_path / "marker"
    data = sio.dumps({"model": Tripwire(marker)})
    with pytest.raises(UntrustedModelError, match=r"tests\.models\._tripwire\.Tripwire"):
        load_estimator(data, trusted=TRUSTED_TYPES, what="payload")
    assert not marker.exists()

    sio.loads(data, trusted=["tests.models._tripwire.Tripwire"])
    assert marker.read_text() == "executed while loading"


def test_types_outside_segmints_pipelines_are_refused(data: Any) -> None:
    """HistGradientBoosting is scikit-learn, but its predictor is not on the list (skops
    warns that a crafted one can crash the process); it needs an explicit trust."""
    X, y, _ = data
    model = HistGradientBoostingClassifier(max_iter=5).fit(X[FEATURES[:5]], y)
    payload = dump_estimator(model)
    with pytest.raises(UntrustedModelError, match="TreePredictor"):
        load_estimator(payload, trusted=TRUSTED_TYPES, what="hgb")
    extra = TRUSTED_TYPES | {"sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"}
    loaded = load_estimator(payload, trusted=extra, what="hgb")
    np.testing.assert_array_equal(
        loaded.predict_proba(X[FEATURES[:5]]), model.predict_proba(X[FEATURES[:5]])
    )


@pytest.mark.parametrize(
    "schema", [None, b"not json", b"[1]", b'{"protocol": 99}', b'{"__loader__": "EvilNode"}']
)
def test_bytes_that_are_not_a_skops_file(schema: bytes | None) -> None:
    """A pickle, a zip without a schema, or a schema skops cannot read: an integrity error,
    never an AttributeError from inside skops."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json" if schema is not None else "x", schema or b"1")
    for data in (b"\x80\x04K\x01.", buffer.getvalue()):
        with pytest.raises(ModelIntegrityError, match="not a readable skops file"):
            load_estimator(data, trusted=TRUSTED_TYPES, what="bytes")
