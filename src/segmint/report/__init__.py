"""Reports people read: the ingest data-quality report (JSON, HTML with charts, Rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from segmint._lazy import exports

if TYPE_CHECKING:
    from segmint.report._charts import bar_chart_svg, chart_png, chart_svg, sizes_chart
    from segmint.report._ingest import print_report, render_html, report_dict, write_reports
    from segmint.report._segments import Section, TableData, write_segments_report

__all__ = [
    "Section",
    "TableData",
    "bar_chart_svg",
    "chart_png",
    "chart_svg",
    "print_report",
    "render_html",
    "report_dict",
    "sizes_chart",
    "write_reports",
    "write_segments_report",
]
__getattr__, __dir__ = exports(__name__, __file__, __all__)
