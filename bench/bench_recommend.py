"""Recommendation benchmark: the targets of issue 5, each beside its baseline in the same run.

Parts
    ``retail``       UCI Online Retail (``SEGMINT_DATA``, else ``<repo>/../shared/data``): the
                     example project ``examples/online_retail`` copied (without its
                     ``.segmint``) and ingested once into a cached warehouse under ``--work``;
                     interactions by :func:`interactions_from_warehouse` with the project's
                     ``recommend.interactions``, the catalogue by
                     :func:`catalogue_from_warehouse`; a temporal split (the last 20% of the
                     rows held out), every model plus ``content`` and the hybrid, tuned on a
                     validation split carved from the training part.
    ``shop``         A generated shop (``--shop-customers``, ``--shop-days``), generated and
                     ingested once, cached; leave-last-out (each customer's latest product).
    ``clickstream``  UCI "Clickstream Data for Online Shopping" (e-shop clothing 2008): the
                     sessions are the customers, ``page 2 (clothing model)`` the products, the
                     time the click's date plus ``order`` seconds (so leave-last-out holds out
                     each session's last click); sessions of one product stay in train.
    ``movielens``    MovieLens 100K (GroupLens; F. M. Harper and J. A. Konstan, "The MovieLens
                     Datasets: History and Context", ACM TiiS 5(4), 2015), as packaged in
                     RecBole's wheel: ``pip download recbole==1.2.1 --no-deps`` once, then
                     ``recbole/dataset_example/ml-100k/ml-100k.inter`` is extracted from the
                     wheel to ``.segmint/bench/movielens/``. Every rating counts as an
                     interaction (``binary=True``); the protocol of Microsoft Recommenders'
                     benchmark: a 75/25 stratified split per user, k=10; hyperparameters by
                     ``--search`` on validation carved from train. Printed beside the
                     figures of the Recommenders README's benchmark table, and repeated over
                     ``--ml-seeds`` seeds (``--seed`` and the next ones; default 3, 1 with
                     ``--quick``); ``--models`` names the models (the hybrid blends them).
    ``speed``        A seeded power-law set of ``--speed-interactions`` interactions of
                     ``--speed-users`` customers on ``--speed-items`` products: (a) ALS with
                     segmint's defaults (64 factors, 15 iterations) against implicit's own
                     ``AlternatingLeastSquares`` fitted directly on the same matrix with the
                     same parameters; (b) top-10 with reasons for every customer, ALS and
                     EASE, against a bare NumPy top-10 on the same learned arrays; (c) one
                     ``recommend([id], k=10)`` per call, 1,000 calls, model in memory, for
                     ALS, EASE, item-kNN and the hybrid, against NumPy's
                     ``user_factors[u] @ item_factors.T`` + ``argpartition``.

Targets (issue 5): on retail, shop and clickstream the best model >= 2x popularity on nDCG@10
and recall@10; MovieLens 100K nDCG@10 >= 0.50; ALS fit on 1M interactions < 30 s; top-10 for
100k customers < 60 s; one customer's recommendations < 5 ms.

Run: ``python bench/bench_recommend.py`` (all parts), ``--parts movielens,speed``,
``--quick`` (search 2, one MovieLens seed, a 3,000-customer shop, 20k x 5k speed set).
Figures go to ``.segmint/bench/recommend/recommend-<date>.json``, one Vega-Lite chart per
quality part (``<part>.html`` and ``<part>.svg``, by :meth:`Evaluation.save_chart`) beside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import traceback
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import child_env, machine  # a sibling script, not a package

REPO = Path(__file__).resolve().parents[1]
K = 10
TARGET_LIFT = 2.0  # best model / popularity, nDCG@10 and recall@10
TARGET_ML_NDCG = 0.50
TARGET_FIT_S = 30.0
TARGET_BATCH_S = 60.0
TARGET_LATENCY_MS = 5.0
MODELS = ("popularity", "item_knn", "als", "bpr", "ease", "edlae", "rp3beta", "hybrid")
RETAIL_FORMAT = SHOP_FORMAT = 1  # bump when a cached warehouse's meaning changes
RECBOLE = "recbole==1.2.1"
ML_MEMBER = "recbole/dataset_example/ml-100k/ml-100k.inter"
CLICKSTREAM = Path("clickstream") / "clickstream+data+for+online+shopping.zip"
#: Microsoft Recommenders README, "Algorithm Comparison" (MovieLens 100k, 75/25 stratified
#: split, k=10), at commit 005dcd06bd32ab996c7e4c9892ebbfcab80adb1a: (algorithm, nDCG@10,
#: precision@10). Their ALS is Spark's, trained on the ratings as explicit feedback.
PUBLISHED_ML100K = (
    ("BiVAE (cornac)", 0.475077, 0.411771),
    ("BPR (cornac)", 0.441997, 0.388229),
    ("LightGCN", 0.419846, 0.379626),
    ("NCF", 0.396118, 0.347296),
    ("SAR", 0.382461, 0.330753),
    ("ALS (Spark)", 0.044239, 0.048462),
)


def say(msg: str) -> None:
    print(msg, flush=True)


def data_dir() -> Path:
    env = os.environ.get("SEGMINT_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a plain-text table: the first column left-aligned, the others right."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    say(f"\n{title}")
    say(line(headers))
    say("  ".join("-" * w for w in widths))
    for r in rows:
        say(line(r))


def mark(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def _f(v: Any, spec: str = ".4f") -> str:
    try:
        return "-" if v is None or v != v else format(v, spec)
    except (TypeError, ValueError):
        return str(v)


def _spread(xs: Sequence[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(xs), 4),
        "sd": round(statistics.stdev(xs), 4) if len(xs) > 1 else 0.0,
        "min": round(min(xs), 4),
        "max": round(max(xs), 4),
    }


# --- quality: one evaluation, its table and verdict ----------------------------------------


def run_evaluation(
    part: str, inter: Any, models: Sequence[str], args: argparse.Namespace, **kw: Any
) -> tuple[Any, float]:
    from segmint.recommend import evaluate

    t = time.perf_counter()
    ev = evaluate(
        inter,
        list(models),
        k=K,
        seed=kw.pop("seed", args.seed),
        search=args.search,
        progress=lambda m: say(f"  {part} {time.perf_counter() - t:7.1f} s  {m}"),
        **kw,
    )
    return ev, time.perf_counter() - t


def summarise(part: str, ev: Any, wall: float, work: Path, chart: bool = True) -> dict[str, Any]:
    """The evaluation's table as rows, the best model against popularity, and the charts."""
    tab = ev.table
    rows = {
        str(name): {c: (None if v != v else round(float(v), 6)) for c, v in r.items()}
        for name, r in tab.iterrows()
    }
    best = ev.best
    lift_ndcg = float(tab.loc[best, "ndcg_vs_popularity"])
    lift_recall = float(tab.loc[best, "recall_vs_popularity"])
    out: dict[str, Any] = {
        "models": rows,
        "best": best,
        "best_ndcg_vs_popularity": round(lift_ndcg, 4),
        "best_recall_vs_popularity": round(lift_recall, 4),
        "best_recall_model": str(tab["recall@10"].idxmax()),
        "split": ev.split,
        "train_rows": ev.train_rows,
        "test_rows": ev.test_rows,
        "cold_users": ev.cold_users,
        "params": ev.params,
        "weights": ev.weights,
        "seconds": round(wall, 1),
        "verdict": {
            "ndcg>=2x_popularity": lift_ndcg >= TARGET_LIFT,
            "recall>=2x_popularity": lift_recall >= TARGET_LIFT,
        },
    }
    if chart:
        out["charts"] = []
        for suffix in (".html", ".svg"):
            try:
                out["charts"].append(str(ev.save_chart(work / f"{part}{suffix}")))
            except Exception as exc:  # a chart is a by-product; the figures stand without it
                say(f"  {part}: chart {suffix} not written ({type(exc).__name__}: {exc})")
    return out


