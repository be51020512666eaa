"""``segmint serve | publish | worker``: the API server, loading the online store and the
event worker."""

from __future__ import annotations

import os
import signal
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from segmint.cli._common import (
    ShortConfigOpt,
    console,
    err,
    fail,
    failures,
    open_project,
    project_config,
)


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

        raise ConfigError(
            f"{what} needs {', '.join(missing)}, which segmint's core install leaves out: "
            "pip install 'segmint[serve]'"
        )


@failures
def serve(
    config: ShortConfigOpt = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Processes (production: one per core).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "warning",
) -> None:
    """Serve the API (/v1, OpenAPI at /docs) over the online store."""
    _need_serve_extra("segmint serve", ("fastapi", "uvicorn", "httpx", "prometheus_client"))
    import uvicorn

    from segmint.config import find_config

    cfg = project_config(config)
    os.environ["SEGMINT_PROJECT"] = str(find_config(config))
    console.print(
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


@failures
def publish(
    config: ShortConfigOpt = None,
) -> None:
    """Load the batch results (features, memberships, scores, recommendations, counters)
    into the online store, swapped in atomically."""
    project = open_project(config)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("publishing", total=None)
        info = project.publish(lambda msg: bar.update(task, description=msg))
    console.print(
        f"published version {info.version}: {info.customers:,} customers as of {info.as_of} "
        f"into {project.config.serve.online_store}"
    )


@failures
def worker(
    config: ShortConfigOpt = None,
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

    cfg = project_config(config)
    if cfg.serve.webhooks:
        _need_serve_extra("webhook delivery (serve.webhooks)", ("httpx",))
    rt = Runtime.open(cfg)
    if rt.bus is None:
        raise fail("serve.bus is 'inline': events are applied by the API")
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
    console.print(f"worker {w.consumer} reading {rt.bus.url}")
    try:
        stats = w.run()
    except KeyboardInterrupt:
        stats = w.stats
    finally:
        if dispatcher is not None:
            dispatcher.stop()
        rt.close()
    console.print(
        f"applied {stats.applied:,} events ({stats.duplicates:,} repeats skipped), "
        f"{stats.changes:,} segment changes"
    )
