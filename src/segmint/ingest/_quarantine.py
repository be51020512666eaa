"""Reading the quarantine back: what was set aside, filtered by rule or source."""

from __future__ import annotations

from typing import Any

from segmint.config import ProjectConfig
from segmint.privacy import PiiCipher, load_master_key
from segmint.privacy._mask import decrypt_row, display_row
from segmint.schema import T
from segmint.warehouse import connect


def quarantined(
    cfg: ProjectConfig,
    *,
    rule: str | None = None,
    source: str | None = None,
    limit: int = 100,
    decrypt: bool = False,
) -> list[dict[str, Any]]:
    """Quarantine rows (newest run first), optionally only one rule or source.

    Each ``row`` is the original row as JSON. Its encrypted values (PII, or a whole line that
    could not be parsed) are shown as ``(encrypted)``; with ``decrypt`` they are decrypted with
    the project's key (:class:`~segmint.errors.KeyMissingError` without one).
    """
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        if not wh.has_table(T.QUARANTINE):
            return []
        q = wh.table(T.QUARANTINE)
        if rule:
            q = q.filter(q.rule == rule)
        if source:
            q = q.filter(q.source == source)
        q = q.order_by([q.ingested_at.desc(), q.source, q.record]).limit(limit)
        rows = wh.to_arrow(q).to_pylist()
    if decrypt:
        cipher = PiiCipher(load_master_key())
        return [{**r, "row": decrypt_row(r["row"], cipher)} for r in rows]
    return [{**r, "row": display_row(r["row"])} for r in rows]
