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


def chart_svg(chart: alt.TopLevelMixin) -> str:
    """Any Altair chart as an SVG string, rendered offline (no browser, no network)."""
    return str(vlc.vegalite_to_svg(chart.to_dict()))


def chart_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    """Any Altair chart as PNG bytes, rendered offline."""
    return bytes(vlc.vegalite_to_png(chart.to_dict(), scale=scale))


def sizes_chart(rows: list[dict[str, Any]], title: str = "Segment sizes over time") -> alt.Chart:
    """Members per segment and computation (rows of ``segment_runs``)."""
    data = [
        {"segment": r["segment"], "as_of": str(r["as_of"]), "members": r["members"]} for r in rows
    ]
    return (
        alt.Chart(alt.Data(values=data), title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("as_of:T", title="as of"),
            y=alt.Y("members:Q", title="members"),
            color=alt.Color("segment:N"),
            tooltip=["segment:N", "as_of:T", "members:Q"],
        )
        .properties(width=560, height=260)
    )