def print_quality(part: str, title: str, s: dict[str, Any], lift_target: bool = True) -> None:
    headers = ["model", "nDCG@10", "recall@10", "P@10", "MAP@10", "HR@10", "coverage"]
    headers += ["novelty", "users", "fit s", "nDCG/pop", "recall/pop"]
    rows = []
    for name, r in s["models"].items():
        rows.append(
            [
                name + (" *" if name == s["best"] else ""),
                _f(r.get("ndcg@10")),
                _f(r.get("recall@10")),
                _f(r.get("precision@10")),
                _f(r.get("map@10")),
                _f(r.get("hit_rate@10")),
                _f(r.get("coverage"), ".3f"),
                _f(r.get("novelty"), ".2f"),
                _f(r.get("users"), ",.0f"),
                _f(r.get("fit_seconds"), ".1f"),
                _f(r.get("ndcg_vs_popularity"), ".2f") + "x",
                _f(r.get("recall_vs_popularity"), ".2f") + "x",
            ]
        )
    table(title, headers, rows)
    say(
        f"{part}: {s['split']} split, {s['train_rows']:,} train / {s['test_rows']:,} test rows, "
        f"{s['cold_users']:,} test customers unknown in train (not scored); {s['seconds']:.0f} s"
    )
    say(f"{part}: tuned {json.dumps(s['params'])}; blend {json.dumps(s['weights'])}")
    v = s["verdict"]
    if not lift_target:
        return
    say(
        f"{part}: target best model ({s['best']}, * above) >= {TARGET_LIFT:g}x popularity: "
        f"nDCG@10 {s['best_ndcg_vs_popularity']:.2f}x {mark(v['ndcg>=2x_popularity'])}, "
        f"recall@10 {s['best_recall_vs_popularity']:.2f}x {mark(v['recall>=2x_popularity'])}"
    )


# --- retail ------------------------------------------------------------------------------


