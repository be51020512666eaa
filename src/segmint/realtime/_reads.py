"""What the API answers, as library calls: collecting events, a customer's profile and
segments, recommendations with their fallback chain, segments and their members.

Every function takes a :class:`~segmint.realtime.Runtime`, so a notebook gets the same
answers as ``GET /v1/...``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from segmint.errors import NotFoundError, StoreUnavailable
from segmint.privacy import LivePrivacy, encodable, live_privacy
from segmint.privacy._mask import mask_text
from segmint.realtime._events import MAX_BATCH, dead_letter_copy, to_wire, validate_event
from segmint.realtime._processor import identity_key
from segmint.realtime._project import Runtime
from segmint.realtime._store import LiveDoc, Published

_KINDS = (("rfm_", "rfm"),)
#: how an identifier hashed at validation starts (the form of the published aliases)
_HASHED_KINDS = ("email:", "phone:")


# --- events --------------------------------------------------------------------------------
def privacy(rt: Runtime) -> LivePrivacy:
    """The live path's PII rules for the project (built once per key, then a dict look-up)."""
    return live_privacy(rt.cfg.pii, rt.cfg.serve.mask_free_text)


def collect_events(rt: Runtime, items: Sequence[Any]) -> dict[str, Any]:
    """Validate each item, keep the rejected in the dead letters, drop retries already
    applied (by ``event_id``), and apply (inline) or queue (stream) the rest."""
    if len(items) > MAX_BATCH:
        raise ValueError(f"a batch holds at most {MAX_BATCH} events, got {len(items)}")
    received = datetime.now(UTC)
    pii = privacy(rt)
    results: list[dict[str, Any]] = []
    good: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    for i, raw in enumerate(items):
        event, problems = validate_event(raw, received, pii)
        eid = raw.get("event_id") if isinstance(raw, dict) else None
        # the client's id as it sent it (only encodable and without an e-mail in clear)
        eid = pii.code(encodable(eid)) if isinstance(eid, str) else None
        if event is None:
            results.append({"index": i, "event_id": eid, "status": "rejected", "errors": problems})
            dead.append({"event": dead_letter_copy(raw, pii), "errors": problems, "source": "api"})
        else:
            eid = event["event_id"]  # as stored: an e-mail in it is hashed
            results.append({"index": i, "event_id": eid, "status": "accepted", "errors": []})
            good.append(event)
    if dead:
        rt.store.dead_letter(dead)
    _canonical(rt, good)
    changes, repeated = _deliver(rt, good)
    given: set[str] = set()
    for r in results:
        if r["status"] == "rejected":
            continue  # a corrected copy of a rejected event may follow under its id
        if r["event_id"] in repeated or r["event_id"] in given:
            r["status"] = "duplicate"
        given.add(r["event_id"])
    counts = {
        s: sum(r["status"] == s for r in results) for s in ("accepted", "duplicate", "rejected")
    }
    return {
        **counts,
        "queued": rt.bus is not None,
        "changes": changes,
        "results": results,
        "lag_seconds": _lag(good, received),
    }


def _canonical(rt: Runtime, events: list[dict[str, Any]]) -> None:
    """Give an event whose customer id is an e-mail or phone (hashed at validation) to the
    customer the published identities link that hash to, as the batch path does; one store
    call, made only when the batch has such an event."""
    hashed = {
        cid for e in events if (cid := e.get("customer_id")) and cid.startswith(_HASHED_KINDS)
    }
    if not hashed:
        return
    found = rt.store.resolve(sorted(hashed))
    for e in events:
        cid = e.get("customer_id")
        if cid in found:
            e["customer_id"] = found[cid]


def _deliver(rt: Runtime, events: list[dict[str, Any]]) -> tuple[int, set[str]]:
    """Apply or queue ``events``; the number of membership changes and the retried ids.

    Inline, the event log is written first (durable), then the processor applies what it
    has not applied before: a request that failed half way is safe to retry. On the stream
    every event is appended (the worker skips repeats); the log then tells which were retries.
    """
    if not events:
        return 0, set()
    wire = [to_wire(e) for e in events]
    if rt.bus is None:
        rt.store.log_events(wire)
        rt.refresh()
        outcome = rt.processor.apply(events)
        return len(outcome.changes), outcome.duplicate_ids
    rt.bus.append(wire)
    fresh = rt.store.log_events(wire)
    first: dict[str, bool] = {}
    for e, new in zip(events, fresh, strict=True):
        first.setdefault(e["event_id"], new)
    return 0, {eid for eid, new in first.items() if not new}


def _lag(events: Sequence[dict[str, Any]], received: datetime) -> float | None:
    if not events:
        return None
    return max(0.0, (datetime.now(UTC) - min(e["ts"] for e in events)).total_seconds())


