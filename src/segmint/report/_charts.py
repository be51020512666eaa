"""Charts as Vega-Lite (Altair), exported to SVG offline with vl-convert for inline HTML."""

from __future__ import annotations

from typing import Any

import altair as alt
import vl_convert as vlc


def bar_chart_svg(
    rows: list[dict[str, Any]], category: str, value: str, color: str | None, title: str
) -> str:
    """A horizontal bar chart as an SVG string ('' when there is nothing to draw)."""
    if not rows:
        return ""
    enc: dict[str, Any] = {
        "y": alt.Y(f"{category}:N", sort="-x", title=None),
        "x": alt.X(f"{value}:Q", title=value),
        "tooltip": [f"{category}:N", f"{value}:Q"] + ([f"{color}:N"] if color else []),
    }
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=color)
    chart = (
        alt.Chart(alt.Data(values=rows), title=title)
        .mark_bar()
        .encode(**enc)
        .properties(width=520, height=max(60, 22 * len(rows)))
    )
    return str(vlc.vegalite_to_svg(chart.to_dict()))