def ensure_retail(args: argparse.Namespace, data: Path) -> Path:
    """The example project, copied and ingested once under ``--work``; its config path."""
    from segmint.config import load_config
    from segmint.ingest import ingest

    src = data / "online_retail" / "online_retail.csv.gz"
    out = args.work / "retail"
    project = out / "project"
    marker = out / "bench-retail.json"
    stamp = {"format": RETAIL_FORMAT, "file": str(src), "bytes": src.stat().st_size}
    warehouse = project / ".segmint" / "warehouse.duckdb"
    cached = marker.is_file() and warehouse.is_file()
    if cached and json.loads(marker.read_text()).get("stamp") == stamp:
        say(f"retail: cached warehouse {warehouse}")
        return project / "segmint.yaml"
    say(f"retail: ingesting {src} into {warehouse} (one-off, not measured)")
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(
        REPO / "examples" / "online_retail", project, ignore=shutil.ignore_patterns(".segmint")
    )
    t = time.perf_counter()
    report = ingest(load_config(project / "segmint.yaml"))
    if report.failed:
        raise SystemExit(f"retail: ingest failed for {report.failed}")
    marker.write_text(json.dumps({"stamp": stamp, "seconds": round(time.perf_counter() - t, 1)}))
    return project / "segmint.yaml"


def retail(args: argparse.Namespace) -> dict[str, Any]:
    from segmint.config import load_config
    from segmint.recommend import catalogue_from_warehouse, interactions_from_warehouse
    from segmint.warehouse import connect

    data = data_dir()
    if not (data / "online_retail" / "online_retail.csv.gz").is_file():
        say(f"retail: skipped, {data / 'online_retail'} is absent (set SEGMINT_DATA)")
        return {"skipped": "dataset absent"}
    os.environ["SEGMINT_DATA"] = str(data)
    cfg = load_config(ensure_retail(args, data))
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        t = time.perf_counter()
        inter = interactions_from_warehouse(wh, cfg.recommend.interactions)
        catalogue = catalogue_from_warehouse(wh)
        read_s = time.perf_counter() - t
    say(f"retail: {inter} and {len(catalogue):,} catalogue products read in {read_s:.1f} s")
    models = (*MODELS[:-1], "content", "hybrid")
    ev, wall = run_evaluation(
        "retail", inter, models, args, split_method="temporal", test_size=0.2, catalogue=catalogue
    )
    s = summarise("retail", ev, wall, args.work)
    s.update(interactions=_shape(inter), catalogue=len(catalogue), read_s=round(read_s, 1))
    print_quality("retail", "Online Retail, temporal split (last 20% of rows held out)", s)
    return s


def _shape(inter: Any) -> dict[str, int]:
    return {"rows": len(inter), "customers": inter.n_users, "products": inter.n_items}


# --- shop --------------------------------------------------------------------------------


def ensure_shop(args: argparse.Namespace) -> Path:
    """A generated shop, generated and ingested once under ``--work``; its config path."""
    from segmint.config import load_config
    from segmint.generate import generate_shop
    from segmint.ingest import ingest

    params = {
        "format": SHOP_FORMAT,
        "customers": args.shop_customers,
        "days": args.shop_days,
        "seed": args.seed,
    }
    out = args.work / f"shop-c{args.shop_customers}-d{args.shop_days}-s{args.seed}"
    marker = out / "bench-shop.json"
    config = out / "shop" / "segmint.yaml"
    if marker.is_file() and json.loads(marker.read_text()).get("params") == params:
        say(f"shop: cached shop and warehouse in {out}")
        return config
    shutil.rmtree(out, ignore_errors=True)
    say(f"shop: generating {args.shop_customers:,} customers over {args.shop_days} days")
    t = time.perf_counter()
    shop = generate_shop(
        out / "shop", customers=args.shop_customers, days=args.shop_days, seed=args.seed
    )
    gen_s = time.perf_counter() - t
    say(f"shop: generated in {gen_s:.0f} s; ingesting (one-off, not measured)")
    t = time.perf_counter()
    report = ingest(load_config(shop.config_path))
    if report.failed:
        raise SystemExit(f"shop: ingest failed for {report.failed}")
    info = {"params": params, "generate_s": round(gen_s, 1)}
    info["ingest_s"] = round(time.perf_counter() - t, 1)
    marker.write_text(json.dumps(info))
    return Path(shop.config_path)


def shop(args: argparse.Namespace) -> dict[str, Any]:
    from segmint.config import load_config
    from segmint.recommend import catalogue_from_warehouse, interactions_from_warehouse
    from segmint.warehouse import connect

    cfg = load_config(ensure_shop(args))
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        t = time.perf_counter()
        inter = interactions_from_warehouse(wh, cfg.recommend.interactions)
        catalogue = catalogue_from_warehouse(wh)
        read_s = time.perf_counter() - t
    say(f"shop: {inter} and {len(catalogue):,} catalogue products read in {read_s:.1f} s")
    models = (*MODELS[:-1], "content", "hybrid")
    ev, wall = run_evaluation(
        "shop", inter, models, args, split_method="leave_last_out", catalogue=catalogue
    )
    s = summarise("shop", ev, wall, args.work)
    s.update(interactions=_shape(inter), catalogue=len(catalogue), read_s=round(read_s, 1))
    s["shop"] = {"customers": args.shop_customers, "days": args.shop_days, "seed": args.seed}
    title = (
        f"Generated shop ({args.shop_customers:,} customers, {args.shop_days} days), leave-last-out"
    )
    print_quality("shop", title, s)
    return s


