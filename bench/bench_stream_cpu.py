"""CPU per event of the Redis path, in process: API intake and the stream worker, apart.

A Runtime over the local Redis (``--redis``, a key prefix of its own, deleted at the end),
``--customers`` synthetic customers published as ``bench_serve.py`` does, then
``--events`` events in batches of 500 (``bench_serve.py``'s mix): first through
``_reads.collect_events`` (validation, PII rules, dedup markers, stream append: what
``POST /v1/events`` runs), then drained by one :class:`Worker` (claim, read, apply, commit,
ack). For each phase: this process's CPU time and the Redis server's (``INFO cpu``) per event,
and the Redis commands per event (``INFO commandstats``, commands inside scripts included).
On 2 cores the API, the workers and Redis share the machine, so CPU per event, not
wall-clock rate, is what decides the throughput ``bench_serve.py --parts events`` sees.

Compare two commits in the same minute by running it with ``PYTHONPATH=<worktree>/src``::

    python bench/bench_stream_cpu.py
    PYTHONPATH=/tmp/old/src python bench/bench_stream_cpu.py   # a worktree of the old commit
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_serve as bs  # sibling script: the project file, the publish and the event mix


def _redis_cpu(r: Any) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"] + info["used_cpu_sys"])


def measure(name: str, fn: Any, n: int, r: Any) -> dict[str, Any]:
    """Run ``fn`` once; its CPU (ours and Redis's) and Redis commands per event."""
    r.config_resetstat()
    redis0, cpu0, t0 = _redis_cpu(r), time.process_time(), time.perf_counter()
    fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    redis_cpu = _redis_cpu(r) - redis0
    stats = r.info("commandstats")
    commands = {
        k.removeprefix("cmdstat_"): round(v["calls"] / n, 3)
        for k, v in stats.items()
        if v["calls"] / n >= 0.01 and k not in ("cmdstat_config", "cmdstat_info")
    }
    return {
        "phase": name,
        "python_us": round(cpu / n * 1e6, 1),
        "redis_us": round(redis_cpu / n * 1e6, 1),
        "wall_per_s": round(n / wall),
        "commands_per_event": commands,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)

    import redis

    from segmint.config import load_config
    from segmint.realtime import Runtime, Worker
    from segmint.realtime import _reads as reads

    prefix = f"benchcpu{os.getpid()}"
    url = f"{args.redis}?prefix={prefix}"
    folder = Path(tempfile.mkdtemp())
    rt = Runtime.open(load_config(bs.write_project(folder, url, url)))
    r = redis.Redis.from_url(args.redis)
    try:
        bs.fill_store(rt.store, args.customers, 42)
        bodies = folder / "bodies.jsonl"
        bs.event_bodies(bodies, args.events, 500, args.customers, 1, "cpu")
        batches = [json.loads(line)["events"] for line in bodies.read_text().splitlines()]
        # commits before issue 15 had no definition refresh: accept them, to compare
        kw = {"refresh": rt.refresh} if "refresh" in inspect.signature(Worker).parameters else {}
        worker = Worker(rt.bus, rt.processor, batch=500, block_ms=0, **kw)

        def intake() -> None:
            for batch in batches:
                reads.collect_events(rt, batch)

        def drain() -> None:
            while worker.step():
                pass

        rows = [measure("intake", intake, args.events, r), measure("worker", drain, args.events, r)]
        assert worker.stats.applied == args.events, worker.stats
    finally:
        rt.close()
        keys = list(r.scan_iter(f"{prefix}*", count=10_000))
        for i in range(0, len(keys), 5_000):
            r.delete(*keys[i : i + 5_000])
    bs.table(
        f"Redis path, in process: {args.events:,} events in batches of 500 "
        f"({args.customers:,} customers published)",
        ["phase", "Python CPU us/event", "Redis CPU us/event", "events/s (wall)", "commands/event"],
        [
            [
                x["phase"],
                f"{x['python_us']:.1f}",
                f"{x['redis_us']:.1f}",
                f"{x['wall_per_s']:,}",
                ", ".join(f"{k} {v:g}" for k, v in sorted(x["commands_per_event"].items())),
            ]
            for x in rows
        ],
    )
    total = sum(x["python_us"] + x["redis_us"] for x in rows)
    print(f"all CPU per event: {total:.0f} us (a 2-core machine's bound: {2e6 / total:,.0f}/s)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
