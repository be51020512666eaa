"""Serving benchmark: the targets of issue 6, each beside the raw store's figure in the same run.

Parts
    ``reads``   ``segmint serve`` over Redis, filled with a synthetic publish of
                ``--customers`` customers (features, 1-3 batch segments, 20 recommendations
                each; a real ``segmint publish`` needs a warehouse, and only the shape and
                size of a customer's record matter to a read). ``GET
                /v1/customers/{id}/segments`` and ``GET /v1/recommendations/{id}`` at a
                constant 1,000 requests/s over random ids among all customers (so the
                replica's 2 s cache mostly misses) and over 50 hot ids; then closed-loop with
                ``wrk`` and a constant rate raised step by step until p99 > 10 ms, for
                ``--workers`` 1 and 2.
    ``events``  ``POST /v1/events`` in batches of ``--batch`` at ``--event-rate`` events/s for
                ``--event-seconds``: into the Redis Stream with ``--stream-workers`` ``segmint
                worker`` processes (accepted and applied per second, the stream's waiting +
                pending, the time to drain), then closed loop (the API's ceiling); and the
                embedded path (SQLite store, bus inline) beside it. Meanwhile probe events
                (an ``add_to_cart`` of a new customer, who thereby enters
                ``cart_abandoners``) are timed from the POST's send to the membership being
                in the store's change notifications, polled every 2 ms.
    ``raw``     ``redis-benchmark`` on the same Redis for the commands those endpoints issue
                (HMGET of a published record, of an alias, of a live document, of the
                publish head; SET NX EX of a dedup marker; XADD of an event; EVALSHA of a
                one-document commit), 50 connections, without and with pipelining.
    ``inproc``  The library calls behind the endpoints, ``_reads.segments_of`` and
                ``_reads.recommend(rt, id, 10)`` over the Redis store, timed one by one.

Load generators run in processes of their own on loopback: ``wrk`` (closed loop; installed
with apt-get when missing) and ``bench/serve/loadgen.js`` (open loop at a constant rate, on
Node: Debian 12 packages neither vegeta nor wrk2). The machine has 2 cores, which the server,
Redis, the workers and the load generator share.

Targets (issue 6): reads p99 < 10 ms at 1,000 requests/s; >= 5,000 events/s sustained with
the workers keeping up; event-to-membership-change p99 < 100 ms.

Run: ``python bench/bench_serve.py`` (all parts, ~12 min), ``--parts reads,raw``, ``--quick``
(a one-minute smoke). ``--profile`` adds py-spy profiles (not timed). Every process it starts
is stopped and every Redis key under its prefix deleted, on errors and Ctrl-C too. Figures go
to ``bench/serve/serve-<date>.json`` (``--quick``: under ``--work``).
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime as dt
import gc
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import machine  # sibling scripts, not a package
from bench_recommend import mark, run_part, say, table, write

REPO = Path(__file__).resolve().parents[1]
HERE = REPO / "bench" / "serve"
PY = REPO / ".venv" / "bin" / "python"
SEGMINT = REPO / ".venv" / "bin" / "segmint"
REDIS_URL = "redis://127.0.0.1:6379/0"
TARGET_READ_P99_MS = 10.0
TARGET_READ_RATE = 1_000
TARGET_EVENTS_S = 5_000
TARGET_CHANGE_P99_MS = 100.0
GORSE_MS = 0.3  # Gorse's own figure for a cached top-10 read, as quoted in issue 6
PROBE_SEGMENT = "cart_abandoners"
RULES = {
    "browsers": "count(product_view, 14d) >= 3 and count(purchase, 14d) == 0",
    "frequent_buyers": "count(purchase, 30d) > 5",
    "big_spenders": "sum(purchase.price * purchase.quantity, 90d) > 500",
    "cart_abandoners": "days_since(add_to_cart) < 1 and count(purchase, 1d) == 0",
    "category_explorers": "distinct(category where product_view, 14d) >= 4",
    "mobile_first": 'share(device == "mobile", 30d) > 0.5 and count(*, 30d) >= 5',
    "lapsing_vip": 'rfm_segment in ("Champions", "Loyal") and recency_days > 60',
}
EVENT_MIX = (
    ("page_view", 30),
    ("product_view", 40),
    ("search", 6),
    ("add_to_cart", 10),
    ("remove_from_cart", 2),
    ("wishlist_add", 2),
    ("checkout_start", 3),
    ("purchase", 4),
    ("session_start", 3),
)
CATEGORIES = [f"cat{i:02d}" for i in range(30)]
RFM = ("Champions", "Loyal", "Potential", "At Risk", "Hibernating", "New")


def _ms(us: float | None) -> str:
    return "-" if us is None else f"{us / 1000:.2f}"


# --- processes: every one started here is stopped here ------------------------------------


class Procs:
    """Children in their own process groups, so a server's uvicorn workers go with it."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.pop("SEGMINT_WAREHOUSE", None)
        env["OPENBLAS_NUM_THREADS"] = "1"
        return env

    def start(
        self, name: str, cmd: Sequence[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        p = subprocess.Popen(
            [str(c) for c in cmd],
            env=env or self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.running.append(p)
        return p

    def stop(self, p: subprocess.Popen[bytes], grace: float = 10.0) -> None:
        if p.poll() is None:
            with _quiet():
                os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                with _quiet():
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(grace)
        with _quiet():  # uvicorn's worker processes share the group; none may outlive it
            os.killpg(p.pid, signal.SIGKILL)
        if p in self.running:
            self.running.remove(p)

    def stop_all(self) -> None:
        for p in list(self.running):
            self.stop(p)


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(
            exc[0], ProcessLookupError | PermissionError | FileNotFoundError
        )


def run_tool(cmd: Sequence[str], timeout: float, env: dict[str, str] | None = None) -> str:
    """Run a load generator to the end in its own process group (killed on any exit)."""
    p = subprocess.Popen(
        [str(c) for c in cmd],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            with _quiet():
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    if p.returncode != 0:
        said = (err.strip() or out.strip())[-2000:]  # wrk prints its usage on stdout
        raise RuntimeError(f"{cmd[0]} exited {p.returncode}: {said}")
    return out


def ensure_tools() -> dict[str, str]:
    """wrk from apt-get when missing; vegeta is not in Debian 12, so loadgen.js on Node."""
    missing = [pkg for tool, pkg in (("wrk", "wrk"), ("node", "nodejs")) if not shutil.which(tool)]
    if missing:
        say(f"installing {' '.join(missing)} with apt-get (missing)")
        subprocess.run(["apt-get", "install", "-y", *missing], check=False, capture_output=True)
        if any(not shutil.which(t) for t in ("wrk", "node")):
            subprocess.run(["apt-get", "update"], check=False, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", *missing], check=True, capture_output=True)
    if not shutil.which("vegeta"):
        say("vegeta: not packaged for Debian 12; constant-rate runs use bench/serve/loadgen.js")
    versions = {}
    for tool, flag in (("wrk", "-v"), ("node", "--version"), ("redis-benchmark", "--version")):
        out = subprocess.run([tool, flag], capture_output=True, text=True)
        versions[tool] = (out.stdout + out.stderr).strip().splitlines()[0]
    return versions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- the project and its synthetic online store --------------------------------------------


def write_project(folder: Path, store: str, bus: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["project: servebench", "segments:"]
    for name, rule in RULES.items():
        lines += [f"  - name: {name}", f"    rule: '{rule}'"]
    lines += ["serve:", f"  online_store: '{store}'", f"  bus: '{bus}'", ""]
    path = folder / "segmint.yaml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def cid_of(i: int) -> str:
    return f"C{i:06d}"


def synthetic(n: int, seed: int) -> Iterator[Any]:
    """``n`` customers shaped like a real publish: ~16 features, 1-3 batch segments (an RFM
    tier, a cluster, now and then a rule segment as last computed), 20 recommendations."""
    from segmint.realtime import Published

    rng = random.Random(seed)
    at = "2026-12-01T00:00:00+00:00"
    for i in range(n):
        tier = rng.choice(RFM)
        values = {
            "recency_days": round(rng.expovariate(1 / 40), 2),
            "frequency": rng.randint(0, 40),
            "monetary": round(rng.expovariate(1 / 300), 2),
            "aov_90d": round(rng.expovariate(1 / 60), 2),
            "items_30d": rng.randint(0, 60),
            "orders_90d": rng.randint(0, 12),
            "sessions_30d": rng.randint(0, 30),
            "views_30d": rng.randint(0, 200),
            "tenure_days": rng.randint(1, 900),
            "country": rng.choice(("GB", "DE", "FR", "NL", "US")),
            "device_main": rng.choice(("mobile", "desktop", "tablet")),
            "rfm_segment": tier,
            "r_score": rng.randint(1, 5),
            "f_score": rng.randint(1, 5),
            "m_score": rng.randint(1, 5),
            "rfm_score": rng.randint(111, 555),
        }
        segments = {f"rfm_{tier.lower().replace(' ', '_')}": at}
        if rng.random() < 0.6:
            segments[f"shop_clusters_{rng.randint(0, 5)}"] = at
        if rng.random() < 0.05:
            segments["frequent_buyers"] = at
        picks = rng.sample(range(20_000), 20)
        recs = [
            {
                "product_id": f"P{p:05d}",
                "rank": r + 1,
                "score": round(1.0 - r * 0.03 - rng.random() * 0.01, 4),
                "reason": f"bought with P{rng.randrange(20_000):05d}",
            }
            for r, p in enumerate(picks)
        ]
        yield Published(
            cid_of(i),
            values=values,
            scores={"repeat_buyer": round(rng.random(), 4)},
            clusters={"shop_clusters": rng.randint(0, 5)},
            segments=segments,
            recommendations=recs,
            counters={},
        )


def fill_store(store: Any, n: int, seed: int) -> dict[str, Any]:
    from segmint.api import create_key
    from segmint.realtime import PublishInfo

    hour = time.time() // 3600 * 3600
    aliases = {f"customer_id:{cid_of(i)}": cid_of(i) for i in range(n)}
    aliases.update({f"anonymous_id:A{i:06d}": cid_of(i) for i in range(0, n, 3)})
    t = time.perf_counter()
    info = store.publish(
        synthetic(n, seed),
        aliases,
        PublishInfo(as_of=dt.datetime.now(dt.UTC).isoformat(), cut=hour),
    )
    seconds = time.perf_counter() - t
    store.put_meta(
        "popular",
        "global",
        {"items": [{"product_id": f"P{p:05d}", "score": 100 - p} for p in range(50)]},
    )
    _key, token = create_key(store, "bench", ["admin"])
    one = json.dumps(next(synthetic(1, seed)).to_json())
    return {
        "customers": info.customers,
        "seconds": round(seconds, 1),
        "token": token,
        "record_bytes": len(one),
        "version": info.version,
    }


# --- servers -------------------------------------------------------------------------------


class Server:
    def __init__(self, procs: Procs, project: Path, workers: int, name: str) -> None:
        self.procs, self.project, self.workers, self.name = procs, project, workers, name
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.settle_pids: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        cmd = [SEGMINT, "serve", "-c", self.project, "--port", str(self.port)]
        self.proc = self.procs.start(self.name, [*cmd, "--workers", str(self.workers)])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.procs.logs / self.name}.log")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as r:
                    if r.status == 200:
                        time.sleep(1.0 if self.workers == 1 else 3.0)  # every worker up
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not get ready in 90 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.procs.stop(self.proc)

    def pids(self) -> list[int]:
        """The server's process and its uvicorn workers."""
        assert self.proc is not None
        out = subprocess.run(
            ["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(x) for x in out.split()]


def cpu_ticks(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        with _quiet(), open(f"/proc/{pid}/stat") as fh:
            f = fh.read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])  # utime, stime
    return total


def settle(pids: Sequence[int], limit: float = 90.0) -> float:
    """Wait until the server is idle (< 0.1 core over half a second), so a run that left
    requests queued (an overloaded open-loop run) does not leak into the next one."""
    t = time.perf_counter()
    hz = os.sysconf("SC_CLK_TCK")
    prev = cpu_ticks(pids)
    while time.perf_counter() - t < limit:
        time.sleep(0.5)
        cur = cpu_ticks(pids)
        if cur - prev < 0.05 * hz:
            break
        prev = cur
    return time.perf_counter() - t


def loadgen(
    url: str,
    token: str,
    *,
    rate: float,
    duration: float,
    warmup: float = 1.0,
    paths: Path | None = None,
    bodies: Path | None = None,
    connections: int = 64,
) -> dict[str, Any]:
    cmd = ["node", HERE / "loadgen.js", "--url", url, "--token", token, "--rate", str(rate)]
    cmd += ["--duration", str(duration), "--warmup", str(warmup)]
    cmd += ["--connections", str(connections)]
    cmd += ["--paths", paths] if paths else ["--bodies", bodies]
    out = run_tool(cmd, timeout=warmup + duration + 60)
    return json.loads(out.strip().splitlines()[-1])


def wrk(url: str, token: str, paths: Path, connections: int, seconds: float) -> dict[str, Any]:
    env = dict(os.environ, SEGMINT_BENCH_TOKEN=token)
    # wrk reads whole seconds only: "-d1.5s" makes it print its usage and exit 1
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s"]
    cmd += ["-s", HERE / "reads.lua", url, "--", paths]
    out = run_tool(cmd, timeout=seconds + 60, env=env)
    line = next(x for x in out.splitlines() if x.startswith("JSON "))
    r = json.loads(line[5:])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["errors"] = sum(r[k] for k in ("connect", "read", "write", "status", "timeout"))
    return r


# --- part: reads ---------------------------------------------------------------------------

ENDPOINTS = {
    "segments": "/v1/customers/{}/segments",
    "recommendations": "/v1/recommendations/{}",
}


def path_files(work: Path, n: int, seed: int) -> dict[tuple[str, str], Path]:
    rng = random.Random(seed)
    hot = [cid_of(rng.randrange(n)) for _ in range(50)]
    files = {}
    for ep, tmpl in ENDPOINTS.items():
        for kind, ids in (("random", [cid_of(i) for i in range(n)]), ("hot", hot)):
            f = work / f"paths-{ep}-{kind}.txt"
            f.write_text("\n".join(tmpl.format(i) for i in ids) + "\n", encoding="utf-8")
            files[(ep, kind)] = f
    return files


def _lat_row(r: dict[str, Any]) -> dict[str, Any]:
    lat = r.get("latency_us", {})
    return {
        "rate": r.get("rate"),
        "achieved_rps": round(r.get("achieved_rps") or 0, 1),
        "n": lat.get("n", 0),
        "p50_ms": round(lat.get("p50", 0) / 1000, 3),
        "p90_ms": round(lat.get("p90", 0) / 1000, 3),
        "p99_ms": round(lat.get("p99", 0) / 1000, 3),
        "max_ms": round(lat.get("max", 0) / 1000, 3),
        "errors": r.get("non_2xx", 0) + r.get("unfinished", 0),
        "unfinished": r.get("unfinished", 0),
        "service_p99_ms": round(r.get("service_us", {}).get("p99", 0) / 1000, 3),
        "loadgen_cores": round(r.get("loadgen_cpu_s", 0) / max(r.get("wall_s", 1), 1e-9), 2),
        "server_cores": r.get("server_cores"),
        "server_cpu_ms_per_req": r.get("server_cpu_ms_per_req"),
    }


def timed_load(srv: Server, **kw: Any) -> dict[str, Any]:
    """One loadgen run, with the server's CPU over it (cores, and ms per answered request)."""
    hz = os.sysconf("SC_CLK_TCK")
    settle(srv.settle_pids)
    c0, t0 = cpu_ticks(srv.settle_pids), time.perf_counter()
    r = loadgen(srv.url, **kw)
    cpu, wall = (cpu_ticks(srv.settle_pids) - c0) / hz, time.perf_counter() - t0
    answered = r.get("done") or 1
    r["server_cores"] = round(cpu / wall, 2)
    r["server_cpu_ms_per_req"] = round(1000 * cpu / answered, 3)
    return r


def reads(args: argparse.Namespace, ctx: dict[str, Any]) -> dict[str, Any]:
    token, files = ctx["token"], ctx["paths"]
    out: dict[str, Any] = {"customers": args.customers, "runs": {}}
    verdict: dict[str, bool] = {}
    for workers in args.workers:
        runs: dict[str, Any] = {}
        with Server(ctx["procs"], ctx["redis_project"], workers, f"serve-reads-w{workers}") as srv:
            srv.settle_pids = srv.pids()
            loadgen(
                srv.url, token, rate=300, duration=2, warmup=0, paths=files[("segments", "random")]
            )
            for ep in ENDPOINTS:
                for kind in ("random", "hot"):
                    dur = args.read_seconds if kind == "random" else args.read_seconds / 2
                    say(f"  w{workers} {ep} {kind} ids @ {TARGET_READ_RATE}/s for {dur:g} s")
                    r = timed_load(
                        srv,
                        token=token,
                        rate=TARGET_READ_RATE,
                        duration=dur,
                        paths=files[(ep, kind)],
                    )
                    runs[f"{ep}/{kind}@1000"] = _lat_row(r)
                say(f"  w{workers} {ep} closed loop (wrk, {args.wrk_connections} connections)")
                settle(srv.settle_pids)
                w = wrk(
                    srv.url, token, files[(ep, "random")], args.wrk_connections, args.wrk_seconds
                )
                runs[f"{ep}/wrk"] = {
                    "rps": round(w["rps"], 1),
                    "p50_ms": w["p50"] / 1000,
                    "p90_ms": w["p90"] / 1000,
                    "p99_ms": w["p99"] / 1000,
                    "max_ms": w["max"] / 1000,
                    "errors": w["errors"],
                    "connections": args.wrk_connections,
                }
                runs[f"{ep}/steps"] = steps(srv, token, files[(ep, "random")], w["rps"], args)
            if args.profile and workers == args.workers[-1]:
                runs["profile"] = profile_reads(srv, token, files, args, ctx)
        out["runs"][f"workers={workers}"] = runs
        for ep in ENDPOINTS:
            row = runs[f"{ep}/random@1000"]
            verdict[f"{ep} p99<10ms @1000/s random, w{workers}"] = (
                row["p99_ms"] < TARGET_READ_P99_MS and row["errors"] == 0
            )
    print_reads(out)
    out["verdict"] = verdict
    return out


def steps(
    srv: Server, token: str, paths: Path, closed_rps: float, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Constant rates, from about 0.7x the closed-loop rate (at most 1,000/s), up by a
    quarter while p99 <= 10 ms without errors, or down by a third until it is."""

    def ok(r: dict[str, Any]) -> bool:
        return r["p99_ms"] <= TARGET_READ_P99_MS and not r["errors"]

    rows: list[dict[str, Any]] = []
    rate = max(50, min(TARGET_READ_RATE, round(closed_rps * 0.7 / 50) * 50))
    direction = 0
    for _ in range(args.max_steps):
        r = _lat_row(
            timed_load(srv, token=token, rate=rate, duration=args.step_seconds, paths=paths)
        )
        rows.append(r)
        say(f"    step {rate:,.0f}/s: p99 {r['p99_ms']:.2f} ms, {r['errors']} errors")
        up = ok(r)
        if direction and (up != (direction > 0)):
            break  # crossed the line
        direction = 1 if up else -1
        rate = round(rate * 1.25 / 50) * 50 if up else max(50, round(rate / 1.5 / 50) * 50)
        if not up and rows[-1]["rate"] == 50:
            break
    return rows


def max_ok_rate(rows: list[dict[str, Any]]) -> float | None:
    ok = [r["rate"] for r in rows if r["p99_ms"] <= TARGET_READ_P99_MS and not r["errors"]]
    return max(ok) if ok else None


def print_reads(out: dict[str, Any]) -> None:
    rows = []
    for conf, runs in out["runs"].items():
        for key, r in runs.items():
            if "@1000" in key:
                ok = r["p99_ms"] < TARGET_READ_P99_MS and r["errors"] == 0
                rows.append(
                    [
                        f"{conf} {key}",
                        f"{r['achieved_rps']:,.0f}",
                        f"{r['p50_ms']:.2f}",
                        f"{r['p90_ms']:.2f}",
                        f"{r['p99_ms']:.2f}",
                        f"{r['max_ms']:.2f}",
                        str(r["errors"]),
                        _f(r["server_cpu_ms_per_req"], ".2f"),
                        _f(r["loadgen_cores"], ".2f"),
                        mark(ok),
                    ]
                )
    table(
        "Reads at a constant 1,000 requests/s (open loop, latency from the scheduled send, ms)",
        [
            "run",
            "req/s",
            "p50",
            "p90",
            "p99",
            "max",
            "errors",
            "server CPU ms/req",
            "loadgen cores",
            "p99 < 10 ms",
        ],
        rows,
    )
    rows = []
    for conf, runs in out["runs"].items():
        for ep in ENDPOINTS:
            for r in runs[f"{ep}/steps"]:
                rows.append(
                    [
                        f"{conf} {ep}",
                        f"{r['rate']:,.0f}",
                        f"{r['p50_ms']:.2f}",
                        f"{r['p99_ms']:.2f}",
                        str(r["errors"]),
                        _f(r["server_cores"], ".2f"),
                        _f(r["server_cpu_ms_per_req"], ".2f"),
                        mark(r["p99_ms"] <= TARGET_READ_P99_MS and not r["errors"]),
                    ]
                )
    table(
        "Constant-rate steps over random ids (ms)",
        [
            "run",
            "req/s",
            "p50",
            "p99",
            "errors",
            "server cores",
            "server CPU ms/req",
            "p99 <= 10 ms",
        ],
        rows,
    )
    rows = []
    for conf, runs in out["runs"].items():
        for ep in ENDPOINTS:
            w = runs[f"{ep}/wrk"]
            best = max_ok_rate(runs[f"{ep}/steps"])
            rows.append(
                [
                    f"{conf} {ep}",
                    f"{w['rps']:,.0f}",
                    f"{w['p50_ms']:.2f}",
                    f"{w['p99_ms']:.2f}",
                    str(w["errors"]),
                    "-" if best is None else f"{best:,.0f}",
                ]
            )
    table(
        "Maximum rate: wrk closed loop (random ids); highest constant rate with p99 <= 10 ms",
        ["run", "wrk req/s", "wrk p50", "wrk p99", "errors", "max rate p99<=10ms"],
        rows,
    )


# --- part: events --------------------------------------------------------------------------


def event_bodies(path: Path, n_events: int, batch: int, customers: int, seed: int, tag: str) -> int:
    """JSON lines of ``{"events": [...]}``: unique ids, the mix of a web shop, uniform
    random known customers (1 in 10 events from an anonymous id), no ``ts`` (the server's
    receipt time), so the bodies can be made before the run."""
    rng = random.Random(seed)
    types = [t for t, w in EVENT_MIX for _ in range(w)]
    made = 0
    with path.open("w", encoding="utf-8") as fh:
        while made < n_events:
            evs = []
            for _ in range(min(batch, n_events - made)):
                kind = rng.choice(types)
                e: dict[str, Any] = {"event_id": f"{tag}-{made}", "event_type": kind}
                who = rng.randrange(customers)
                if rng.random() < 0.1:
                    e["anonymous_id"] = f"A{who:06d}"
                else:
                    e["customer_id"] = cid_of(who)
                e["session_id"] = f"s{who}-{made // 20_000}"
                e["device"] = rng.choice(("mobile", "mobile", "desktop", "tablet"))
                if kind in ("product_view", "add_to_cart", "purchase", "wishlist_add"):
                    e["product_id"] = f"P{rng.randrange(20_000):05d}"
                    e["category"] = rng.choice(CATEGORIES)
                if kind in ("add_to_cart", "purchase"):
                    e["price"] = round(rng.uniform(2, 200), 2)
                    e["quantity"] = rng.randint(1, 4)
                if kind == "search":
                    e["query"] = rng.choice(("shoes", "red dress", "gift", "sale"))
                evs.append(e)
                made += 1
            fh.write(json.dumps({"events": evs}) + "\n")
    return made


class Probes:
    """Every ``every`` s, POST one add_to_cart of a new customer (who thereby enters
    ``cart_abandoners``) from a pool of 8 senders; one poller reads the live documents of
    the store's change notifications every ``poll`` s. Visible = the poll that first finds
    the probe's ``segment.entered``, minus the POST's send time (so the resolution is ``poll``
    plus one store read)."""

    def __init__(self, url: str, token: str, store: Any, tag: str, every: float, poll: float):
        from concurrent.futures import ThreadPoolExecutor

        self.url, self.token, self.store, self.tag = url, token, store, tag
        self.every, self.poll = every, poll
        self.halt = threading.Event()
        self.polled = threading.Event()
        self.rows: dict[str, dict[str, Any]] = {}
        self.waiting: dict[str, float] = {}
        self.lock = threading.Lock()
        self.local = threading.local()
        self.pool = ThreadPoolExecutor(8)
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._send, self._poll)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self) -> None:
        """Stop sending, then wait (30 s at most) for the probes in flight to show."""
        self.halt.set()
        self.threads[0].join()
        self.pool.shutdown(wait=True)
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:
            with self.lock:
                if not self.waiting:
                    break
            time.sleep(0.05)
        self.polled.set()
        self.threads[1].join()

    def _conn(self) -> http.client.HTTPConnection:
        if getattr(self.local, "conn", None) is None:
            host, port = self.url.removeprefix("http://").split(":")
            self.local.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        conn: http.client.HTTPConnection = self.local.conn
        return conn

    def _post(self, cid: str) -> None:
        ev = {
            "event_id": f"{cid}-e",
            "event_type": "add_to_cart",
            "customer_id": cid,
            "product_id": "P00001",
            "price": 9.5,
            "quantity": 1,
        }
        body = json.dumps({"events": [ev]})
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        conn = self._conn()
        t0 = time.perf_counter()
        with self.lock:
            self.rows[cid] = {"t0": t0}
            self.waiting[cid] = t0
        try:
            conn.request("POST", "/v1/events", body, headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except OSError as exc:
            conn.close()
            self.local.conn = None
            status, self.rows[cid]["error"] = -1, str(exc)
        with self.lock:
            self.rows[cid].update(post_ms=(time.perf_counter() - t0) * 1000, status=status)
            if status not in (200, 202):
                self.waiting.pop(cid, None)

    def _send(self) -> None:
        i = 0
        next_at = time.perf_counter()
        while not self.halt.is_set():
            self.pool.submit(self._post, f"probe-{self.tag}-{i}")
            i += 1
            next_at += self.every
            self.halt.wait(max(0.0, next_at - time.perf_counter()))

    def _poll(self) -> None:
        """Read the store's change notifications since the last poll (cost: the new changes,
        not the probes waiting), and mark each probe's entry into the segment."""
        after = 0
        with _quiet_redis():
            while batch := self.store.notifications(after, 100_000):
                after = batch[-1]["seq"]
        while not self.polled.is_set():
            try:
                batch = self.store.notifications(after, 100_000)
            except Exception:  # a store error is a missed poll, not a crash
                batch = []
            now = time.perf_counter()
            if batch:
                after = batch[-1]["seq"]
                with self.lock:
                    for n in batch:
                        cid = n["customer_id"]
                        if n["segment"] == PROBE_SEGMENT and cid in self.waiting:
                            self.rows[cid]["visible_ms"] = (now - self.waiting.pop(cid)) * 1000
            time.sleep(self.poll)

    def summary(self) -> dict[str, Any]:
        rows = list(self.rows.values())
        vis = [r["visible_ms"] for r in rows if r.get("visible_ms") is not None]
        post = [r["post_ms"] for r in rows if "post_ms" in r]
        return {
            "probes": len(rows),
            "missed": len(rows) - len(vis),
            "visible_ms": _pcts(vis),
            "post_ms": _pcts(post),
            "poll_interval_ms": self.poll * 1000,
        }


def _pcts(xs: Sequence[float]) -> dict[str, float]:
    if not xs:
        return {}
    s = sorted(xs)

    def q(p: float) -> float:
        return round(s[min(len(s) - 1, max(0, int(-(-p * len(s) // 1)) - 1))], 3)

    return {"n": len(s), "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": round(s[-1], 3)}


class LagMonitor(threading.Thread):
    """The stream's added, read and pending entries, every ``every`` s."""

    def __init__(self, key: str, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        import redis

        self.r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        self.key, self.every = key, every
        self.halt = threading.Event()
        self.samples: list[dict[str, float]] = []

    def sample(self) -> dict[str, float]:
        s = self.r.xinfo_stream(self.key)
        g = next(g for g in self.r.xinfo_groups(self.key) if g["name"] == "processors")
        read = int(g.get("entries-read") or 0)
        pending = int(g["pending"])
        added = int(s["entries-added"])
        return {
            "t": time.perf_counter(),
            "added": added,
            "acked": read - pending,
            "pending": pending,
            "waiting": added - read,
        }

    def run(self) -> None:
        while not self.halt.is_set():
            with _quiet_redis():
                self.samples.append(self.sample())
            self.halt.wait(self.every)


class _quiet_redis:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        import redis

        return exc[0] is not None and issubclass(exc[0], redis.RedisError | StopIteration)


def _rate_between(samples: list[dict[str, float]], t0: float, t1: float, key: str) -> float:
    inside = [s for s in samples if t0 <= s["t"] <= t1]
    if len(inside) < 2:
        return 0.0
    a, b = inside[0], inside[-1]
    return (b[key] - a[key]) / (b["t"] - a["t"])


def drain(mon: LagMonitor, since: float, limit: float) -> tuple[float | None, dict[str, float]]:
    """Seconds from ``since`` until every added entry is acked (None past ``limit``), and the
    last sample."""
    last = mon.sample()
    while last["acked"] < last["added"]:
        if time.perf_counter() - since > limit:
            return None, last
        time.sleep(0.1)
        last = mon.sample()
    return time.perf_counter() - since, last


def events(args: argparse.Namespace, ctx: dict[str, Any]) -> dict[str, Any]:
    from segmint.config import load_config
    from segmint.realtime import Runtime

    work = ctx["work"]
    n_const = int(args.event_rate * (args.event_seconds + 2))
    n_max = int(args.max_event_rate * (args.max_event_seconds + 2))
    bodies = work / "events-const.jsonl"
    made = event_bodies(bodies, n_const, args.batch, args.customers, args.seed, "ec")
    bodies_max = work / "events-max.jsonl"
    event_bodies(bodies_max, n_max, args.batch, args.customers, args.seed + 1, "em")
    rate = args.event_rate / args.batch  # requests per second
    out: dict[str, Any] = {
        "batch": args.batch,
        "offered_events_s": args.event_rate,
        "bodies_events": made,
    }
    rt = Runtime.open(load_config(ctx["redis_project"]))
    try:
        out["redis"] = events_redis(args, ctx, rt, bodies, bodies_max, rate)
    finally:
        rt.close()
    out["sqlite"] = events_sqlite(args, ctx, bodies, bodies_max, rate)
    r, s = out["redis"], out["sqlite"]
    out["verdict"] = {
        "redis: >= 5,000 events/s accepted and applied, lag bounded": r["keeps_up"],
        "redis: event-to-membership p99 < 100 ms": (
            r["probes"]["visible_ms"].get("p99", 1e9) < TARGET_CHANGE_P99_MS
        ),
        "sqlite inline: >= 5,000 events/s accepted": s["accepted_events_s"] >= TARGET_EVENTS_S,
        "sqlite inline: event-to-membership p99 < 100 ms": (
            s["probes"]["visible_ms"].get("p99", 1e9) < TARGET_CHANGE_P99_MS
        ),
    }
    print_events(out)
    return out


def events_redis(
    args: argparse.Namespace,
    ctx: dict[str, Any],
    rt: Any,
    bodies: Path,
    bodies_max: Path,
    rate: float,
) -> dict[str, Any]:
    procs, token = ctx["procs"], ctx["token"]
    res: dict[str, Any] = {
        "api_workers": args.event_api_workers,
        "stream_workers": args.stream_workers,
    }
    workers = [
        procs.start(f"worker-{i}", [SEGMINT, "worker", "-c", ctx["redis_project"]])
        for i in range(args.stream_workers)
    ]
    try:
        with Server(procs, ctx["redis_project"], args.event_api_workers, "serve-events") as srv:
            mon = LagMonitor(rt.bus.key)
            mon.start()
            probes = Probes(srv.url, token, rt.store, "r", args.probe_every, args.poll)
            probes.start()
            say(
                f"  redis: {args.event_rate:,}/s offered in batches of {args.batch} "
                f"for {args.event_seconds:g} s"
            )
            t0 = time.perf_counter() + 1.0
            r = loadgen(
                srv.url,
                token,
                rate=rate,
                duration=args.event_seconds,
                warmup=1.0,
                bodies=bodies,
                connections=8,
            )
            t1 = time.perf_counter()
            at_end = mon.sample()
            drained, last = drain(mon, t1, 120)
            probes.join()
            t_end = time.perf_counter()
            if args.profile:
                res["profile"] = profile_events(srv, workers, token, bodies_max, rate, args, ctx)
            say(f"  redis: closed loop (4 connections) for {args.max_event_seconds:g} s")
            m0 = time.perf_counter()
            rm = loadgen(
                srv.url,
                token,
                rate=0,
                duration=args.max_event_seconds,
                warmup=1.0,
                bodies=bodies_max,
                connections=4,
            )
            m1 = time.perf_counter()
            at_end_max = mon.sample()
            drained_max, last_max = drain(mon, m1, 120)
            mon.halt.set()
            mon.join()
    finally:
        for w in workers:
            procs.stop(w)
    window = [s for s in mon.samples if t0 <= s["t"] <= t1]
    backlog = [s["waiting"] + s["pending"] for s in window]
    res.update(
        {
            "accepted_events_s": round(r["accepted"] / args.event_seconds, 1),
            "request_latency_ms": {
                k: round(v / 1000, 2) for k, v in r["latency_us"].items() if k != "n"
            },
            "non_2xx": r["non_2xx"],
            "applied_events_s": round(_rate_between(mon.samples, t0, t1, "acked"), 1),
            "appended_events_s": round(_rate_between(mon.samples, t0, t1, "added"), 1),
            "backlog_max": max(backlog, default=0),
            "backlog_end_of_send": backlog[-1] if backlog else None,
            "backlog_series": backlog[:: max(1, len(backlog) // 40)],
            "drain_s": None if drained is None else round(drained, 2),
            "drain_events_s": _drain_rate(at_end, last, drained),
            "final_lag": {"waiting": last["waiting"], "pending": last["pending"]},
            "probes": probes.summary(),
            "after_s": round(t_end - t1, 1),
            "max": {
                "accepted_events_s": round(rm["accepted"] / args.max_event_seconds, 1),
                "applied_events_s": round(_rate_between(mon.samples, m0 + 1, m1, "acked"), 1),
                "request_p99_ms": round(rm["latency_us"].get("p99", 0) / 1000, 1),
                "non_2xx": rm["non_2xx"],
                "drain_s": None if drained_max is None else round(drained_max, 2),
                "drain_events_s": _drain_rate(at_end_max, last_max, drained_max),
                "backlog_end_of_send": at_end_max["waiting"] + at_end_max["pending"],
                "final_lag": {"waiting": last_max["waiting"], "pending": last_max["pending"]},
            },
        }
    )
    # keeping up: applies what is offered, and the backlog is not growing through the run
    tail = backlog[len(backlog) // 2 :]
    res["keeps_up"] = (
        res["accepted_events_s"] >= TARGET_EVENTS_S * 0.98
        and res["applied_events_s"] >= TARGET_EVENTS_S * 0.98
        and (max(tail, default=0) <= max(2 * args.batch * args.stream_workers, 5 * args.batch))
        and drained is not None
    )
    return res


def _drain_rate(start: dict[str, float], end: dict[str, float], seconds: float | None) -> Any:
    """Events/s the workers applied while draining alone (the API idle)."""
    if not seconds or end["acked"] <= start["acked"]:
        return None
    return round((end["acked"] - start["acked"]) / (end["t"] - start["t"]), 1)


def events_sqlite(
    args: argparse.Namespace, ctx: dict[str, Any], bodies: Path, bodies_max: Path, rate: float
) -> dict[str, Any]:
    from segmint.realtime import open_store

    work, procs = ctx["work"], ctx["procs"]
    db = work / "online.sqlite"
    for f in work.glob("online.sqlite*"):
        f.unlink()
    project = write_project(work / "sqlite", f"sqlite:///{db}", "inline")
    store = open_store(f"sqlite:///{db}")
    say(f"  sqlite: publishing {args.customers:,} synthetic customers")
    filled = fill_store(store, args.customers, args.seed)
    res: dict[str, Any] = {"api_workers": 1, "publish_s": filled["seconds"]}
    with Server(procs, project, 1, "serve-sqlite") as srv:
        probes = Probes(srv.url, filled["token"], store, "s", args.probe_every, args.poll)
        probes.start()
        say(f"  sqlite: {args.event_rate:,}/s offered for {args.event_seconds:g} s")
        r = loadgen(
            srv.url,
            filled["token"],
            rate=rate,
            duration=args.event_seconds,
            warmup=1.0,
            bodies=bodies,
            connections=8,
        )
        probes.join()
        srv.settle_pids = srv.pids()
        settle(srv.settle_pids, 120)
        say(f"  sqlite: closed loop (1 connection) for {args.max_event_seconds:g} s")
        rm = loadgen(
            srv.url,
            filled["token"],
            rate=0,
            duration=args.max_event_seconds,
            warmup=1.0,
            bodies=bodies_max,
            connections=1,
        )
        if args.profile:
            res["profile"] = profile_sqlite(srv, filled["token"], bodies, rate, args, ctx)
    store.close()
    res.update(
        {
            "accepted_events_s": round(r["accepted"] / args.event_seconds, 1),
            "requests_s": round(r["achieved_rps"] or 0, 2),
            "request_latency_ms": {
                k: round(v / 1000, 2) for k, v in r["latency_us"].items() if k != "n"
            },
            "non_2xx": r["non_2xx"],
            "probes": probes.summary(),
            "max": {
                "accepted_events_s": round(rm["accepted"] / args.max_event_seconds, 1),
                "request_p50_ms": round(rm["latency_us"].get("p50", 0) / 1000, 1),
                "request_p99_ms": round(rm["latency_us"].get("p99", 0) / 1000, 1),
                "non_2xx": rm["non_2xx"],
            },
            "db_mib": round(sum(f.stat().st_size for f in work.glob("online.sqlite*")) / 2**20),
        }
    )
    return res


def print_events(out: dict[str, Any]) -> None:
    r, s = out["redis"], out["sqlite"]
    rows = [
        [
            "redis stream + workers",
            f"{r['accepted_events_s']:,.0f}",
            f"{r['applied_events_s']:,.0f}",
            f"{r['backlog_max']:,}",
            f"{r['final_lag']['waiting']}+{r['final_lag']['pending']}",
            _f(r["drain_s"]),
            f"{r['request_latency_ms'].get('p99', 0):.1f}",
            str(r["non_2xx"]),
            mark(r["keeps_up"]),
        ],
        [
            "redis, closed loop",
            f"{r['max']['accepted_events_s']:,.0f}",
            f"{r['max']['applied_events_s']:,.0f}",
            "-",
            f"{r['max']['final_lag']['waiting']}+{r['max']['final_lag']['pending']}",
            _f(r["max"]["drain_s"]),
            f"{r['max']['request_p99_ms']:.1f}",
            str(r["max"]["non_2xx"]),
            "-",
        ],
        [
            "sqlite inline",
            f"{s['accepted_events_s']:,.0f}",
            f"{s['accepted_events_s']:,.0f}",
            "-",
            "-",
            "-",
            f"{s['request_latency_ms'].get('p99', 0):.1f}",
            str(s["non_2xx"]),
            mark(s["accepted_events_s"] >= TARGET_EVENTS_S),
        ],
        [
            "sqlite inline, closed loop",
            f"{s['max']['accepted_events_s']:,.0f}",
            f"{s['max']['accepted_events_s']:,.0f}",
            "-",
            "-",
            "-",
            f"{s['max']['request_p99_ms']:.1f}",
            str(s["max"]["non_2xx"]),
            "-",
        ],
    ]
    table(
        f"Events: {out['offered_events_s']:,} events/s offered in batches of {out['batch']} "
        "(closed loop: as fast as 4 connections go, 1 for SQLite)",
        [
            "path",
            "accepted/s",
            "applied/s",
            "backlog max",
            "lag after",
            "drain s",
            "POST p99 ms",
            "non-2xx",
            ">= 5,000/s",
        ],
        rows,
    )
    rows = []
    for name, part in (("redis stream + workers", r), ("sqlite inline", s)):
        p = part["probes"]
        v = p["visible_ms"]
        rows.append(
            [
                name,
                str(p["probes"]),
                str(p["missed"]),
                _f(v.get("p50")),
                _f(v.get("p90")),
                _f(v.get("p99")),
                _f(v.get("max")),
                _f(p["post_ms"].get("p99")),
                mark(v.get("p99", 1e9) < TARGET_CHANGE_P99_MS),
            ]
        )
    table(
        "Event to membership change (POST sent -> segment.entered in the store, polled), ms",
        ["path", "probes", "missed", "p50", "p90", "p99", "max", "POST p99", "p99 < 100 ms"],
        rows,
    )


def _f(v: Any, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


# --- part: raw -----------------------------------------------------------------------------

_RAW_COMMIT = """
local p, id, doc = ARGV[1], ARGV[2], ARGV[3]
local v = tonumber(redis.call('HGET', p .. ':live:doc:' .. id, 'v') or '0')
redis.call('HSET', p .. ':live:doc:' .. id, 'doc', doc, 'v', tostring(v + 1))
redis.call('ZADD', p .. ':live:ids', 0, id)
return false
"""


def raw(args: argparse.Namespace, ctx: dict[str, Any]) -> dict[str, Any]:
    """redis-benchmark for each command the endpoints issue, on keys shaped like ours."""
    import redis

    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    p = ctx["prefix"] + "-raw"
    ctx["raw_prefix"] = p
    space = 10_000
    recs = list(synthetic(50, args.seed))
    pipe = r.pipeline(transaction=False)
    for i in range(space):
        field = f"{i:012d}"  # redis-benchmark's __rand_int__
        pipe.hset(f"{p}:pub", field, json.dumps(recs[i % 50].to_json()))
        pipe.hset(f"{p}:alias", f"customer_id:{field}", field)
        if i % 1000 == 999:
            pipe.execute()
    pipe.hset(
        f"{p}:publish", mapping={"gen": "1", "version": "1", "info": json.dumps({"as_of": "x"})}
    )
    pipe.execute()
    sha = r.script_load(_RAW_COMMIT)
    doc = json.dumps(
        {
            "counters": {"count(x, 14d)": {"493000": [3]}},
            "seen": {"e1": 493000},
            "segments": {"browsers": "2026-12-01T00:00:00+00:00"},
            "publish": 1,
        }
    )
    event = json.dumps(
        {
            "event_id": "ec-1",
            "event_type": "product_view",
            "customer_id": "C000001",
            "session_id": "s1-0",
            "device": "mobile",
            "product_id": "P00001",
            "category": "cat01",
            "ts": "2026-12-02T10:00:00.000000+00:00",
        }
    )
    cases = [
        ("PING", ["PING"], space),
        (
            f"HMGET pub (published record, {len(json.dumps(recs[0].to_json()))} B)",
            ["HMGET", f"{p}:pub", "__rand_int__"],
            space,
        ),
        ("HMGET alias (resolve)", ["HMGET", f"{p}:alias", "customer_id:__rand_int__"], space),
        ("HMGET live doc (missing)", ["HMGET", f"{p}:live:doc:__rand_int__", "doc", "v"], space),
        ("HMGET publish head (info)", ["HMGET", f"{p}:publish", "version", "info"], space),
        (
            "SET NX EX (dedup marker)",
            ["SET", f"{p}:event:__rand_int__", "t", "NX", "EX", "600"],
            100_000_000,
        ),
        (
            f"XADD MAXLEN ~ (one event, {len(event)} B)",
            ["XADD", f"{p}:events", "MAXLEN", "~", "1000000", "*", "e", event],
            space,
        ),
        ("EVALSHA one-doc commit", ["EVALSHA", sha, "0", p, "__rand_int__", doc], space),
    ]
    rows = []
    for name, cmd, keyspace in cases:
        for pipeline in (1, args.raw_pipeline):
            n = args.raw_requests * (4 if pipeline > 1 else 1)
            line = ["redis-benchmark", "-h", "127.0.0.1", "-p", "6379", "-c", "50", "-n", str(n)]
            line += ["-P", str(pipeline), "-r", str(keyspace), "--csv", *cmd]
            res = run_tool(line, timeout=300)
            lines = res.strip().splitlines()
            head = next(csv.reader([lines[0]]))
            # the test's name is the command, unescaped: its quotes break a CSV reader
            data = [x.strip().strip('"') for x in lines[-1].split(",")[-(len(head) - 1) :]]
            d = dict(zip(head[1:], data, strict=True))
            rows.append(
                {
                    "command": name,
                    "pipeline": pipeline,
                    "rps": float(d["rps"]),
                    "p50_ms": float(d.get("p50_latency_ms", 0)),
                    "p99_ms": float(d.get("p99_latency_ms", 0)),
                }
            )
            say(f"  {name} -P {pipeline}: {float(d['rps']):,.0f}/s")
    r.delete(f"{p}:events")
    table(
        "redis-benchmark, 50 connections (ops/s; latency ms as redis-benchmark measures it)",
        ["command", "pipeline", "ops/s", "p50", "p99"],
        [
            [
                x["command"],
                str(x["pipeline"]),
                f"{x['rps']:,.0f}",
                f"{x['p50_ms']:.3f}",
                f"{x['p99_ms']:.3f}",
            ]
            for x in rows
        ],
    )
    return {"rows": rows, "keyspace": space}


# --- part: inproc --------------------------------------------------------------------------


def inproc(args: argparse.Namespace, ctx: dict[str, Any]) -> dict[str, Any]:
    import redis

    from segmint.config import load_config
    from segmint.realtime import Runtime
    from segmint.realtime import _reads as reads

    rt = Runtime.open(load_config(ctx["redis_project"]))
    rng = random.Random(args.seed)
    ids = [cid_of(rng.randrange(args.customers)) for _ in range(args.inproc_calls)]
    r = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    pub_key = f"{ctx['prefix']}:g{r.hget(ctx['prefix'] + ':publish', 'gen')}:pub"
    calls: dict[str, Callable[[str], Any]] = {
        "segments_of(rt, id) (the endpoint, look-up included)": lambda c: reads.segments_of(rt, c),
        "recommend(rt, id, 10)": lambda c: reads.recommend(rt, c, 10),
        "redis-py HGET + json.loads (1 round trip)": lambda c: json.loads(r.hget(pub_key, c)),
    }
    out: dict[str, Any] = {"calls": args.inproc_calls, "rows": {}}
    try:
        for name, fn in calls.items():
            for c in ids[:200]:
                fn(c)
            times = []
            gc.collect()
            for c in ids:
                t = time.perf_counter()
                fn(c)
                times.append((time.perf_counter() - t) * 1000)
            s = sorted(times)
            out["rows"][name] = {
                "median_ms": round(statistics.median(s), 4),
                "p99_ms": round(s[int(0.99 * len(s)) - 1], 4),
                "max_ms": round(s[-1], 4),
            }
        counts = count_commands(rt, ids[0], reads)
        out["round_trips"] = counts
    finally:
        rt.close()
    rows = []
    base = out["rows"]["redis-py HGET + json.loads (1 round trip)"]["median_ms"]
    for name, v in out["rows"].items():
        rows.append(
            [
                name,
                f"{v['median_ms']:.3f}",
                f"{v['p99_ms']:.3f}",
                f"{v['max_ms']:.3f}",
                f"{v['median_ms'] / base:.1f}x",
                f"{v['median_ms'] / GORSE_MS:.1f}x",
            ]
        )
    table(
        f"In-process look-up over Redis, {args.inproc_calls:,} calls each (ms; the endpoint "
        "additionally resolves the id for segments)",
        ["call", "median", "p99", "max", "/ 1 round trip", f"/ Gorse {GORSE_MS} ms"],
        rows,
    )
    say(f"  round trips per call: {counts}")
    out["verdict"] = {}
    return out


def count_commands(rt: Any, cid: str, reads: Any) -> dict[str, dict[str, int]]:
    """Round trips (pipeline or single-command executions) and commands of each read."""
    import redis.client

    seen: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    current = {"name": ""}
    orig_exec = redis.client.Pipeline.execute
    orig_cmd = redis.client.Redis.execute_command

    def p_exec(self: Any, *a: Any, **k: Any) -> Any:
        seen[current["name"]][0] += 1
        seen[current["name"]][1] += len(self.command_stack) + (2 if self.transaction else 0)
        return orig_exec(self, *a, **k)

    def c_exec(self: Any, *a: Any, **k: Any) -> Any:
        if not isinstance(self, redis.client.Pipeline):
            seen[current["name"]][0] += 1
            seen[current["name"]][1] += 1
        return orig_cmd(self, *a, **k)

    redis.client.Pipeline.execute = p_exec  # type: ignore[method-assign]
    redis.client.Redis.execute_command = c_exec  # type: ignore[method-assign]
    try:
        for name, fn in (
            ("segments", lambda: reads.segments_of(rt, cid)),
            ("recommendations", lambda: reads.recommend(rt, cid, 10)),
        ):
            current["name"] = name
            fn()
    finally:
        redis.client.Pipeline.execute = orig_exec  # type: ignore[method-assign]
        redis.client.Redis.execute_command = orig_cmd  # type: ignore[method-assign]
    return {k: {"round_trips": v[0], "commands": v[1]} for k, v in seen.items()}


# --- profiles (py-spy, optional, not timed) ---------------------------------------------------


def pyspy(pids: Sequence[int], seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    exe = REPO / ".venv" / "bin" / "py-spy"
    if not exe.exists():
        say("  py-spy not installed (.venv/bin/pip install py-spy): no profile")
        return None
    procs = []
    for pid in pids:
        f = out.with_name(f"{out.stem}-{pid}.txt")
        procs.append(
            subprocess.Popen(
                [
                    str(exe),
                    "record",
                    "-p",
                    str(pid),
                    "-d",
                    str(int(seconds)),
                    "-r",
                    "200",
                    "--format",
                    "raw",
                    "-o",
                    str(f),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    return procs  # type: ignore[return-value]


def summarise_profile(files: Sequence[Path], top: int = 14) -> dict[str, Any]:
    """Self and inclusive sample shares of the hottest frames in py-spy's raw output."""
    self_n: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for f in files:
        if not f.exists():
            continue
        for line in f.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not stack or not n.isdigit():
                continue
            frames = [
                re.sub(r" \(.*?/(site-packages|src|lib/python3\.\d+)/", " (", fr)
                for fr in stack.split(";")
            ]
            count = int(n)
            total += count
            self_n[frames[-1]] += count
            for fr in set(frames):
                incl[fr] += count
    pct = lambda c: round(100 * c / total, 1) if total else 0.0  # noqa: E731
    return {
        "samples": total,
        "self": [[fr, pct(c)] for fr, c in self_n.most_common(top)],
        "inclusive": [[fr, pct(c)] for fr, c in incl.most_common(top * 3)],
    }


def _profile_during(
    pids: list[int], name: str, ctx: dict[str, Any], seconds: float, load: Callable[[], Any]
) -> dict[str, Any]:
    base = ctx["work"] / f"profile-{name}"
    procs = pyspy(pids, seconds, base) or []
    time.sleep(0.5)
    load()
    for p in procs:
        try:
            p.wait(seconds + 30)
        except subprocess.TimeoutExpired:
            p.kill()
    files = [base.with_name(f"{base.stem}-{pid}.txt") for pid in pids]
    return summarise_profile(files)


def profile_reads(
    srv: Server,
    token: str,
    files: dict[tuple[str, str], Path],
    args: argparse.Namespace,
    ctx: dict[str, Any],
) -> dict[str, Any]:
    say("  profiling the server (py-spy) at 1,000 segment reads/s (not timed)")
    pids = srv.pids()
    return _profile_during(
        pids,
        "reads",
        ctx,
        10,
        lambda: loadgen(
            srv.url, token, rate=TARGET_READ_RATE, duration=10, paths=files[("segments", "random")]
        ),
    )


def profile_events(
    srv: Server,
    workers: list[Any],
    token: str,
    bodies: Path,
    rate: float,
    args: argparse.Namespace,
    ctx: dict[str, Any],
) -> dict[str, Any]:
    say("  profiling the API and the workers (py-spy) while events flow (not timed)")
    res = {}
    wpids = [w.pid for w in workers]
    api = srv.pids()
    base_w = ctx["work"] / "profile-workers"
    pw = pyspy(wpids, 10, base_w) or []
    res["api"] = _profile_during(
        api,
        "events-api",
        ctx,
        10,
        lambda: loadgen(srv.url, token, rate=rate, duration=10, bodies=bodies, connections=8),
    )
    for p in pw:
        p.wait(60)
    res["workers"] = summarise_profile(
        [base_w.with_name(f"{base_w.stem}-{pid}.txt") for pid in wpids]
    )
    return res


def profile_sqlite(
    srv: Server,
    token: str,
    bodies: Path,
    rate: float,
    args: argparse.Namespace,
    ctx: dict[str, Any],
) -> dict[str, Any]:
    say("  profiling the inline API (py-spy) while events flow (not timed)")
    return _profile_during(
        srv.pids(),
        "events-sqlite",
        ctx,
        10,
        lambda: loadgen(srv.url, token, rate=rate, duration=10, bodies=bodies, connections=8),
    )


# --- ratios against the raw store ----------------------------------------------------------


def ratios(report: dict[str, Any]) -> list[list[str]]:
    """Our endpoints' closed-loop rate against what the store allows for the same round trips."""
    if any(k not in report for k in ("raw", "reads", "inproc")) or "runs" not in report["reads"]:
        return []  # a part missing or failed: nothing to compare
    rows_raw = {
        (x["command"].split(" (")[0], x["pipeline"]): x["rps"] for x in report["raw"]["rows"]
    }
    one = rows_raw.get(("HMGET pub", 1))
    trips = report["inproc"].get("round_trips", {})
    out = []
    for conf, runs in report["reads"]["runs"].items():
        for ep in ENDPOINTS:
            w = runs[f"{ep}/wrk"]["rps"]
            n = trips.get(ep, {}).get("round_trips", 0)
            if not (one and n):
                continue
            bound = one / n
            out.append(
                [
                    f"{conf} {ep}",
                    str(n),
                    f"{one:,.0f}",
                    f"{bound:,.0f}",
                    f"{w:,.0f}",
                    f"{w / bound:.3f}",
                ]
            )
    return out


# --- main ----------------------------------------------------------------------------------

PARTS = ("reads", "events", "raw", "inproc")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--parts", default=",".join(PARTS))
    p.add_argument("--quick", action="store_true", help="a one-minute smoke run")
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--workers", default="1,2", help="uvicorn workers for the reads, in turn")
    p.add_argument("--read-seconds", type=float, default=20.0)
    p.add_argument("--step-seconds", type=float, default=8.0)
    p.add_argument("--max-steps", type=int, default=6, help="constant-rate steps per endpoint")
    p.add_argument("--wrk-seconds", type=float, default=10.0)
    p.add_argument("--wrk-connections", type=int, default=16)
    p.add_argument("--event-rate", type=int, default=TARGET_EVENTS_S, help="events/s offered")
    p.add_argument("--event-seconds", type=float, default=40.0)
    p.add_argument("--max-event-rate", type=int, default=15_000, help="bodies made for closed loop")
    p.add_argument("--max-event-seconds", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=500, help="events per POST")
    p.add_argument("--event-api-workers", type=int, default=2)
    p.add_argument("--stream-workers", type=int, default=2)
    p.add_argument("--probe-every", type=float, default=0.1, help="seconds between probes")
    p.add_argument("--poll", type=float, default=0.002, help="seconds between probe polls")
    p.add_argument("--raw-requests", type=int, default=200_000)
    p.add_argument("--raw-pipeline", type=int, default=16)
    p.add_argument("--inproc-calls", type=int, default=5_000)
    p.add_argument("--profile", action="store_true", help="py-spy profiles after the timed runs")
    p.add_argument("--work", type=Path, default=REPO / ".segmint" / "bench" / "serve")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    unknown = set(args.parts.split(",")) - set(PARTS)
    if unknown:
        p.error(f"unknown part(s) {sorted(unknown)}; parts are {', '.join(PARTS)}")
    args.workers = [int(w) for w in str(args.workers).split(",")]
    if args.quick:
        args.customers = min(args.customers, 5_000)
        args.workers = args.workers[:1]
        args.read_seconds, args.step_seconds, args.wrk_seconds = 2.0, 1.5, 2.0
        args.event_seconds, args.max_event_seconds, args.max_steps = 2.0, 1.0, 2
        args.raw_requests, args.inproc_calls = 20_000, 500
    args.work = args.work.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import redis

    from segmint.realtime import open_store

    args.work.mkdir(parents=True, exist_ok=True)
    logs = args.work / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    procs = Procs(logs)
    prefix = f"benchserve{os.getpid()}"
    ctx: dict[str, Any] = {"procs": procs, "work": args.work, "prefix": prefix}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "command": "python bench/bench_serve.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    # a smoke run's figures stay out of the tree
    path = args.json or (args.work if args.quick else HERE) / f"serve-{report['date']}.json"
    started = time.perf_counter()
    store = None
    try:
        report["tools"] = ensure_tools()
        url = f"{REDIS_URL}?prefix={prefix}"
        ctx["redis_project"] = write_project(args.work / "redis", url, url)
        store = open_store(url)
        say(f"publishing {args.customers:,} synthetic customers into Redis (prefix {prefix})")
        filled = fill_store(store, args.customers, args.seed)
        ctx["token"] = filled.pop("token")
        report["store"] = filled
        say(
            f"  {filled['customers']:,} customers in {filled['seconds']} s, "
            f"{filled['record_bytes']:,} bytes of JSON each"
        )
        ctx["paths"] = path_files(args.work, args.customers, args.seed)
        for name in ("inproc", "raw", "reads", "events"):
            if name not in args.parts.split(","):
                continue
            say(f"\n=== {name} ===")
            part = {"reads": reads, "events": events, "raw": raw, "inproc": inproc}[name]
            run_part(report, name, lambda p=part: p(args, ctx))
            write(report, path)
    finally:
        procs.stop_all()
        dropped = 0
        for pre in (prefix, ctx.get("raw_prefix")):
            if pre:
                from segmint.realtime._redis import RedisStore

                with _quiet_redis():
                    dropped += RedisStore(REDIS_URL, prefix=pre).drop_all()
        left = redis.Redis.from_url(REDIS_URL).keys(f"{prefix}*")
        say(f"cleaned up: {dropped:,} Redis keys deleted, {len(left)} left under {prefix}")
        if store is not None:
            store.close()
    rows = ratios(report)
    if rows:
        table(
            "Endpoint (wrk closed loop) against the raw store: 1 round trip = redis-benchmark "
            "HMGET of a published record, 50 connections, no pipelining",
            [
                "run",
                "round trips",
                "raw 1-trip ops/s",
                "store bound req/s",
                "ours req/s",
                "ours / bound",
            ],
            rows,
        )
        report["ratios"] = rows
    report["total_s"] = round(time.perf_counter() - started, 1)
    vrows = []
    for name in PARTS:
        r = report.get(name)
        if r is None:
            continue
        for target, ok in r.get("verdict", {}).items():
            vrows.append([name, target, mark(ok)])
        if "crashed" in r:
            vrows.append([name, r["crashed"], "-"])
    table(f"Verdicts ({report['total_s']:.0f} s in all)", ["part", "target", "verdict"], vrows)
    write(report, path)
    say(f"figures: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
