"""``segmint recommend``: evaluate models offline, train the project's recommender, show picks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from segmint._tables import print_table
from segmint.errors import SegmintError

recommend_app = typer.Typer(
    help="Recommendations: evaluate models offline, train and write top-N, show them.",
    no_args_is_help=True,
)


def _cli() -> Any:
    from segmint import cli

    return cli


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=_cli().err,
        transient=True,
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
    out = _cli().console
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
def evaluate_cmd(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Project file.")] = None,
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
    from segmint.config import RecommendConfig
    from segmint.recommend import Interactions, evaluate

    cli = _cli()
    if chart is not None and chart.suffix not in (".svg", ".png", ".html"):
        raise typer.BadParameter(
            f"{chart.name!r}: use a .svg, .png or .html file", param_hint="--chart"
        )
    cfg = None if interactions is not None and config is None else cli._config(config)
    rc = cfg.recommend if cfg is not None else RecommendConfig()
    names = [m.strip() for m in models.split(",") if m.strip()] if models else list(rc.models)
    if "hybrid" not in names:
        names.append("hybrid")
    try:
        catalogue = segments = None
        if interactions is not None:
            inter = Interactions.from_file(
                interactions,
                sep=sep,
                min_weight=min_rating,
                binary=binary,
                columns=columns.split(",") if columns else None,
            )
            names = [n for n in names if n != "content"]
        else:
            from segmint.recommend import project_inputs
            from segmint.warehouse import connect

            assert cfg is not None
            with connect(cfg.warehouse, cfg.base_dir) as wh:
                inter, cat, seg = project_inputs(wh, cfg)
            catalogue = cat if len(cat) else None
            segments = seg if len(seg) else None
        with _bar() as bar:
            task = bar.add_task("evaluating", total=None)
            ev = evaluate(
                inter,
                names,
                split_method=split or rc.split,
                test_size=rc.test_size if test_size is None else test_size,
                k=rc.k if k is None else k,
                seed=rc.random_state if seed is None else seed,
                search=rc.search if search is None else search,
                catalogue=catalogue,
                segments=segments,
                progress=lambda msg: bar.update(task, description=msg),
            )
    except SegmintError as exc:
        cli._fail(exc)
        return
    print_evaluation(ev)
    if chart is not None:
        try:
            cli.console.print(f"chart: {ev.save_chart(chart)}")
        except SegmintError as exc:
            cli._fail(exc)
    if out is not None:
        ev.table.to_csv(out)
        cli.console.print(f"table: {out}")


@recommend_app.command("train")
def train_cmd(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Project file.")] = None,
    skip_evaluation: Annotated[
        bool, typer.Option(help="Fit with default parameters and equal weights, no comparison.")
    ] = False,
) -> None:
    """Evaluate and tune, fit the hybrid on all data, save a version, write top-N per customer."""
    from segmint.recommend import RECOMMENDATIONS, train_project
    from segmint.warehouse import connect

    cli = _cli()
    cfg = cli._config(config)
    try:
        with connect(cfg.warehouse, cfg.base_dir) as wh, _bar() as bar:
            task = bar.add_task("training", total=None)
            result = train_project(
                wh,
                cfg,
                evaluate_first=not skip_evaluation,
                progress=lambda msg: bar.update(task, description=msg),
            )
    except SegmintError as exc:
        cli._fail(exc)
        return
    if result.evaluation is not None:
        print_evaluation(result.evaluation)
    from segmint.recommend._batch import blend_of

    members = ", ".join(f"{m} {w:.2f}" for m, w in blend_of(result.model).weights_.items())
    kind = "context-aware hybrid" if result.model.name == "context" else "hybrid"
    cli.console.print(
        f"recommender {result.version}, a {kind} ({members}), saved to {result.path}; "
        f"{result.written:,} recommendations written to the {RECOMMENDATIONS} table"
    )


@recommend_app.command("show")
def show_cmd(
    customers: Annotated[list[str], typer.Argument(help="Customer ids.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Project file.")] = None,
    k: Annotated[int, typer.Option(help="Recommendations per customer.")] = 5,
    context: Annotated[
        list[str] | None,
        typer.Option(help="Context as key=value (device, country, hour, weekday, ts)."),
    ] = None,
    version: Annotated[str | None, typer.Option(help="Model version (default latest).")] = None,
) -> None:
    """Live recommendations for some customers from the saved model, with their reasons."""
    import segmint

    cli = _cli()
    ctx: dict[str, str] = {}
    for item in context or []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise typer.BadParameter(f"{item!r}: expected key=value", param_hint="--context")
        ctx[key.strip()] = value.strip()
    try:
        project = segmint.open(cli._config(config))
        _model, meta = project.recommender(version)
        recs = project.recommend([str(c) for c in customers], k=k, context=ctx, version=version)
    except SegmintError as exc:
        cli._fail(exc)
        return
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
    print_table(cli.console, table)
    missing = sorted(set(map(str, customers)) - set(recs["customer_id"].astype(str)))
    if missing:
        cli.console.print(f"nothing to recommend to {', '.join(missing)} under the rules")
