"""The data-quality report of an ingest run: JSON, a self-contained HTML page, Rich tables.

Per source and rule it shows how many rows were set aside (rejected) or had a value removed
(nullified), with example rows, and per file the sum that accounts for every input row.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from segmint._tables import print_table
from segmint.ingest import IngestReport
from segmint.report._charts import bar_chart_svg
from segmint.schema import RULES


def report_dict(report: IngestReport) -> dict[str, Any]:
    """The report as plain JSON-ready data."""
    sources: dict[str, dict[str, Any]] = {}
    for f in report.files:
        s = sources.setdefault(
            f.source,
            {
                "files": 0,
                "records": 0,
                "loaded": 0,
                "duplicates": 0,
                "rejected": 0,
                "nullified": 0,
                "skipped_files": 0,
                "failed_files": 0,
                "rules": {},
            },
        )
        s["files"] += 1
        s["records"] += f.records
        s["loaded"] += f.loaded  # replaced records (``updated``) are among the loaded ones
        s["duplicates"] += f.duplicates + f.already_loaded
        s["rejected"] += f.rejected
        s["nullified"] += f.nullified
        s["skipped_files"] += f.status == "skipped"
        s["failed_files"] += f.status == "failed"
        for rule, info in f.rules.items():
            r = s["rules"].setdefault(
                rule,
                {"action": info["action"], "rows": 0, "meaning": _meaning(rule), "examples": []},
            )
            r["rows"] += info["rows"]
    for (source, rule), examples in report.examples.items():
        if source in sources and rule in sources[source]["rules"]:
            sources[source]["rules"][rule]["examples"] = examples[:5]
    totals = {k: report.total(k) for k in ("records", "rejected", "nullified")}
    totals["loaded"] = report.total("loaded")
    totals["duplicates"] = report.total("duplicates") + report.total("already_loaded")
    return {
        "run_id": report.run_id,
        "project": report.project,
        "warehouse": report.warehouse,
        "started_at": _iso(report.started_at),
        "finished_at": _iso(report.finished_at),
        "balanced": report.balanced,
        "totals": totals,
        "sources": sources,
        "files": [f.as_dict() for f in report.files],
        "tables": report.tables,
        "identity": asdict(report.identity),
        "fees": {name: asdict(f) for name, f in report.fees.items()},
    }


def _meaning(rule: str) -> str:
    for kind, (_action, meaning) in RULES.items():
        if rule == kind or rule.endswith("_" + kind):
            return meaning
    return ""


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() + "Z" if ts else None


def write_reports(report: IngestReport, folder: Path) -> tuple[Path, Path]:
    """Write ``ingest-<run>.json`` and ``.html`` (and ``latest`` copies) under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = report_dict(report)
    json_text = json.dumps(data, indent=2, default=str)
    html_text = render_html(data)
    stem = folder / f"ingest-{report.run_id}"
    for path, text in (
        (stem.with_suffix(".json"), json_text),
        (stem.with_suffix(".html"), html_text),
        (folder / "ingest-latest.json", json_text),
        (folder / "ingest-latest.html", html_text),
    ):
        path.write_text(text, encoding="utf-8")
    return stem.with_suffix(".json"), stem.with_suffix(".html")


def render_html(data: dict[str, Any]) -> str:
    """A single HTML page with no external assets (charts inlined as SVG)."""
    env = Environment(
        loader=PackageLoader("segmint.report", "templates"),
        autoescape=select_autoescape(["html", "html.j2"]),  # data values are never markup
    )
    bars = [
        {"rule": f"{src}: {rule}", "rows": info["rows"], "action": info["action"]}
        for src, s in data["sources"].items()
        for rule, info in s["rules"].items()
    ]
    chart = bar_chart_svg(bars, "rule", "rows", "action", "Rows set aside or changed, by rule")
    return env.get_template("ingest.html.j2").render(d=data, chart=chart)


