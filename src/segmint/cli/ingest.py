"""``segmint ingest | quarantine | customers``: loading the sources and looking at what came in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from segmint._tables import print_table
from segmint.cli._common import (
    ConfigOpt,
    console,
    failures,
    open_project,
    progress_bar,
    project_config,
)

customers_app = typer.Typer(help="Look at unified customer profiles.", no_args_is_help=False)


@failures
def ingest(
    config: ConfigOpt = None,
    force: Annotated[bool, typer.Option(help="Re-read files already loaded.")] = False,
) -> None:
    """Load every source, quarantine bad rows, rebuild identities and customer profiles."""
    from segmint.ingest import ingest as run
    from segmint.report import print_report, write_reports

    cfg = project_config(config)
    with progress_bar("ingesting", counts=True) as update:
        report = run(cfg, force=force, progress=update)
    print_report(report, console)
    json_path, html_path = write_reports(report, cfg.home_dir / "reports")
    console.print(f"report: {html_path}  (JSON: {json_path})")
    if report.failed:
        raise typer.Exit(1)


@failures
def quarantine(
    config: ConfigOpt = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    decrypt: Annotated[
        bool,
        typer.Option(help="Show encrypted values (PII, unparsable lines) in clear; needs the key."),
    ] = False,
) -> None:
    """Show quarantined rows: the rule, the message and the original row.

    Personal data in a row (and a whole line that could not be parsed, when its source maps
    PII) is stored encrypted and shown as ``(encrypted)``; ``--decrypt`` shows it to a key holder.
    """
    project = open_project(config)
    rows = project.quarantined(rule=rule, source=source, limit=limit, decrypt=decrypt)
    table = Table(title="Quarantine")
    for col in ("source", "file", "record", "rule", "action", "message", "row"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            escape(r["source"]),
            escape(Path(r["file"] or "").name),
            str(r["record"]),
            r["rule"],
            r["action"],
            escape(r["message"] or ""),
            escape(_row_text(r["row"])),
        )
    print_table(console, table)


def _row_text(row: str | None) -> str:
    """The original row as ``column=value`` lines, which wrap better than JSON."""
    from segmint.privacy._mask import row_values

    values = row_values(row)
    if values is None:
        return row or ""
    return "\n".join(f"{k}={'' if v is None else v}" for k, v in values.items())


@customers_app.callback(invoke_without_command=True)
@failures
def customers(ctx: typer.Context, config: ConfigOpt = None) -> None:
    """Summarize the unified customer profiles."""
    if ctx.invoked_subcommand is not None:
        return
    s = open_project(config).customers()
    console.print(
        f"[bold]{s['customers']:,}[/] customers ({s['known']:,} with an account, "
        f"{s['anonymous']:,} anonymous visitors); {s['merged']:,} accounts merged into "
        f"{s['merged_into']:,} people."
    )
    table = Table(title="Top countries")
    for col in ("country", "customers", "orders", "net revenue"):
        table.add_column(col, justify="left" if col == "country" else "right")
    for r in s["countries"]:
        table.add_row(
            r["country"] or "(unknown)",
            f"{r['customers']:,}",
            f"{r['orders']:,}",
            f"{r['revenue']:,.2f}",
        )
    print_table(console, table)
    if s["top"]:
        top = Table(title="Top customers by net revenue")
        for col in ("customer_id", "country", "orders", "returns", "net revenue", "last order"):
            top.add_column(col)
        for r in s["top"]:
            top.add_row(
                escape(r["customer_id"]),
                r["country"] or "",
                str(r["n_orders"]),
                str(r["n_returns"]),
                f"{r['revenue']:,.2f}",
                str(r["last_order_at"]),
            )
        print_table(console, top)


@customers_app.command("show")
@failures
def customers_show(
    customer_id: Annotated[
        str, typer.Argument(help="Any identifier of the person: id, e-mail, phone, cookie.")
    ],
    config: ConfigOpt = None,
    reveal: Annotated[bool, typer.Option(help="Decrypt the PII columns (needs the key).")] = False,
) -> None:
    """Show one profile and every identifier linked to it."""
    profile = open_project(config).customer(customer_id, reveal=reveal)
    console.print_json(json.dumps(profile, default=str))
