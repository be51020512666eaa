"""The ``segmint`` command. Thin: it parses arguments, calls the library and formats results."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from segmint._tables import print_table
from segmint.config import DEFAULT_FILE, ProjectConfig, load_config
from segmint.errors import ConfigError, NotFoundError, SegmintError

app = typer.Typer(
    help="segmint: customer segmentation and personalization from your shop's data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(
    help="Keys: the one that encrypts PII (generate) and API keys (create, list, revoke).",
    no_args_is_help=True,
)
customers_app = typer.Typer(help="Look at unified customer profiles.", no_args_is_help=False)
app.add_typer(keys_app, name="keys")
features_app = typer.Typer(
    help="Compute features per customer as of a date, or list them.", no_args_is_help=False
)
app.add_typer(customers_app, name="customers")
app.add_typer(features_app, name="features")
models_app = typer.Typer(
    help="The model registry: list, show and promote trained models.", no_args_is_help=True
)
app.add_typer(models_app, name="models")
segments_app = typer.Typer(
    help="Look at segments: list them, show one's history, export its members.",
    no_args_is_help=True,
)
app.add_typer(segments_app, name="segments")
# piped output (CI logs, `| less`) gets room for the report tables instead of 80 columns, unless
# COLUMNS says how wide to print; tables too wide even so are printed in parts (segmint._tables)
console = Console(width=None if sys.stdout.isatty() else 120)
err = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help=f"Project file (default: ./{DEFAULT_FILE} or a parent's)."),
]


def _fail(exc: SegmintError) -> None:
    err.print(f"[red]error:[/] {escape(str(exc))}")
    raise typer.Exit(2)


def _config(path: Path | None) -> ProjectConfig:
    try:
        return load_config(path)
    except SegmintError as exc:
        _fail(exc)
        raise  # unreachable: _fail exits


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="Where to write segmint.yaml.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter segmint.yaml."""
    target = folder / DEFAULT_FILE
    if target.exists() and not force:
        err.print(f"[red]error:[/] {escape(str(target))} exists (use --force to overwrite)")
        raise typer.Exit(2)
    folder.mkdir(parents=True, exist_ok=True)
    text = resources.files("segmint").joinpath("templates/segmint.yaml").read_text("utf-8")
    target.write_text(text, encoding="utf-8")
    console.print(f"wrote {target}; edit its sources, then run `segmint validate`.")
    console.print(
        "PII columns need a key: `segmint keys generate > segmint.key` and "
        "`export SEGMINT_KEY_FILE=$PWD/segmint.key` (keep the key out of version control)."
    )


@app.command()
def validate(config: ConfigOpt = None) -> None:
    """Check the project file and every source's files and column mappings."""
    from segmint.ingest import check_sources
    from segmint.segments import compile_segments

    cfg = _config(config)
    problems = check_sources(cfg)
    try:
        rules = compile_segments(cfg)
    except SegmintError as exc:
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


@app.command()
def ingest(
    config: ConfigOpt = None,
    force: Annotated[bool, typer.Option(help="Re-read files already loaded.")] = False,
) -> None:
    """Load every source, quarantine bad rows, rebuild identities and customer profiles."""
    from segmint.ingest import ingest as run
    from segmint.report import print_report, write_reports

    cfg = _config(config)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("ingesting", total=None)

        def progress(label: str, done: int, total: int) -> None:
            bar.update(task, description=label, completed=done, total=total)

        try:
            report = run(cfg, force=force, progress=progress)
        except SegmintError as exc:
            bar.stop()
            _fail(exc)
            return
    print_report(report, console)
    json_path, html_path = write_reports(report, cfg.home_dir / "reports")
    console.print(f"report: {html_path}  (JSON: {json_path})")
    if report.failed:
        raise typer.Exit(1)


@app.command()
def rules() -> None:
    """List the data-quality rule kinds, their default action and meaning."""
    from segmint.schema import RULES

    table = Table(title="Rules (a concrete rule is <column>_<kind>, e.g. age_range)")
    for col in ("kind", "default action", "meaning"):
        table.add_column(col)
    for kind, (action, meaning) in RULES.items():
        table.add_row(kind, action, meaning)
    print_table(console, table)


