"""RFM tiers: recency, frequency and monetary scores of each customer, and named segments.

Scores run 1..``bins`` (default quintiles, ties scored equally, or fixed ``edges``), and the
recency score against the mean of the frequency and monetary scores places each customer in
one of 11 named segments (:data:`GRID`). Everything is computed inside the warehouse from
the ``features`` table and stored in ``rfm``, one row per customer per as-of. See docs/rfm.md.

>>> from segmint.segments.rfm import compute_rfm, rfm_summary  # doctest: +SKIP
>>> compute_rfm(wh, datetime(2011, 12, 10))  # doctest: +SKIP
"""

from __future__ import annotations

from segmint.segments.rfm._charts import rfm_grid_chart, rfm_summary_chart
from segmint.segments.rfm._grid import GRID, MEANINGS, SEGMENTS, segment_slug
from segmint.segments.rfm._schema import RFM, SCHEMA
from segmint.segments.rfm._score import rfm_scores
from segmint.segments.rfm._store import RFMRun, compute_rfm, rfm_grid, rfm_summary

__all__ = [
    "GRID",
    "MEANINGS",
    "RFM",
    "SCHEMA",
    "SEGMENTS",
    "RFMRun",
    "compute_rfm",
    "rfm_grid",
    "rfm_grid_chart",
    "rfm_scores",
    "rfm_summary",
    "rfm_summary_chart",
    "segment_slug",
]
