"""The segments report: one self-contained HTML page, plus each chart as PNG and SVG files.

Sections are data (a title, a sentence, Altair charts, tables), so every part of the engine
(rule segments, RFM, clustering) contributes its own without knowing the page's layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import altair as alt
from jinja2 import Environment, PackageLoader, select_autoescape

from segmint.report._charts import chart_png, chart_svg


@dataclass
class TableData:
    """A table of the report: column headers and rows of plain values."""

    columns: list[str]
    rows: list[list[Any]]
    title: str = ""


@dataclass
class Section:
    """One part of the report."""

    title: str
    text: str = ""
    charts: list[alt.TopLevelMixin] = field(default_factory=list)
    tables: list[TableData] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "chart"


def write_segments_report(
    project: str,
    warehouse: str,
    as_of: datetime,
    sections: list[Section],
    folder: Path,
    *,
    name: str = "segments",
    heading: str = "Segments",
    stamp: str | None = None,
) -> Path:
    """Write ``<name>-<stamp>.html`` (and ``<name>-latest.html``) with charts inline.

    ``stamp`` defaults to the as-of time. Every chart is also saved as
    ``<folder>/<name>-<stamp>/<chart>.png`` and ``.svg``. Returns the HTML file's path.
    """
    stamp = stamp or as_of.strftime("%Y%m%d-%H%M")
    charts_dir = folder / f"{name}-{stamp}"
    charts_dir.mkdir(parents=True, exist_ok=True)
    rendered = []
    for s in sections:
        svgs = []
        for i, chart in enumerate(s.charts):
            svg = chart_svg(chart)
            file = f"{_slug(s.title)}-{i + 1}"
            (charts_dir / f"{file}.svg").write_text(svg, encoding="utf-8")
            (charts_dir / f"{file}.png").write_bytes(chart_png(chart))
            svgs.append(svg)
        rendered.append({"title": s.title, "text": s.text, "charts": svgs, "tables": s.tables})
    env = Environment(
        loader=PackageLoader("segmint.report", "templates"),
        autoescape=select_autoescape(["html", "html.j2"]),
    )
    html = env.get_template("segments.html.j2").render(
        d={
            "heading": heading,
            "project": project,
            "warehouse": warehouse,
            "as_of": as_of,
            "generated_at": datetime.now(UTC).replace(microsecond=0, tzinfo=None),
            "sections": rendered,
        }
    )
    path = folder / f"{name}-{stamp}.html"
    path.write_text(html, encoding="utf-8")
    (folder / f"{name}-latest.html").write_text(html, encoding="utf-8")
    return path
