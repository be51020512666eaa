"""Segmentation benchmark: features, RFM, 10 rule segments and clusters, segmint against pandas.

Input
    A generated shop (``--customers`` CRM records, ``--events`` clickstream events, 1M and
    10M by default), generated once and ingested once into a cached DuckDB warehouse under
    ``--work`` (neither is timed). Every measured run gets its own copy of that warehouse,
    so each starts from the same file, warm in the page cache.

Engines
    ``segmint``  :func:`segmint.segments.run_segments` on a project file with RFM tiers, one
                 K-Means clustering (k=6, fitted on a 200,000-customer sample, every
                 customer assigned in the warehouse) and the 10 rule segments of
                 :data:`RULES`: what ``segmint segment`` runs. Seconds per stage come from
                 its ``progress`` callback; every stage includes writing its results and
                 recording membership.
    ``pandas``   what a data scientist would write: the same warehouse tables read into
                 DataFrames (its own stage), identities resolved with ``map``, one
                 ``groupby`` per feature (a comparable catalogue, counted in the output), RFM
                 with ``pd.qcut`` on ranks, scikit-learn ``KMeans`` (same k) fitted and
                 predicted on every customer, the rules' windowed aggregates precomputed
                 with ``groupby`` and each rule a ``DataFrame.apply(axis=1)`` over a Python
                 lambda. It writes nothing back.

How it measures
    As ``bench_ingest.py``: each measured run is a fresh child process (this script with
    ``--child``); seconds are timed in the child around the work only (imports and start-up
    excluded); peak memory is the child's peak RSS from ``os.wait4`` (``ru_maxrss``); peak
    RSS per stage (sampled every 50 ms) is indicative. If the pandas baseline exceeds
    ``--baseline-limit-s`` or ``--baseline-limit-mb`` it is stopped and re-run on a
    ``--baseline-fraction`` of the customers (chosen by a hash of their id, with their
    events and orders), and seconds per customer are compared; the output says so.

Targets (issue 3): segmint >= 10x the pandas approach; segmint peak RSS < 4 GiB at 10M events
and 1M customers. Run: ``python bench/bench_segments.py``; ``--quick`` for 100k customers and
1M events. The per-profile (real-time) rule evaluation is measured by ``bench_rules.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest import (  # a sibling script, not a package
    MIB,
    Limits,
    _Phases,
    _rss_of,
    _RssSampler,
    child_env,
    ensure_shop,
    machine,
    warm,
)

REPO = Path(__file__).resolve().parents[1]
WAREHOUSE_FORMAT = 2  # bump when the cached warehouse's meaning changes (2: rows keep their
# canonical customer id, written by ingest's identity resolution)
TARGET_SPEEDUP = 10.0
TARGET_PEAK_MIB = 4096.0  # "under 4 GB", read as 4 GiB of resident memory
TARGET_EVENTS = 10_000_000
TARGET_CUSTOMERS = 1_000_000
K = 6
CLUSTERING = "behaviour"
SAMPLE_SIZE = 200_000
INGEST_MEMORY_RETRY = "6GB"  # should ingest's own DuckDB limit run out (not measured)

#: the 10 rule segments: windowed counts, shares, sums, last(), days_since, attributes, RFM
#: tiers, in_segment and a cluster; the last is replaced when clustering is not available
RULES: list[tuple[str, str]] = [
    ("active_browsers", "count(product_view, 7d) >= 3 and count(purchase, 7d) == 0"),
    (
        "cart_abandoners",
        "count(add_to_cart, 14d) > 0 and count(purchase, 14d) == 0 "
        "and days_since(add_to_cart) <= 7",
    ),
    ("mobile_first", 'share(device == "mobile", 30d) > 0.6 and sessions_30d >= 2'),
    ("big_spenders_90d", "sum(purchase.price * purchase.quantity, 90d) > 200"),
    (
        "last_desktop_buyers",
        'last(device where purchase) == "desktop" and days_since(purchase) < 60',
    ),
    ("dach_newsletter", 'country in ("DE", "AT", "CH") and consent_email and is_known'),
    ("champions_cooling", 'rfm_segment in ("Champions", "Loyal") and recency_days > 45'),
    (
        "win_back",
        'in_segment("rfm_at_risk") or (r_score <= 2 and f_score >= 3 and monetary > 100)',
    ),
    (
        "vip_mobile",
        'in_segment("big_spenders_90d") and in_segment("mobile_first") '
        'and loyalty_tier in ("gold", "platinum")',
    ),
    (
        "electronics_browsers",
        'count(product_view where startswith(category, "Electronics"), 30d) >= 3 '
        f'and cluster("{CLUSTERING}") >= 0',
    ),
]
RULE_WITHOUT_CLUSTERS = (
    "electronics_browsers",
    'count(product_view where startswith(category, "Electronics"), 30d) >= 3',
)
#: the stages both engines are compared on, in the order segmint runs them
STAGES = ("features", "RFM", "clustering", "rules")


def rules_for(clusters: bool) -> list[tuple[str, str]]:
    return RULES if clusters else [*RULES[:-1], RULE_WITHOUT_CLUSTERS]


def clustering_available() -> bool:
    try:
        from segmint.segments.clusters import run_clustering  # noqa: F401
    except ImportError:
        return False
    return True


def project_yaml(run_dir: Path, warehouse: Path, clusters: bool) -> str:
    """The project file of a run: RFM tiers, one clustering and the 10 rules."""
    lines = [
        "project: bench-segments",
        f"warehouse: duckdb:///{warehouse}",
        f"home: {run_dir / 'home'}",
        "rfm: {bins: 5, segments: true}",
    ]
    if clusters:
        lines += [
            "clusters:",
            f"  - name: {CLUSTERING}",
            "    method: kmeans",
            f"    k: {K}",
            f"    sample_size: {SAMPLE_SIZE}",
        ]
    lines.append("segments:")
    for name, rule in rules_for(clusters):
        lines += [f"  - name: {name}", f"    rule: {json.dumps(rule)}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# child side: one measured run
# --------------------------------------------------------------------------------------------


def _child_ingest(spec: dict[str, Any]) -> None:
    from segmint.config import load_config
    from segmint.features import data_end
    from segmint.ingest import ingest
    from segmint.warehouse import connect
    from segmint.warehouse._duckdb import INGEST_MEMORY_LIMIT_ENV, ingest_memory_limit

    if spec["memory"]:  # a retry, should segmint's own limit run out
        os.environ[INGEST_MEMORY_LIMIT_ENV] = os.environ["SEGMINT_MEMORY_LIMIT"] = spec["memory"]
    out = Path(spec["dir"])
    t = time.perf_counter()
    cfg = load_config(spec["config"])
    url = f"duckdb:///{out / 'warehouse.duckdb'}"
    cfg = cfg.model_copy(update={"warehouse": url, "home": str(out / "home")})
    report = ingest(cfg)
    seconds = time.perf_counter() - t
    wh = connect(url)
    try:
        as_of = data_end(wh)
        known = int(wh.table("customers").count().execute())
    finally:
        wh.close()
    marker = {
        "format": WAREHOUSE_FORMAT,
        "shop": spec["shop"],
        "tables": report.tables,
        "customers": known,
        "failed_files": len(report.failed),
        "as_of": as_of.isoformat() if as_of else None,
        "seconds": round(seconds, 1),
        "ingest_memory_limit": ingest_memory_limit(),
    }
    Path(spec["marker"]).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")


def _stage_of(label: str) -> str:
    if label == "RFM tiers":
        return "RFM"
    if label.startswith("clustering "):
        return "clustering"
    return label  # features, rule inputs, segment <name>


def _child_segmint(spec: dict[str, Any], ph: _Phases) -> dict[str, Any]:
    from segmint.config import load_config
    from segmint.segments import run_segments
    from segmint.warehouse import connect

    cfg = load_config(spec["config"])
    wh = connect(cfg.warehouse, cfg.base_dir)
    as_of = dt.datetime.fromisoformat(spec["as_of"])

    def progress(label: str, done: int, total: int) -> None:
        if label == "done":
            ph.close()
        else:
            ph.switch(_stage_of(label))

    t = time.perf_counter()
    run = run_segments(cfg, wh, as_of, progress=progress)
    seconds = time.perf_counter() - t
    members = {c.segment: c.members for c in run.changes}
    clusters = [
        {"name": c.name, "k": len([i for i in c.sizes if i >= 0]), "sizes": c.sizes}
        for c in run.clusters
    ]
    wh.close()
    return {
        "seconds": seconds,
        "customers": run.features.customers,
        "detail": {
            "features": len(run.features.features),
            "rfm_scored": run.rfm.customers if run.rfm else None,
            "clusters": clusters,
            "members": members,
            "warehouse_bytes": Path(wh.path).stat().st_size,
        },
    }


# --------------------------------------------------------------------------------------------
# the pandas baseline: what a data scientist would write, one groupby per feature
# --------------------------------------------------------------------------------------------

PD_WINDOWS = (1, 7, 14, 30, 90)
PD_COUNTS = {
    "views": ["product_view"],
    "page_views": ["page_view"],
    "searches": ["search"],
    "carts": ["add_to_cart"],
    "checkouts": ["checkout_start"],
    "purchases": ["purchase"],
}
PD_DEVICES = ("mobile", "desktop", "tablet")
PD_CHANNELS = ("organic", "paid_search", "email", "social", "direct", "referral")
PD_DAYPARTS = (("night", 0, 6), ("morning", 6, 12), ("afternoon", 12, 18), ("evening", 18, 24))
PD_ATTRIBUTES = ["is_known", "country", "gender", "age", "loyalty_tier", "consent_email"]
#: segmint's default clustering features (segmint.segments.clusters.DEFAULT_FEATURES)
PD_CLUSTER_FEATURES = [
    "frequency",
    "monetary",
    "avg_order_value",
    "discount_share",
    "days_since_last_activity",
    "sessions_90d",
    "browse_to_buy",
    "avg_item_price",
    "share_mobile",
    "share_email",
    "share_social",
    "share_paid_search",
    "share_direct",
]
_PD_READS = {
    "events": "SELECT customer_id, anonymous_id, device_id, event_type, ts, session_id, "
    "product_id, category, price, quantity, device, channel FROM events",
    "identities": "SELECT identifier_type, identifier, customer_id FROM identities",
    "orders": "SELECT customer_id, ts, revenue, total, is_return, discount FROM orders",
    "lines": "SELECT customer_id, ts, product_id, unit_price, category FROM order_lines",
    "products": "SELECT product_id, category, price FROM products",
    "customers": "SELECT customer_id, is_known, country, gender, age, loyalty_tier, "
    "consent_email, signup_at FROM customers",
}


def _pd_read(path: str, fraction: float) -> dict[str, Any]:
    """The tables, whole; or a hash-chosen share of the customers with their rows."""
    import duckdb

    con = duckdb.connect(path, read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        if fraction < 1:
            keep = round(fraction * 1000)
            con.execute(
                "CREATE TEMP TABLE _ids AS SELECT identifier_type, identifier FROM identities "
                f"WHERE hash(customer_id) % 1000 < {keep}"
            )
            ids = "SELECT identifier FROM _ids WHERE identifier_type = "
            where = {
                "events": f"WHERE customer_id IN ({ids}'customer_id') "
                f"OR anonymous_id IN ({ids}'anonymous_id') OR device_id IN ({ids}'device_id')",
                "identities": f"WHERE hash(customer_id) % 1000 < {keep}",
                "orders": f"WHERE customer_id IN ({ids}'customer_id')",
                "lines": f"WHERE customer_id IN ({ids}'customer_id')",
                "customers": f"WHERE hash(customer_id) % 1000 < {keep}",
            }
        else:
            where = {}
        return {k: con.execute(f"{sql} {where.get(k, '')}").df() for k, sql in _PD_READS.items()}
    finally:
        con.close()


def _pd_resolve(df: Any, ids: Any, columns: list[str]) -> Any:
    """The canonical customer of each row: by customer id, else anonymous id, else device."""
    cid = None
    for col in columns:
        m = ids[ids.identifier_type == col].drop_duplicates("identifier")
        found = df[col].map(m.set_index("identifier").customer_id)
        cid = found if cid is None else cid.fillna(found)
    return cid


def _pd_days(t: Any, ts: Any) -> Any:
    return (t - ts).dt.total_seconds() / 86_400


def _pd_order_features(f: Any, o: Any, t: Any) -> None:
    import pandas as pd

    bought = o[~o.is_return]
    f["frequency"] = bought.groupby("cid").size()
    f["n_returns"] = o[o.is_return].groupby("cid").size()
    f["monetary"] = o.groupby("cid").value.sum()
    f["placed_value"] = bought.groupby("cid").value.sum()
    f["n_discounted"] = bought[bought.discount > 0].groupby("cid").size()
    f["first_order_at"] = bought.groupby("cid").ts.min()
    f["last_order_at"] = bought.groupby("cid").ts.max()
    f["first_any_order_at"] = o.groupby("cid").ts.min()
    f["last_any_order_at"] = o.groupby("cid").ts.max()
    for w in PD_WINDOWS:
        since = t - pd.Timedelta(days=w)
        f[f"orders_{w}d"] = bought[bought.ts >= since].groupby("cid").size()
        f[f"revenue_{w}d"] = o[o.ts >= since].groupby("cid").value.sum()


def _pd_event_features(f: Any, ev: Any, t: Any) -> None:
    import pandas as pd

    f["first_event_at"] = ev.groupby("cid").ts.min()
    f["last_event_at"] = ev.groupby("cid").ts.max()
    for w in PD_WINDOWS:
        recent = ev[ev.ts >= t - pd.Timedelta(days=w)]
        for stem, types in PD_COUNTS.items():
            f[f"{stem}_{w}d"] = recent[recent.event_type.isin(types)].groupby("cid").size()
        f[f"sessions_{w}d"] = recent.groupby("cid").session_id.nunique()
        f[f"products_{w}d"] = recent.groupby("cid").product_id.nunique()
        f[f"categories_{w}d"] = recent.groupby("cid").category.nunique()
    r = ev[ev.ts >= t - pd.Timedelta(days=90)]
    n = r.groupby("cid").size()
    hour = r.ts.dt.hour
    for name, lo, hi in PD_DAYPARTS:
        f[f"share_{name}"] = r[(hour >= lo) & (hour < hi)].groupby("cid").size() / n
    f["share_weekend"] = r[r.ts.dt.dayofweek >= 5].groupby("cid").size() / n
    for d in PD_DEVICES:
        f[f"share_{d}"] = r[r.device == d].groupby("cid").size() / n
    for c in PD_CHANNELS:
        f[f"share_{c}"] = r[r.channel == c].groupby("cid").size() / n
    views = r[r.event_type == "product_view"].groupby("cid").size()
    buys = r[r.event_type == "purchase"].groupby("cid").size()
    f["browse_to_buy"] = buys.reindex(views.index, fill_value=0) / views
    for col in [c for c in f.columns if c.startswith("share_")]:
        f[col] = f[col].fillna(0).where(f.index.isin(n.index))
    s = r[r.session_id.notna()].assign(
        cart=r.event_type.isin(["add_to_cart", "checkout_start"]), buy=r.event_type == "purchase"
    )
    s = s.groupby(["cid", "session_id"]).agg(
        start=("ts", "min"), end=("ts", "max"), cart=("cart", "max"), buy=("buy", "max")
    )
    s["minutes"] = (s.end - s.start).dt.total_seconds() / 60
    f["avg_session_minutes"] = s.groupby("cid").minutes.mean()
    carts = s[s.cart].groupby("cid").size()
    abandoned = s[s.cart & ~s.buy].groupby("cid").size()
    f["cart_abandonment"] = abandoned.reindex(carts.index, fill_value=0) / carts


def _pd_affinity_features(f: Any, ev: Any, lines: Any, products: Any, t: Any) -> list[str]:
    import numpy as np
    import pandas as pd

    since = t - pd.Timedelta(days=90)
    e = ev.loc[ev.ts >= since, ["cid", "category", "price"]]
    ln = lines[(lines.ts >= since) & (lines.ts < t)]
    ln = ln.merge(products[["product_id", "category"]], on="product_id", how="left")
    ln = pd.DataFrame(
        {"cid": ln.cid, "category": ln.category_x.fillna(ln.category_y), "price": ln.unit_price}
    )
    act = pd.concat([e, ln], ignore_index=True)
    act["top"] = act.category.str.split(" > ").str[0].str.strip()
    has_top = act[act.top.notna() & (act.top != "")]
    tops = list(has_top.top.value_counts().head(8).index)
    n = act[act.top.notna()].groupby("cid").size()
    for label in tops:
        slug = "".join(ch if ch.isalnum() else "_" for ch in label.lower()).strip("_")
        share = act[act.top == label].groupby("cid").size().reindex(n.index, fill_value=0) / n
        f[f"cat_{slug}_share"] = share
    f["avg_item_price"] = act[act.price > 0].groupby("cid").price.mean()
    counts = act.groupby(["cid", "top"]).size().reset_index(name="k")
    counts = counts.sort_values(["cid", "k"], ascending=[True, False])
    f["favourite_category"] = counts.drop_duplicates("cid").set_index("cid").top
    prices = products.price[products.price > 0]
    lo, hi = prices.quantile(1 / 3), prices.quantile(2 / 3)
    f["price_band"] = pd.cut(
        f.avg_item_price,
        [-np.inf, lo, hi, np.inf],
        right=False,
        labels=["budget", "mid", "premium"],
    )
    return tops


def _pd_finish(f: Any, t: Any) -> Any:
    import numpy as np
    import pandas as pd

    signup = f.signup_at.where(f.signup_at < t)
    first_seen = pd.concat([f.first_event_at, f.first_any_order_at, signup], axis=1).min(axis=1)
    last_activity = pd.concat([f.last_event_at, f.last_any_order_at], axis=1).max(axis=1)
    freq = f.frequency.fillna(0).astype("int64")
    orders = freq.replace(0, np.nan)
    f["frequency"] = freq
    f["recency_days"] = _pd_days(t, f.last_order_at)
    f["monetary"] = f.monetary.fillna(0.0)
    f["avg_order_value"] = f.placed_value / orders
    f["tenure_days"] = _pd_days(t, f.first_order_at)
    span = _pd_days(f.last_order_at, f.first_order_at)
    f["days_between_orders"] = (span / (freq - 1)).where(freq > 1)
    f["return_rate"] = f.n_returns.fillna(0) / orders
    f["discount_share"] = f.n_discounted.fillna(0) / orders
    f["days_since_first_seen"] = _pd_days(t, first_seen)
    f["days_since_signup"] = _pd_days(t, signup)
    f["days_since_last_visit"] = _pd_days(t, f.last_event_at)
    since = _pd_days(t, last_activity)
    f["days_since_last_activity"] = since
    f["is_new"] = f.days_since_first_seen <= 30
    f["is_active"] = since <= 30
    f["is_lapsing"] = (since > 30) & (since <= 90)
    f["is_lapsed"] = since > 90
    for w in PD_WINDOWS:
        for stem in (*PD_COUNTS, "orders", "revenue", "sessions", "products", "categories"):
            f[f"{stem}_{w}d"] = f[f"{stem}_{w}d"].fillna(0)
    helpers = ["placed_value", "n_returns", "n_discounted", "signup_at"]
    helpers += [c for c in f.columns if c.endswith("_at")]
    out = f[first_seen.notna()].drop(columns=list(dict.fromkeys(helpers)))
    return out.copy()  # one block per dtype again, after a hundred column inserts


def _pd_features(tb: dict[str, Any], t: Any) -> Any:
    import pandas as pd

    ids = tb["identities"]
    ev = tb["events"]
    ev["cid"] = _pd_resolve(ev, ids, ["customer_id", "anonymous_id", "device_id"])
    ev = ev[ev.cid.notna() & (ev.ts < t)]
    o = tb["orders"]
    o["cid"] = _pd_resolve(o, ids, ["customer_id"])
    o = o[o.cid.notna() & (o.ts < t)].copy()
    o["value"] = o.revenue.fillna(o.total).fillna(0.0)
    o["is_return"] = o.is_return.fillna(False).astype(bool)
    o["discount"] = o.discount.fillna(0.0)
    lines = tb["lines"]
    lines["cid"] = _pd_resolve(lines, ids, ["customer_id"])
    lines = lines[lines.cid.notna()]
    cust = tb["customers"].set_index("customer_id")
    f = pd.DataFrame(index=cust.index)
    for col in [*PD_ATTRIBUTES, "signup_at"]:
        f[col] = cust[col]
    _pd_order_features(f, o, t)
    _pd_event_features(f, ev, t)
    _pd_affinity_features(f, ev, lines, tb["products"], t)
    tb["events"] = ev  # resolved, for the rules' aggregates
    return _pd_finish(f, t)


def _pd_rfm(f: Any) -> None:
    import pandas as pd

    from segmint.segments.rfm import GRID  # the same named grid, as data

    s = f[f.frequency > 0]
    labels = [1, 2, 3, 4, 5]
    r = pd.qcut(s.recency_days.rank(method="first", ascending=False), 5, labels=labels)
    fs = pd.qcut(s.frequency.rank(method="first"), 5, labels=labels)
    m = pd.qcut(s.monetary.rank(method="first"), 5, labels=labels)
    f["r_score"], f["f_score"], f["m_score"] = r.astype(int), fs.astype(int), m.astype(int)
    fm = (f.f_score + f.m_score + 1) // 2
    f["fm_score"] = fm
    cells = pd.Series(list(zip(f.r_score, fm, strict=True)), index=f.index)
    f["rfm_segment"] = cells.map(GRID)


def _pd_clusters(f: Any, k: int) -> None:
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    x = f[[c for c in PD_CLUSTER_FEATURES if c in f.columns]].astype(float).fillna(0.0)
    x = StandardScaler().fit_transform(x)
    model = KMeans(n_clusters=k, n_init="auto", random_state=0).fit(x)
    f["cluster"] = model.predict(x)


def _pd_rule_aggregates(f: Any, ev: Any, t: Any) -> None:
    import pandas as pd

    def since(days: int) -> Any:
        return ev[ev.ts >= t - pd.Timedelta(days=days)]

    carts = ev[ev.event_type == "add_to_cart"]
    buys = ev[ev.event_type == "purchase"]
    f["days_since_cart"] = _pd_days(t, carts.groupby("cid").ts.max())
    f["days_since_purchase"] = _pd_days(t, buys.groupby("cid").ts.max())
    m30 = since(30)
    mobile = m30[m30.device == "mobile"].groupby("cid").size()
    n30 = m30.groupby("cid").size()
    f["share_mobile_30d"] = mobile.reindex(n30.index, fill_value=0) / n30
    b90 = since(90)
    b90 = b90[b90.event_type == "purchase"]
    f["purchase_value_90d"] = (b90.price * b90.quantity).groupby(b90.cid).sum()
    f["purchase_value_90d"] = f.purchase_value_90d.fillna(0)
    dev = buys[buys.device.notna()].sort_values(["ts", "device"])
    f["last_purchase_device"] = dev.groupby("cid").device.last()
    v30 = m30[(m30.event_type == "product_view") & m30.category.str.startswith("Electronics")]
    f["electronics_views_30d"] = v30.groupby("cid").size()
    f["electronics_views_30d"] = f.electronics_views_30d.fillna(0)
    for flag in ("consent_email", "is_known"):  # nullable booleans: a null is not a yes
        f[flag] = f[flag].fillna(False).astype(bool)


#: the columns the rules read
PD_RULE_COLUMNS = [
    "views_7d",
    "purchases_7d",
    "carts_14d",
    "purchases_14d",
    "days_since_cart",
    "share_mobile_30d",
    "sessions_30d",
    "purchase_value_90d",
    "last_purchase_device",
    "days_since_purchase",
    "country",
    "consent_email",
    "is_known",
    "rfm_segment",
    "recency_days",
    "r_score",
    "f_score",
    "monetary",
    "loyalty_tier",
    "electronics_views_30d",
    "cluster",
]
#: the rules of :data:`RULES` as a pandas user writes them: one lambda per row
PD_RULES: dict[str, Callable[[Any], bool]] = {
    "active_browsers": lambda r: r.views_7d >= 3 and r.purchases_7d == 0,
    "cart_abandoners": lambda r: (
        r.carts_14d > 0 and r.purchases_14d == 0 and r.days_since_cart <= 7
    ),
    "mobile_first": lambda r: r.share_mobile_30d > 0.6 and r.sessions_30d >= 2,
    "big_spenders_90d": lambda r: r.purchase_value_90d > 200,
    "last_desktop_buyers": lambda r: (
        r.last_purchase_device == "desktop" and r.days_since_purchase < 60
    ),
    "dach_newsletter": lambda r: r.country in ("DE", "AT", "CH") and r.consent_email and r.is_known,
    "champions_cooling": lambda r: r.rfm_segment in ("Champions", "Loyal") and r.recency_days > 45,
    "win_back": lambda r: (
        r.rfm_segment == "At Risk" or (r.r_score <= 2 and r.f_score >= 3 and r.monetary > 100)
    ),
    "vip_mobile": lambda r: (
        r.big_spenders_90d and r.mobile_first and r.loyalty_tier in ("gold", "platinum")
    ),
    "electronics_browsers": lambda r: r.electronics_views_30d >= 3 and r.cluster >= 0,
}


def _child_pandas(spec: dict[str, Any], ph: _Phases) -> dict[str, Any]:
    import pandas as pd

    warnings.simplefilter("ignore", pd.errors.PerformanceWarning)  # the naive way, quietly
    t = pd.Timestamp(spec["as_of"])
    start = time.perf_counter()
    ph.switch("read")
    tb = _pd_read(spec["warehouse"], spec["fraction"])
    rows = {k: len(v) for k, v in tb.items()}
    ph.switch("features")
    f = _pd_features(tb, t)
    n_features = len(f.columns)
    ph.switch("RFM")
    _pd_rfm(f)
    if spec["clusters"]:
        ph.switch("clustering")
        _pd_clusters(f, spec["k"])
    ph.switch("rule aggregates")
    _pd_rule_aggregates(f, tb["events"], t)
    ph.switch("rules (apply)")
    # each rule's lambda sees the columns the rules read (a narrow frame), not all 130
    f = f[[c for c in PD_RULE_COLUMNS if c in f.columns]].copy()
    members = {}
    for name, _text in rules_for(spec["clusters"]):
        fn = PD_RULES[name]
        if name == "electronics_browsers" and not spec["clusters"]:
            fn = lambda r: r.electronics_views_30d >= 3  # noqa: E731
        f[name] = f.apply(fn, axis=1).astype(bool)
        members[name] = int(f[name].sum())
    ph.close()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "customers": len(f),
        "detail": {"features": n_features, "rows_read": rows, "members": members},
    }


def run_child(spec_path: str) -> None:
    """Entry point of a child process: do one run and write its figures as JSON."""
    import resource

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    if spec["engine"] == "ingest":
        _child_ingest(spec)
        return
    if spec["engine"] == "segmint":  # imports outside the timed region
        import segmint.features
        import segmint.segments

        if spec["clusters"]:
            import segmint.segments.clusters  # noqa: F401
        work = _child_segmint
    else:
        import duckdb  # noqa: F401
        import pandas  # noqa: F401
        import sklearn.cluster  # noqa: F401

        work = _child_pandas
    sampler = _RssSampler().start()
    ph = _Phases(sampler)
    out = work(spec, ph)
    sampler.stop()
    out.update(
        phases=ph.table(),
        self_maxrss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    Path(spec["out"]).write_text(json.dumps(out, default=str), encoding="utf-8")


# --------------------------------------------------------------------------------------------
# parent side
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One measured child run."""

    engine: str
    customers: int = 0
    seconds: float = 0.0
    peak_mib: float = 0.0
    child_wall_s: float = 0.0
    status: str = "ok"  # ok | killed: <why> | failed (rc=N)
    fraction: float = 1.0  # share of the customers the run computed
    note: str = ""
    load_before: float = 0.0
    load_after: float = 0.0
    phases: list[dict[str, Any]] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def stage_seconds(self) -> dict[str, float]:
        """Seconds per compared stage (``rules`` = its inputs or aggregates + every rule)."""
        out: dict[str, float] = {}
        for p in self.phases:
            name = p["phase"]
            if name.startswith(("segment ", "rule")):
                name = "rules"
            out[name] = out.get(name, 0.0) + p["seconds"]
        return out


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