@app.command()
def tables(config: ConfigOpt = None) -> None:
    """List the warehouse's tables with their row counts."""
    from segmint.warehouse import connect

    cfg = _config(config)
    try:
        wh = connect(cfg.warehouse, cfg.base_dir)
    except SegmintError as exc:  # a PostgreSQL warehouse that is down
        _fail(exc)
        return
    with wh:
        console.print(f"warehouse: {cfg.warehouse}")
        table = Table()
        table.add_column("table")
        table.add_column("rows", justify="right")
        for name in sorted(wh.list_tables()):
            table.add_row(name, f"{wh.count(name):,}")
    print_table(console, table)


@app.command()
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
    from segmint.ingest import quarantined

    cfg = _config(config)
    try:
        rows = quarantined(cfg, rule=rule, source=source, limit=limit, decrypt=decrypt)
    except SegmintError as exc:
        _fail(exc)
        return
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
def customers(ctx: typer.Context, config: ConfigOpt = None) -> None:
    """Summarize the unified customer profiles."""
    if ctx.invoked_subcommand is not None:
        return
    from segmint.profiles import customer_summary

    cfg = _config(config)
    try:
        s = customer_summary(cfg)
    except SegmintError as exc:  # nothing ingested yet, or the warehouse is down
        _fail(exc)
        return
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
def customers_show(
    customer_id: Annotated[
        str, typer.Argument(help="Any identifier of the person: id, e-mail, phone, cookie.")
    ],
    config: ConfigOpt = None,
    reveal: Annotated[bool, typer.Option(help="Decrypt the PII columns (needs the key).")] = False,
) -> None:
    """Show one profile and every identifier linked to it."""
    from segmint.profiles import customer_profile

    cfg = _config(config)
    try:
        profile = customer_profile(cfg, customer_id, reveal=reveal)
    except SegmintError as exc:
        _fail(exc)
        return
    console.print_json(json.dumps(profile, default=str))


@keys_app.command("generate")
def keys_generate(
    out: Annotated[Path | None, typer.Option(help="Write to this file (mode 600).")] = None,
) -> None:
    """Print (or write) a new 256-bit key for PII encryption."""
    from segmint.privacy import generate_key, write_key_file

    if out is None:
        sys.stdout.write(generate_key() + "\n")
        return
    if out.exists():
        err.print(f"[red]error:[/] {escape(str(out))} exists; segmint never overwrites a key")
        raise typer.Exit(2)
    write_key_file(out)
    console.print(f"wrote {out}; now `export SEGMINT_KEY_FILE={out.resolve()}`")


@app.command()
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

    with Progress(
        TextColumn("generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("generating", total=None)
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
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        except ValueError as exc:  # arguments out of range: nothing was written
            err.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None
    table = Table(title=f"Synthetic shop in {shop.out_dir}")
    table.add_column("file kind")
    table.add_column("rows", justify="right")
    for kind, n in shop.counts.items():
        table.add_row(kind, f"{n:,}")
    print_table(console, table)
    console.print(f"project file: {shop.config_path}; next: segmint ingest -c {shop.config_path}")


def _as_of(text: str | None, wh: object) -> datetime:
    """``--as-of``: a date or timestamp, ``now``, or (default) the day after the data ends."""
    from segmint._project import default_as_of, parse_as_of

    if text is None:
        return default_as_of(wh)  # type: ignore[arg-type]
    try:
        return parse_as_of(text)
    except ConfigError:
        raise typer.BadParameter(
            f"{text!r} is not a date: use YYYY-MM-DD, YYYY-MM-DD HH:MM or now", param_hint="--as-of"
        ) from None


AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="Point in time: YYYY-MM-DD[ HH:MM], or now (default: the day after the data ends).",
    ),
]


@features_app.callback(invoke_without_command=True)
def features(ctx: typer.Context, config: ConfigOpt = None, as_of: AsOfOpt = None) -> None:
    """Compute every feature for every customer as of a date, into the `features` table."""
    if ctx.invoked_subcommand is not None:
        return
    from segmint.features import compute_features
    from segmint.warehouse import connect

    cfg = _config(config)
    try:
        with connect(cfg.warehouse, cfg.base_dir) as wh:
            when = _as_of(as_of, wh)
            with err.status(f"computing features as of {when}"):
                run = compute_features(wh, when, cfg.features)
    except SegmintError as exc:
        _fail(exc)
        return
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
    custom = list(_config(config).features) if here else []
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


