"""``segmint publish``: the batch results into the online store, all at once.

Per customer it loads the latest features and RFM values, scores, clusters, every open
segment membership, the top recommendations, and the hourly counters of the windowed
aggregates the rule segments read, seeded from the warehouse's events (so a customer's
30-day purchase count is right on the first live event). The store swaps the whole snapshot in
one step (:meth:`OnlineStore.publish`).

Rule segments defined over the API are published like segmint.yaml's: with the members
``segmint segment`` computed for them on the warehouse. One defined (or changed) since the
last ``segmint segment`` keeps the members the live path gave it, and one deleted since is not
published, so a publish never moves an API-defined segment's members by itself.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import ibis

from segmint.config import ProjectConfig
from segmint.errors import NotFoundError
from segmint.realtime import _counters as counters
from segmint.realtime._processor import RuleSet, identity_key
from segmint.realtime._project import DELETED, SEGMENTS, live_rules
from segmint.realtime._store import OnlineStore, Published, PublishInfo
from segmint.schema import Col, T
from segmint.warehouse import IbisWarehouse, connect

#: recommendations kept per customer in the online store
TOP_K = 20
_SKIP = frozenset({Col.CUSTOMER_ID, "as_of"})

Progress = Callable[[str], None]


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, datetime):
        return v.isoformat()
    return v


def _latest(wh: IbisWarehouse, table: str) -> Any:
    t = wh.table(table)
    return t.filter(t.as_of == t.as_of.max())


def _values(wh: IbisWarehouse) -> tuple[dict[str, dict[str, Any]], datetime | None]:
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    as_of = None
    for table in ("features", "rfm"):
        if not wh.has_table(table):
            continue
        rows = wh.to_arrow(_latest(wh, table)).to_pylist()
        for r in rows:
            as_of = as_of or r.get("as_of")
            out[r[Col.CUSTOMER_ID]].update({k: _clean(v) for k, v in r.items() if k not in _SKIP})
    return out, as_of


def _keyed(wh: IbisWarehouse, table: str, key: str, value: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    if not wh.has_table(table):
        return out
    t = wh.table(table)
    latest = t.group_by(key).aggregate(_m=t.as_of.max())
    t = t.inner_join(latest, [key, t.as_of == latest._m]).select(Col.CUSTOMER_ID, key, value)
    for r in wh.to_arrow(t).to_pylist():
        out[r[Col.CUSTOMER_ID]][r[key]] = _clean(r[value])
    return out


def _memberships(wh: IbisWarehouse, skip: set[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = defaultdict(dict)
    if not wh.has_table("segment_membership"):
        return out
    m = wh.table("segment_membership")
    m = m.filter(m.exited_at.isnull()).select(Col.CUSTOMER_ID, "segment", "entered_at")
    if skip:
        m = m.filter(~m.segment.isin(sorted(skip)))
    for r in wh.to_arrow(m).to_pylist():
        at = r["entered_at"]
        out[r[Col.CUSTOMER_ID]][r["segment"]] = at.replace(tzinfo=UTC).isoformat()
    return out


def _api_segments(
    cfg: ProjectConfig, wh: IbisWarehouse, defined: dict[str, dict[str, Any]], rules: RuleSet
) -> tuple[set[str], set[str]]:
    """API-defined segments whose warehouse members are not theirs: ``unseen`` (defined or
    changed since ``segmint segment`` last computed them) and ``gone`` (deleted since)."""
    from segmint.segments import definitions
    from segmint.segments._run import API_KIND

    batch = definitions(wh)
    yaml = {s.name for s in cfg.segments}
    unseen = {
        name
        for name, rec in defined.items()
        if name in rules.rules
        and name not in yaml
        and not (
            batch.get(name, {}).get("kind") == API_KIND
            and batch[name].get("definition") == rec.get("rule")
        )
    }
    gone = {
        name
        for name, row in batch.items()
        if row.get("kind") == API_KIND and name not in defined and name not in yaml
    }
    return unseen, gone


def _live_members(store: OnlineStore, names: set[str]) -> dict[str, dict[str, str]]:
    """Per customer, when they entered each segment of ``names``, as the live path has it."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for name in sorted(names):
        after: str | None = None
        while page := store.members(name, after, 1_000):
            for cid, doc in store.live(page).items():
                if name in doc.segments:
                    out[cid][name] = doc.segments[name]
            after = page[-1]
    return out


