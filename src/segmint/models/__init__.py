"""The model registry: versioned predictive models with their metadata, loaded safely.

A trained estimator is registered under a name; each registration is a new, immutable
version (``v0001``, ``v0002``, ...) holding the model in the skops format and a
``metadata.json`` (features, data window, parameters, metrics, library versions, content
hash). One version per model can be promoted to production; loading checks the content hash,
refuses types outside an allowlist, and refuses a model whose features are not available.

In a notebook::

    from segmint.models import LocalArtifacts, ModelRegistry

    registry = ModelRegistry(LocalArtifacts(Path(".segmint")))
    registry.register("churn", pipeline, {"features": list(X.columns), "metrics": metrics})
    model = registry.get("churn", available=features_frame)  # production, else latest
    scores = model.estimator.predict_proba(features_frame[model.features])

See ``docs/models.md``.
"""

from __future__ import annotations

from segmint.models._errors import (
    ArtifactExistsError,
    ArtifactKeyError,
    ArtifactNotFoundError,
    ExtraFeaturesWarning,
    LibraryVersionWarning,
    ModelIntegrityError,
    ModelMetadataError,
    ModelMismatchError,
    ModelNameError,
    ModelNotFoundError,
    UntrustedModelError,
)
from segmint.models._features import check_features, dtype_kind, feature_dtypes
from segmint.models._metadata import ModelVersion, library_versions
from segmint.models._registry import LoadedModel, ModelRegistry, ModelSummary, project_registry
from segmint.models._safety import TRUSTED_TYPES
from segmint.models._store import ArtifactStore, LocalArtifacts, check_key

__all__ = [
    "TRUSTED_TYPES",
    "ArtifactExistsError",
    "ArtifactKeyError",
    "ArtifactNotFoundError",
    "ArtifactStore",
    "ExtraFeaturesWarning",
    "LibraryVersionWarning",
    "LoadedModel",
    "LocalArtifacts",
    "ModelIntegrityError",
    "ModelMetadataError",
    "ModelMismatchError",
    "ModelNameError",
    "ModelNotFoundError",
    "ModelRegistry",
    "ModelSummary",
    "ModelVersion",
    "UntrustedModelError",
    "check_features",
    "check_key",
    "dtype_kind",
    "feature_dtypes",
    "library_versions",
    "project_registry",
]