def print_report(report: IngestReport, console: Console | None = None) -> None:
    """Print the run as Rich tables: files, rules with an example each, and the row sum."""
    console = console or Console()
    data = report_dict(report)
    if report.files and all(f.status == "skipped" for f in report.files):
        console.print(
            f"Nothing new: all {len(report.files)} file(s) were loaded before with the same "
            "content (use --force to read them again)."
        )
        if any(f["remarked"] for f in data["fees"].values()):
            _print_fees(data["fees"], console)
        return
    files = Table(title="Files", title_justify="left")
    files.add_column("source", overflow="fold", min_width=6)
    files.add_column("file", overflow="fold", min_width=8)
    files.add_column("status")
    for col in ("input rows", "loaded", "duplicates", "quarantined", "values removed"):
        files.add_column(col, justify="right")
    for f in report.files:
        style = {"failed": "red", "skipped": "dim", "empty": "yellow"}.get(f.status, "")
        files.add_row(
            escape(f.source),
            escape(Path(f.path).name),
            f.status,
            f"{f.records:,}",
            f"{f.loaded:,}",
            f"{f.duplicates + f.already_loaded:,}",
            f"{f.rejected:,}",
            f"{f.nullified:,}",
            style=style,
        )
    print_table(console, files)
    for f in report.failed:
        console.print(f"[red]✗[/] {escape(f.source)}: {escape(f.message)}")
    for f in report.files:
        if f.status == "empty":
            console.print(f"[yellow]![/] {escape(f.source)}: {escape(f.message)}")
    rules = Table(title="Data quality: what was set aside, and why", title_justify="left")
    for col in ("source", "rule", "action", "rows", "example"):
        rules.add_column(col, justify="right" if col == "rows" else "left", overflow="fold")
    for src, s in data["sources"].items():
        for rule, info in sorted(s["rules"].items(), key=lambda kv: -kv[1]["rows"]):
            ex = info["examples"][0]["message"] if info["examples"] else ""
            rules.add_row(escape(src), rule, info["action"], f"{info['rows']:,}", escape(ex))
    if rules.row_count:
        print_table(console, rules)
    else:
        console.print("[green]No row was set aside and no value removed.[/]")
    t = data["totals"]
    mark = "[green]✓[/]" if data["balanced"] else "[red]✗ does not add up[/]"
    if report.failed:  # a failed file's rows are in no column: the sum is not the whole input
        mark = f"[red]✗ {len(report.failed)} file(s) failed to load and are not counted[/]"
    console.print(
        f"{t['records']:,} input rows = {t['loaded']:,} loaded + {t['duplicates']:,} duplicates "
        f"+ {t['rejected']:,} quarantined {mark}   ({t['nullified']:,} rows kept with a value "
        f"removed)"
    )
    _print_identity(data["identity"], console)
    _print_fees(data["fees"], console)


def _print_fees(fees: dict[str, dict[str, Any]], console: Console) -> None:
    """Fee lines per source (``fees:``): how many, of which codes, and how revenue counts them."""
    for source, f in fees.items():
        if not f["lines"] and not f["remarked"]:
            continue
        codes = ", ".join(escape(str(t["product_id"])) for t in f["top"])
        more = f", +{f['codes'] - len(f['top'])} more" if f["codes"] > len(f["top"]) else ""
        revenue = "counted in" if f["revenue"] == "include" else "left out of"
        changed = (
            f"; {f['remarked']:,} stored line(s) re-marked by the current rule"
            if f["remarked"]
            else ""
        )
        console.print(
            f"fee lines: {escape(source)}: {f['lines']:,} line(s) of {f['codes']:,} code(s) "
            f"({codes}{more}) are not products; {revenue} revenue{changed}"
        )


def _print_identity(identity: dict[str, Any], console: Console) -> None:
    """Identity counts, and the identifiers not used for linking (as stored: PII hashed)."""
    console.print(
        f"identities: {identity['identifiers']:,} identifiers, {identity['persons']:,} "
        f"customers; {identity['merged_accounts']:,} accounts share a customer with another"
    )
    if not identity["noisy"]:
        return
    shared = Table(
        title="Identifiers not used for linking (shared by too many accounts; not customers)",
        title_justify="left",
    )
    shared.add_column("type")
    shared.add_column("identifier (hashed if PII)", overflow="fold")
    shared.add_column("accounts", justify="right")
    for n in identity["noisy"]:
        value = str(n["identifier"])  # as stored: an e-mail or phone is its keyed hash
        shared.add_row(
            escape(str(n["identifier_type"])),
            escape(value if len(value) <= 20 else value[:16] + "…"),
            f"{n['accounts']:,}",
        )
    print_table(console, shared)