def ensure_warehouse(
    shop: dict[str, Any], env: dict[str, str], say: Callable[[str], None]
) -> dict[str, Any]:
    """The shop ingested once into a DuckDB file kept beside it (ingest is not measured)."""
    out = Path(shop["dir"]) / f"ingested-f{WAREHOUSE_FORMAT}"
    marker = out / "bench-warehouse.json"
    if marker.is_file():
        info = json.loads(marker.read_text(encoding="utf-8"))
        if info.get("format") == WAREHOUSE_FORMAT and info.get("shop") == shop["params"]:
            say(f"warehouse: cached in {out}")
            return {**info, "path": str(out / "warehouse.duckdb")}
    say(f"warehouse: ingesting the shop into {out} (one-off, not measured) ...")
    failures = []
    for memory in (None, INGEST_MEMORY_RETRY):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        spec = {
            "engine": "ingest",
            "dir": str(out),
            "config": str(Path(shop["dir"]) / "segmint.yaml"),
            "shop": shop["params"],
            "marker": str(marker),
            "memory": memory,
        }
        peak, status, wall = _spawn(spec, env, Limits(seconds=3 * 3600))
        if status == "ok":
            break
        limit = memory or "segmint's own"
        failures.append(f"ingest with DuckDB's memory limit at {limit} {status}")
        say(f"[yellow]warehouse: {failures[-1]}; retrying with {INGEST_MEMORY_RETRY}[/]")
    else:
        raise SystemExit("ingesting the synthetic shop failed: " + "; ".join(failures))
    info = json.loads(marker.read_text(encoding="utf-8"))
    if info["failed_files"]:
        raise SystemExit(f"ingesting the synthetic shop: {info['failed_files']} file(s) failed")
    info.update(ingest_peak_mib=round(peak, 1), ingest_failures=failures)
    marker.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    say(f"warehouse: ingested in {wall:.0f} s, peak {peak:,.0f} MiB")
    return {**info, "path": str(out / "warehouse.duckdb")}