@app.command()
def segment(config: ConfigOpt = None, as_of: AsOfOpt = None) -> None:
    """Compute every segment as of a date: features, RFM tiers, clusters and rule segments."""
    from segmint.segments import compile_segments, run_segments
    from segmint.warehouse import connect

    cfg = _config(config)
    try:
        compile_segments(cfg)  # a mistake in the project file shows before any work
    except SegmintError as exc:
        _fail(exc)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with connect(cfg.warehouse, cfg.base_dir) as wh:
            when = _as_of(as_of, wh)
            with Progress(*columns, console=err, transient=True) as bar:
                task = bar.add_task("segments", total=None)

                def progress(label: str, done: int, total: int) -> None:
                    bar.update(task, description=label, completed=done, total=total)

                run = run_segments(cfg, wh, when, progress=progress)
            _print_segment_run(run, wh)
    except SegmintError as exc:
        _fail(exc)
        return
    console.print("report: segmint report" + (f" -c {config}" if config else ""))


@app.command()
def report(
    config: ConfigOpt = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The computation to show (default: the newest)."),
    ] = None,
) -> None:
    """Write the segments report: sizes, RFM grid, clusters (elbow, profiles), as HTML."""
    from segmint.segments import write_report
    from segmint.warehouse import connect

    cfg = _config(config)
    when = None
    if as_of is not None:
        try:
            when = datetime.fromisoformat(as_of)
        except ValueError:
            raise typer.BadParameter(f"{as_of!r} is not a date", param_hint="--as-of") from None
    try:
        with connect(cfg.warehouse, cfg.base_dir) as wh, err.status("drawing the report"):
            path = write_report(cfg, wh, when)
    except SegmintError as exc:
        _fail(exc)
        return
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


def _print_segment_run(run: Any, wh: Any) -> None:
    from segmint.segments import definitions

    defs = definitions(wh)
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
def segments_list(config: ConfigOpt = None) -> None:
    """Every segment: its kind, definition, latest size and when it was computed (segments
    defined over the API included, from the online store)."""
    import segmint

    try:
        segments = segmint.open(_config(config)).segments.list()
    except SegmintError as exc:
        _fail(exc)
        return
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
def segments_show(
    name: Annotated[str, typer.Argument(help="The segment's name.")],
    config: ConfigOpt = None,
    limit: Annotated[int, typer.Option(help="Members to show.")] = 10,
) -> None:
    """One segment: its definition, its size at each computation and some members."""
    from segmint.segments.membership import members_at, sizes_over_time
    from segmint.warehouse import connect

    cfg = _config(config)
    try:
        with connect(cfg.warehouse, cfg.base_dir) as wh:
            history = sizes_over_time(wh, name)
            if not history:
                known = ", ".join(s.name for s in cfg.segments) or "none defined"
                raise NotFoundError(
                    f"segment {name!r} has not been computed (run `segmint segment`); "
                    f"segments in the project file: {known}"
                )
            sample = wh.to_arrow(
                members_at(wh, name).order_by("customer_id").limit(limit)
            ).to_pylist()
    except SegmintError as exc:
        _fail(exc)
        return
    seg = next((s for s in cfg.segments if s.name == name), None)
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
    import segmint

    if fmt not in ("csv", "parquet"):
        raise typer.BadParameter(f"{fmt!r}: use csv or parquet", param_hint="--format")
    target = out or Path(f"{name}.{fmt}")
    try:
        project = segmint.open(_config(config))
        if as_of is not None:
            project = project.as_of(as_of)
        rows = project.segments.export(name, target, format=fmt)
    except SegmintError as exc:
        _fail(exc)
        return
    console.print(f"wrote {rows:,} members of {escape(name)} to {escape(str(target))}")


def _model_spec(cfg: ProjectConfig, name: str) -> Any:
    import segmint

    return segmint.open(cfg).models.spec(name)


