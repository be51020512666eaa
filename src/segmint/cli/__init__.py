"""The ``segmint`` command. Thin: it parses arguments, calls the library and formats results.

One module per command group; this one only puts them together, in the order ``segmint
--help`` lists them. Every command imports the library inside its body, so ``--help`` stays
fast (no warehouse, pandas or API server loaded).
"""

from __future__ import annotations

import typer

from segmint.cli import features, ingest, keys, models, project, recommend, segments, serve

__all__ = ["app", "main"]

app = typer.Typer(
    help="segmint: customer segmentation and personalization from your shop's data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

for command in (
    project.init,
    project.validate,
    ingest.ingest,
    project.rules,
    project.tables,
    ingest.quarantine,
    project.generate,
    segments.segment,
    segments.report,
    models.train,
    models.score,
    serve.serve,
    serve.publish,
    serve.worker,
):
    app.command()(command)

app.add_typer(keys.keys_app, name="keys")
app.add_typer(ingest.customers_app, name="customers")
app.add_typer(features.features_app, name="features")
app.add_typer(models.models_app, name="models")
app.add_typer(segments.segments_app, name="segments")
app.add_typer(recommend.recommend_app, name="recommend")


def main() -> None:  # pragma: no cover - console entry point
    """Run the ``segmint`` command line (the console script's entry point)."""
    app()
