"""The shop's business rules wherever recommendations are made: one function, three callers.

``segmint recommend train`` writes every customer's top N, ``segmint recommend show`` and
``Project.recommend`` answer for a few customers, and the API's context path ranks for a
moment (device, hour, ...). All three call :func:`recommend_for`, so the rules of
``recommend:`` in segmint.yaml (nothing already bought, nothing out of stock, at most N per
category, a price band around the customer's usual prices) hold in each the same way.

What the rules read besides the model is :class:`RuleData`: the purchases (customer and
product, net of returns), the catalogue's stock, category and price, and each customer's
price level. The batch and the library read it from the warehouse
(:func:`rule_data_from_warehouse`); the API has no warehouse, so ``recommend train`` saves
it beside the model version (:func:`save_rule_data`) and the server loads it with the model
(:func:`load_rule_data`): the rules it applies are those of the data the model was trained
on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from segmint.recommend._base import Recommender
from segmint.recommend._context import recommend_with_rules
from segmint.recommend._interactions import ITEM, USER, Interactions

if TYPE_CHECKING:
    from segmint.config import RecommendConfig
    from segmint.warehouse import IbisWarehouse

#: catalogue columns the rules read (the rest of the catalogue is not kept for serving)
RULE_COLUMNS = (ITEM, "title", "category", "price", "in_stock")


@dataclass(frozen=True)
class RuleData:
    """What the business rules read besides the model.

    ``history``: interactions whose purchases (``event_type == "purchase"``, or every row
    when there is no event type) with a positive net weight are "already bought";
    ``catalogue``: products with any of ``RULE_COLUMNS``; ``price_levels``: a customer's
    usual price (only read under a price band).
    """

    history: Interactions | None
    catalogue: pd.DataFrame | None
    price_levels: pd.Series | None = None


def rule_data_from_warehouse(
    wh: IbisWarehouse, cfg: RecommendConfig, interactions: Interactions, catalogue: pd.DataFrame
) -> RuleData:
    """The rules' data as the warehouse holds it now (``interactions`` and ``catalogue`` as
    :func:`~segmint.recommend.project_inputs` read them)."""
    from segmint.recommend._source import customer_price_levels

    levels = customer_price_levels(wh) if cfg.price_band else None
    return RuleData(interactions, catalogue if len(catalogue) else None, levels)


def recommend_for(
    model: Recommender,
    customer_ids: Sequence[str],
    *,
    k: int,
    cfg: RecommendConfig,
    data: RuleData,
    context: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Top ``k`` with reasons for each customer under the project's business rules: the
    one way segmint recommends (batch, library, CLI and API)."""
    from segmint.recommend._batch import rules_of

    if data.history is None and data.catalogue is None:
        # a model saved without its rules' data (before it was kept): what the model has
        # seen is all it can leave out
        return model.recommend([str(c) for c in customer_ids], k=k, context=context)
    return recommend_with_rules(
        model,
        [str(c) for c in customer_ids],
        k=k,
        rules=rules_of(cfg),
        history=data.history,
        catalogue=data.catalogue,
        price_levels=data.price_levels,
        context=dict(context) if context else None,
    )


def _paths(model_path: Path) -> dict[str, Path]:
    stem = model_path.with_suffix("")
    return {
        "purchases": stem.with_name(f"{stem.name}.purchases.parquet"),
        "catalogue": stem.with_name(f"{stem.name}.catalogue.parquet"),
        "price_levels": stem.with_name(f"{stem.name}.price-levels.parquet"),
    }


def save_rule_data(model_path: Path, data: RuleData) -> list[Path]:
    """Write ``data`` beside the model file ``model_path`` (``v0003.npz`` →
    ``v0003.purchases.parquet``, ...): only what the rules read, the purchases as pairs."""
    paths = _paths(model_path)
    written = []
    if data.history is not None and len(data.history):
        h = data.history.frame
        bought = h[h["event_type"] == "purchase"] if "event_type" in h.columns else h
        pairs = bought.groupby([USER, ITEM], observed=True)["weight"].sum()
        pairs = pairs[pairs > 0].reset_index()[[USER, ITEM]]
        pairs.to_parquet(paths["purchases"], index=False)
        written.append(paths["purchases"])
    if data.catalogue is not None and len(data.catalogue):
        cols = [c for c in RULE_COLUMNS if c in data.catalogue.columns]
        data.catalogue[cols].drop_duplicates(ITEM).to_parquet(paths["catalogue"], index=False)
        written.append(paths["catalogue"])
    if data.price_levels is not None and len(data.price_levels):
        frame = data.price_levels.rename("level").rename_axis(USER).reset_index()
        frame.to_parquet(paths["price_levels"], index=False)
        written.append(paths["price_levels"])
    return written


def load_rule_data(model_path: Path) -> RuleData:
    """What :func:`save_rule_data` wrote beside ``model_path`` (parts not written are None:
    a model saved before the rules' data was kept is served under the rules it can apply)."""
    paths = _paths(model_path)
    history = None
    if paths["purchases"].exists():
        pairs = pd.read_parquet(paths["purchases"])
        pairs["weight"] = 1.0
        pairs["event_type"] = "purchase"
        history = Interactions(pairs)
    catalogue = pd.read_parquet(paths["catalogue"]) if paths["catalogue"].exists() else None
    levels = None
    if paths["price_levels"].exists():
        levels = pd.read_parquet(paths["price_levels"]).set_index(USER)["level"]
    return RuleData(history, catalogue, levels)