def measure(engine: str, spec: dict[str, Any], env: dict[str, str], limits: Limits) -> Run:
    """One fresh child on a fresh copy of the cached warehouse (copied before it starts)."""
    work = Path(spec["work"])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    wh = work / "warehouse.duckdb"
    shutil.copyfile(spec["source"], wh)
    warm([wh])
    out = work / "result.json"
    spec = {**spec, "engine": engine, "out": str(out), "warehouse": str(wh)}
    if engine == "segmint":
        config = work / "segmint.yaml"
        config.write_text(project_yaml(work, wh, spec["clusters"]), encoding="utf-8")
        spec["config"] = str(config)
    run = Run(engine, fraction=spec.get("fraction", 1.0), load_before=os.getloadavg()[0])
    run.peak_mib, run.status, run.child_wall_s = _spawn(spec, env, limits)
    run.load_after = os.getloadavg()[0]
    if run.ok:
        res = json.loads(out.read_text(encoding="utf-8"))
        run.customers, run.seconds = res["customers"], res["seconds"]
        run.phases, run.detail = res["phases"], res["detail"]
        run.detail["self_maxrss_mib"] = round(res["self_maxrss_mib"], 1)
    shutil.rmtree(work, ignore_errors=True)  # a copy of a multi-GB file per run
    return run


