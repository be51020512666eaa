"""Rule evaluation on one profile (the real-time path): microseconds per rule, against baselines.

The 10 rules of ``bench_segments.RULES`` are evaluated on realistic profiles: customers of
the cached generated shop (``bench_segments.py --quick`` size by default: 100k customers,
1M events), after a full ``run_segments`` on a copy of its warehouse, with every value the
online store would hold precomputed: features and RFM scores (``values``), the rules'
windowed aggregates by key (``aggregates``, computed in the warehouse by ``rule_inputs``;
absent when the customer has no matching events, as a store of counters would have it),
open segment memberships (``segments``) and cluster ids (``clusters``). Half the profiles
are customers active in the last 30 days (the ones the real-time path sees after an event),
half any customer.

Evaluators, each timed on the same profiles in the same run
    ``function``        the compiled ``rule.function(values, aggregates, segments, scores,
                        clusters)``.
    ``evaluate``        ``rule.evaluate(profile)`` on a ready :class:`Profile`.
    ``evaluate+new``    ``rule.evaluate(Profile(...))``, the profile built in the call.
    ``tree-walk``       a plain recursive interpreter over the same typed tree
                        (``rule.expr``), with the same SQL null logic: the obvious way to
                        write an evaluator, and the baseline.
    ``pandas eval``     ``DataFrame.eval`` of the rule (translated) on a one-row frame
                        (``engine="python"``), the frame built beforehand.

How it measures
    One child process (this script with ``--child``) sets up (not timed), then times each
    call with ``time.perf_counter_ns`` around the call alone, garbage collection off, after
    a warm-up; median and p99 are over every call. The timer's own cost (an empty call
    timed the same way) is reported, not subtracted. ``mean`` is a loop of calls timed as a
    whole, divided by their number. Every evaluator's verdict is compared with ``function``.

Target (issue 3): under 20 µs per rule, read as the p99 of ``evaluate`` for every rule.
Run: ``python bench/bench_rules.py``; ``--quick`` for fewer calls.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_segments as bs  # a sibling script, not a package
from bench_ingest import child_env, ensure_shop, machine
from segmint.segments.rules import _ir as ir

REPO = Path(__file__).resolve().parents[1]
TARGET_US = 20.0
EVALUATORS = ("function", "evaluate", "evaluate+new", "tree-walk", "pandas eval")


# --------------------------------------------------------------------------------------------
# the baselines
# --------------------------------------------------------------------------------------------


def interpret(e: Any, p: Any) -> Any:
    """The value of typed expression ``e`` for profile ``p``: a tree walk, SQL null logic."""
    if isinstance(e, ir.Const):
        return e.value
    if isinstance(e, ir.Ref):
        return p.values.get(e.name)
    if isinstance(e, ir.Agg):
        zero = 0 if e.spec.func in ("count", "sum", "distinct") else None
        return p.aggregates.get(e.spec.key, zero)
    if isinstance(e, ir.Seg):
        return e.name in p.segments
    if isinstance(e, ir.Score):
        return p.scores.get(e.model)
    if isinstance(e, ir.Cluster):
        return p.clusters.get(e.name)
    if isinstance(e, ir.Logic):
        values = [interpret(i, p) for i in e.items]
        decisive = e.op == "or"  # True decides an 'or', False an 'and'
        if any(v is decisive for v in values):
            return decisive
        return None if any(v is None for v in values) else not decisive
    if isinstance(e, ir.Not):
        v = interpret(e.operand, p)
        return None if v is None else not v
    if isinstance(e, ir.Neg):
        v = interpret(e.operand, p)
        return None if v is None else -v
    if isinstance(e, ir.Cmp | ir.Arith):
        a, b = interpret(e.left, p), interpret(e.right, p)
        if a is None or b is None:
            return None
        return _OPS[e.op](a, b)
    if isinstance(e, ir.In):
        v = interpret(e.operand, p)
        return None if v is None else ((v in e.values) != e.negated)
    if isinstance(e, ir.Betw):
        v, lo, hi = (interpret(x, p) for x in (e.operand, e.low, e.high))
        if v is None or lo is None or hi is None:
            return None
        return (lo <= v <= hi) != e.negated
    if isinstance(e, ir.IsNull):
        return (interpret(e.operand, p) is None) != e.negated
    if isinstance(e, ir.Func):
        args = [interpret(a, p) for a in e.args]
        if e.name == "coalesce":
            return next((a for a in args if a is not None), None)
        if args[0] is None:
            return None
        return _FUNCS[e.name](*args)
    raise TypeError(f"cannot interpret {e!r}")


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: None if b == 0 else a / b,
}
_FUNCS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "lower": str.lower,
    "startswith": str.startswith,
    "contains": lambda s, part: part in s,
}


def pandas_text(e: Any, names: dict[str, str]) -> str:
    """``e`` as a ``DataFrame.eval`` expression over the one-row frame's columns."""

    def go(x: Any) -> str:
        if isinstance(x, ir.Const):
            return repr(x.value)
        if isinstance(x, ir.Ref):
            return f"`{x.name}`"
        if isinstance(x, ir.Agg):
            return names[x.spec.key]
        if isinstance(x, ir.Seg):
            return names[f"seg:{x.name}"]
        if isinstance(x, ir.Cluster):
            return names[f"cluster:{x.name}"]
        if isinstance(x, ir.Logic):
            return "(" + f" {x.op} ".join(go(i) for i in x.items) + ")"
        if isinstance(x, ir.Not):
            return f"~({go(x.operand)})"
        if isinstance(x, ir.Cmp | ir.Arith):
            return f"({go(x.left)} {x.op} {go(x.right)})"
        if isinstance(x, ir.In):
            return f"({go(x.operand)} {'not in' if x.negated else 'in'} {list(x.values)!r})"
        if isinstance(x, ir.Func) and x.name == "startswith":
            return f"{go(x.args[0])}.str.startswith({go(x.args[1])})"
        raise TypeError(f"no pandas translation for {x!r}")

    return go(e)


