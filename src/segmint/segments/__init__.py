"""Segments: the rule language, RFM tiers, clusters, and membership with its history.

:func:`run_segments` computes a project's segments as of a time (what ``segmint segment``
does); the parts live in :mod:`segmint.segments.rules`, :mod:`segmint.segments.rfm`,
:mod:`segmint.segments.clusters` and :mod:`segmint.segments.membership`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segmint._lazy import exports

if TYPE_CHECKING:
    from segmint.segments._report import build_sections, write_report
    from segmint.segments._run import (
        DEFINITIONS,
        SegmentRun,
        compile_segments,
        definitions,
        project_catalog,
        rfm_segment_names,
        run_segments,
    )

__all__ = [
    "DEFINITIONS",
    "SegmentRun",
    "build_sections",
    "compile_segments",
    "definitions",
    "project_catalog",
    "rfm_segment_names",
    "run_segments",
    "write_report",
]
__getattr__, __dir__ = exports(__name__, __file__, __all__)
