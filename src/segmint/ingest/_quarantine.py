"""Reading the quarantine back: what was set aside, filtered by rule or source."""

from __future__ import annotations

from typing import Any

from segmint.config import ProjectConfig
from segmint.schema import T
from segmint.warehouse import connect


def quarantined(
    cfg: ProjectConfig, *, rule: str | None = None, source: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Quarantine rows (newest run first), optionally only one rule or source."""
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        if not wh.has_table(T.QUARANTINE):
            return []
        q = wh.table(T.QUARANTINE)
        if rule:
            q = q.filter(q.rule == rule)
        if source:
            q = q.filter(q.source == source)
        q = q.order_by([q.ingested_at.desc(), q.source, q.record]).limit(limit)
        return wh.to_arrow(q).to_pylist()
