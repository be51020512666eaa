"""Recommendations: what to show each customer, with a reason, and how good it is offline.

Interactions come from the warehouse (events and orders, weighted, decayed, returns netted)
or from any user-item file; every model has one interface, ``fit(interactions)`` and
``recommend(customer_ids, k=..., exclude_seen=..., context=...)``. See ``docs/recommend.md``.

>>> import pandas as pd
>>> df = pd.DataFrame({"customer_id": list("aabbcc"), "product_id": list("xyxyxz")})
>>> model = EASE(l2=1.0).fit(Interactions.from_frame(df))
>>> model.recommend(["c"], k=1)[["customer_id", "product_id"]].values.tolist()
[['c', 'y']]
"""

from __future__ import annotations

from segmint.recommend._base import (
    OUTPUT_COLUMNS,
    Recommender,
    empty_recommendations,
    load_model,
    save_model,
)
from segmint.recommend._batch import (
    RECOMMENDATIONS,
    TrainedRecommender,
    load_project_model,
    project_inputs,
    rules_of,
    train_project,
    write_recommendations,
)
from segmint.recommend._content import ContentBased
from segmint.recommend._context import (
    BusinessRules,
    ContextAware,
    apply_rules,
    context_values,
    recommend_with_rules,
)
from segmint.recommend._ease import EASE, EDLAE
from segmint.recommend._evaluate import Evaluation, evaluate, sample_space, tune, tune_blend
from segmint.recommend._factorization import ALS, BPR
from segmint.recommend._graph import RP3beta
from segmint.recommend._hybrid import Hybrid
from segmint.recommend._interactions import Interactions
from segmint.recommend._metrics import ranking_metrics, relevant_items
from segmint.recommend._neighbors import ItemKNN
from segmint.recommend._popularity import Popularity
from segmint.recommend._registry import MODELS, SEARCH_SPACES, build
from segmint.recommend._source import (
    catalogue_from_warehouse,
    customer_price_levels,
    customer_segments,
    interactions_from_warehouse,
)
from segmint.recommend._split import SPLITS, leave_last_out, split, stratified_split, temporal_split

__all__ = [
    "ALS",
    "BPR",
    "EASE",
    "EDLAE",
    "MODELS",
    "OUTPUT_COLUMNS",
    "RECOMMENDATIONS",
    "SEARCH_SPACES",
    "SPLITS",
    "BusinessRules",
    "ContentBased",
    "ContextAware",
    "Evaluation",
    "Hybrid",
    "Interactions",
    "ItemKNN",
    "Popularity",
    "RP3beta",
    "Recommender",
    "TrainedRecommender",
    "apply_rules",
    "build",
    "catalogue_from_warehouse",
    "context_values",
    "customer_price_levels",
    "customer_segments",
    "empty_recommendations",
    "evaluate",
    "interactions_from_warehouse",
    "leave_last_out",
    "load_model",
    "load_project_model",
    "project_inputs",
    "ranking_metrics",
    "recommend_with_rules",
    "relevant_items",
    "rules_of",
    "sample_space",
    "save_model",
    "split",
    "stratified_split",
    "temporal_split",
    "train_project",
    "tune",
    "tune_blend",
    "write_recommendations",
]