# --------------------------------------------------------------------------------------------
# child side: set-up (not timed), then the timings
# --------------------------------------------------------------------------------------------


def _setup(spec: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, str]]:
    """Run every segment on a copy of the warehouse; the compiled rules, profiles and the
    column name of each aggregate, segment and clustering in the one-row frames."""
    from collections import defaultdict

    from segmint.config import load_config
    from segmint.schema import EVENT_TYPES
    from segmint.segments import compile_segments, run_segments
    from segmint.segments.membership import MEMBERSHIP
    from segmint.segments.rules import Catalog
    from segmint.segments.rules._warehouse import catalog_for, rule_inputs
    from segmint.warehouse import connect

    work = Path(spec["work"])
    wh_path = work / "warehouse.duckdb"
    shutil.copyfile(spec["source"], wh_path)
    config = work / "segmint.yaml"
    config.write_text(bs.project_yaml(work, wh_path, spec["clusters"]), encoding="utf-8")
    cfg = load_config(config)
    wh = connect(cfg.warehouse, cfg.base_dir)
    as_of = dt.datetime.fromisoformat(spec["as_of"])
    run_segments(cfg, wh, as_of)
    catalog = catalog_for(wh)
    compiled = compile_segments(
        cfg, Catalog(catalog.values, {}, EVENT_TYPES, models=catalog.models)
    )
    rules = {name: compiled[name] for name, _text in bs.rules_for(spec["clusters"])}
    # every feature and RFM value, as the online store holds them, not only what rules read
    inputs = rule_inputs(
        wh, list(rules.values()), as_of, name="_bench_profiles", values=catalog.values
    )
    t = inputs.table
    n = spec["profiles"]
    active = t.filter(t.sessions_30d > 0).order_by(t.customer_id.hash()).limit(n // 2)
    anyone = t.order_by((t.customer_id + "|any").hash()).limit(n - n // 2)
    rows = wh.to_arrow(active).to_pylist() + wh.to_arrow(anyone).to_pylist()
    ids = [r["customer_id"] for r in rows]
    m = wh.table(MEMBERSHIP)
    m = m.filter(m.exited_at.isnull() & m.customer_id.isin(ids)).select("customer_id", "segment")
    segments: dict[str, set[str]] = defaultdict(set)
    for r in wh.to_arrow(m).to_pylist():
        segments[r["customer_id"]].add(r["segment"])
    wh.close()
    aggs, clusters = inputs.columns.aggregates, inputs.columns.clusters
    hidden = {"customer_id", "as_of", *aggs.values(), *clusters.values()}

    def value(v: Any) -> Any:
        return None if isinstance(v, float) and math.isnan(v) else v

    profiles = [
        {
            "id": r["customer_id"],
            "values": {k: value(v) for k, v in r.items() if k not in hidden},
            "aggregates": {k: r[c] for k, c in aggs.items() if value(r[c]) is not None},
            "segments": frozenset(segments[r["customer_id"]]),
            "clusters": {k: r[c] for k, c in clusters.items() if r[c] is not None},
        }
        for r in rows
    ]
    names = dict(aggs)
    names.update({f"seg:{s}": f"seg_{s}" for r in rules.values() for s in r.segments})
    names.update({f"cluster:{c}": f"cluster_{c}" for c in clusters})
    return rules, profiles, names


def _frame(p: dict[str, Any], rule: Any, names: dict[str, str]) -> Any:
    """The one-row frame of profile ``p`` with what ``rule`` reads."""
    import pandas as pd

    row: dict[str, Any] = {v: p["values"].get(v) for v in rule.values}
    for spec in rule.aggregates:
        zero = 0 if spec.func in ("count", "sum", "distinct") else None
        row[names[spec.key]] = p["aggregates"].get(spec.key, zero)
    for s in rule.segments:
        row[names[f"seg:{s}"]] = s in p["segments"]
    for c in rule.clusters:
        row[names[f"cluster:{c}"]] = p["clusters"].get(c)
    return pd.DataFrame([row])


def _stats(ns: list[int]) -> dict[str, float]:
    ns = sorted(ns)
    return {
        "calls": len(ns),
        "median_us": statistics.median(ns) / 1000,
        "p99_us": ns[int(0.99 * (len(ns) - 1))] / 1000,
        "max_us": ns[-1] / 1000,
    }


def _timed(loop: Callable[[], list[int]]) -> list[int]:
    loop()  # warm-up
    gc.collect()
    gc.disable()
    try:
        return loop()
    finally:
        gc.enable()


def _time_rule(
    rule: Any, profiles: list[dict[str, Any]], names: dict[str, str], spec: dict[str, Any]
) -> dict[str, Any]:
    from segmint.segments.rules import Profile

    clock = time.perf_counter_ns
    passes = spec["passes"]
    args = [(p["values"], p["aggregates"], p["segments"], {}, p["clusters"]) for p in profiles]
    objs = [Profile(values=v, aggregates=a, segments=s, clusters=c) for v, a, s, _, c in args]
    fn, evaluate, expr = rule.function, rule.evaluate, rule.expr

    def function() -> list[int]:
        out = []
        for _ in range(passes):
            for v, a, s, sc, cl in args:
                t0 = clock()
                fn(v, a, s, sc, cl)
                out.append(clock() - t0)
        return out

    def evaluate_ready() -> list[int]:
        out = []
        for _ in range(passes):
            for p in objs:
                t0 = clock()
                evaluate(p)
                out.append(clock() - t0)
        return out

    def evaluate_new() -> list[int]:
        out = []
        for _ in range(passes):
            for v, a, s, _sc, cl in args:
                t0 = clock()
                evaluate(Profile(values=v, aggregates=a, segments=s, clusters=cl))
                out.append(clock() - t0)
        return out

    def tree_walk() -> list[int]:
        out = []
        for _ in range(passes):
            for p in objs:
                t0 = clock()
                interpret(expr, p)
                out.append(clock() - t0)
        return out

    text = pandas_text(expr, names)
    frames = [_frame(p, rule, names) for p in profiles[: spec["pandas_calls"]]]

    def pandas_eval() -> list[int]:
        out = []
        for f in frames:
            t0 = clock()
            f.eval(text, engine="python")
            out.append(clock() - t0)
        return out

    def mean_us() -> float:
        t0 = clock()
        for _ in range(passes):
            for p in objs:
                evaluate(p)
        return (clock() - t0) / (passes * len(objs)) / 1000

    timings = {
        "function": _stats(_timed(function)),
        "evaluate": _stats(_timed(evaluate_ready)),
        "evaluate+new": _stats(_timed(evaluate_new)),
        "tree-walk": _stats(_timed(tree_walk)),
        "pandas eval": _stats(_timed(pandas_eval)),
    }
    timings["evaluate"]["mean_us"] = mean_us()
    verdicts = [rule.function(*a) is True for a in args]
    walked = sum(verdicts[i] == (interpret(expr, p) is True) for i, p in enumerate(objs))
    in_pandas = sum(
        verdicts[i] == bool(f.eval(text, engine="python").iloc[0]) for i, f in enumerate(frames)
    )
    batch = sum(verdicts[i] == (rule.name in p["segments"]) for i, p in enumerate(profiles))
    return {
        "rule": rule.text,
        "pandas_text": text,
        "matches": sum(verdicts),
        "timings": timings,
        "agree": {
            "tree-walk": f"{walked}/{len(objs)}",
            "pandas eval": f"{in_pandas}/{len(frames)}",
            "warehouse membership": f"{batch}/{len(profiles)}",
        },
    }


def _timer_cost(passes: int, n: int) -> dict[str, float]:
    def noop(v: Any, a: Any, s: Any, sc: Any, cl: Any) -> None:
        return None

    clock = time.perf_counter_ns
    args = [({}, {}, frozenset(), {}, {})] * n

    def loop() -> list[int]:
        out = []
        for _ in range(passes):
            for v, a, s, sc, cl in args:
                t0 = clock()
                noop(v, a, s, sc, cl)
                out.append(clock() - t0)
        return out

    return _stats(_timed(loop))


def run_child(spec_path: str) -> None:
    """Set up, time every rule with every evaluator, write the figures as JSON."""
    import resource

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    t = time.perf_counter()
    rules, profiles, names = _setup(spec)
    setup_s = time.perf_counter() - t
    t = time.perf_counter()
    results = {name: _time_rule(rule, profiles, names, spec) for name, rule in rules.items()}
    out = {
        "setup_s": setup_s,
        "timing_s": time.perf_counter() - t,
        "profiles": len(profiles),
        "active_profiles": sum(1 for p in profiles if (p["values"].get("sessions_30d") or 0) > 0),
        "timer": _timer_cost(spec["passes"], len(profiles)),
        "rules": results,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    Path(spec["out"]).write_text(json.dumps(out, default=str), encoding="utf-8")


# --------------------------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------------------------


def print_table(res: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    t = Table(
        title=f"Per-profile rule evaluation, µs per call ({res['profiles']:,} profiles; "
        f"timer cost {res['timer']['median_us']:.2f} µs included)"
    )
    cols = [
        "rule",
        "function med",
        "evaluate med",
        "evaluate p99",
        "eval+Profile med",
        "tree-walk med",
        "tree-walk p99",
        "pandas eval med",
        "tree / evaluate",
        "pandas / evaluate",
        f"p99 < {TARGET_US:g} µs",
    ]
    for c in cols:
        t.add_column(c, justify="left" if c == "rule" else "right")
    for name, r in res["rules"].items():
        tm = r["timings"]
        ev = tm["evaluate"]["median_us"]
        ok = tm["evaluate"]["p99_us"] < TARGET_US
        t.add_row(
            name,
            f"{tm['function']['median_us']:.2f}",
            f"{ev:.2f}",
            f"{tm['evaluate']['p99_us']:.2f}",
            f"{tm['evaluate+new']['median_us']:.2f}",
            f"{tm['tree-walk']['median_us']:.2f}",
            f"{tm['tree-walk']['p99_us']:.2f}",
            f"{tm['pandas eval']['median_us']:,.0f}",
            f"{tm['tree-walk']['median_us'] / ev:.1f}x",
            f"{tm['pandas eval']['median_us'] / ev:,.0f}x",
            "[green]PASS[/]" if ok else "[red]MISS[/]",
        )
    console.print(t)
    a = Table(title="Agreement with the compiled function (and with the warehouse's members)")
    for c in ("rule", "matches", "tree-walk", "pandas eval", "warehouse membership"):
        a.add_column(c, justify="left" if c == "rule" else "right")
    for name, r in res["rules"].items():
        g = r["agree"]
        a.add_row(
            name,
            str(r["matches"]),
            g["tree-walk"],
            g["pandas eval"],
            g["warehouse membership"],
        )
    console.print(a)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="fewer profiles and calls")
    p.add_argument("--customers", type=int, default=100_000, help="shop to draw profiles from")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--profiles", type=int, default=None, help="default 2000 (quick: 500)")
    p.add_argument("--passes", type=int, default=None, help="timed passes, default 25 (quick: 4)")
    p.add_argument(
        "--pandas-calls", type=int, default=None, help="pandas eval calls per rule, default 200"
    )
    p.add_argument("--work", type=Path, default=REPO / ".segmint" / "bench")
    p.add_argument("--json", type=Path, default=None, help="default: bench/results/rules-*")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for name, full, quick in (
        ("profiles", 2000, 500),
        ("passes", 25, 4),
        ("pandas_calls", 200, 50),
    ):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    args.work = args.work.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        run_child(args.child)
        return 0
    import tempfile

    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    say = console.print
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    env = child_env()
    shop = ensure_shop(args, env, say)
    wh = bs.ensure_warehouse(shop, env, say)
    clusters = bs.clustering_available()
    work = args.work / "runs" / "rules"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    spec = {
        "source": wh["path"],
        "as_of": wh["as_of"],
        "clusters": clusters,
        "work": str(work),
        "out": str(work / "result.json"),
        "profiles": args.profiles,
        "passes": args.passes,
        "pandas_calls": args.pandas_calls,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(spec, fh)
    say("rules: setting up (run_segments on a copy, not timed), then timing ...")
    proc = subprocess.run([sys.executable, __file__, "--child", fh.name], env=env, check=False)
    Path(fh.name).unlink(missing_ok=True)
    if proc.returncode != 0:
        say(f"[red]the child failed (rc={proc.returncode})[/]")
        return 1
    res = json.loads(Path(spec["out"]).read_text(encoding="utf-8"))
    shutil.rmtree(work, ignore_errors=True)
    say(f"set-up {res['setup_s']:.0f} s, timing {res['timing_s']:.0f} s")
    print_table(res, console)
    worst = max(r["timings"]["evaluate"]["p99_us"] for r in res["rules"].values())
    verdict = "PASS" if worst < TARGET_US else "MISS"
    say(f"verdict: worst p99 of evaluate {worst:.2f} µs against < {TARGET_US:g} µs: {verdict}")
    if not clusters:
        say("[yellow]clustering not available: the cluster() rule was left out[/]")
    suffix = "-quick" if args.quick else ""
    out = args.json or REPO / "bench" / "results" / f"rules-{started:%Y-%m-%d}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "started_at": started.isoformat(),
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": machine(),
        "target_us": TARGET_US,
        "verdict": verdict,
        "worst_p99_us": worst,
        "inputs": {"shop": shop["params"], "warehouse": wh},
        **res,
    }
    out.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
    say(f"figures written to {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