def _line(r: Run) -> str:
    if not r.ok:
        return r.status
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in r.stage_seconds().items())
    return f"{r.customers:,} customers in {r.seconds:.1f} s ({stages}), peak {r.peak_mib:,.0f} MiB"


def bench(
    args: argparse.Namespace, env: dict[str, str], say: Callable[[str], None]
) -> tuple[list[Run], dict[str, Any]]:
    shop = ensure_shop(args, env, say)
    wh = ensure_warehouse(shop, env, say)
    clusters = clustering_available()
    if not clusters:
        say("[yellow]clustering: segmint.segments.clusters.run_clustering not available[/]")
    runs_dir = args.work / "runs"
    base = {"source": wh["path"], "as_of": wh["as_of"], "clusters": clusters}
    specs: dict[str, dict[str, Any]] = {
        "segmint": {**base, "work": str(runs_dir / "seg-segmint")},
        "pandas": {**base, "work": str(runs_dir / "seg-pandas"), "k": K, "fraction": 1.0},
    }
    if args.skip_pandas:
        del specs["pandas"]
    if args.baseline_fraction_only and "pandas" in specs:
        specs["pandas"]["fraction"] = args.baseline_fraction
    limits = {
        "segmint": Limits(args.timeout),
        "pandas": Limits(args.baseline_limit_s, args.baseline_limit_mb),
    }
    runs: list[Run] = []
    for i in range(args.repeat):
        for engine, spec in specs.items():
            say(f"{engine} (run {i + 1}/{args.repeat}) ...")
            run = measure(engine, spec, env, limits[engine])
            say(f"  {_line(run)}")
            runs.append(run)
    killed = [r for r in runs if r.engine == "pandas" and r.status.startswith("killed")]
    if killed and "pandas" in specs:
        frac = args.baseline_fraction
        say(f"[yellow]pandas {killed[0].status}; re-running on {frac:.0%} of the customers[/]")
        spec = {**specs["pandas"], "fraction": frac}
        run = measure("pandas", spec, env, limits["pandas"])
        run.note = f"full baseline {killed[0].status}; re-run on {frac:.0%} of the customers"
        say(f"  {_line(run)}")
        runs.append(run)
    for r in runs:
        if r.engine == "pandas" and r.ok and r.fraction < 1 and not r.note:
            r.note = f"run on {r.fraction:.0%} of the customers"
    return runs, {"shop": shop, "warehouse": wh, "clusters": clusters}


