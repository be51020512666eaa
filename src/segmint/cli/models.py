"""``segmint train | score`` and ``segmint models list | show | promote``: the predictive
models and their registry."""

from __future__ import annotations

import json
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

models_app = typer.Typer(
    help="The model registry: list, show and promote trained models.", no_args_is_help=True
)


@failures
def train(
    name: Annotated[str, typer.Argument(help="The model's name (models: in segmint.yaml).")],
    config: ConfigOpt = None,
) -> None:
    """Train a predictive model, evaluate it on held-out rows and register a new version."""
    project = open_project(config)
    with progress_bar("training") as update:
        result = project.models.train(name, progress=update)
    _print_model(result.metadata)
    console.print(
        f"registered {escape(name)} v{result.version:04d}; report: {result.metadata['report']}"
    )


def _print_model(meta: dict[str, Any]) -> None:
    from segmint.segments.predictive._report import baseline_verdict, comparison_rows

    split = meta["split"]
    console.print(
        f"[bold]{escape(meta['model'])}[/] v{int(meta.get('version', 0)):04d}: "
        f"{meta['algorithm']} on {len(meta['features'])} inputs, {meta['rows']:,} rows "
        f"({split['kind']} split, {split['test_rows']:,} held out)"
        + (f", threshold {meta['threshold']:.3f}" if meta.get("threshold") is not None else "")
    )
    table = Table(title="Held-out rows: the model and its baselines")
    for col in ("model", "ROC-AUC", "PR-AUC", "F1", "precision", "recall", "Brier"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for row in comparison_rows(meta):
        table.add_row(
            *[("" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)) for v in row]
        )
    print_table(console, table)
    if verdict := baseline_verdict(meta):
        console.print(f"[yellow]{escape(verdict)}[/]")
    per = Table(title="Per class")
    for col in ("class", "precision", "recall", "F1", "rows"):
        per.add_column(col, justify="left" if col == "class" else "right")
    for c, v in meta["metrics"]["per_class"].items():
        per.add_row(
            escape(c),
            f"{v['precision']:.3f}",
            f"{v['recall']:.3f}",
            f"{v['f1']:.3f}",
            f"{v['support']:,}",
        )
    print_table(console, per)
    if meta.get("by_history"):
        hist = Table(title="By history (orders + sessions in the 90 days before T)")
        for col in ("history", "rows", "ROC-AUC", "F1", "fallback ROC-AUC"):
            hist.add_column(col, justify="left" if col == "history" else "right")
        for r in meta["by_history"]:
            m, f = r.get("main") or {}, r.get("fallback") or {}
            hist.add_row(
                r["history"],
                f"{r['rows']:,}",
                _f(m.get("roc_auc")),
                _f(m.get("f1")),
                _f(f.get("roc_auc")),
            )
        print_table(console, hist)
    fb = meta.get("fallback")
    if fb:
        v = fb.get("validation") or {}
        detail = (
            f" (validation ROC-AUC on those customers: main {v['main_roc_auc']:.3f}, fallback "
            f"{v['fallback_roc_auc']:.3f})"
            if v
            else ""
        )
        state = "used" if fb.get("used") else f"not used: {fb.get('why', '')}"
        console.print(
            f"cold start: the fallback for history below {fb.get('min_history')} is {state}"
            + detail
        )
    top = ", ".join(f"{i['feature']} ({i['importance']:.3f})" for i in meta["importance"][:6])
    console.print(f"what drives it: {escape(top)}")


def _f(v: Any) -> str:
    return "" if v is None else f"{v:.3f}"


@models_app.command("list")
@failures
def models_list(config: ConfigOpt = None) -> None:
    """Every registered model: latest and production versions, headline figures."""
    project = open_project(config)
    cfg = project.config
    table = Table(title="Models")
    for col in ("model", "versions", "latest", "production", "ROC-AUC", "F1", "trained"):
        table.add_column(col, justify="right" if col in ("versions", "ROC-AUC", "F1") else "left")
    names = {m.name for m in cfg.models}
    for summary in project.models.list():
        names.discard(summary.name)
        h = project.models.metadata(summary.name, summary.latest.version).get("headline", {})
        table.add_row(
            escape(summary.name),
            str(summary.count),
            summary.latest.label,
            summary.production.label if summary.production else "-",
            _f(h.get("roc_auc")),
            _f(h.get("f1")),
            str(summary.latest.created_at)[:19],
        )
    for name in sorted(names):
        table.add_row(
            escape(name), "0", "not trained (segmint train " + name + ")", "-", "", "", ""
        )
    print_table(console, table)


@models_app.command("show")
@failures
def models_show(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    version: Annotated[
        str | None, typer.Option(help="A version (default: production, else latest).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """One version's report: figures, baselines, features, data window, libraries."""
    meta = open_project(config).models.metadata(name, version)
    _print_model(meta)
    console.print(f"features: {escape(', '.join(meta['features']))}")
    console.print(f"data: {escape(json.dumps(meta.get('window', {}), default=str))}")
    console.print(f"parameters: {escape(json.dumps(meta.get('params', {}), default=str))}")
    libs = meta.get("libraries", {})
    console.print("libraries: " + ", ".join(f"{k} {v}" for k, v in libs.items()))
    console.print(f"content hash: {meta.get('content_hash')}")


@models_app.command("promote")
@failures
def models_promote(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    version: Annotated[str, typer.Argument(help="The version to put in production, e.g. 3.")],
    config: ConfigOpt = None,
) -> None:
    """Make a version the one `segmint score` and `segmint segment` use."""
    v = open_project(config).models.promote(name, version)
    console.print(f"[green]✓[/] {escape(name)} {v.label} is in production")


@failures
def score(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    config: ConfigOpt = None,
    as_of: AsOfOpt = None,
    version: Annotated[
        str | None, typer.Option(help="A version (default: production, else latest).")
    ] = None,
) -> None:
    """Score every customer (or session) with a trained model into the `scores` table."""
    models = open_project(config, as_of).models
    with err.status(f"scoring {name}") as status:
        run = models.score(name, version=version, progress=status.update)
    labels = ", ".join(f"{k}: {v:,}" for k, v in sorted(run.labels.items()))
    console.print(
        f"[green]✓[/] {run.rows:,} rows scored by {escape(name)} v{run.version:04d} as of "
        f"{run.as_of} in table `scores` ({labels}"
        + (f"; {run.fallback_rows:,} by the cold-start fallback" if run.fallback_rows else "")
        + f") in {run.seconds:.1f} s"
    )
