"""``segmint recommend``: evaluate models offline, train the project's recommender, show picks."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from segmint._tables import print_table
from segmint.cli._common import (
    ShortConfigOpt,
    console,
    failures,
    open_project,
    progress_bar,
    project_config,
)

recommend_app = typer.Typer(
    help="Recommendations: evaluate models offline, train and write top-N, show them.",
    no_args_is_help=True,
)


def print_evaluation(ev: Any) -> None:
    """The comparison table, popularity first, best nDCG marked."""
    k = ev.k
    table = Table(
        title=f"Offline evaluation: {ev.split} split, {ev.train_rows:,} train / "
        f"{ev.test_rows:,} test interactions, k={k}"
    )
    cols = [
        f"precision@{k}",
        f"recall@{k}",
        f"ndcg@{k}",
        f"map@{k}",
        f"hit_rate@{k}",
        "coverage",
        "novelty",
        "ndcg_vs_popularity",
    ]
    table.add_column("model")
    for c in [*cols, "users", "fit s"]:
        table.add_column(c.replace("_vs_popularity", " vs pop"), justify="right")
    best = ev.best
    for name, row in ev.table.iterrows():
        mark = "[bold green]" if name == best else ""
        table.add_row(
            f"{mark}{escape(str(name))}",
            *[f"{row[c]:.4f}" if c != "ndcg_vs_popularity" else f"{row[c]:.2f}x" for c in cols],
            f"{int(row['users']):,}",
            f"{row['fit_seconds']:.1f}",
        )
    out = console
    print_table(out, table)
    if ev.cold_users:
        out.print(
            f"{ev.cold_users:,} test customers have no training history; they are answered "
            "by the fallback chain and not counted above."
        )
    if ev.params:
        out.print("tuned on validation: " + "; ".join(f"{m} {p}" for m, p in ev.params.items()))
    if ev.weights:
        out.print("blend weights: " + ", ".join(f"{m} {w:.2f}" for m, w in ev.weights.items()))


@recommend_app.command("evaluate")
@failures
def evaluate_cmd(
    config: ShortConfigOpt = None,
    interactions: Annotated[
        Path | None,
        typer.Option(help="A user-item file (csv/tsv/parquet) instead of the project's data."),
    ] = None,
    sep: Annotated[str | None, typer.Option(help="Field separator of --interactions.")] = None,
    columns: Annotated[
        str | None,
        typer.Option(
            help="Columns of a headerless --interactions file, in file order, among user, "
            "item, rating, timestamp and _ (ignored): e.g. user,item,rating,timestamp."
        ),
    ] = None,
    min_rating: Annotated[
        float | None,
        typer.Option(
            help="Keep rows weighing at least this: the rating threshold that turns explicit "
            "ratings into implicit feedback (e.g. 4)."
        ),
    ] = None,
    binary: Annotated[bool, typer.Option(help="Treat every kept row as weight 1.")] = True,
    split: Annotated[
        str | None, typer.Option(help="stratified, temporal or leave_last_out.")
    ] = None,
    test_size: Annotated[float | None, typer.Option(help="Share held out.")] = None,
    k: Annotated[int | None, typer.Option(help="Recommendations per customer.")] = None,
    models: Annotated[
        str | None, typer.Option(help="Comma-separated models (default: the project's).")
    ] = None,
    search: Annotated[
        int | None, typer.Option(help="Hyperparameter candidates per model, on validation.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for splits and searches.")] = None,
    chart: Annotated[Path | None, typer.Option(help="Write the chart (.svg/.png/.html).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the table as CSV.")] = None,
) -> None:
    """Compare every model against popularity on held-out interactions."""
    from segmint._project import evaluate_interactions
    from segmint.recommend import Interactions

    if chart is not None and chart.suffix not in (".svg", ".png", ".html"):
        raise typer.BadParameter(
            f"{chart.name!r}: use a .svg, .png or .html file", param_hint="--chart"
        )
    names = [m.strip() for m in models.split(",") if m.strip()] if models else None
    if interactions is None:
        evaluate = functools.partial(open_project(config).evaluate_recommenders, names)
    else:
        # a user-item file needs no project; --config then only lends its recommend: defaults
        rc = None if config is None else project_config(config).recommend
        inter = Interactions.from_file(
            interactions,
            sep=sep,
            min_weight=min_rating,
            binary=binary,
            columns=columns.split(",") if columns else None,
        )
        evaluate = functools.partial(evaluate_interactions, inter, names, config=rc)
    with progress_bar("evaluating") as update:
        ev = evaluate(
            split=split, test_size=test_size, k=k, seed=seed, search=search, progress=update
        )
    print_evaluation(ev)
    if chart is not None:
        console.print(f"chart: {ev.save_chart(chart)}")
    if out is not None:
        ev.table.to_csv(out)
        console.print(f"table: {out}")


@recommend_app.command("train")
@failures
def train_cmd(
    config: ShortConfigOpt = None,
    skip_evaluation: Annotated[
        bool, typer.Option(help="Fit with default parameters and equal weights, no comparison.")
    ] = False,
) -> None:
    """Evaluate and tune, fit the hybrid on all data, save a version, write top-N per customer."""
    from segmint.recommend import RECOMMENDATIONS

    project = open_project(config)
    with progress_bar("training") as update:
        result = project.train_recommender(evaluate=not skip_evaluation, progress=update)
    if result.evaluation is not None:
        print_evaluation(result.evaluation)
    from segmint.recommend._batch import blend_of

    members = ", ".join(f"{m} {w:.2f}" for m, w in blend_of(result.model).weights_.items())
    kind = "context-aware hybrid" if result.model.name == "context" else "hybrid"
    console.print(
        f"recommender {result.version}, a {kind} ({members}), saved to {result.path}; "
        f"{result.written:,} recommendations written to the {RECOMMENDATIONS} table"
    )


@recommend_app.command("show")
@failures
def show_cmd(
    customers: Annotated[list[str], typer.Argument(help="Customer ids.")],
    config: ShortConfigOpt = None,
    k: Annotated[int, typer.Option(help="Recommendations per customer.")] = 5,
    context: Annotated[
        list[str] | None,
        typer.Option(help="Context as key=value (device, country, hour, weekday, ts)."),
    ] = None,
    version: Annotated[str | None, typer.Option(help="Model version (default latest).")] = None,
) -> None:
    """Live recommendations for some customers from the saved model, with their reasons."""
    ctx: dict[str, str] = {}
    for item in context or []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise typer.BadParameter(f"{item!r}: expected key=value", param_hint="--context")
        ctx[key.strip()] = value.strip()
    project = open_project(config)
    _model, meta = project.recommender(version)
    recs = project.recommend([str(c) for c in customers], k=k, context=ctx, version=version)
    table = Table(title=f"Recommendations ({meta.get('version', '?')})")
    for col in ("customer", "rank", "product", "title", "score", "reason", "strategy"):
        table.add_column(col, justify="right" if col in ("rank", "score") else "left")
    for r in recs.itertuples(index=False):
        table.add_row(
            escape(str(r.customer_id)),
            str(r.rank),
            escape(str(r.product_id)),
            escape(str(r.title) if isinstance(r.title, str) else ""),
            f"{r.score:.3f}",
            escape(str(r.reason)),
            str(r.strategy),
        )
    print_table(console, table)
    missing = sorted(set(map(str, customers)) - set(recs["customer_id"].astype(str)))
    if missing:
        console.print(f"nothing to recommend to {', '.join(missing)} under the rules")
