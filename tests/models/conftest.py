"""Fixtures: a registry in a temporary folder and small fitted pipelines (fitted once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from segmint.models import LocalArtifacts, ModelRegistry
from tests.models._pipelines import VARIANTS, customers, fitted


@pytest.fixture(scope="session")
def data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    return customers()


@pytest.fixture(scope="session")
def models(data: tuple[pd.DataFrame, np.ndarray, np.ndarray]) -> dict[str, Any]:
    """Every pipeline variant, fitted once for the session."""
    X, y, stage = data
    return {name: fitted(name, X, y, stage) for name in VARIANTS}


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifacts:
    return LocalArtifacts(tmp_path / ".segmint")


@pytest.fixture
def registry(store: LocalArtifacts) -> ModelRegistry:
    return ModelRegistry(store)