# --- clickstream -------------------------------------------------------------------------


def clickstream_interactions(path: Path) -> Any:
    """Sessions as customers, clothing models as products, date + ``order`` seconds as time."""
    import pandas as pd

    from segmint.recommend import Interactions

    df = pd.read_csv(path, sep=";")
    day = pd.to_datetime(df[["year", "month", "day"]], utc=True)
    df["ts"] = day + pd.to_timedelta(df["order"], unit="s")
    return Interactions.from_frame(df, user="session ID", item="page 2 (clothing model)", ts="ts")


def clickstream(args: argparse.Namespace) -> dict[str, Any]:
    path = data_dir() / CLICKSTREAM
    if not path.is_file():
        say(f"clickstream: skipped, {path} is absent (set SEGMINT_DATA)")
        return {"skipped": "dataset absent"}
    inter = clickstream_interactions(path)
    say(f"clickstream: {inter}")
    ev, wall = run_evaluation("clickstream", inter, MODELS, args, split_method="leave_last_out")
    s = summarise("clickstream", ev, wall, args.work)
    s["interactions"] = _shape(inter)
    title = "Clickstream (e-shop clothing 2008), sessions as customers, leave-last-out"
    print_quality("clickstream", title, s)
    return s


# --- movielens ---------------------------------------------------------------------------


