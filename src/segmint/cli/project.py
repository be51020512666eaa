"""``segmint init | validate | rules | tables | generate``: the project file, the warehouse's
tables and synthetic shops."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from segmint._tables import print_table
from segmint.cli._common import (
    ConfigOpt,
    console,
    err,
    fail,
    failures,
    open_project,
    progress_bar,
    project_config,
)
from segmint.config import DEFAULT_FILE
from segmint.errors import SegmintError


@failures
def init(
    folder: Annotated[Path, typer.Argument(help="Where to write segmint.yaml.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter segmint.yaml."""
    target = folder / DEFAULT_FILE
    if target.exists() and not force:
        raise fail(f"{target} exists (use --force to overwrite)")
    folder.mkdir(parents=True, exist_ok=True)
    text = resources.files("segmint").joinpath("templates/segmint.yaml").read_text("utf-8")
    target.write_text(text, encoding="utf-8")
    console.print(f"wrote {target}; edit its sources, then run `segmint validate`.")
    console.print(
        "PII columns need a key: `segmint keys generate > segmint.key` and "
        "`export SEGMINT_KEY_FILE=$PWD/segmint.key` (keep the key out of version control)."
    )


@failures
def validate(config: ConfigOpt = None) -> None:
    """Check the project file and every source's files and column mappings."""
    from segmint.ingest import check_sources
    from segmint.segments import compile_segments

    cfg = project_config(config)
    problems = check_sources(cfg)
    try:
        rules = compile_segments(cfg)
    except SegmintError as exc:  # reported with the sources' problems, not on its own
        problems += getattr(exc, "problems", [str(exc)])
        rules = {}
    if problems:
        for p in problems:
            err.print(f"[red]✗[/] {escape(p)}")
        raise typer.Exit(1)
    console.print(
        f"[green]✓[/] {cfg.project}: {len(cfg.sources)} source(s), {len(rules)} rule "
        f"segment(s), {len(cfg.features)} custom feature(s), {len(cfg.clusters)} "
        f"clustering(s) and {len(cfg.models)} model(s) look right."
    )


@failures
def rules() -> None:
    """List the data-quality rule kinds, their default action and meaning."""
    from segmint.schema import RULES

    table = Table(title="Rules (a concrete rule is <column>_<kind>, e.g. age_range)")
    for col in ("kind", "default action", "meaning"):
        table.add_column(col)
    for kind, (action, meaning) in RULES.items():
        table.add_row(kind, action, meaning)
    print_table(console, table)


@failures
def tables(config: ConfigOpt = None) -> None:
    """List the warehouse's tables with their row counts."""
    project = open_project(config)
    counts = project.tables()
    console.print(f"warehouse: {project.config.warehouse}")
    table = Table()
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in counts.items():
        table.add_row(name, f"{rows:,}")
    print_table(console, table)


@failures
def generate(
    out: Annotated[Path, typer.Option(help="Folder to write the shop into.")] = Path("shop"),
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 1000,
    days: Annotated[int, typer.Option(help="Days of history.")] = 90,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    events: Annotated[int | None, typer.Option(help="Target number of events.")] = None,
    dirty_rate: Annotated[
        float, typer.Option(help="Share of deliberately dirty rows, 0 to 0.2.")
    ] = 0.01,
    end: Annotated[str, typer.Option(help="Last day of activity, YYYY-MM-DD.")] = "2026-10-31",
    events_per_file: Annotated[
        int, typer.Option(help="Most rows per events-NNNN file.")
    ] = 1_000_000,
    fmt: Annotated[str, typer.Option("--format", help="Events files as csv or csv.gz.")] = "csv",
) -> None:
    """Write a synthetic shop (CRM, catalogue, events, orders) with a ready segmint.yaml."""
    from segmint.generate import generate_shop

    with progress_bar("generating", counts=True) as update:
        try:
            shop = generate_shop(
                out,
                customers=customers,
                days=days,
                seed=seed,
                events=events,
                dirty_rate=dirty_rate,
                end=end,
                events_per_file=events_per_file,
                fmt=fmt,
                progress=lambda done, total: update(done=done, total=total),
            )
        except ValueError as exc:  # arguments out of range: nothing was written
            raise fail(str(exc)) from None
    table = Table(title=f"Synthetic shop in {shop.out_dir}")
    table.add_column("file kind")
    table.add_column("rows", justify="right")
    for kind, n in shop.counts.items():
        table.add_row(kind, f"{n:,}")
    print_table(console, table)
    console.print(f"project file: {shop.config_path}; next: segmint ingest -c {shop.config_path}")
