"""Data with known groups for the clustering tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import make_blobs

#: the behaviour groups: frequent low-basket mobile buyers, infrequent high-basket desktop
#: buyers, and heavy browsers who rarely buy
GROUPS = ("frequent mobile", "high-basket desktop", "browsers")
#: per group: mean orders, log-mean basket value, beta of the mobile share, mean views
_SPECS: tuple[tuple[float, float, tuple[float, float], float], ...] = (
    (15.0, 3.0, (9.0, 1.5), 40.0),
    (1.5, 5.0, (1.5, 9.0), 8.0),
    (0.2, 3.8, (4.0, 4.0), 150.0),
)


def blobs(n: int = 1200, centers: int = 4, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Well-separated Gaussian blobs in 4 dimensions, as a frame, with their labels."""
    X, y = make_blobs(
        n_samples=n, centers=centers, n_features=4, cluster_std=1.0, random_state=seed
    )
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(4)]), np.asarray(y)


def behaviour(
    sizes: tuple[int, int, int] = (500, 400, 300), seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    """Skewed, count-like customer features in the three :data:`GROUPS` (long tails, a
    share in [0, 1]), the way order and view counts look, with each row's group."""
    rng = np.random.RandomState(seed)
    parts = []
    for group, (n, (orders, basket, mobile, views)) in enumerate(zip(sizes, _SPECS, strict=True)):
        parts.append(
            pd.DataFrame(
                {
                    "frequency": rng.negative_binomial(5, 5 / (5 + orders), n),
                    "avg_order_value": rng.lognormal(basket, 0.35, n),
                    "share_mobile": rng.beta(mobile[0], mobile[1], n),
                    "views_30d": rng.negative_binomial(4, 4 / (4 + views), n),
                    "group": group,
                }
            )
        )
    df = pd.concat(parts, ignore_index=True)
    return df.drop(columns="group"), df["group"].to_numpy()


def with_gaps(X: pd.DataFrame, seed: int = 1) -> pd.DataFrame:
    """``X`` plus an ``is_active`` flag and ``customer_id``, with about 5% of the
    ``avg_order_value``, ``views_30d`` and ``is_active`` values missing."""
    rng = np.random.RandomState(seed)
    out = X.astype({"views_30d": "Int64"})  # an integer column with nulls
    out["is_active"] = pd.array(out["frequency"] > 3, dtype="boolean")
    for col in ("avg_order_value", "views_30d", "is_active"):
        out.loc[rng.rand(len(out)) < 0.05, col] = np.nan if col == "avg_order_value" else pd.NA
    out["customer_id"] = [f"c{i:05d}" for i in range(len(out))]
    return out


def noise(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """Structureless Gaussian noise in 4 dimensions."""
    rng = np.random.RandomState(seed)
    return pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