def ensure_movielens(folder: Path) -> Path:
    """``ml-100k.inter``, extracted once from RecBole's wheel (fetched from PyPI by pip)."""
    dest = folder / "ml-100k.inter"
    if dest.is_file():
        return dest
    folder.mkdir(parents=True, exist_ok=True)
    wheels = sorted(folder.glob("recbole-1.2.1-*.whl"))
    if not wheels:
        say(f"movielens: pip download {RECBOLE} --no-deps -d {folder}")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", RECBOLE, "--no-deps", "-d", str(folder)],
            check=True,
        )
        wheels = sorted(folder.glob("recbole-1.2.1-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        dest.write_bytes(z.read(ML_MEMBER))
    return dest


def movielens(args: argparse.Namespace) -> dict[str, Any]:
    from segmint.recommend import Interactions

    path = ensure_movielens(args.movielens_dir)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    inter = Interactions.from_file(path, sep="\t", binary=True)
    say(f"movielens: {inter} from {path} (sha256 {digest[:16]}...)")
    seeds = [args.seed + i for i in range(args.ml_seeds)]
    models = [m for m in args.models.split(",") if m]
    runs: dict[int, dict[str, Any]] = {}
    for i, seed in enumerate(seeds):
        ev, wall = run_evaluation(
            f"movielens seed {seed}",
            inter,
            models,
            args,
            split_method="stratified",
            test_size=0.25,
            seed=seed,
        )
        runs[seed] = summarise("movielens", ev, wall, args.work, chart=i == 0)
        if i == 0:
            title = f"MovieLens 100K, stratified 75/25, seed {seed}"
            print_quality("movielens", title, runs[seed], lift_target=False)
    main = runs[seeds[0]]
    best_ndcg = main["models"][main["best"]]["ndcg@10"]
    rows = [
        [
            f"segmint {name}",
            _f(r["ndcg@10"]),
            _f(r["precision@10"]),
            "this run, seed " + str(seeds[0]),
        ]
        for name, r in main["models"].items()
    ]
    rows += [[n, _f(nd), _f(p), "Recommenders README"] for n, nd, p in PUBLISHED_ML100K]
    table(
        "MovieLens 100K beside published figures (k=10)",
        ["model", "nDCG@10", "P@10", "source"],
        rows,
    )
    say(
        "published: Microsoft Recommenders README benchmark table (ML-100k, 75/25 stratified "
        "split, k=10); quoted, not re-run here"
    )
    out: dict[str, Any] = {"file": str(path), "sha256": digest, "interactions": _shape(inter)}
    out.update(seeds=seeds, runs={str(k): v for k, v in runs.items()}, published=PUBLISHED_ML100K)
    out["verdict"] = {"ndcg@10>=0.50": best_ndcg >= TARGET_ML_NDCG}
    say(
        f"movielens: target nDCG@10 >= {TARGET_ML_NDCG} (best model {main['best']}, seed "
        f"{seeds[0]}): {best_ndcg:.4f} {mark(best_ndcg >= TARGET_ML_NDCG)}"
    )
    if len(seeds) > 1:
        spread = {
            name: {
                m: _spread([runs[s]["models"][name][m] for s in seeds])
                for m in ("ndcg@10", "precision@10", "recall@10")
            }
            for name in main["models"]
        }
        out["over_seeds"] = spread
        rows = [
            [
                name,
                *(
                    f"{spread[name][m]['mean']:.4f} ± {spread[name][m]['sd']:.4f}"
                    for m in ("ndcg@10", "precision@10", "recall@10")
                ),
            ]
            for name in main["models"]
        ]
        table(
            f"MovieLens 100K over seeds {', '.join(map(str, seeds))} (each: split, search, fit)",
            ["model", "nDCG@10 mean ± sd", "P@10 mean ± sd", "recall@10 mean ± sd"],
            rows,
        )
        shown = [n for n in ("bpr", "ease", "edlae", "rp3beta", "hybrid") if n in main["models"]]
        tuned = [n for n in ("bpr", "ease", "edlae", "rp3beta") if n in main["models"]]
        per_seed = [
            [
                str(s),
                *(_f(runs[s]["models"][n]["ndcg@10"]) for n in shown),
                *(json.dumps(runs[s]["params"].get(n, {})) for n in tuned),
                json.dumps(runs[s]["weights"]),
            ]
            for s in seeds
        ]
        table(
            "MovieLens 100K per seed",
            ["seed", *(f"{n} nDCG@10" for n in shown), *(f"{n} tuned" for n in tuned), "blend"],
            per_seed,
        )
        means = {n: spread[n]["ndcg@10"]["mean"] for n in main["models"]}
        for n in shown:
            out["verdict"][f"ndcg@10>=0.50_mean_{n}"] = means[n] >= TARGET_ML_NDCG
        best_mean = max(means, key=lambda n: means[n])
        out["verdict"]["ndcg@10>=0.50_mean_best"] = means[best_mean] >= TARGET_ML_NDCG
        say(
            f"movielens: over {len(seeds)} seeds nDCG@10 "
            + ", ".join(f"{n} {means[n]:.4f}" for n in shown)
            + f"; best {best_mean} {means[best_mean]:.4f} (target {TARGET_ML_NDCG}): "
            + mark(means[best_mean] >= TARGET_ML_NDCG)
        )
    return out


# --- speed -------------------------------------------------------------------------------


def power_law(args: argparse.Namespace) -> Any:
    """``--speed-interactions`` rows: every customer at least once, then customers drawn with
    weight ``rank ** -0.5`` and products with ``rank ** -0.9`` (popular heads, long tails)."""
    import numpy as np
    import pandas as pd

    from segmint.recommend import Interactions

    rng = np.random.default_rng(args.seed)
    n_u, n_i, n = args.speed_users, args.speed_items, args.speed_interactions
    pu = np.arange(1, n_u + 1, dtype=np.float64) ** -0.5
    pi = np.arange(1, n_i + 1, dtype=np.float64) ** -0.9
    users = np.concatenate([np.arange(n_u), rng.choice(n_u, n - n_u, p=pu / pu.sum())])
    items = rng.choice(n_i, n, p=pi / pi.sum())
    # activity and popularity should not follow the id order
    users, items = rng.permutation(n_u)[users], rng.permutation(n_i)[items]
    uid = np.array([f"c{i:07d}" for i in range(n_u)], dtype=object)
    iid = np.array([f"p{i:06d}" for i in range(n_i)], dtype=object)
    frame = pd.DataFrame({"customer_id": uid[users], "product_id": iid[items]})
    return Interactions.from_frame(frame)


def _numpy_top(scores: Any, k: int) -> Any:
    import numpy as np

    top = np.argpartition(-scores, k - 1, axis=-1)[..., :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=-1), axis=-1)
    return np.take_along_axis(top, order, axis=-1)


def _numpy_batch(score_rows: Callable[[Any], Any], seen: Any, n: int) -> float:
    """Top-10 for rows ``0..n`` by a bare NumPy loop: scores, seen masked, argpartition."""
    import numpy as np

    t = time.perf_counter()
    for start in range(0, n, 1024):
        rows = np.arange(start, min(start + 1024, n))
        s = np.asarray(score_rows(rows), dtype=np.float32)
        coo = seen[rows].tocoo()
        s[coo.row, coo.col] = -np.inf
        _numpy_top(s, K)
    return time.perf_counter() - t


def _batch(model: Any, ids: Sequence[str], limit_s: float) -> dict[str, Any]:
    """``model.recommend`` over ``ids`` in chunks of 10 batches; once 30 s are measured and the
    whole would take more than ``limit_s``, it stops and the time is extrapolated (the batches
    are independent, so time grows linearly with customers)."""
    chunk = 10 * 1024
    done, secs, rows, anchored = 0, 0.0, 0, 0
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        t = time.perf_counter()
        recs = model.recommend(part, k=K)
        secs += time.perf_counter() - t
        done += len(part)
        rows += len(recs)
        anchored += int(recs["reason_product_id"].notna().sum())
        if secs >= 30 and secs / done * len(ids) > limit_s and done < len(ids):
            break
    return {
        "seconds": round(secs / done * len(ids), 1),
        "measured_s": round(secs, 1),
        "measured_customers": done,
        "extrapolated": done < len(ids),
        "rows": rows,
        "with_anchor": round(anchored / max(rows, 1), 4),
    }


def _latencies(
    call: Callable[[Any], Any], ids: Sequence[Any], budget_s: float, warmup: int = 20
) -> list[float]:
    """Milliseconds per call, each timed alone with GC off; stops after ``budget_s``."""
    for i in ids[:warmup]:
        call(i)
    out: list[float] = []
    gc.collect()
    gc.disable()
    started = time.perf_counter()
    try:
        for i in ids[warmup:]:
            t = time.perf_counter_ns()
            call(i)
            out.append((time.perf_counter_ns() - t) / 1e6)
            if time.perf_counter() - started > budget_s:
                break
    finally:
        gc.enable()
    return out


def _pct(xs: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(xs), q))


