"""``segmint serve | publish | worker`` and ``segmint keys create | list | revoke``."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from segmint._tables import print_table
from segmint.errors import SegmintError

_Config = Annotated[Path | None, typer.Option("--config", "-c", help="Project file.")]


def _cli() -> Any:
    from segmint import cli

    return cli


def _need_serve_extra(what: str, modules: tuple[str, ...]) -> None:
    """Stop with a clear message when the ``serve`` extra (the API server, webhook
    delivery) is not installed, instead of an ImportError's traceback."""
    import importlib

    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        from segmint.errors import ConfigError

        _cli()._fail(
            ConfigError(
                f"{what} needs {', '.join(missing)}, which segmint's core install leaves out: "
                "pip install 'segmint[serve]'"
            )
        )


def serve(
    config: _Config = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Processes (production: one per core).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "warning",
) -> None:
    """Serve the API (/v1, OpenAPI at /docs) over the online store."""
    _need_serve_extra("segmint serve", ("fastapi", "uvicorn", "httpx", "prometheus_client"))
    import uvicorn

    from segmint.config import find_config

    cli = _cli()
    cfg = cli._config(config)
    os.environ["SEGMINT_PROJECT"] = str(find_config(config))
    cli.console.print(
        f"segmint API on http://{host}:{port} (docs: /docs) · store {cfg.serve.online_store} "
        f"· bus {cfg.serve.bus}"
    )
    uvicorn.run(
        "segmint.api._server:app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,
    )


def publish(
    config: _Config = None,
) -> None:
    """Load the batch results (features, memberships, scores, recommendations, counters)
    into the online store, swapped in atomically."""
    from segmint.realtime import open_store, publish_project

    cli = _cli()
    cfg = cli._config(config)
    try:
        store = open_store(cfg.serve.online_store, cfg.base_dir)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=cli.err,
            transient=True,
        ) as bar:
            task = bar.add_task("publishing", total=None)
            info = publish_project(cfg, store, lambda msg: bar.update(task, description=msg))
    except SegmintError as exc:
        cli._fail(exc)
        return
    cli.console.print(
        f"published version {info.version}: {info.customers:,} customers as of {info.as_of} "
        f"into {cfg.serve.online_store}"
    )


def worker(
    config: _Config = None,
    batch: Annotated[int, typer.Option(help="Entries read per round.")] = 500,
    claim_idle_ms: Annotated[
        int, typer.Option(help="Re-claim entries another worker left pending this long.")
    ] = 10_000,
    sweep_every: Annotated[
        float, typer.Option(help="Seconds between re-evaluations of everyone (0: never).")
    ] = 0.0,
    consumer: Annotated[str | None, typer.Option(help="Consumer name (default host-pid).")] = None,
) -> None:
    """Apply the events of the Redis Stream (serve.bus) as one consumer of the group."""
    from segmint.realtime import Dispatcher, Runtime, Worker

    cli = _cli()
    cfg = cli._config(config)
    if cfg.serve.webhooks:
        _need_serve_extra("webhook delivery (serve.webhooks)", ("httpx",))
    try:
        rt = Runtime.open(cfg)
    except SegmintError as exc:
        cli._fail(exc)
        return
    if rt.bus is None:
        cli.err.print("[red]error:[/] serve.bus is 'inline': events are applied by the API")
        raise typer.Exit(2)
    w = Worker(
        rt.bus,
        rt.processor,
        consumer=consumer,
        batch=batch,
        claim_idle_ms=claim_idle_ms,
        sweep_every=sweep_every,
        # every batch starts from the definitions in the store: a segment defined over the
        # API while the worker runs is applied from its next batch (one version read)
        refresh=lambda: rt.refresh(every=0.0),
    )
    dispatcher = Dispatcher(rt.store, cfg.serve.webhooks) if cfg.serve.webhooks else None
    if dispatcher is not None:
        dispatcher.start()
    signal.signal(signal.SIGTERM, lambda *_: w.stop())
    cli.console.print(f"worker {w.consumer} reading {rt.bus.url}")
    try:
        stats = w.run()
    except KeyboardInterrupt:
        stats = w.stats
    finally:
        if dispatcher is not None:
            dispatcher.stop()
        rt.close()
    cli.console.print(
        f"applied {stats.applied:,} events ({stats.duplicates:,} repeats skipped), "
        f"{stats.changes:,} segment changes"
    )


# --- API keys --------------------------------------------------------------------------------
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    scope: Annotated[
        list[str], typer.Option("--scope", "-s", help="A scope (repeat for several).")
    ],
    config: _Config = None,
) -> None:
    """Make an API key; its token is printed once and stored only as a hash."""
    from segmint.api import create_key
    from segmint.realtime import open_store

    cli = _cli()
    cfg = cli._config(config)
    try:
        key, token = create_key(open_store(cfg.serve.online_store, cfg.base_dir), name, scope)
    except SegmintError as exc:
        cli._fail(exc)
        return
    cli.err.print(f"key {key.key_id} ({', '.join(key.scopes)}); the token is shown only now:")
    print(token)


def keys_list(
    config: _Config = None,
) -> None:
    """The API keys: id, name, scopes, created, revoked."""
    from segmint.api import list_keys
    from segmint.realtime import open_store

    cli = _cli()
    cfg = cli._config(config)
    table = Table("id", "name", "scopes", "created", "revoked")
    for k in list_keys(open_store(cfg.serve.online_store, cfg.base_dir)):
        table.add_row(
            k.key_id,
            escape(k.name),
            ", ".join(k.scopes),
            k.created_at[:19],
            (k.revoked_at or "")[:19],
        )
    print_table(cli.console, table)


def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (segmint keys list).")],
    config: _Config = None,
) -> None:
    """Revoke an API key (every replica refuses it within a few seconds)."""
    from segmint.api import revoke_key
    from segmint.realtime import open_store

    cli = _cli()
    cfg = cli._config(config)
    try:
        key = revoke_key(open_store(cfg.serve.online_store, cfg.base_dir), key_id)
    except SegmintError as exc:
        cli._fail(exc)
        return
    cli.console.print(f"revoked {key.key_id} ({escape(key.name)})")


def register(app: typer.Typer, keys_app: typer.Typer) -> None:
    """Add ``serve``, ``publish`` and ``worker`` to ``app``, and ``create``, ``list`` and ``revoke``
    to ``keys_app``."""
    app.command()(serve)
    app.command()(publish)
    app.command()(worker)
    keys_app.command("create")(keys_create)
    keys_app.command("list")(keys_list)
    keys_app.command("revoke")(keys_revoke)