# --- customers ----------------------------------------------------------------------------
def find_customer(rt: Runtime, identifier: str) -> str:
    """The canonical customer id for an id the shop uses: a customer id, an anonymous id,
    or an e-mail (looked up through its keyed hash, never in clear).

    Raises NotFoundError when nobody has it.
    """
    return lookup(rt, identifier)[0]


def lookup(rt: Runtime, identifier: str) -> tuple[str, Published, LiveDoc | None]:
    """:func:`find_customer`, with the customer's published record and live document, in
    one store call (one round trip on Redis).

    An e-mail or phone is looked up only through its keyed hash (the form events were stored
    under), never in clear: an e-mail in any case, a phone in any grouping."""
    hashed = privacy(rt).hashed(identifier)
    if hashed is not None:
        keys = [identity_key("customer_id", hashed), hashed, identity_key("anonymous_id", hashed)]
        ids = [hashed, identity_key("anonymous_id", hashed)]
    else:
        keys = [identity_key("customer_id", identifier), identity_key("anonymous_id", identifier)]
        ids = [identifier, identity_key("anonymous_id", identifier)]
    hit = rt.store.customer(keys, ids)
    if hit is None:
        raise NotFoundError(f"no customer has the identifier {_shown(identifier)}")
    cid, pub, doc = hit
    return cid, pub or Published(cid), doc


def _shown(identifier: str) -> str:
    """An identifier as an error message may quote it: short, encodable, no e-mail/phone."""
    short = identifier if len(identifier) <= 64 else identifier[:64] + "..."
    return repr(mask_text(encodable(short)))


def segments_of(rt: Runtime, identifier: str) -> dict[str, Any]:
    """``{customer_id, segments}``: the segments the customer with ``identifier`` is in now,
    rule segments as the live path keeps them, the others (RFM tiers, clusters, predictive)
    as last published. Raises NotFoundError when nobody has the identifier."""
    cid, pub, doc = lookup(rt, identifier)
    return {"customer_id": cid, "segments": _segments(rt, pub, doc)}


def _rules(rt: Runtime) -> dict[str, Any]:
    """The live rules, re-read when another replica changed them (a replica that only serves
    reads sees segments defined elsewhere); the last ones known while the store is down."""
    try:
        return rt.refresh().rules
    except StoreUnavailable:
        return rt.processor.rules.rules


def _segments(rt: Runtime, pub: Published, doc: LiveDoc | None) -> list[dict[str, Any]]:
    rules = _rules(rt)
    version = rt.info().version
    live = doc is not None and doc.publish == version
    out = []
    for name, at in sorted(pub.segments.items()):
        if (name in rules and live) or (name in rt.gone and name not in rules):
            continue  # computed live, or deleted over the API since the snapshot
        out.append({"segment": name, "kind": _kind(name, rules), "entered_at": at, "live": False})
    if live and doc is not None:
        out += [
            {"segment": n, "kind": "rule", "entered_at": at, "live": True}
            for n, at in sorted(doc.segments.items())
        ]
    return sorted(out, key=lambda s: s["segment"])


def _kind(name: str, rules: dict[str, Any]) -> str:
    if name in rules:
        return "rule"
    return next((k for prefix, k in _KINDS if name.startswith(prefix)), "batch")


def customer_view(rt: Runtime, identifier: str) -> dict[str, Any]:
    """A customer's profile: features and attributes, segments, scores, clusters."""
    cid, pub, doc = lookup(rt, identifier)
    if not pub.values and not pub.segments and doc is None and not pub.recommendations:
        raise NotFoundError(f"no customer has the identifier {_shown(cid)}")
    return {
        "customer_id": cid,
        "features": dict(pub.values),
        "segments": _segments(rt, pub, doc),
        "scores": dict(pub.scores),
        "clusters": {k: str(v) for k, v in pub.clusters.items()},
        "published_as_of": rt.store.info().as_of,
    }


