"""The project's recommender: evaluate, tune, fit on everything, save a version, write top-N.

``train_project`` builds interactions from the warehouse, compares every configured model
against popularity on a held-out split (tuning on validation carved from the training part),
fits the hybrid on all interactions with the chosen parameters and weights, saves it as a new
version under ``<home>/recommenders/`` and writes each customer's top N, with reasons, to the
warehouse table ``recommendations`` (replaced in one transaction).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from segmint.config import ProjectConfig, RecommendConfig
from segmint.errors import NotFoundError, SchemaError
from segmint.recommend._base import Recommender, load_model, save_model
from segmint.recommend._context import BusinessRules, ContextAware
from segmint.recommend._evaluate import Evaluation, Progress, evaluate, hybrid_params
from segmint.recommend._hybrid import Hybrid
from segmint.recommend._interactions import USER, Interactions
from segmint.recommend._serving import recommend_for, rule_data_from_warehouse, save_rule_data
from segmint.recommend._source import (
    catalogue_from_warehouse,
    customer_segments,
    interactions_from_warehouse,
)
from segmint.schema import Col, T
from segmint.sql import ident
from segmint.warehouse import IbisWarehouse

RECOMMENDATIONS = "recommendations"
RECOMMENDATIONS_SCHEMA = {
    "customer_id": "VARCHAR",
    "product_id": "VARCHAR",
    "rank": "BIGINT",
    "score": "DOUBLE",
    "reason": "VARCHAR",
    "reason_product_id": "VARCHAR",
    "strategy": "VARCHAR",
    "model": "VARCHAR",
    "model_version": "VARCHAR",
    "generated_at": "TIMESTAMP",
}
_WRITE_BATCH = 5_000


@dataclass
class TrainedRecommender:
    """What :func:`train_project` produced."""

    model: Hybrid | ContextAware
    version: str
    path: Path
    evaluation: Evaluation | None
    interactions: Interactions
    catalogue: pd.DataFrame
    segments: pd.Series
    written: int = 0


def rules_of(cfg: RecommendConfig) -> BusinessRules:
    """The business rules the project file sets."""
    return BusinessRules(
        exclude_purchased=cfg.exclude_purchased,
        exclude_out_of_stock=cfg.exclude_out_of_stock,
        max_per_category=cfg.max_per_category,
        price_band=tuple(cfg.price_band) if cfg.price_band else None,  # type: ignore[arg-type]
    )


def project_inputs(
    wh: IbisWarehouse, cfg: ProjectConfig, *, as_of: datetime | None = None
) -> tuple[Interactions, pd.DataFrame, pd.Series]:
    """Interactions, catalogue and customer segments of a project's warehouse."""
    rc = cfg.recommend
    inter = interactions_from_warehouse(wh, rc.interactions, as_of=as_of)
    if len(inter) == 0:
        weighted = sorted(rc.interactions.weights)
        raise SchemaError(
            "no interactions to recommend from: the warehouse has no events with a product "
            f"and an event type in recommend.interactions.weights ({weighted}) and no order "
            "lines with a customer (run `segmint ingest` first)"
        )
    catalogue = catalogue_from_warehouse(wh)
    segments = customer_segments(wh, rc.segment_kind, as_of=as_of)
    return inter, catalogue, segments


def train_project(
    wh: IbisWarehouse,
    cfg: ProjectConfig,
    *,
    evaluate_first: bool = True,
    write: bool = True,
    progress: Progress | None = None,
) -> TrainedRecommender:
    """Evaluate, tune, fit on all interactions, save a version and write the top N."""
    say = progress or (lambda _m: None)
    rc = cfg.recommend
    say("reading interactions")
    inter, catalogue, segments = project_inputs(wh, cfg)
    members = [m for m in rc.models if m not in ("popularity", "hybrid", "context")]
    cat = catalogue if len(catalogue) else None
    evaluation = None
    params: dict[str, dict[str, Any]] = {}
    weights: dict[str, float] | None = None
    if evaluate_first:
        evaluation = evaluate(
            inter,
            [*rc.models, "hybrid"] if "hybrid" not in rc.models else rc.models,
            split_method=rc.split,
            test_size=rc.test_size,
            k=rc.k,
            seed=rc.random_state,
            search=rc.search,
            catalogue=cat,
            segments=segments if len(segments) else None,
            progress=say,
        )
        params, weights = evaluation.params, evaluation.weights or None
    say("fitting the hybrid on all interactions")
    blend = hybrid_params(members or ["ease"], params, weights, rc.thin_history)
    model: Hybrid | ContextAware
    if "context" in rc.models:
        model = ContextAware(base="hybrid", params=blend, **params.get("context", {}))
    else:
        model = Hybrid(**blend)
    model.fit(inter, catalogue=cat, segments=segments if len(segments) else None)
    if cat is not None and "title" in cat.columns:
        model.set_labels(cat.set_index("product_id")["title"].dropna().astype(str).to_dict())
    version, path = _save(cfg, model, inter, evaluation)
    # what the business rules read, beside the model: the API applies them from there
    save_rule_data(path, rule_data_from_warehouse(wh, rc, inter, catalogue))
    out = TrainedRecommender(model, version, path, evaluation, inter, catalogue, segments)
    if write:
        say("writing recommendations")
        out.written = write_recommendations(
            wh, cfg, model, version, interactions=inter, catalogue=catalogue, progress=say
        )
    return out