def speed(args: argparse.Namespace) -> dict[str, Any]:
    t = time.perf_counter()
    inter = power_law(args)
    say(f"speed: {inter} generated in {time.perf_counter() - t:.1f} s (seed {args.seed})")
    out: dict[str, Any] = {"interactions": _shape(inter), "verdict": {}}
    t = time.perf_counter()
    X = inter.matrix()
    out["matrix_s"] = round(time.perf_counter() - t, 2)
    out["distinct_pairs"] = int(X.nnz)
    als = _speed_fit(args, inter, X, out)
    ease = _speed_batch(args, inter, X, als, out)
    _speed_latency(args, inter, als, ease, out)
    return out


def _speed_fit(args: argparse.Namespace, inter: Any, X: Any, out: dict[str, Any]) -> Any:
    """(a) segmint's ALS on the interactions against implicit's on the same matrix."""
    from implicit.cpu.als import AlternatingLeastSquares

    from segmint.recommend import ALS

    t = time.perf_counter()
    als = ALS().fit(inter)
    seg_fit = time.perf_counter() - t
    p = als.get_params()
    fits = {"segmint ALS().fit(interactions), 1 thread": seg_fit}
    runs = [(1, "implicit ALS fit(matrix), 1 thread")]
    if args.implicit_all_cores:
        runs.append((0, "implicit ALS fit(matrix), all cores"))
    for threads, label in runs:
        model = AlternatingLeastSquares(
            factors=p["factors"],
            regularization=p["regularization"],
            alpha=p["alpha"],
            iterations=p["iterations"],
            random_state=p["random_state"],
            num_threads=threads,
        )
        t = time.perf_counter()
        model.fit(X, show_progress=False)
        fits[label] = time.perf_counter() - t
    base = fits[runs[0][1]]
    out["fit"] = {k: round(v, 2) for k, v in fits.items()}
    out["fit_ratio_vs_implicit"] = round(seg_fit / base, 3)
    full = len(inter) >= 1_000_000
    out["verdict"]["als_fit<30s"] = seg_fit < TARGET_FIT_S if full else None
    rows = [
        [k, f"{v:.1f}", f"{v / base:.2f}x", mark(out["verdict"]["als_fit<30s"]) if i == 0 else ""]
        for i, (k, v) in enumerate(fits.items())
    ]
    table(
        f"(a) ALS fit: {len(inter):,} interactions ({X.nnz:,} distinct pairs), "
        f"{inter.n_users:,} customers x {inter.n_items:,} products; factors {p['factors']}, "
        f"{p['iterations']} iterations, regularization {p['regularization']}, alpha {p['alpha']}",
        ["fit", "seconds", "/ implicit", f"< {TARGET_FIT_S:g} s"],
        rows,
    )
    say(f"(a) of segmint's fit, building the matrix from the rows: {out['matrix_s']:.1f} s")
    return als


