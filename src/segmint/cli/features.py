"""``segmint features [list]``: compute the features per customer as of a date, or list them."""

from __future__ import annotations

from typing import Annotated

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
    project_config,
)
from segmint.errors import SegmintError

features_app = typer.Typer(
    help="Compute features per customer as of a date, or list them.", no_args_is_help=False
)


@features_app.callback(invoke_without_command=True)
@failures
def features(ctx: typer.Context, config: ConfigOpt = None, as_of: AsOfOpt = None) -> None:
    """Compute every feature for every customer as of a date, into the `features` table."""
    if ctx.invoked_subcommand is not None:
        return
    project = open_project(config, as_of)
    when = project.time()
    with err.status(f"computing features as of {when}"):
        run = project.as_of(when).compute_features()
    groups: dict[str, int] = {}
    for d in run.features:
        groups[d.group] = groups.get(d.group, 0) + 1
    console.print(
        f"[green]✓[/] {len(run.features)} features for {run.customers:,} customers as of "
        f"{run.as_of} in table `features` ("
        + ", ".join(f"{n} {g}" for g, n in groups.items())
        + "). List them: segmint features list"
    )


@features_app.command("list")
@failures
def features_list(
    group: Annotated[str | None, typer.Option(help="Only this group.")] = None,
    config: ConfigOpt = None,
) -> None:
    """List the features with their group and meaning (with the project's own, if any)."""
    from segmint.config import find_config
    from segmint.features import CATALOG

    try:
        here = config is not None or bool(find_config(None))
    except SegmintError:  # no project here: the built-in features only
        here = False
    custom = list(project_config(config).features) if here else []
    table = Table(title="Features (category shares cat_<name>_share depend on your data)")
    for col in ("feature", "group", "type", "meaning"):
        table.add_column(col)
    for d in CATALOG:
        if group is None or d.group == group:
            table.add_row(d.name, d.group, d.dtype, d.description)
    if group in (None, "custom"):
        for f in custom:
            table.add_row(f.name, "custom", "expr", escape(f.description or f.expr))
    print_table(console, table)
