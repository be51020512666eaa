"""The project's model registry, trusting the predictive model container as well."""

from __future__ import annotations

from segmint.config import ProjectConfig
from segmint.models import LocalArtifacts, ModelRegistry

#: the class :func:`train_model` registers; the registry's allowlist covers what it holds
PREDICTIVE_TYPES = ("segmint.segments.predictive._model.PredictiveModel",)


def registry_for(cfg: ProjectConfig) -> ModelRegistry:
    """``<home>/models/predictive/``, able to load :class:`PredictiveModel` files."""
    return ModelRegistry(LocalArtifacts(cfg.home_dir), trusted=PREDICTIVE_TYPES)