def _recommendations(wh: IbisWarehouse) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if not wh.has_table("recommendations"):
        return out
    r = wh.table("recommendations")
    r = r.filter(r["rank"] <= TOP_K).order_by([Col.CUSTOMER_ID, "rank"])
    cols = ["product_id", "rank", "score", "reason", "strategy", "model"]
    for row in wh.to_arrow(r.select(Col.CUSTOMER_ID, *cols)).to_pylist():
        out[row[Col.CUSTOMER_ID]].append({k: _clean(row[k]) for k in cols})
    return out


def _aliases(wh: IbisWarehouse) -> dict[str, str]:
    if not wh.has_table(T.IDENTITIES):
        return {}
    t = wh.table(T.IDENTITIES).select(Col.IDENTIFIER_TYPE, Col.IDENTIFIER, Col.CUSTOMER_ID)
    return {
        identity_key(r[Col.IDENTIFIER_TYPE], r[Col.IDENTIFIER]): r[Col.CUSTOMER_ID]
        for r in wh.to_arrow(t).to_pylist()
    }


def seed_counters(wh: IbisWarehouse, rules: RuleSet, cut: datetime) -> dict[str, counters.Counters]:
    """Per customer, the hourly counters of ``rules``' aggregates over the warehouse's events
    before ``cut`` (only as far back as the longest window, unless one covers all history)."""
    from segmint.segments.rules._warehouse import event_stream

    out: dict[str, counters.Counters] = defaultdict(dict)
    if not rules.specs:
        return out
    events = event_stream(wh)
    if events is None:
        return out
    naive = cut.astimezone(UTC).replace(tzinfo=None)
    keep = events.ts < ibis.timestamp(naive)
    windows = [s.window for s in rules.specs]
    if None not in windows:
        start = naive - timedelta(seconds=max(w for w in windows if w is not None) + 3_600)
        keep = keep & (events.ts >= ibis.timestamp(start))
    batches = wh.to_arrow(events.filter(keep)).to_batches(max_chunksize=50_000)
    for batch in batches:
        for ev in batch.to_pylist():
            counters.observe(out[ev[Col.CUSTOMER_ID]], rules.specs, ev)
    for c in out.values():
        counters.prune(c, rules.specs, cut)
    return out


def _customers(
    values: dict[str, dict[str, Any]],
    parts: dict[str, dict[str, Any]],
) -> Iterator[Published]:
    ids = set(values)
    for part in parts.values():
        ids |= set(part)
    for cid in sorted(ids):
        yield Published(
            cid,
            values.get(cid, {}),
            parts["scores"].get(cid, {}),
            parts["clusters"].get(cid, {}),
            parts["segments"].get(cid, {}),
            parts["recommendations"].get(cid, []),
            parts["counters"].get(cid, {}),
        )