@app.command()
def train(
    name: Annotated[str, typer.Argument(help="The model's name (models: in segmint.yaml).")],
    config: ConfigOpt = None,
) -> None:
    """Train a predictive model, evaluate it on held-out rows and register a new version."""
    from segmint.segments.predictive import train_and_register
    from segmint.warehouse import connect

    cfg = _config(config)
    try:
        spec = _model_spec(cfg, name)
        with (
            connect(cfg.warehouse, cfg.base_dir) as wh,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
            ) as bar,
        ):
            task = bar.add_task("training", total=None)
            result = train_and_register(
                cfg, wh, spec, progress=lambda msg: bar.update(task, description=msg)
            )
    except SegmintError as exc:
        _fail(exc)
        return
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
def models_list(config: ConfigOpt = None) -> None:
    """Every registered model: latest and production versions, headline figures."""
    from segmint.segments.predictive import registry_for

    cfg = _config(config)
    reg = registry_for(cfg)
    table = Table(title="Models")
    for col in ("model", "versions", "latest", "production", "ROC-AUC", "F1", "trained"):
        table.add_column(col, justify="right" if col in ("versions", "ROC-AUC", "F1") else "left")
    names = {m.name for m in cfg.models}
    for summary in reg.models():
        names.discard(summary.name)
        h = reg.metadata(summary.name, summary.latest.version).get("headline", {})
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
def models_show(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    version: Annotated[
        str | None, typer.Option(help="A version (default: production, else latest).")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """One version's report: figures, baselines, features, data window, libraries."""
    from segmint.segments.predictive import registry_for

    cfg = _config(config)
    try:
        meta = registry_for(cfg).metadata(name, version)
    except SegmintError as exc:
        _fail(exc)
        return
    _print_model(meta)
    console.print(f"features: {escape(', '.join(meta['features']))}")
    console.print(f"data: {escape(json.dumps(meta.get('window', {}), default=str))}")
    console.print(f"parameters: {escape(json.dumps(meta.get('params', {}), default=str))}")
    libs = meta.get("libraries", {})
    console.print("libraries: " + ", ".join(f"{k} {v}" for k, v in libs.items()))
    console.print(f"content hash: {meta.get('content_hash')}")


@models_app.command("promote")
def models_promote(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    version: Annotated[str, typer.Argument(help="The version to put in production, e.g. 3.")],
    config: ConfigOpt = None,
) -> None:
    """Make a version the one `segmint score` and `segmint segment` use."""
    from segmint.segments.predictive import registry_for

    cfg = _config(config)
    try:
        v = registry_for(cfg).promote(name, version)
    except SegmintError as exc:
        _fail(exc)
        return
    console.print(f"[green]✓[/] {escape(name)} {v.label} is in production")


@app.command()
def score(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    config: ConfigOpt = None,
    as_of: AsOfOpt = None,
    version: Annotated[
        str | None, typer.Option(help="A version (default: production, else latest).")
    ] = None,
) -> None:
    """Score every customer (or session) with a trained model into the `scores` table."""
    from segmint.segments.predictive import score_model
    from segmint.warehouse import connect

    cfg = _config(config)
    try:
        spec = _model_spec(cfg, name)
        with connect(cfg.warehouse, cfg.base_dir) as wh:
            from segmint.features import data_end

            # a model of a table alone (sessions) may have no events or orders to date by
            when = _as_of(as_of if as_of or data_end(wh) else "now", wh)
            with err.status(f"scoring {name} as of {when}"):
                run = score_model(cfg, wh, spec, when, version=version)
    except SegmintError as exc:
        _fail(exc)
        return
    labels = ", ".join(f"{k}: {v:,}" for k, v in sorted(run.labels.items()))
    console.print(
        f"[green]✓[/] {run.rows:,} rows scored by {escape(name)} v{run.version:04d} as of "
        f"{run.as_of} in table `scores` ({labels}"
        + (f"; {run.fallback_rows:,} by the cold-start fallback" if run.fallback_rows else "")
        + f") in {run.seconds:.1f} s"
    )


def main() -> None:  # pragma: no cover - console entry point
    """Run the ``segmint`` command line (the console script's entry point)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()


def _register_subcommands() -> None:
    # defined in their own module to keep this one readable; imported late (they import cli)
    from segmint.cli_recommend import recommend_app

    app.add_typer(recommend_app, name="recommend")
    from segmint.cli_serve import register

    register(app, keys_app)


_register_subcommands()