def write_recommendations(
    wh: IbisWarehouse,
    cfg: ProjectConfig,
    model: Recommender,
    version: str,
    *,
    interactions: Interactions,
    catalogue: pd.DataFrame,
    customers: list[str] | None = None,
    progress: Progress | None = None,
) -> int:
    """Top N for every customer (default: all in ``customers`` and all with interactions)."""
    rc = cfg.recommend
    ids = customers if customers is not None else all_customers(wh, interactions)
    data = rule_data_from_warehouse(wh, rc, interactions, catalogue)
    now = datetime.now(UTC).replace(tzinfo=None)
    stage = f"_{RECOMMENDATIONS}_new"
    incoming = f"_{RECOMMENDATIONS}_in"
    wh.execute(f"DROP TABLE IF EXISTS {ident(stage)}")
    wh.ensure_table(stage, RECOMMENDATIONS_SCHEMA)
    total = 0
    for start in range(0, len(ids), _WRITE_BATCH):
        part = recommend_for(model, ids[start : start + _WRITE_BATCH], k=rc.k, cfg=rc, data=data)
        part = part.assign(model=model.name, model_version=version, generated_at=now)
        frame = part[list(RECOMMENDATIONS_SCHEMA)]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if len(frame):
            # import_arrow loads into a temporary table (replaced on each call): copy each
            # batch into the stored stage, or the swap would rename a temp table away
            wh.import_arrow(incoming, table)
            cols = ", ".join(ident(c) for c in RECOMMENDATIONS_SCHEMA)
            wh.execute(f"INSERT INTO {ident(stage)} ({cols}) SELECT {cols} FROM {ident(incoming)}")
            total += len(frame)
        if progress:
            progress(f"recommended for {min(start + _WRITE_BATCH, len(ids)):,} of {len(ids):,}")
    wh.execute(f"DROP TABLE IF EXISTS {ident(incoming)}")
    _swap(wh, stage, RECOMMENDATIONS)
    return total


def all_customers(wh: IbisWarehouse, interactions: Interactions) -> list[str]:
    """Every unified customer, plus anyone with interactions."""
    ids = set(interactions.frame[USER].unique())
    if wh.has_table(T.CUSTOMERS):
        t = wh.table(T.CUSTOMERS)
        ids |= {str(c) for c in wh.to_arrow(t.select(Col.CUSTOMER_ID)).column(0).to_pylist() if c}
    return sorted(ids)


def _swap(wh: IbisWarehouse, stage: str, target: str) -> None:
    """Replace ``target`` by ``stage`` so readers see the old table or the new, never half."""
    wh.execute("BEGIN")
    try:
        wh.execute(f"DROP TABLE IF EXISTS {ident(target)}")
        wh.execute(f"ALTER TABLE {ident(stage)} RENAME TO {ident(target)}")
        wh.execute("COMMIT")
    except Exception:
        wh.execute("ROLLBACK")
        raise


# versions -----------------------------------------------------------------------------------


def recommender_dir(cfg: ProjectConfig) -> Path:
    return cfg.home_dir / "recommenders"


def _save(
    cfg: ProjectConfig,
    model: Hybrid | ContextAware,
    inter: Interactions,
    evaluation: Evaluation | None,
) -> tuple[str, Path]:
    folder = recommender_dir(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    taken = sorted(p.stem for p in folder.glob("v[0-9][0-9][0-9][0-9].npz"))
    version = f"v{len(taken) + 1:04d}" if not taken else f"v{int(taken[-1][1:]) + 1:04d}"
    f = inter.frame
    meta: dict[str, Any] = {
        "version": version,
        "created_at": datetime.now(UTC).isoformat(),
        "interactions": len(inter),
        "customers": inter.n_users,
        "products": inter.n_items,
        "data_from": str(f["ts"].min()) if "ts" in f.columns else None,
        "data_to": str(f["ts"].max()) if "ts" in f.columns else None,
        "model": model.name,
        "members": list(blend_of(model).members_),
        "weights": blend_of(model).weights_,
    }
    if evaluation is not None:
        meta["evaluation"] = {
            "split": evaluation.split,
            "k": evaluation.k,
            "params": evaluation.params,
            "table": json.loads(evaluation.table.round(6).to_json(orient="index")),
        }
    path = save_model(model, folder / f"{version}.npz", meta=meta)
    return version, path


def blend_of(model: Recommender) -> Hybrid:
    """The hybrid inside the project's model (itself, or the base of a context model)."""
    inner = model.base_ if isinstance(model, ContextAware) else model
    if not isinstance(inner, Hybrid):
        raise TypeError(f"expected a hybrid, got {type(inner).__name__}")
    return inner


def load_project_model(
    cfg: ProjectConfig, version: str | None = None
) -> tuple[Recommender, dict[str, Any]]:
    """The latest (or the named) saved version of the project's recommender."""
    folder = recommender_dir(cfg)
    versions = sorted(p.stem for p in folder.glob("v[0-9][0-9][0-9][0-9].npz"))
    if not versions:
        raise NotFoundError("no recommender has been trained yet (run `segmint recommend train`)")
    chosen = version or versions[-1]
    if chosen not in versions:
        raise NotFoundError(f"recommender version {chosen!r} not found; have {versions}")
    return load_model(folder / f"{chosen}.npz")
