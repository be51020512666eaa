"""``segmint report``: the segments of a project as of a computation, in one HTML page.

Sections: every segment with its size and changes; sizes over time; the RFM grid and tier
summary; each clustering's choice of k (elbow and silhouette), stability, profile heat map
and named clusters; the rule segments with their definitions. Charts are Altair, exported
offline (SVG inline, PNG and SVG files beside the page).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from segmint.config import ProjectConfig
from segmint.errors import NotFoundError
from segmint.report import Section, TableData, sizes_chart, write_segments_report
from segmint.segments._run import cluster_models_dir, definitions
from segmint.segments.membership import sizes_over_time
from segmint.warehouse import IbisWarehouse


def latest_as_of(wh: IbisWarehouse) -> datetime:
    """The as-of of the newest segment computation."""
    runs = sizes_over_time(wh)
    if not runs:
        raise NotFoundError("no segments computed yet: run `segmint segment` first")
    value = max(r["as_of"] for r in runs)
    return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value


def build_sections(cfg: ProjectConfig, wh: IbisWarehouse, as_of: datetime) -> list[Section]:
    """The report's sections for the computation as of ``as_of``."""
    runs = sizes_over_time(wh)
    now = [r for r in runs if r["as_of"] == as_of]
    if not now:
        raise NotFoundError(f"no segments computed as of {as_of}: run `segmint segment` first")
    defs = definitions(wh)
    sections = [_overview(now, defs, runs)]
    if any(r["kind"] == "rfm" for r in now) or wh.has_table("rfm"):
        sections.append(_rfm(wh, as_of))
    sections += [_clustering(cfg, wh, spec.name, as_of) for spec in cfg.clusters]
    return sections


def _overview(
    now: list[dict[str, Any]], defs: dict[str, dict[str, Any]], runs: list[dict[str, Any]]
) -> Section:
    rows = [
        [
            r["segment"],
            r["kind"],
            r["members"],
            r["entered"],
            r["exited"],
            (defs.get(r["segment"]) or {}).get("definition") or "",
            (defs.get(r["segment"]) or {}).get("description") or "",
        ]
        for r in now
    ]
    charts: list[Any] = []
    for kind in ("rule", "rfm", "cluster"):
        series = [r for r in runs if r["kind"] == kind]
        if len({r["as_of"] for r in series}) > 1:
            charts.append(sizes_chart(series, title=f"{kind} segments: members over time"))
    n_times = len({r["as_of"] for r in runs})
    text = (
        f"{len(now)} segments. Members, and how many entered and left since the previous "
        f"computation; {n_times} computation(s) so far."
    )
    columns = ["segment", "kind", "members", "entered", "exited", "definition", "description"]
    return Section("Segments", text, charts, [TableData(columns, rows)])


def _rfm(wh: IbisWarehouse, as_of: datetime) -> Section:
    from segmint.segments.rfm import (
        MEANINGS,
        rfm_grid,
        rfm_grid_chart,
        rfm_summary,
        rfm_summary_chart,
    )

    summary = rfm_summary(wh, as_of)
    rows = [
        [
            s["segment"],
            s["customers"],
            round(100 * (s["share"] or 0), 1),
            s["mean_recency_days"],
            s["mean_frequency"],
            s["mean_monetary"],
            round(100 * (s["revenue_share"] or 0), 1),
            MEANINGS[s["segment"]][1],
        ]
        for s in summary
    ]
    columns = [
        "tier",
        "customers",
        "% customers",
        "mean recency (d)",
        "mean orders",
        "mean net revenue",
        "% revenue",
        "suggested action",
    ]
    text = (
        "Recency, frequency and monetary scored 1-5 by quantile (ties scored equally); the "
        "tier is read from the grid of R against the mean of F and M (docs/rfm.md)."
    )
    charts: list[Any] = [rfm_grid_chart(rfm_grid(wh, as_of)), rfm_summary_chart(summary)]
    return Section("RFM tiers", text, charts, [TableData(columns, rows)])


def _clustering(cfg: ProjectConfig, wh: IbisWarehouse, name: str, as_of: datetime) -> Section:
    from segmint.segments.clusters import load_model, profile_heatmap, selection_chart
    from segmint.segments.clusters import sizes_chart as cluster_sizes

    try:
        model, meta = load_model(cluster_models_dir(cfg), name)
    except FileNotFoundError:
        return Section(f"Clustering {name}", "Not computed yet: run `segmint segment`.")
    stab = model.stability_
    parts = [
        f"{model.method} with {model.n_clusters_} clusters on {len(model.features_)} features "
        f"({', '.join(model.features_)}), fitted on {model.n_samples_fit_:,} customers; "
        f"model version {meta.get('version', '?')} as of {meta.get('as_of', '?')}."
    ]
    if stab:
        parts.append(
            f"Bootstrap stability: mean adjusted Rand index {stab['mean']:.2f} "
            f"(lowest {stab['min']:.2f}) over {stab['n_boot']} refits."
        )
    align = meta.get("alignment")
    if align:
        parts.append(
            f"Ids matched to version {align['previous_version']}"
            + (f"; new clusters: {align['fresh']}" if align.get("fresh") else "")
            + (f" ({align['note']})" if align.get("note") else "")
            + "."
        )
    charts: list[Any] = []
    if len(model.selection_) > 1:
        charts.append(selection_chart(model.selection_))
    charts += [profile_heatmap(model.profile_), cluster_sizes(model.profile_)]
    rows = [
        [f"{name}_{p.id}", p.id, p.name, p.size, round(100 * p.share, 1), ", ".join(p.top[:4])]
        for p in model.profile_
    ]
    cols = ["segment", "id", "name", "customers (fit sample)", "% sample", "stands out on"]
    tables = [TableData(cols, rows)]
    if len(model.selection_) > 1:
        sel = [
            [
                r["k"],
                r["inertia"],
                r["silhouette"],
                r["davies_bouldin"],
                r["calinski_harabasz"],
                "yes" if r.get("chosen") else "",
            ]
            for r in model.selection_
        ]
        tables.append(
            TableData(
                ["k", "inertia", "silhouette", "Davies-Bouldin", "Calinski-Harabasz", "chosen"],
                sel,
                "Choice of k",
            )
        )
    return Section(f"Clustering {name}", " ".join(parts), charts, tables)


def write_report(cfg: ProjectConfig, wh: IbisWarehouse, as_of: datetime | None = None) -> Path:
    """Write the segments report as of ``as_of`` (default: the newest computation).

    Returns the HTML file's path, under ``<home>/reports/``; each chart is also saved as PNG
    and SVG in a folder beside it.
    """
    when = latest_as_of(wh) if as_of is None else as_of.replace(tzinfo=None, microsecond=0)
    sections = build_sections(cfg, wh, when)
    return write_segments_report(
        cfg.project, cfg.warehouse, when, sections, cfg.home_dir / "reports"
    )