def _speed_batch(
    args: argparse.Namespace, inter: Any, X: Any, als: Any, out: dict[str, Any]
) -> Any:
    """(b) top-10 with reasons for every customer, ALS and EASE, against bare NumPy."""
    import numpy as np

    from segmint.recommend import EASE

    ids = [str(u) for u in inter.users[: args.speed_batch]]
    t = time.perf_counter()
    ease = EASE(max_items=args.speed_ease_items).fit(inter)
    ease_fit = time.perf_counter() - t
    kept = float(X[:, ease.kept_].nnz / X.nnz)
    out["ease"] = {"max_items": args.speed_ease_items, "fit_s": round(ease_fit, 1)}
    out["ease"]["interactions_modelled"] = round(kept, 4)
    out["ease"]["weights_c_contiguous"] = bool(ease.weights_.flags.c_contiguous)
    uf, vf = als.user_factors_, als.item_factors_
    B, keep = ease.weights_, ease.kept_

    def ease_rows(r: Any) -> Any:
        s = np.full((len(r), X.shape[1]), -np.inf, dtype=np.float32)
        s[:, keep] = np.asarray(ease._input(X[r])[:, keep] @ B)
        return s

    batch: dict[str, dict[str, Any]] = {}
    for name, model, score_rows in (
        ("als", als, lambda r: uf[r] @ vf.T),
        ("ease", ease, ease_rows),
    ):
        say(f"(b) {name}: recommend() for {len(ids):,} customers ...")
        b = _batch(model, ids, args.batch_limit_s)
        n = b["measured_customers"]
        b["numpy_s"] = round(_numpy_batch(score_rows, X, n) * len(ids) / n, 1)
        batch[name] = b
    out["batch"] = batch
    rows = []
    for name, b in batch.items():
        ok = b["seconds"] < TARGET_BATCH_S if len(ids) >= 100_000 else None
        out["verdict"][f"{name}_batch<60s"] = ok
        how = f"{b['measured_customers']:,} x {len(ids) / b['measured_customers']:.1f}"
        rows.append(
            [
                name,
                f"{b['seconds']:.1f}",
                how if b["extrapolated"] else "all",
                f"{b['numpy_s']:.1f}",
                f"{b['seconds'] / max(b['numpy_s'], 1e-9):.1f}x",
                f"{b['with_anchor']:.0%}",
                mark(ok),
            ]
        )
    table(
        f"(b) top-10 with reasons for {len(ids):,} customers (recommend(), batches of 1,024)",
        ["model", "seconds", "measured on", "numpy s", "/ numpy", "anchored", "< 60 s"],
        rows,
    )
    say(
        f"(b) EASE models the {args.speed_ease_items:,} most popular of {inter.n_items:,} "
        f"products ({kept:.0%} of the interactions), fitted in {ease_fit:.1f} s"
    )
    return ease


def _speed_latency(
    args: argparse.Namespace, inter: Any, als: Any, ease: Any, out: dict[str, Any]
) -> None:
    """(c) one ``recommend([id])`` per call against NumPy's dot product and argpartition."""
    import numpy as np

    from segmint.recommend import Hybrid, ItemKNN

    t = time.perf_counter()
    knn = ItemKNN().fit(inter)
    knn_fit = time.perf_counter() - t
    t = time.perf_counter()
    members = ("ease", "item_knn", "als")
    hybrid = Hybrid(models=members, params={"ease": {"max_items": args.speed_ease_items}})
    hybrid.fit(inter)
    hybrid_fit = time.perf_counter() - t
    out["latency_fit_s"] = {"item_knn": round(knn_fit, 1), "hybrid": round(hybrid_fit, 1)}
    rng = np.random.default_rng(args.seed)
    picks = rng.integers(0, inter.n_users, size=args.speed_calls + 20)
    users = [str(u) for u in inter.users[picks]]
    uf, vf = als.user_factors_, als.item_factors_
    lat: dict[str, list[float]] = {}
    for name, model in (("als", als), ("ease", ease), ("item_knn", knn), ("hybrid", hybrid)):
        lat[name] = _latencies(
            lambda u, m=model: m.recommend([u], k=K), users, args.latency_budget_s
        )
    lat["numpy ALS baseline"] = _latencies(
        lambda r: _numpy_top(uf[r] @ vf.T, K), list(picks), args.latency_budget_s
    )
    base_med = statistics.median(lat["numpy ALS baseline"])
    out["latency_ms"] = {}
    rows = []
    for name, xs in lat.items():
        med, p99 = statistics.median(xs), _pct(xs, 99)
        out["latency_ms"][name] = {"median": round(med, 4), "p99": round(p99, 4), "calls": len(xs)}
        is_model = not name.startswith("numpy")
        if is_model:
            out["verdict"][f"{name}_median<5ms"] = med < TARGET_LATENCY_MS
            out["verdict"][f"{name}_p99<5ms"] = p99 < TARGET_LATENCY_MS
        rows.append(
            [
                name,
                f"{len(xs):,}",
                f"{med:.3f}",
                f"{p99:.3f}",
                f"{max(xs):.3f}",
                f"{med / base_med:.0f}x" if is_model else "1x",
                mark(med < TARGET_LATENCY_MS) if is_model else "",
                mark(p99 < TARGET_LATENCY_MS) if is_model else "",
            ]
        )
    table(
        "(c) recommend([one id], k=10), model in memory: ms per call (random known customers, "
        "each call timed alone, GC off, after 20 warm-up calls)",
        ["model", "calls", "median", "p99", "max", "/ numpy", "median < 5", "p99 < 5"],
        rows,
    )
    say(
        f"(c) hybrid of {', '.join(members)} (equal weights), fitted in {hybrid_fit:.0f} s; "
        f"item_knn fitted in {knn_fit:.0f} s"
    )


