"""Altair charts of the RFM tiers: the R x FM grid and the size and revenue of each segment.

Builders only; the report exports them to SVG or PNG offline with vl-convert
(:func:`segmint.report._charts.chart_svg`).
"""

from __future__ import annotations

from typing import Any

import altair as alt

from segmint.segments.rfm._grid import SEGMENTS


def rfm_grid_chart(cells: list[dict[str, Any]], title: str = "RFM grid") -> alt.LayerChart:
    """A heat map of recency (rows) against frequency & monetary (columns).

    Each cell shows its segment's name and its number of customers; colour is the count.

    Parameters
    ----------
    cells : list of dict
        :func:`rfm_grid`'s output (``r``, ``fm``, ``customers``, ``segment``).
    title : str
        The chart's title.

    Examples
    --------
    >>> cells = [{"r": 5, "fm": 5, "customers": 12, "segment": "Champions"},
    ...          {"r": 1, "fm": 1, "customers": 30, "segment": "Lost"}]
    >>> spec = rfm_grid_chart(cells).to_dict()
    >>> [layer["mark"]["type"] for layer in spec["layer"]]
    ['rect', 'text']
    """
    top = max((c["customers"] for c in cells), default=0)
    rows = [
        {**c, "label": f"{c['segment']}\n{c['customers']:,}", "dark": c["customers"] > top / 2}
        for c in cells
    ]
    base = alt.Chart(alt.Data(values=rows), title=title).encode(
        x=alt.X("fm:O", title="FM score (frequency & monetary)", sort="ascending"),
        y=alt.Y("r:O", title="R score (recency)", sort="descending"),
    )
    rect = base.mark_rect(stroke="white").encode(
        color=alt.Color("customers:Q", title="customers", scale=alt.Scale(scheme="blues")),
        tooltip=["segment:N", "r:O", "fm:O", alt.Tooltip("customers:Q", format=",")],
    )
    text = base.mark_text(lineBreak="\n", fontSize=10).encode(
        text="label:N",
        color=alt.condition(alt.datum.dark, alt.value("white"), alt.value("black")),
    )
    return (rect + text).properties(width=480, height=360)


def rfm_summary_chart(summary: list[dict[str, Any]], title: str = "RFM segments") -> alt.Chart:
    """Share of customers beside share of revenue, per named segment.

    Parameters
    ----------
    summary : list of dict
        :func:`rfm_summary`'s output.
    title : str
        The chart's title.

    Examples
    --------
    >>> summary = [{"segment": "Champions", "customers": 10, "share": 0.1,
    ...             "total_monetary": 5000.0, "revenue_share": 0.5}]
    >>> spec = rfm_summary_chart(summary).to_dict()
    >>> spec["mark"]["type"], len(spec["data"]["values"])
    ('bar', 2)
    """
    rows = []
    for s in summary:
        common = {
            "segment": s["segment"],
            "customers": s["customers"],
            "revenue": s["total_monetary"],
        }
        rows.append({**common, "measure": "customers", "value": s["share"] or 0.0})
        rows.append({**common, "measure": "revenue", "value": s["revenue_share"] or 0.0})
    order = [n for n in SEGMENTS if any(s["segment"] == n for s in summary)]
    return (
        alt.Chart(alt.Data(values=rows), title=title)
        .mark_bar()
        .encode(
            y=alt.Y("segment:N", sort=order, title=None),
            yOffset=alt.YOffset("measure:N", sort=["customers", "revenue"]),
            x=alt.X("value:Q", title="share", axis=alt.Axis(format="%")),
            color=alt.Color("measure:N", title="share of", sort=["customers", "revenue"]),
            tooltip=[
                "segment:N",
                "measure:N",
                alt.Tooltip("value:Q", title="share", format=".1%"),
                alt.Tooltip("customers:Q", format=","),
                alt.Tooltip("revenue:Q", format=",.0f"),
            ],
        )
        .properties(width=480, height=max(120, 34 * len(order)))
    )
