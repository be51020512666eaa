"""Model names, their classes and the hyperparameters a search tries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from segmint.errors import ConfigError
from segmint.recommend._base import Recommender
from segmint.recommend._content import ContentBased
from segmint.recommend._context import ContextAware
from segmint.recommend._ease import EASE, EDLAE
from segmint.recommend._factorization import ALS, BPR
from segmint.recommend._graph import RP3beta
from segmint.recommend._hybrid import Hybrid
from segmint.recommend._neighbors import ItemKNN
from segmint.recommend._popularity import Popularity

#: every model by the name the project file and the CLI use
MODELS: dict[str, type[Recommender]] = {
    "popularity": Popularity,
    "item_knn": ItemKNN,
    "als": ALS,
    "bpr": BPR,
    "ease": EASE,
    "edlae": EDLAE,
    "rp3beta": RP3beta,
    "content": ContentBased,
    "hybrid": Hybrid,
    "context": ContextAware,
}

#: candidate values per tunable hyperparameter; a search samples combinations of them
SEARCH_SPACES: dict[str, dict[str, list[Any]]] = {
    "item_knn": {
        "similarity": ["bm25", "cosine"],
        "neighbours": [20, 50, 100, 200, 400],
        "k1": [0.8, 1.2, 2.0],
        "b": [0.5, 0.75, 0.9],
    },
    "als": {
        "factors": [32, 64, 128, 200],
        "regularization": [0.01, 0.05, 0.1, 0.5],
        "alpha": [1.0, 2.0, 5.0, 10.0, 20.0],
        "iterations": [15, 25],
    },
    # implicit's BPR overfits past ~100 epochs at lr 0.01 and does worse at 0.05 and above on
    # MovieLens 100K; validation chose negative_smoothing 4 over 2 on all five seeds, so it
    # stays at its default (bench/results/issue22-recommend.md)
    "bpr": {
        "factors": [64, 128, 200],
        "learning_rate": [0.005, 0.01, 0.02],
        "regularization": [0.001, 0.01, 0.03],
        "iterations": [50, 100],
    },
    "ease": {"l2": [50.0, 100.0, 200.0, 300.0, 500.0, 800.0, 1200.0, 2000.0, 4000.0]},
    "edlae": {
        "l2": [100.0, 200.0, 300.0, 500.0, 800.0],
        "dropout": [0.1, 0.2, 0.33, 0.5, 0.67],
        "emphasized": [True, False],
    },
    "rp3beta": {
        "alpha": [0.4, 0.6, 0.8, 1.0, 1.2],
        "beta": [0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
        "neighbours": [50, 100, 200, 300, 500],
    },
    "popularity": {},
    "content": {"tag_weight": [0.25, 0.5, 1.0, 2.0]},
    "context": {"strength": [0.0, 0.25, 0.5, 1.0], "smoothing": [10.0, 50.0, 200.0]},
}


def build(name: str, params: Mapping[str, Any] | None = None) -> Recommender:
    """A new, unfitted model by name, with ``params`` passed to its constructor."""
    cls = MODELS.get(name)
    if cls is None:
        raise ConfigError(f"recommender {name!r} is unknown; choose from {sorted(MODELS)}")
    try:
        return cls(**dict(params or {}))
    except TypeError as exc:
        raise ConfigError(f"recommender {name!r}: {exc}") from None


def class_name(model: Recommender) -> str:
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    raise TypeError(f"{type(model).__name__} is not a segmint recommender")


def model_class(name: str) -> type[Recommender]:
    cls = MODELS.get(name)
    if cls is None:
        raise ConfigError(f"saved model names class {name!r}, not one of {sorted(MODELS)}")
    return cls
