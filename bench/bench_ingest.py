"""Ingestion benchmark: segmint end to end against a plain pandas baseline, in the same run.

Cases
    ``retail``     UCI Online Retail, 541,909 invoice lines (``SEGMINT_DATA``, else
                   ``<repo>/../shared/data``); skipped with a message when the file is absent.
    ``synthetic``  a generated shop with ``--events`` clickstream events (10M by default) plus
                   its CRM, catalogue, orders and order lines; cached under ``--work``.

Engines
    ``segmint``  :func:`segmint.ingest.ingest` on the project into a fresh DuckDB warehouse:
                 reading, validation, typing, quarantine, de-duplication, PII encryption,
                 identities and profiles. Rows = every input record of every source.
    ``pandas``   ``read_csv`` (whole files, the date column parsed) + ``drop_duplicates()`` +
                 ``to_sql`` into a fresh SQLite file (sqlite3 connection, ``index=False``,
                 ``chunksize=50_000``, ``method=None``). Rows = input rows read. Retail: the one
                 CSV; synthetic: the events files only. It does none of segmint's checks.

How it measures
    Every measured run is a fresh child process (this script with ``--child``), one per run.
    Seconds are timed inside the child around the work only: interpreter start-up, imports and
    key set-up are excluded (the child's whole life, start-up included, is kept in the JSON as
    ``child_wall_s``). Peak memory is the child's own peak RSS, read by the parent from
    ``os.wait4`` (``ru_maxrss``) after it exits. Input files are read once before a case so
    both engines start with a warm page cache. Peak RSS per phase (sampled every 50 ms in the
    child) is indicative only. If the pandas baseline exceeds ``--baseline-limit-s`` or
    ``--baseline-limit-mb`` it is stopped and re-run on a prefix of the events files
    (``--baseline-prefix``); rows per second are then compared, and the output says so.

Targets: segmint >= 5x the baseline's rows per second; segmint peak RSS < 2 GiB at 10M events.
Run: ``python bench/bench_ingest.py`` (``make bench``); ``--quick`` for a 1M-event smoke run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RETAIL_CONFIG = REPO / "examples" / "online_retail" / "segmint.yaml"
RETAIL_FILE = Path("online_retail") / "online_retail.csv.gz"
SHOP_FORMAT = 1  # bump when the cached shop's layout or parameters change meaning
TARGET_SPEEDUP = 5.0
TARGET_PEAK_MIB = 2048.0  # "under 2 GB", read as 2 GiB of resident memory
TARGET_EVENTS = 10_000_000
TO_SQL_CHUNK = 50_000
MIB = 1024 * 1024


# --------------------------------------------------------------------------------------------
# child side: one measured run
# --------------------------------------------------------------------------------------------


class _RssSampler:
    """Peak resident memory per phase, sampled from /proc/self/statm in a thread."""

    def __init__(self, every: float = 0.05) -> None:
        self.every, self.phase = every, "start"
        self.peaks: dict[str, float] = {}
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss_mib(self) -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page / MIB

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self) -> None:
        rss = self._rss_mib()
        self.peaks[self.phase] = max(self.peaks.get(self.phase, 0.0), rss)

    def start(self) -> _RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


class _Phases:
    """Seconds and sampled peak RSS per named phase of one run."""

    def __init__(self, sampler: _RssSampler) -> None:
        self.sampler = sampler
        self.mark = time.perf_counter()
        self.seconds: dict[str, float] = {}

    def switch(self, name: str) -> None:
        """Close the current phase (if any) and start ``name``."""
        now = time.perf_counter()
        current = self.sampler.phase
        if current != "start":
            self.seconds[current] = self.seconds.get(current, 0.0) + now - self.mark
        self.sampler.sample()
        self.sampler.phase, self.mark = name, now

    def close(self) -> None:
        self.switch("end")

    def table(self) -> list[dict[str, Any]]:
        peaks = self.sampler.peaks
        return [
            {"phase": k, "seconds": round(v, 3), "rss_mib": round(peaks.get(k, 0.0), 1)}
            for k, v in self.seconds.items()
        ]


def _child_segmint(spec: dict[str, Any], ph: _Phases) -> dict[str, Any]:
    from segmint.config import load_config
    from segmint.ingest import ingest, plan_files

    work = Path(spec["work"])
    ph.switch("config")
    cfg = load_config(spec["config"])
    cfg = cfg.model_copy(
        update={"warehouse": f"duckdb:///{work / 'warehouse.duckdb'}", "home": str(work / "home")}
    )
    order = [src.name for src, files in plan_files(cfg) for _ in files]  # ingest's file order
    ph.switch(f"load {order[0]}")

    def progress(label: str, done: int, total: int) -> None:
        # called after each file, then once more before identities and profiles are built
        if label == "identities and profiles":
            ph.switch("derive + identities + profiles")
        elif done < total:
            ph.switch(f"load {order[done]}")

    report = ingest(cfg, progress=progress)
    ph.close()
    files = [
        {k: v for k, v in f.as_dict().items() if k not in ("rules", "sha256")} for f in report.files
    ]
    return {
        "rows": report.total("records"),
        "detail": {
            "loaded": report.total("loaded"),
            "duplicates": report.total("duplicates"),
            "rejected": report.total("rejected"),
            "nullified": report.total("nullified"),
            "failed_files": len(report.failed),
            "balanced": report.balanced,
            "tables": report.tables,
            "persons": report.identity.persons,
            "files": files,
        },
    }


def _child_pandas(spec: dict[str, Any], ph: _Phases) -> dict[str, Any]:
    import sqlite3

    import pandas as pd

    ph.switch("read_csv")
    frames = [pd.read_csv(f, parse_dates=spec["date_columns"]) for f in spec["files"]]
    df = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    del frames
    rows = len(df)
    ph.switch("drop_duplicates")
    df = df.drop_duplicates()
    ph.switch("to_sql")
    con = sqlite3.connect(spec["db"])
    try:
        df.to_sql(spec["table"], con, index=False, chunksize=TO_SQL_CHUNK, method=None)
        con.commit()
    finally:
        con.close()
    ph.close()
    dtypes = {c: str(t) for c, t in df.dtypes.items()}
    return {"rows": rows, "detail": {"written": len(df), "dtypes": dtypes}}


def _child_generate(spec: dict[str, Any]) -> None:
    from segmint.generate import generate_shop

    t = time.perf_counter()
    shop = generate_shop(spec["out"], **spec["params"])
    marker = {
        "format": SHOP_FORMAT,
        "params": spec["params"],
        "counts": shop.counts,
        "events_files": [str(p) for p in shop.files["events"]],
        "seconds": round(time.perf_counter() - t, 1),
    }
    Path(spec["marker"]).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def run_child(spec_path: str) -> None:
    """Entry point of a child process: do one run and write its figures as JSON."""
    import resource

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    if spec["engine"] == "generate":
        _child_generate(spec)
        return
    if spec["engine"] == "segmint":  # imports outside the timed region
        import segmint.config
        import segmint.ingest  # noqa: F401
    else:
        import sqlite3  # noqa: F401

        import pandas  # noqa: F401
    sampler = _RssSampler().start()
    ph = _Phases(sampler)
    t = time.perf_counter()
    work = _child_segmint if spec["engine"] == "segmint" else _child_pandas
    out = work(spec, ph)
    seconds = time.perf_counter() - t
    sampler.stop()
    out.update(
        seconds=seconds,
        phases=ph.table(),
        self_maxrss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    Path(spec["out"]).write_text(json.dumps(out, default=str), encoding="utf-8")


# --------------------------------------------------------------------------------------------
# parent side: cases, guards, table, JSON
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One measured child run."""

    case: str
    engine: str
    rows: int = 0
    seconds: float = 0.0
    peak_mib: float = 0.0
    child_wall_s: float = 0.0
    status: str = "ok"  # ok | killed: <why> | failed (rc=N)
    note: str = ""
    load_before: float = 0.0
    load_after: float = 0.0
    phases: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.ok and self.seconds else 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class Limits:
    seconds: float
    rss_mib: float | None = None