def _median(runs: list[Run], engine: str) -> Run | None:
    """The median ok run by seconds, carrying the highest peak RSS seen."""
    ok = sorted((r for r in runs if r.engine == engine and r.ok), key=lambda r: r.seconds)
    if not ok:
        bad = [r for r in runs if r.engine == engine]
        return bad[-1] if bad else None
    med = ok[(len(ok) - 1) // 2]
    return Run(**{**asdict(med), "peak_mib": max(r.peak_mib for r in ok)})


def _scaled(r: Run) -> dict[str, float]:
    """Seconds per stage, scaled to every customer when the run computed a fraction."""
    return {k: v / r.fraction for k, v in r.stage_seconds().items()}


def summary(runs: list[Run], full_size: bool) -> dict[str, Any]:
    """Stages side by side, totals, ratios and verdicts."""
    seg, base = _median(runs, "segmint"), _median(runs, "pandas")
    s = _scaled(seg) if seg and seg.ok else {}
    p = _scaled(base) if base and base.ok else {}
    rows = []
    for stage in ("read", *STAGES):
        a, b = s.get(stage), p.get(stage)
        if a is None and b is None:
            continue
        ratio = b / a if a and b is not None else None
        rows.append({"stage": stage, "segmint_s": a, "pandas_s": b, "ratio": ratio})
    tot_s = sum(s.values()) if s else None
    tot_p = sum(p.values()) if p else None
    tot_p_nr = tot_p - p.get("read", 0.0) if tot_p is not None else None
    out: dict[str, Any] = {"stages": rows, "segmint_s": tot_s, "pandas_s": tot_p}
    out["pandas_without_reads_s"] = tot_p_nr
    out["ratio"] = tot_p / tot_s if tot_s and tot_p else None
    out["ratio_without_reads"] = tot_p_nr / tot_s if tot_s and tot_p_nr else None
    out["pandas_scaled_from"] = base.fraction if base and base.ok and base.fraction < 1 else None

    def mark(ratio: float | None) -> str | None:
        return None if ratio is None else ("PASS" if ratio >= TARGET_SPEEDUP else "MISS")

    out["speed_target"] = mark(out["ratio"])
    out["speed_target_without_reads"] = mark(out["ratio_without_reads"])
    peak = seg.peak_mib if seg and seg.ok else None
    out["segmint_peak_mib"] = peak
    out["pandas_peak_mib"] = base.peak_mib if base and base.ok else None
    out["memory_target"] = (
        ("PASS" if peak < TARGET_PEAK_MIB else "MISS") if peak is not None and full_size else None
    )
    out["segmint_status"] = seg.status if seg else None
    out["pandas_status"] = base.status if base else None
    out["pandas_note"] = base.note if base else ""
    return out


def _fmt(v: float | None, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def _mark(v: str | None) -> str:
    return {"PASS": "[green]PASS[/]", "MISS": "[red]MISS[/]"}.get(v or "", "-")


def print_tables(runs: list[Run], summ: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    title = "Segmentation, seconds per stage (start-up and imports excluded)"
    if summ["pandas_scaled_from"]:
        title += f"; pandas scaled from {summ['pandas_scaled_from']:.0%} of the customers"
    t = Table(title=title)
    for name in ("stage", "segmint s", "pandas s", "pandas / segmint"):
        t.add_column(name, justify="left" if name == "stage" else "right")
    for r in summ["stages"]:
        ratio = f"{r['ratio']:.1f}x" if r["ratio"] else ""
        t.add_row(r["stage"], _fmt(r["segmint_s"]), _fmt(r["pandas_s"]), ratio)
    if not any(r["stage"] == "clustering" for r in summ["stages"]):
        t.add_row("clustering", "not measured (not available)", "-", "")
    t.add_row(
        "[b]total[/]",
        _fmt(summ["segmint_s"]),
        _fmt(summ["pandas_s"]),
        f"{summ['ratio']:.1f}x" if summ["ratio"] else "",
    )
    t.add_row(
        "total without reads",
        _fmt(summ["segmint_s"]),
        _fmt(summ["pandas_without_reads_s"]),
        f"{summ['ratio_without_reads']:.1f}x" if summ["ratio_without_reads"] else "",
    )
    console.print(t)
    v = Table(title="Verdicts")
    for name in ("engine", "status", "customers", "seconds", "peak RSS MiB", "target", "verdict"):
        v.add_column(name)
    seg, base = _median(runs, "segmint"), _median(runs, "pandas")
    for r in (seg, base):
        if r is None:
            continue
        cust = f"{r.customers:,}" + (f" ({r.fraction:.0%})" if r.fraction < 1 else "")
        v.add_row(r.engine, r.status, cust, _fmt(r.seconds), _fmt(r.peak_mib, ",.0f"), "", "")
    targets = [
        (f">= {TARGET_SPEEDUP:g}x (with reads)", summ["speed_target"]),
        (f">= {TARGET_SPEEDUP:g}x (without reads)", summ["speed_target_without_reads"]),
        ("< 4 GiB @ 10M/1M", summ["memory_target"]),
    ]
    for target, verdict in targets:
        v.add_row("", "", "", "", "", target, _mark(verdict))
    console.print(v)
    for r in (seg, base):
        if r is None or not r.ok:
            continue
        pt = Table(title=f"{r.engine}: phases of the median run", title_justify="left")
        for name in ("phase", "seconds", "share", "sampled peak RSS MiB"):
            pt.add_column(name, justify="left" if name == "phase" else "right")
        for p in r.phases:
            share = p["seconds"] / r.seconds if r.seconds else 0
            pt.add_row(p["phase"], f"{p['seconds']:.2f}", f"{share:.0%}", f"{p['rss_mib']:,.0f}")
        console.print(pt)


def print_members(runs: list[Run], console: Any) -> None:
    """Members per rule segment on both sides: a sanity check, not a test."""
    from rich.table import Table

    seg, base = _median(runs, "segmint"), _median(runs, "pandas")
    if not (seg and seg.ok):
        return
    t = Table(title="Members per rule segment (pandas: its own features and RFM)")
    for name in ("segment", "segmint", "pandas"):
        t.add_column(name, justify="left" if name == "segment" else "right")
    theirs = base.detail.get("members", {}) if base and base.ok else {}
    for name, _rule in RULES:
        mine = seg.detail["members"].get(name)
        t.add_row(name, _fmt(mine, ","), _fmt(theirs.get(name), ","))
    console.print(t)
    if base and base.ok:
        console.print(
            f"features: segmint {seg.detail['features']} columns for {seg.customers:,} "
            f"customers; pandas {base.detail['features']} columns for {base.customers:,}"
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--events", type=int, default=TARGET_EVENTS, help="synthetic events")
    p.add_argument("--customers", type=int, default=TARGET_CUSTOMERS, help="CRM records")
    p.add_argument("--quick", action="store_true", help="smoke run: 100k customers, 1M events")
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--repeat", type=int, default=1, help="runs per engine")
    p.add_argument("--skip-pandas", action="store_true")
    p.add_argument("--baseline-limit-s", type=float, default=3600.0)
    p.add_argument(
        "--baseline-limit-mb",
        type=float,
        default=None,
        help="stop the baseline above this RSS (default: 80%% of RAM)",
    )
    p.add_argument(
        "--baseline-fraction",
        type=float,
        default=0.2,
        help="share of the customers to re-run a stopped baseline on",
    )
    p.add_argument(
        "--baseline-fraction-only",
        action="store_true",
        help="run the baseline on --baseline-fraction from the start",
    )
    p.add_argument("--timeout", type=float, default=3 * 3600.0, help="any other child")
    p.add_argument("--work", type=Path, default=REPO / ".segmint" / "bench")
    p.add_argument("--json", type=Path, default=None, help="default: bench/results/segments-*")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.events, args.customers = 1_000_000, 100_000
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
    if not console.is_terminal:  # a log file: do not squeeze the tables into 80 columns
        console = Console(width=140)
    say = console.print
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    runs, inputs = bench(args, child_env(), say)
    full = args.events >= TARGET_EVENTS and args.customers >= TARGET_CUSTOMERS
    summ = summary(runs, full)
    print_tables(runs, summ, console)
    print_members(runs, console)
    if summ["pandas_note"]:
        say(f"[yellow]note[/] pandas: {summ['pandas_note']}")
    if not inputs["clusters"]:
        say("[yellow]clustering: not measured (segmint.segments.clusters not available)[/]")
    suffix = "-quick" if args.quick else ""
    out = args.json or REPO / "bench" / "results" / f"segments-{started:%Y-%m-%d}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "started_at": started.isoformat(),
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": machine(),
        "targets": {
            "speedup": TARGET_SPEEDUP,
            "peak_rss_mib": TARGET_PEAK_MIB,
            "at_events": TARGET_EVENTS,
            "at_customers": TARGET_CUSTOMERS,
        },
        "rules": dict(rules_for(inputs["clusters"])),
        "summary": summ,
        "runs": [{**asdict(r), "stage_seconds": r.stage_seconds()} for r in runs],
        "inputs": inputs,
    }
    out.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
    say(f"figures written to {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
