"""``segmint segment | report`` and ``segmint segments list | show | export``: computing the
segments and looking at them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from segmint._tables import print_table
from segmint.cli._common import (
    AsOfOpt,
    ConfigOpt,
    console,
    err,
    failures,
    open_project,
    progress_bar,
)

segments_app = typer.Typer(
    help="Look at segments: list them, show one's history, export its members.",
    no_args_is_help=True,
)


@failures
def segment(config: ConfigOpt = None, as_of: AsOfOpt = None) -> None:
    """Compute every segment as of a date: features, RFM tiers, clusters and rule segments."""
    project = open_project(config, as_of)
    with progress_bar("segments", counts=True) as update:
        run = project.segments.compute(progress=update)
    _print_segment_run(run, project.segments.definitions())
    console.print("report: segmint report" + (f" -c {config}" if config else ""))


@failures
def report(
    config: ConfigOpt = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The computation to show (default: the newest)."),
    ] = None,
) -> None:
    """Write the segments report: sizes, RFM grid, clusters (elbow, profiles), as HTML."""
    project = open_project(config)
    if as_of is not None:
        try:
            project = project.as_of(datetime.fromisoformat(as_of))
        except ValueError:
            raise typer.BadParameter(f"{as_of!r} is not a date", param_hint="--as-of") from None
    with err.status("drawing the report"):
        path = project.report()
    console.print(f"report: {path}  (charts as PNG and SVG in {path.with_suffix('')})")


def _print_clustering(c: Any) -> None:
    model = c.model
    stab = model.stability_
    chosen = next((r for r in model.selection_ if r.get("chosen")), None)
    how = (
        f"k={model.n_clusters_} chosen by silhouette {chosen['silhouette']:.2f} "
        f"among k={model.selection_[0]['k']}..{model.selection_[-1]['k']}"
        if chosen and len(model.selection_) > 1
        else f"{model.n_clusters_} clusters"
    )
    table = Table(
        title=f"Clustering {c.name} (v{c.version}, {model.method}): {how}"
        + (f"; bootstrap stability ARI {stab['mean']:.2f}" if stab else "")
    )
    for col in ("segment", "name", "customers", "stands out on"):
        table.add_column(col, justify="right" if col == "customers" else "left")
    for p in model.profile_:
        if p.id < 0:
            continue
        table.add_row(
            f"{escape(c.name)}_{p.id}",
            escape(p.name),
            f"{c.sizes.get(p.id, 0):,}",
            escape(", ".join(p.top[:3])),
        )
    print_table(console, table)
    if c.note:
        console.print(f"[yellow]note:[/] {escape(c.note)}")


def _print_segment_run(run: Any, defs: dict[str, dict[str, Any]]) -> None:
    console.print(
        f"[green]✓[/] as of {run.as_of}: {run.features.customers:,} customers, "
        f"{len(run.features.features)} features"
        + (f", {run.rfm.customers:,} scored by RFM" if run.rfm else "")
    )
    for c in run.clusters:
        _print_clustering(c)
    for sc in run.scores:
        labels = ", ".join(f"{k}: {v:,}" for k, v in sorted(sc.labels.items()))
        console.print(
            f"model [bold]{escape(sc.model)}[/] v{sc.version:04d} scored {sc.rows:,} customers "
            f"({escape(labels)})"
        )
    for note in run.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    table = Table(title=f"Segments as of {run.as_of}")
    for col in ("segment", "kind", "members", "entered", "exited", "description"):
        table.add_column(
            col, justify="right" if col in ("members", "entered", "exited") else "left"
        )
    for ch in run.changes:
        d = defs.get(ch.segment, {})
        table.add_row(
            escape(ch.segment),
            ch.kind,
            f"{ch.members:,}",
            f"{ch.entered:,}",
            f"{ch.exited:,}",
            escape(d.get("description") or d.get("definition") or ""),
        )
    print_table(console, table)


@segments_app.command("list")
@failures
def segments_list(config: ConfigOpt = None) -> None:
    """Every segment: its kind, definition, latest size and when it was computed (segments
    defined over the API included, from the online store)."""
    segments = open_project(config).segments.list()
    table = Table(title="Segments")
    for col in ("segment", "kind", "members", "as of", "definition"):
        table.add_column(col, justify="right" if col == "members" else "left")
    for seg in segments:
        table.add_row(
            escape(seg.name),
            f"{seg.kind} (api)" if seg.source == "api" else seg.kind,
            "-" if seg.members is None else f"{seg.members:,}",
            "not computed yet" if seg.as_of is None else str(seg.as_of),
            escape(seg.definition),
        )
    print_table(console, table)


@segments_app.command("show")
@failures
def segments_show(
    name: Annotated[str, typer.Argument(help="The segment's name.")],
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option(help="Members to show.")] = 10,
) -> None:
    """One segment: its definition, its size at each computation and some members."""
    project = open_project(config)
    history = project.segments.history(name)
    sample = project.segments.members(name, limit=limit).to_pylist()
    seg = next((s for s in project.config.segments if s.name == name), None)
    if seg is not None:
        console.print(f"[bold]{escape(name)}[/]: {escape(seg.description or '')}")
        console.print(f"rule: {escape(seg.rule)}")
    table = Table(title="Size at each computation")
    for col in ("as of", "members", "entered", "exited"):
        table.add_column(col, justify="left" if col == "as of" else "right")
    for r in history:
        table.add_row(str(r["as_of"]), f"{r['members']:,}", f"{r['entered']:,}", f"{r['exited']:,}")
    print_table(console, table)
    members = Table(title=f"Members (first {limit})")
    for col in ("customer_id", "entered at", "score"):
        members.add_column(col)
    for r in sample:
        score = "" if r["score"] is None else f"{r['score']:.3g}"
        members.add_row(escape(r["customer_id"]), str(r["entered_at"]), score)
    print_table(console, members)


@segments_app.command("export")
@failures
def segments_export(
    name: Annotated[str, typer.Argument(help="The segment's name.")],
    config: ConfigOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="File to write (default: NAME.FORMAT).")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Members as of this date (default: now).")
    ] = None,
) -> None:
    """Write a segment's members (customer_id, entered_at, score) to CSV or Parquet."""
    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter(f"{fmt!r}: use csv or parquet", param_hint="--format")
    target = out or Path(f"{name}.{fmt}")
    project = open_project(config)
    if as_of is not None:  # a date that does not parse is the library's error, as it always was
        project = project.as_of(as_of)
    rows = project.segments.export(name, target, format=fmt)
    console.print(f"wrote {rows:,} members of {escape(name)} to {escape(str(target))}")