def run_part(report: dict[str, Any], name: str, part: Callable[[], dict[str, Any]]) -> None:
    """Run one part into ``report[name]`` with its time and the load average around it; a
    part that crashes is recorded as such, so it does not hide the others' figures."""
    t, load = time.perf_counter(), os.getloadavg()[0]
    try:
        report[name] = part()
    except Exception as exc:  # one broken part must not hide the others' figures
        tb = traceback.format_exc()
        say(f"{name}: CRASHED ({type(exc).__name__}: {exc}); part skipped\n{tb}")
        report[name] = {"crashed": f"{type(exc).__name__}: {exc}", "traceback": tb}
    report[name]["part_s"] = round(time.perf_counter() - t, 1)
    report[name]["load_before_after"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    say(
        f"{name}: {report[name]['part_s']:.0f} s (load average "
        f"{load:.1f} before, {os.getloadavg()[0]:.1f} after)"
    )


def write(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")


def source_fingerprint() -> dict[str, Any]:
    """sha256 of ``src/segmint/recommend/*.py`` and whether git sees it changed: the package
    may be ahead of the commit that ``machine()`` names."""
    files = sorted((REPO / "src" / "segmint" / "recommend").glob("*.py"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "src/segmint/recommend"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout
    return {"sha256": h.hexdigest()[:16], "files": len(files), "uncommitted": bool(status)}


# --- main --------------------------------------------------------------------------------

PARTS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "retail": retail,
    "shop": shop,
    "clickstream": clickstream,
    "movielens": movielens,
    "speed": speed,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--parts", default=",".join(PARTS))
    p.add_argument("--quick", action="store_true", help="search 2, one seed, small sets")
    p.add_argument("--search", type=int, default=8, help="candidates per tunable model")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--ml-seeds", type=int, default=3, help="movielens: seeds, from --seed")
    p.add_argument("--models", default=",".join(MODELS), help="movielens: comma-separated models")
    p.add_argument("--shop-customers", type=int, default=10_000)
    p.add_argument("--shop-days", type=int, default=90)
    p.add_argument("--speed-users", type=int, default=100_000)
    p.add_argument("--speed-items", type=int, default=20_000)
    p.add_argument("--speed-interactions", type=int, default=1_000_000)
    p.add_argument("--speed-batch", type=int, default=100_000, help="customers in (b)")
    p.add_argument("--speed-calls", type=int, default=1_000, help="calls per model in (c)")
    p.add_argument(
        "--speed-ease-items", type=int, default=5_000, help="EASE's max_items in the speed set"
    )
    p.add_argument(
        "--batch-limit-s",
        type=float,
        default=120.0,
        help="(b): stop a model's batch beyond this projected time and extrapolate",
    )
    p.add_argument("--latency-budget-s", type=float, default=60.0, help="(c): per model")
    p.add_argument(
        "--implicit-all-cores", action="store_true", help="(a): also implicit, all cores"
    )
    p.add_argument("--work", type=Path, default=REPO / ".segmint" / "bench" / "recommend")
    p.add_argument("--movielens-dir", type=Path, default=REPO / ".segmint" / "bench" / "movielens")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    unknown = set(args.parts.split(",")) - set(PARTS)
    if unknown:
        p.error(f"unknown part(s) {sorted(unknown)}; parts are {', '.join(PARTS)}")
    if args.ml_seeds < 1:
        p.error(f"--ml-seeds={args.ml_seeds} should be >= 1")
    if args.quick:
        args.search = min(args.search, 2)
        args.ml_seeds = 1
        args.shop_customers = min(args.shop_customers, 3_000)
        args.shop_days = min(args.shop_days, 30)
        args.speed_users = min(args.speed_users, 20_000)
        args.speed_items = min(args.speed_items, 5_000)
        args.speed_interactions = min(args.speed_interactions, 200_000)
        args.speed_batch = min(args.speed_batch, 20_000)
        args.speed_calls = min(args.speed_calls, 200)
        args.speed_ease_items = min(args.speed_ease_items, 2_000)
    args.work = args.work.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.update({k: v for k, v in child_env().items() if k.startswith("SEGMINT_KEY")})
    os.environ.pop("SEGMINT_WAREHOUSE", None)  # each project uses its own cached warehouse
    args.work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "command": "python bench/bench_recommend.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "search": args.search,
        "seed": args.seed,
        "recommend_source": source_fingerprint(),
    }
    suffix = "-quick" if args.quick else ""
    path = args.json or args.work / f"recommend-{report['date']}{suffix}.json"
    started = time.perf_counter()
    for name in args.parts.split(","):
        say(f"\n=== {name} ===")
        run_part(report, name, lambda n=name: PARTS[n](args))
        write(report, path)  # a part's figures survive a later part's crash or a kill
    report["total_s"] = round(time.perf_counter() - started, 1)
    rows = []
    for name in args.parts.split(","):
        r = report[name]
        state = "crashed" if "crashed" in r else ("skipped" if "skipped" in r else "ran")
        for target, ok in r.get("verdict", {}).items():
            rows.append([name, state, target, mark(ok)])
        if state != "ran":
            rows.append([name, state, r.get("crashed") or r.get("skipped"), "-"])
    table(
        f"Verdicts ({report['total_s']:.0f} s in all)", ["part", "state", "target", "verdict"], rows
    )
    write(report, path)
    say(f"figures: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
