"""Ingestion: read sources, validate and clean rows, quarantine bad ones, load the rest.

>>> from segmint.ingest import ingest  # doctest: +SKIP
>>> report = ingest(load_config("segmint.yaml"))  # doctest: +SKIP
"""

from __future__ import annotations

from segmint.ingest._fees import FeeLines
from segmint.ingest._quarantine import quarantined
from segmint.ingest._run import IngestReport, check_sources, ingest, plan_files
from segmint.ingest._stage import FileResult, stored_schema
from segmint.ingest._vocab import fold, lookup

__all__ = [
    "FeeLines",
    "FileResult",
    "IngestReport",
    "check_sources",
    "fold",
    "ingest",
    "lookup",
    "plan_files",
    "quarantined",
    "stored_schema",
]