# --- recommendations ----------------------------------------------------------------------
def recommend(
    rt: Runtime, identifier: str, k: int = 10, context: dict[str, str] | None = None
) -> dict[str, Any]:
    """Top ``k`` for a customer. With a ``context`` (device, country, hour, weekday,
    season), the model in memory ranks for that moment; without one, or when no model is
    saved or it does not know the customer, their precomputed list; else (unknown customer,
    or no list published) the most popular products of their segments, else overall. Always
    answers, saying in ``fallback`` and ``reason`` which way it took."""
    try:
        cid: str | None
        cid, pub, doc = lookup(rt, identifier)
    except NotFoundError:
        cid, pub, doc = None, None, None
    why = None
    if context and cid is not None:
        items, why = _live_model(rt, cid, k, context)
        if items:
            return _recs(identifier, cid, items, None, None)
    if pub is not None and pub.recommendations:
        items = [dict(r) for r in pub.recommendations[:k]]
        return _recs(identifier, cid, items, "precomputed" if why else None, why)
    popular = rt.store.get_meta("popular")
    segs = [] if pub is None else [s["segment"] for s in _segments(rt, pub, doc)]
    for seg in segs:
        rows = popular.get(f"segment:{seg}", {}).get("items", [])
        if rows:
            reason = f"popular in your segment ({seg})"
            return _recs(
                identifier,
                cid,
                _items(rows, k, reason),
                "segment_popularity",
                "no recommendations published for this customer",
            )
    rows = popular.get("global", {}).get("items", [])
    why = "unknown customer" if cid is None else "no recommendations published for this customer"
    shown = privacy(rt).hashed(identifier) or identifier  # an unknown e-mail is not echoed
    return _recs(shown, cid, _items(rows, k, "popular right now"), "popularity", why)


def _live_model(
    rt: Runtime, cid: str, k: int, context: dict[str, str]
) -> tuple[list[dict[str, Any]], str | None]:
    model = rt.model()
    if model is None:
        return [], "no recommender model is saved: the context was not used"
    from segmint.recommend._serving import recommend_for

    # the shop's rules, as the batch list and `segmint recommend show` apply them
    frame = recommend_for(
        model, [cid], k=k, cfg=rt.cfg.recommend, data=rt.rule_data(), context=context
    )
    if frame.empty:
        return [], "the model does not know this customer: the context was not used"
    cols = [c for c in ("product_id", "rank", "score", "reason", "strategy") if c in frame]
    rows = frame[cols].to_dict("records")
    for r in rows:
        r["product_id"], r["rank"], r["score"] = (
            str(r["product_id"]),
            int(r["rank"]),
            float(r["score"]),
        )
        r["model"] = getattr(model, "name", None)
    return rows, None


def _items(rows: list[dict[str, Any]], k: int, reason: str) -> list[dict[str, Any]]:
    return [
        {"product_id": r["product_id"], "rank": i + 1, "score": r["score"], "reason": reason}
        for i, r in enumerate(rows[:k])
    ]


def _recs(
    identifier: str,
    cid: str | None,
    items: list[dict[str, Any]],
    fallback: str | None,
    reason: str | None,
) -> dict[str, Any]:
    return {
        "customer_id": cid or identifier,
        "known": cid is not None,
        "items": items,
        "fallback": fallback,
        "reason": reason,
    }


# --- segments -----------------------------------------------------------------------------
def segment_list(rt: Runtime) -> list[dict[str, Any]]:
    """Every segment the service knows: rule segments (segmint.yaml or API) and those
    published by the batch path, with their current size."""
    rt.refresh()
    defined, sizes = rt.defined(), rt.store.get_meta("sizes")
    names = set(rt.processor.rules.rules) | set(sizes)
    return [segment_view(rt, n, defined, sizes) for n in sorted(names)]


def segment_view(
    rt: Runtime,
    name: str,
    defined: dict[str, dict[str, Any]] | None = None,
    sizes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One segment: kind, source, rule, description and size (NotFoundError if unknown);
    ``defined`` and ``sizes`` are the store's records when the caller already read them."""
    defined = rt.defined() if defined is None else defined
    sizes = rt.store.get_meta("sizes") if sizes is None else sizes
    rules = _rules(rt)
    cfg_segments = {s.name: s for s in rt.cfg.segments}
    if name not in rules and name not in sizes and name not in defined:
        raise NotFoundError(f"no segment named {name!r}")
    source = "api" if name in defined else "config" if name in cfg_segments else "batch"
    rule = defined.get(name, {}).get("rule") or (
        cfg_segments[name].rule if name in cfg_segments else None
    )
    description = defined.get(name, {}).get("description") or (
        cfg_segments[name].description if name in cfg_segments else None
    )
    return {
        "name": name,
        "kind": _kind(name, rules),
        "source": source,
        "rule": rule,
        "description": description,
        "size": rt.store.size(name),
    }


def segment_history(rt: Runtime, name: str, limit: int = 100) -> dict[str, Any]:
    """The batch computations of a segment (size, entered, exited per as-of) and its latest
    live changes, newest first."""
    sizes = rt.store.get_meta("sizes")
    view = segment_view(rt, name, sizes=sizes)
    runs = sizes.get(name, {}).get("runs", [])
    return {"segment": view["name"], "runs": runs, "changes": rt.store.history(name, limit)}
