"""``segmint score MODEL``: a registered model's scores for every customer (or session), in
the warehouse, where rules read them (``score("name")``) and predictive segments come from.

Rows are read and scored in batches, so scoring a million customers holds one batch in
memory at a time; the ``scores`` table keeps one row per entity, model and as-of, with the
score (the positive class's probability; for a multi-class model, the likeliest class's),
the predicted class, which pipeline scored it (``main`` or the cold-start ``fallback``) and
the row's top reasons.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from segmint.config import ModelConfig, ProjectConfig
from segmint.errors import NotFoundError
from segmint.segments.predictive._dataset import HISTORY, ROW_ID, prepare, scoring_rows
from segmint.segments.predictive._model import PredictiveModel
from segmint.sql import ident, lit
from segmint.warehouse import IbisWarehouse

SCORES = "scores"
SCORES_SCHEMA = {
    "customer_id": "VARCHAR",  # the entity id: a customer, or a session for session models
    "model": "VARCHAR",
    "version": "BIGINT",
    "as_of": "TIMESTAMP",
    "score": "DOUBLE",
    "label": "VARCHAR",
    "scored_by": "VARCHAR",
    "reasons": "VARCHAR",
    "scored_at": "TIMESTAMP",
}
_ARROW = pa.schema(
    [
        ("customer_id", pa.string()),
        ("score", pa.float64()),
        ("label", pa.string()),
        ("scored_by", pa.string()),
        ("reasons", pa.string()),
    ]
)
BATCH_ROWS = 100_000


@dataclass
class ScoreRun:
    """What one scoring wrote."""

    model: str
    version: int
    as_of: datetime
    rows: int
    labels: dict[str, int] = field(default_factory=dict)
    fallback_rows: int = 0
    seconds: float = 0.0


def _batches(model: PredictiveModel, meta: dict[str, Any], reader: Any, reasons: bool) -> Any:
    for batch in reader:
        frame = batch.to_pandas()
        if frame.empty:
            continue
        X = prepare(
            frame,
            model.features + [c for c in model.fallback_features if c not in model.features],
            meta.get("categorical", []),
        )
        history = frame.get(HISTORY)
        proba = model.predict_proba(X, history)
        labels = model.predict(X, history)
        score = proba[:, 1] if len(model.classes) == 2 else proba.max(axis=1)
        thin = model.thin(history)
        by = np.where(thin, "fallback", "main") if thin.size else np.full(len(X), "main")
        why = model.reasons(X, history, values=frame) if reasons else [""] * len(X)
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(frame[ROW_ID].astype(str).to_numpy()),
                pa.array(score.astype(float)),
                pa.array([str(v) for v in labels]),
                pa.array(by.astype(str)),
                pa.array(why),
            ],
            schema=_ARROW,
        )


def score_model(
    cfg: ProjectConfig,
    wh: IbisWarehouse,
    spec: ModelConfig,
    as_of: datetime,
    *,
    version: int | str | None = None,
    reasons: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ScoreRun:
    """Score every row of ``spec``'s entity as of ``as_of`` with a registered version
    (default: production, else the latest) and store the scores in ``scores``.

    Raises
    ------
    NotFoundError
        The model has not been trained (``segmint train NAME``).
    ModelMismatchError
        The rows no longer have a feature the model was trained on.
    """
    from segmint.segments.predictive._registry import registry_for

    start = time.perf_counter()
    as_of = as_of.replace(tzinfo=None, microsecond=0)
    reg = registry_for(cfg)
    loaded = reg.get(spec.name, version)
    model: PredictiveModel = loaded.estimator
    meta = loaded.metadata
    needed = list(dict.fromkeys([*model.features, *model.fallback_features]))
    rows = scoring_rows(cfg, wh, spec, needed, as_of)
    loaded.check_features(rows.schema())
    reader = wh.ibis.to_pyarrow_batches(rows, chunk_size=BATCH_ROWS)
    temp = "_scores_new"
    # the input stream is read to its end before anything else runs on the connection; only
    # the (small) scores are held, never the inputs
    out = []
    done = 0
    for b in _batches(model, meta, reader, reasons):
        out.append(b)
        done += b.num_rows
        if progress is not None:
            progress(done)
    n = wh.import_arrow(temp, pa.Table.from_batches(out, schema=_ARROW))
    try:
        wh.ensure_table(SCORES, SCORES_SCHEMA)
        t = f"TIMESTAMP {lit(as_of.isoformat(sep=' '))}"
        now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        wh.execute(f"DELETE FROM {SCORES} WHERE model = {lit(spec.name)} AND as_of = {t}")
        wh.execute(
            f"INSERT INTO {SCORES} (customer_id, model, version, as_of, score, label, "
            f"scored_by, reasons, scored_at) SELECT customer_id, {lit(spec.name)}, "
            f"{int(loaded.version.version)}, {t}, score, label, scored_by, reasons, "
            f"TIMESTAMP {lit(now.isoformat(sep=' '))} FROM {ident(temp)}"
        )
        counts = wh.to_arrow(
            wh.table(temp).group_by("label").aggregate(n=wh.table(temp).count())
        ).to_pylist()
        fb = wh.table(temp)
        fallback = int(fb.filter(fb.scored_by == "fallback").count().execute())
    finally:
        wh.drop(temp)
    if n == 0:
        raise NotFoundError(f"models '{spec.name}': no rows to score as of {as_of}")
    return ScoreRun(
        spec.name,
        int(loaded.version.version),
        as_of,
        n,
        {str(r["label"]): int(r["n"]) for r in counts},
        fallback,
        time.perf_counter() - start,
    )
