"""Altair charts of a clustering: choice of k, cluster profiles, cluster sizes.

Builders only: they return Altair charts that the report exports to SVG offline
(``vl_convert.vegalite_to_svg(chart.to_dict())``, as :mod:`segmint.report._charts` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt

from segmint.segments.clusters._profile import ClusterProfile

#: effect sizes beyond this are drawn at full colour
EFFECT_CLIP = 2.0


def selection_chart(selection: Sequence[dict[str, Any]]) -> alt.HConcatChart:
    """The elbow (inertia against k) beside the silhouette against k, chosen k marked.

    Parameters
    ----------
    selection : list of dict
        ``SegmentClusterer.selection_``.
    """
    rows = [
        {
            "k": r["k"],
            "inertia": r["inertia"],
            "silhouette": r["silhouette"],
            "chosen": "chosen" if r.get("chosen") else "",
        }
        for r in selection
    ]
    base = alt.Chart(alt.Data(values=rows)).encode(x=alt.X("k:O", title="k (clusters)"))

    def panel(field: str, title: str) -> alt.LayerChart:
        line = base.mark_line(point=True).encode(
            y=alt.Y(f"{field}:Q", title=title, scale=alt.Scale(zero=False)),
            tooltip=["k:O", f"{field}:Q"],
        )
        mark = (
            base.transform_filter(alt.datum.chosen == "chosen")
            .mark_point(size=160, shape="diamond", filled=True, color="#d62728")
            .encode(y=f"{field}:Q")
        )
        return (line + mark).properties(width=260, height=200, title=title)

    return alt.hconcat(
        panel("inertia", "Elbow: within-cluster sum of squares"),
        panel("silhouette", "Silhouette (higher is better)"),
    )


def profile_heatmap(profiles: Sequence[ClusterProfile], top: int | None = 12) -> alt.Chart:
    """Standardized difference of each cluster from everyone, per feature.

    Parameters
    ----------
    profiles : list of ClusterProfile
        ``SegmentClusterer.profile_`` (or :func:`profile`'s output).
    top : int or None, default 12
        Show the features that differ most across clusters (None: all).
    """
    feats = _top_features(profiles, top)
    rows = [
        {
            "cluster": f"{p.id}: {p.name}",
            "feature": f,
            "effect": max(-EFFECT_CLIP, min(EFFECT_CLIP, p.effects.get(f, 0.0))),
            "effect size": p.effects.get(f, 0.0),
            "cluster mean": p.means.get(f, 0.0),
            "overall mean": p.overall.get(f, 0.0),
        }
        for p in profiles
        for f in feats
    ]
    return (
        alt.Chart(alt.Data(values=rows), title="How each cluster differs from everyone")
        .mark_rect()
        .encode(
            x=alt.X("feature:N", sort=feats, title=None),
            y=alt.Y("cluster:N", sort=[f"{p.id}: {p.name}" for p in profiles], title=None),
            color=alt.Color(
                "effect:Q",
                scale=alt.Scale(scheme="redblue", domain=[EFFECT_CLIP, -EFFECT_CLIP]),
                title="std. difference",
            ),
            tooltip=[
                "cluster:N",
                "feature:N",
                "effect size:Q",
                "cluster mean:Q",
                "overall mean:Q",
            ],
        )
        .properties(width=max(200, 34 * len(feats)), height=max(60, 26 * len(profiles)))
    )


def sizes_chart(profiles: Sequence[ClusterProfile]) -> alt.Chart:
    """Customers per cluster, largest first, with their share."""
    rows = [
        {"cluster": f"{p.id}: {p.name}", "customers": p.size, "share": round(p.share, 4)}
        for p in profiles
    ]
    return (
        alt.Chart(alt.Data(values=rows), title="Cluster sizes")
        .mark_bar()
        .encode(
            y=alt.Y("cluster:N", sort="-x", title=None),
            x=alt.X("customers:Q", title="customers"),
            tooltip=["cluster:N", "customers:Q", alt.Tooltip("share:Q", format=".1%")],
        )
        .properties(width=420, height=max(60, 24 * len(rows)))
    )


def _top_features(profiles: Sequence[ClusterProfile], top: int | None) -> list[str]:
    if not profiles:
        return []
    feats = list(profiles[0].effects)
    spread = {f: max(abs(p.effects.get(f, 0.0)) for p in profiles) for f in feats}
    ranked = sorted(feats, key=lambda f: -spread[f])
    return ranked if top is None else ranked[:top]