def _rss_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _spawn(spec: dict[str, Any], env: dict[str, str], limits: Limits) -> tuple[float, str, float]:
    """Run one child; return (its peak RSS in MiB, status, wall seconds incl. start-up)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(spec, fh)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", fh.name], env=env)
    status = "ok"
    try:
        while True:
            pid, code, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            elapsed = time.perf_counter() - start
            why = ""
            if elapsed > limits.seconds:
                why = f"over {limits.seconds:.0f} s"
            elif limits.rss_mib and _rss_of(proc.pid) > limits.rss_mib:
                why = f"over {limits.rss_mib:.0f} MiB RSS"
            if why:
                os.kill(proc.pid, signal.SIGKILL)
                _pid, code, usage = os.wait4(proc.pid, 0)
                status = f"killed: {why}"
                break
            time.sleep(0.2)
    finally:
        proc.returncode = 0  # reaped by wait4; keep Popen from waiting again
        Path(fh.name).unlink(missing_ok=True)
    if status == "ok" and os.waitstatus_to_exitcode(code) != 0:
        status = f"failed (rc={os.waitstatus_to_exitcode(code)})"
    return usage.ru_maxrss / 1024, status, time.perf_counter() - start


def measure(
    case: str, engine: str, spec: dict[str, Any], env: dict[str, str], limits: Limits
) -> Run:
    """One fresh child for ``engine`` on ``case``; its output folder is emptied first."""
    work = Path(spec["work"])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out = work / "result.json"
    spec = {**spec, "engine": engine, "out": str(out)}
    run = Run(case, engine, load_before=os.getloadavg()[0])
    run.peak_mib, run.status, run.child_wall_s = _spawn(spec, env, limits)
    run.load_after = os.getloadavg()[0]
    if run.ok:
        res = json.loads(out.read_text(encoding="utf-8"))
        run.rows, run.seconds = res["rows"], res["seconds"]
        run.phases, run.detail = res["phases"], res["detail"]
        run.detail["self_maxrss_mib"] = round(res["self_maxrss_mib"], 1)
        run.detail["output_bytes"] = sum(
            p.stat().st_size for p in work.rglob("*") if p.is_file() and p != out
        )
        if run.detail.get("failed_files"):
            run.status = f"invalid: {run.detail['failed_files']} file(s) failed to load"
    return run


def data_dir() -> Path | None:
    env = os.environ.get("SEGMINT_DATA")
    candidate = Path(env) if env else REPO.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def warm(paths: list[Path]) -> None:
    """Read files once so that neither engine pays for a cold page cache."""
    for p in paths:
        with p.open("rb") as fh:
            while fh.read(1 << 23):
                pass


def ensure_shop(
    args: argparse.Namespace, env: dict[str, str], say: Callable[[str], None]
) -> dict[str, Any]:
    """The generated shop for these parameters, generated once and cached under ``--work``."""
    params = {"customers": args.customers, "days": args.days, "seed": args.seed}
    params["events"] = args.events
    name = f"shop-e{args.events}-c{args.customers}-d{args.days}-s{args.seed}-f{SHOP_FORMAT}"
    out = args.work / name
    marker = out / "bench-shop.json"
    if marker.is_file():
        info = json.loads(marker.read_text(encoding="utf-8"))
        if info.get("format") == SHOP_FORMAT and info.get("params") == params:
            say(f"synthetic shop: cached in {out}")
            return {**info, "dir": str(out)}
    say(f"synthetic shop: generating {args.events:,} events into {out} (one-off) ...")
    shutil.rmtree(out, ignore_errors=True)
    spec = {"engine": "generate", "out": str(out), "params": params, "marker": str(marker)}
    _peak, status, wall = _spawn(spec, env, Limits(seconds=3 * 3600))
    if status != "ok":
        raise SystemExit(f"generating the synthetic shop {status}")
    info = json.loads(marker.read_text(encoding="utf-8"))
    say(f"synthetic shop: generated in {wall:.0f} s")
    return {**info, "dir": str(out)}


def _prefix(files: list[str], rows_per_file: list[int], want: int) -> tuple[list[str], int]:
    taken, rows = [], 0
    for f, n in zip(files, rows_per_file, strict=True):
        if rows >= want:
            break
        taken.append(f)
        rows += n
    return taken, rows


def _count_rows(path: str) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 23), b"")) - 1


def _alternate(
    case: str,
    specs: dict[str, dict[str, Any]],
    env: dict[str, str],
    limits: dict[str, Limits],
    repeat: int,
    say: Callable[[str], None],
) -> list[Run]:
    runs = []
    for i in range(repeat):
        for engine, spec in specs.items():
            say(f"{case}: {engine} (run {i + 1}/{repeat}) ...")
            run = measure(case, engine, spec, env, limits[engine])
            say(f"  {_line(run)}")
            runs.append(run)
            if not run.ok:
                return runs
    return runs


def _line(r: Run) -> str:
    if not r.ok:
        return f"{r.status}"
    return (
        f"{r.rows:,} rows in {r.seconds:.1f} s = {r.rate:,.0f} rows/s, peak {r.peak_mib:,.0f} MiB"
    )


def bench_retail(
    args: argparse.Namespace, env: dict[str, str], say: Callable[[str], None]
) -> tuple[list[Run], dict[str, Any]]:
    data = data_dir()
    if data is None or not (data / RETAIL_FILE).is_file():
        where = data / RETAIL_FILE if data else REPO.parent / "shared" / "data" / RETAIL_FILE
        say(
            f"[yellow]Online Retail skipped: {where} not found. Set SEGMINT_DATA to the folder "
            f"holding online_retail/online_retail.csv.gz.[/]"
        )
        return [], {}
    env = {**env, "SEGMINT_DATA": str(data)}
    path = data / RETAIL_FILE
    warm([path])
    runs_dir = args.work / "runs"
    specs: dict[str, dict[str, Any]] = {
        "segmint": {"config": str(RETAIL_CONFIG), "work": str(runs_dir / "retail-segmint")},
        "pandas": {
            "files": [str(path)],
            "date_columns": ["InvoiceDate"],
            "table": "order_lines",
            "db": str(runs_dir / "retail-pandas" / "baseline.sqlite"),
            "work": str(runs_dir / "retail-pandas"),
        },
    }
    limits = {"segmint": Limits(args.timeout), "pandas": Limits(args.timeout)}
    return _alternate("retail", specs, env, limits, args.repeat, say), {"input": str(path)}


def bench_synthetic(
    args: argparse.Namespace, env: dict[str, str], say: Callable[[str], None]
) -> tuple[list[Run], dict[str, Any]]:
    shop = ensure_shop(args, env, say)
    events = shop["events_files"]
    per_file = [_count_rows(f) for f in events]
    warm([p for p in Path(shop["dir"]).glob("*.csv")])
    runs_dir = args.work / "runs"
    case = f"synthetic {args.events / 1e6:g}M"
    seg = {"config": str(Path(shop["dir"]) / "segmint.yaml"), "work": str(runs_dir / "syn-segmint")}
    base_dir = runs_dir / "syn-pandas"
    base: dict[str, Any] = {
        "date_columns": ["ts"],
        "table": "events",
        "db": str(base_dir / "baseline.sqlite"),
        "work": str(base_dir),
    }
    want = args.baseline_events or sum(per_file)
    files, rows = _prefix(events, per_file, want)
    note = "" if len(files) == len(events) else f"first {rows:,} events ({len(files)} files)"
    limits = {
        "segmint": Limits(args.timeout),
        "pandas": Limits(args.baseline_limit_s, args.baseline_limit_mb),
    }
    runs = _alternate(
        case, {"segmint": seg, "pandas": {**base, "files": files}}, env, limits, args.repeat, say
    )
    killed = [r for r in runs if r.engine == "pandas" and r.status.startswith("killed")]
    if killed and len(files) > 1:
        files, rows = _prefix(events, per_file, args.baseline_prefix)
        note = f"full baseline {killed[0].status}; re-run on the first {rows:,} events"
        say(f"[yellow]{case}: pandas {killed[0].status}; re-running on {rows:,} events[/]")
        runs += _alternate(case, {"pandas": {**base, "files": files}}, env, limits, 1, say)
    for r in runs:
        if r.engine == "pandas" and r.ok:
            r.note = note
    info = {"shop": shop, "events_rows_per_file": per_file, "baseline_files": files}
    return runs, info


def _summary(runs: list[Run], case: str, engine: str) -> Run | None:
    """The median run by seconds (the ok ones), carrying the highest peak RSS seen."""
    ok = sorted(
        (r for r in runs if r.case == case and r.engine == engine and r.ok), key=lambda r: r.seconds
    )
    if not ok:
        bad = [r for r in runs if r.case == case and r.engine == engine]
        return bad[-1] if bad else None
    med = ok[(len(ok) - 1) // 2]
    return Run(**{**asdict(med), "peak_mib": max(r.peak_mib for r in ok)})


def verdicts(runs: list[Run], events: int) -> list[dict[str, Any]]:
    """One row per case and engine, with the ratio and the targets."""
    rows = []
    for case in dict.fromkeys(r.case for r in runs):
        seg, base = _summary(runs, case, "segmint"), _summary(runs, case, "pandas")
        ratio = seg.rate / base.rate if seg and base and seg.ok and base.ok and base.rate else None
        for r in (seg, base):
            if r is None:
                continue
            row = {
                "case": case,
                "engine": r.engine,
                "status": r.status,
                "rows": r.rows,
                "seconds": round(r.seconds, 2),
                "rows_per_s": round(r.rate),
                "peak_rss_mib": round(r.peak_mib, 1),
                "runs": sum(1 for x in runs if x.case == case and x.engine == r.engine and x.ok),
                "note": r.note,
            }
            if r.engine == "segmint":
                row["ratio"] = round(ratio, 3) if ratio is not None else None
                row["throughput_target"] = (
                    None if ratio is None else ("PASS" if ratio >= TARGET_SPEEDUP else "MISS")
                )
                at_target = case.startswith("synthetic") and events >= TARGET_EVENTS
                row["memory_target"] = (
                    ("PASS" if r.peak_mib < TARGET_PEAK_MIB else "MISS")
                    if at_target and r.ok
                    else None
                )
            rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]], console: Any) -> None:
    from rich.table import Table

    t = Table(title="Ingest throughput and peak memory (seconds exclude start-up and imports)")
    for name, justify in [
        ("case", "left"),
        ("engine", "left"),
        ("rows", "right"),
        ("seconds", "right"),
        ("rows/s", "right"),
        ("peak RSS MiB", "right"),
        ("segmint/baseline", "right"),
        (f">= {TARGET_SPEEDUP:g}x", "center"),
        ("< 2 GiB @10M", "center"),
    ]:
        t.add_column(name, justify=justify)  # type: ignore[arg-type]

    def mark(v: str | None) -> str:
        return {"PASS": "[green]PASS[/]", "MISS": "[red]MISS[/]"}.get(v or "", "-")

    for r in rows:
        ok = r["status"] == "ok"
        ratio = r.get("ratio")
        t.add_row(
            r["case"],
            r["engine"] + (f" [dim]({r['note']})[/]" if r["note"] else ""),
            f"{r['rows']:,}" if ok else r["status"],
            f"{r['seconds']:.1f}" if ok else "-",
            f"{r['rows_per_s']:,}" if ok else "-",
            f"{r['peak_rss_mib']:,.0f}",
            f"{ratio:.2f}x" if ratio is not None else "",
            mark(r.get("throughput_target")) if r["engine"] == "segmint" else "",
            mark(r.get("memory_target")) if r["engine"] == "segmint" else "",
        )
    console.print(t)


def print_phases(runs: list[Run], console: Any) -> None:
    from rich.table import Table

    for r in runs:
        if not r.ok or not r.phases:
            continue
        title = f"{r.case} / {r.engine}: phases of the median run"
        t = Table(title=title, title_justify="left")
        t.add_column("phase")
        t.add_column("seconds", justify="right")
        t.add_column("share", justify="right")
        t.add_column("sampled peak RSS MiB", justify="right")
        for p in r.phases:
            share = p["seconds"] / r.seconds if r.seconds else 0
            t.add_row(p["phase"], f"{p['seconds']:.1f}", f"{share:.0%}", f"{p['rss_mib']:,.0f}")
        console.print(t)


def machine() -> dict[str, Any]:
    def version(mod: str) -> str | None:
        try:
            from importlib.metadata import version as v

            return v(mod)
        except Exception:
            return None

    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "mem_gib": round(mem / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "segmint": version("segmint"),
        "duckdb": version("duckdb"),
        "pandas": version("pandas"),
        "git_commit": commit,
    }


def child_env() -> dict[str, str]:
    """The environment of every child: a PII key (a throwaway one unless one is set)."""
    env = dict(os.environ)
    if not env.get("SEGMINT_KEY") and not env.get("SEGMINT_KEY_FILE"):
        from segmint.privacy import generate_key

        env["SEGMINT_KEY"] = generate_key()  # the bench's PII is synthetic
    env.pop("SEGMINT_WAREHOUSE", None)  # each run gets its own fresh warehouse
    return env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--events", type=int, default=TARGET_EVENTS, help="synthetic events")
    p.add_argument("--quick", action="store_true", help="smoke run: 1M events")
    p.add_argument("--skip-retail", action="store_true")
    p.add_argument("--skip-synthetic", action="store_true")
    p.add_argument("--customers", type=int, default=None, help="default: events / 100")
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--repeat", type=int, default=1, help="runs per engine and case")
    p.add_argument(
        "--baseline-events",
        type=int,
        default=None,
        help="run the baseline on this prefix of the events from the start",
    )
    p.add_argument(
        "--baseline-prefix",
        type=int,
        default=2_000_000,
        help="prefix to fall back to when the full baseline is stopped",
    )
    p.add_argument("--baseline-limit-s", type=float, default=900.0)
    p.add_argument(
        "--baseline-limit-mb",
        type=float,
        default=None,
        help="stop the baseline above this RSS (default: 80%% of RAM)",
    )
    p.add_argument("--timeout", type=float, default=3 * 3600.0, help="any other child")
    p.add_argument("--work", type=Path, default=REPO / ".segmint" / "bench")
    p.add_argument("--json", type=Path, default=None, help="default: bench/results/ingest-*.json")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.events = 1_000_000
    args.customers = args.customers or max(1000, args.events // 100)
    if args.baseline_limit_mb is None:
        args.baseline_limit_mb = (
            0.8 * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / MIB
        )
    args.work = args.work.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        run_child(args.child)
        return 0
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # a log file: do not squeeze the table into 80 columns
        console = Console(width=140)
    say = console.print
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    runs: list[Run] = []
    inputs: dict[str, Any] = {}
    env = child_env()
    if not args.skip_retail:
        measured, inputs["retail"] = bench_retail(args, env, say)
        runs += measured
    if not args.skip_synthetic:
        measured, inputs["synthetic"] = bench_synthetic(args, env, say)
        runs += measured
    if not runs:
        say("nothing measured")
        return 1
    rows = verdicts(runs, args.events)
    print_table(rows, console)
    medians = [
        m
        for case in dict.fromkeys(r.case for r in runs)
        for engine in ("segmint", "pandas")
        if (m := _summary(runs, case, engine)) is not None
    ]
    print_phases(medians, console)
    for row in rows:
        if row["note"]:
            say(f"[yellow]note[/] {row['case']} / {row['engine']}: {row['note']}")
    say(
        "[dim]The baseline does far less work: no validation, typing rules, quarantine, "
        "row keys, PII encryption, identities or profiles.[/]"
    )
    suffix = "-quick" if args.quick else ""
    out = args.json or REPO / "bench" / "results" / f"ingest-{started:%Y-%m-%d}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "started_at": started.isoformat(),
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": machine(),
        "targets": {
            "speedup": TARGET_SPEEDUP,
            "peak_rss_mib": TARGET_PEAK_MIB,
            "at_events": TARGET_EVENTS,
        },
        "summary": rows,
        "runs": [{**asdict(r), "rows_per_s": round(r.rate)} for r in runs],
        "inputs": inputs,
    }
    out.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
    say(f"figures written to {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
