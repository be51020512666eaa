"""Code run in other processes by the tests (spawned, so it must be importable and light)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_exclusive(root: str, i: int, start: Any, results: Any) -> None:
    """Wait for every racer, then write one key exclusively; report (i, won)."""
    from segmint.models import ArtifactExistsError, LocalArtifacts

    store = LocalArtifacts(Path(root))
    start.wait()
    try:
        store.write_bytes(
            "models/predictive/churn/v0001/model.skops", bytes([i]) * 200_000, overwrite=False
        )
        results.put((i, True))
    except ArtifactExistsError:
        results.put((i, False))
