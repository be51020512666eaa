"""Features per customer, computed inside the warehouse as of a point in time.

>>> from segmint.features import compute_features  # doctest: +SKIP
>>> compute_features(wh, datetime(2011, 12, 10))  # doctest: +SKIP

:data:`CATALOG` lists the built-in features; ``segmint features list`` prints them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segmint._lazy import exports

if TYPE_CHECKING:
    from segmint.features._catalog import CATALOG, WINDOWS, FeatureDef
    from segmint.features._compute import (
        FEATURES,
        FeatureRun,
        compute_features,
        data_end,
        feature_table,
        latest_features,
    )

__all__ = [
    "CATALOG",
    "FEATURES",
    "WINDOWS",
    "FeatureDef",
    "FeatureRun",
    "compute_features",
    "data_end",
    "feature_table",
    "latest_features",
]
__getattr__, __dir__ = exports(__name__, __file__, __all__)