def publish_project(
    cfg: ProjectConfig, store: OnlineStore, progress: Progress | None = None
) -> PublishInfo:
    """Load the project's batch results into ``store`` in one atomic swap."""
    say = progress or (lambda _msg: None)
    rules = live_rules(cfg, store)
    defined = store.get_meta(SEGMENTS)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        if not wh.has_table(T.IDENTITIES):
            raise NotFoundError("nothing to publish yet: run `segmint ingest` first")
        say("features and RFM values")
        values, as_of = _values(wh)
        say("scores, clusters, memberships, recommendations")
        unseen, gone = _api_segments(cfg, wh, defined, rules)
        parts: dict[str, dict[str, Any]] = {
            "scores": _keyed(wh, "scores", "model", "score"),
            "clusters": _keyed(wh, "cluster_assignments", "clustering", "cluster"),
            "segments": _memberships(wh, unseen | gone),
            "recommendations": _recommendations(wh),
        }
        for cid, segs in _live_members(store, unseen).items():
            parts["segments"].setdefault(cid, {}).update(segs)
        cut = _cut(wh)
        say(
            f"counters of {len(rules.specs)} windowed aggregates, events before "
            f"{cut:%Y-%m-%d %H:%M}"
        )
        parts["counters"] = seed_counters(wh, rules, cut)
        aliases = _aliases(wh)
        sizes = {k: v for k, v in _sizes(wh).items() if k not in gone}
        popular = popular_products(wh)
    say("swapping the snapshot in")
    info = PublishInfo(
        as_of=as_of.isoformat() if isinstance(as_of, datetime) else None,
        cut=cut.timestamp(),
    )
    done = store.publish(_customers(values, parts), aliases, info)
    for segment, rows in sizes.items():
        store.put_meta("sizes", segment, {"runs": rows})
    for segment in sorted(gone):  # deleted over the API: its name is free again
        store.put_meta("sizes", segment, None)
    for segment in store.get_meta(DELETED):  # the new snapshot no longer lists them
        store.put_meta(DELETED, segment, None)
    for name, items in popular.items():
        store.put_meta("popular", name, {"items": items})
    return done


def popular_products(wh: IbisWarehouse, top: int = 50) -> dict[str, list[dict[str, Any]]]:
    """The products most customers bought, overall (``global``) and among each segment's
    current members (``segment:<name>``): the fallback for customers without a list."""
    from segmint.segments.rules._warehouse import event_stream

    events = event_stream(wh)
    if events is None:
        return {}
    bought = events.filter((events.event_type == "purchase") & events.product_id.notnull()).select(
        Col.CUSTOMER_ID, "product_id"
    )
    overall = (
        bought.group_by("product_id")
        .aggregate(score=bought[Col.CUSTOMER_ID].nunique())
        .order_by([ibis.desc("score"), "product_id"])
        .limit(top)
    )
    out = {"global": wh.to_arrow(overall).to_pylist()}
    if wh.has_table("segment_membership"):
        m = wh.table("segment_membership")
        m = m.filter(m.exited_at.isnull()).select(Col.CUSTOMER_ID, "segment")
        j = bought.inner_join(m, Col.CUSTOMER_ID)
        per = j.group_by(["segment", "product_id"]).aggregate(score=j[Col.CUSTOMER_ID].nunique())
        rank = ibis.row_number().over(
            group_by=per.segment, order_by=[ibis.desc(per.score), per.product_id]
        )
        per = per.mutate(_r=rank).filter(ibis._._r < min(top, 20)).order_by(["segment", "_r"])
        for r in wh.to_arrow(per.select("segment", "product_id", "score")).to_pylist():
            key = f"segment:{r['segment']}"
            out.setdefault(key, []).append({"product_id": r["product_id"], "score": r["score"]})
    return out


def _cut(wh: IbisWarehouse) -> datetime:
    """The whole hour after the latest event: the warehouse counts what came before it."""
    from segmint.segments.rules._warehouse import event_stream

    events = event_stream(wh)
    latest = None if events is None else wh.to_arrow(events.select(m=events.ts.max()))["m"][0]
    latest = latest.as_py() if latest is not None else None
    if latest is None:
        return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    latest = latest.replace(tzinfo=UTC)
    return latest.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def _sizes(wh: IbisWarehouse) -> dict[str, list[dict[str, Any]]]:
    from segmint.segments.membership import sizes_over_time

    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sizes_over_time(wh):
        out[row["segment"]].append({k: _clean(v) for k, v in row.items() if k != "segment"})
    return out
