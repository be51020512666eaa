"""Unified customer profiles: one row per person in the ``customers`` table.

A profile merges the person's CRM records (the newest non-empty value of each attribute, by
``updated_at``), their orders (count, net revenue after returns, first/last order) and their
web behaviour (events, sessions, first/last visit), across every account and anonymous id
identity resolution linked to them. Country falls back to the country they order from most.
"""

from __future__ import annotations

import re
from typing import Any

import ibis
import ibis.expr.types as ir

from segmint.config import ProjectConfig
from segmint.errors import NotFoundError
from segmint.identity import ACCOUNTS, resolved
from segmint.revenue import order_net_value
from segmint.schema import Col, T
from segmint.warehouse import IbisWarehouse, connect

_CRM_SKIP = {
    Col.CUSTOMER_ID,
    Col.UPDATED_AT,
    Col.ROW_KEY,
    Col.SOURCE,
    Col.RUN_ID,
    Col.INGESTED_AT,
    "source_customer_id",
}


def _crm(wh: IbisWarehouse) -> ir.Table | None:
    """Per person: the newest non-empty value of each CRM attribute, accounts, last update.

    Most people have one CRM record, whose values are theirs as they are; only the records of
    people with several accounts are aggregated. That aggregate (an ``arg_max`` per attribute,
    each state holding a string) is one DuckDB cannot spill: over every record of 1M
    customers it needs several GB, far above ingest's memory limit.
    """
    if not wh.has_table(T.CUSTOMER_RECORDS):
        return None
    rec = resolved(wh, T.CUSTOMER_RECORDS)
    attrs = [c for c in rec.columns if c not in _CRM_SKIP]
    counts = rec.group_by(Col.CUSTOMER_ID).aggregate(_records=rec.count())
    rec = rec.inner_join(counts, Col.CUSTOMER_ID)
    one = rec.filter(rec._records == 1)
    single = one.select(
        Col.CUSTOMER_ID,
        *attrs,
        n_accounts=one.source_customer_id.notnull().ifelse(1, 0).cast("int64"),
        crm_updated_at=one[Col.UPDATED_AT],
    )
    many = rec.filter(rec._records > 1)
    order = many[Col.UPDATED_AT].fill_null(ibis.timestamp("1970-01-01 00:00:00"))
    aggs = {c: many[c].argmax(order, where=many[c].notnull()) for c in attrs}
    several = many.group_by(Col.CUSTOMER_ID).aggregate(
        **aggs,
        n_accounts=many.source_customer_id.nunique(),
        crm_updated_at=many[Col.UPDATED_AT].max(),
    )
    return single.union(several.cast(single.schema()))


def _orders(wh: IbisWarehouse) -> ir.Table | None:
    if not wh.has_table(T.ORDERS):
        return None
    o = wh.table(T.ORDERS)
    ids = wh.table(T.IDENTITIES)
    ids = ids.filter(ids[Col.IDENTIFIER_TYPE] == Col.CUSTOMER_ID)
    o = o.inner_join(ids, o[Col.CUSTOMER_ID] == ids[Col.IDENTIFIER]).select(
        customer_id=ids[Col.CUSTOMER_ID],
        ts=o[Col.TS],
        revenue=order_net_value(o),
        is_return=o.is_return.fill_null(False),
        country=o[Col.COUNTRY],
    )
    bought = ~o.is_return
    return o.group_by(Col.CUSTOMER_ID).aggregate(
        n_orders=o.count(where=bought),
        n_returns=o.count(where=o.is_return),
        revenue=o.revenue.sum().fill_null(0),
        first_order_at=o.ts.min(where=bought),
        last_order_at=o.ts.max(where=bought),
        order_country=o[Col.COUNTRY].mode(),
    )


def _events(wh: IbisWarehouse) -> ir.Table | None:
    if not wh.has_table(T.EVENTS):
        return None
    e = resolved(wh, T.EVENTS)
    e = e.filter(e[Col.CUSTOMER_ID].notnull())
    return e.group_by(Col.CUSTOMER_ID).aggregate(
        n_events=e.count(),
        n_sessions=e[Col.SESSION_ID].nunique(),
        first_event_at=e[Col.TS].min(),
        last_event_at=e[Col.TS].max(),
        event_country=e[Col.COUNTRY].mode(),
    )


def build_profiles(wh: IbisWarehouse) -> int:
    """Rebuild ``customers`` from identities, CRM records, orders and events; return its size."""
    if not wh.has_table(T.IDENTITIES):
        return 0
    ids = wh.table(T.IDENTITIES)
    account = ids[Col.IDENTIFIER_TYPE] == Col.CUSTOMER_ID
    base = ids.group_by(Col.CUSTOMER_ID).aggregate(
        is_known=account.any(),
        # accounts seen anywhere (orders, events), not only in the CRM: an account known
        # only from its orders (its CRM row absent or quarantined) still counts as one
        _id_accounts=ids[Col.IDENTIFIER].nunique(where=account),
        n_identifiers=ids.count(),
        seen_first=ids[Col.FIRST_SEEN].min(),
        seen_last=ids[Col.LAST_SEEN].max(),
    )
    profile = base
    for part in (_crm(wh), _orders(wh), _events(wh)):
        if part is not None:
            profile = profile.left_join(part, Col.CUSTOMER_ID).drop(f"{Col.CUSTOMER_ID}_right")
    cols = profile.columns
    country = [profile[c] for c in (Col.COUNTRY, "order_country", "event_country") if c in cols]
    firsts = [
        profile[c]
        for c in ("seen_first", Col.SIGNUP_AT, "first_order_at", "first_event_at")
        if c in cols
    ]
    lasts = [profile[c] for c in ("seen_last", "last_order_at", "last_event_at") if c in cols]
    out = profile.mutate(
        **({Col.COUNTRY: ibis.coalesce(*country)} if country else {}),
        first_seen=ibis.least(*firsts) if len(firsts) > 1 else firsts[0],
        last_seen=ibis.greatest(*lasts) if len(lasts) > 1 else lasts[0],
        updated_at=ibis.now().cast("timestamp"),
    )
    out = out.drop(
        *[
            c
            for c in ("order_country", "event_country", "seen_first", "seen_last")
            if c in out.columns
        ]
    )
    crm_accounts = out.n_accounts.fill_null(0) if "n_accounts" in out.columns else ibis.literal(0)
    out = out.mutate(n_accounts=ibis.greatest(crm_accounts, out._id_accounts).cast("int64")).drop(
        "_id_accounts"
    )
    for c in ("n_orders", "n_returns", "n_events", "n_sessions"):
        if c in out.columns:
            out = out.mutate(**{c: out[c].fill_null(0)})
    if "revenue" in out.columns:
        out = out.mutate(revenue=out.revenue.fill_null(0.0))
    wh.write(T.CUSTOMERS, out.filter(out.is_known | (out.n_identifiers > 0)))
    return wh.count(T.CUSTOMERS)


def customer_summary(cfg: ProjectConfig, top: int = 10) -> dict[str, Any]:
    """Counts, top countries and top customers of the unified profiles."""
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        if not wh.has_table(T.CUSTOMERS):
            raise NotFoundError("no customers table yet: run `segmint ingest` first")
        c = wh.table(T.CUSTOMERS)
        has_orders = "n_orders" in c.columns
        counts = wh.to_arrow(
            c.aggregate(
                customers=c.count(),
                known=c.count(where=c.is_known),
                merged=c.n_accounts.sum(where=c.n_accounts > 1)
                if "n_accounts" in c.columns
                else ibis.literal(0),
                merged_into=c.count(where=c.n_accounts > 1)
                if "n_accounts" in c.columns
                else ibis.literal(0),
            )
        ).to_pylist()[0]
        orders = c.n_orders if has_orders else ibis.literal(0)
        revenue = c.revenue if has_orders else ibis.literal(0.0)
        m = c.mutate(_o=orders, _r=revenue)
        countries = (
            m.group_by(Col.COUNTRY)
            .aggregate(customers=m.count(), orders=m._o.sum(), revenue=m._r.sum())
            .order_by(ibis.desc("customers"))
            .limit(top)
        )
        summary = {
            **{k: int(v or 0) for k, v in counts.items()},
            "countries": wh.to_arrow(countries).to_pylist(),
            "top": [],
        }
        summary["anonymous"] = summary["customers"] - summary["known"]
        if has_orders:
            cols = [
                Col.CUSTOMER_ID,
                Col.COUNTRY,
                "n_orders",
                "n_returns",
                "revenue",
                "last_order_at",
            ]
            summary["top"] = wh.to_arrow(
                c.select(*cols).order_by(ibis.desc("revenue")).limit(top)
            ).to_pylist()
    return summary


def _lookup_hashes(cfg: ProjectConfig, identifier: str) -> list[str]:
    """Keyed hashes the identifier would have if it is an e-mail or phone kept as PII."""
    from segmint.privacy import PiiCipher, load_master_key, normalize_email, normalize_phone

    text = identifier.strip()
    normalized = []
    if Col.EMAIL in cfg.pii and "@" in text:
        normalized.append(normalize_email(text))
    digits = normalize_phone(text)
    if Col.PHONE in cfg.pii and re.fullmatch(r"[0-9+()./ -]+", text) and len(digits) >= 7:
        normalized.append(digits)
    if not normalized:
        return []
    cipher = PiiCipher(load_master_key())
    return [cipher.hash(n) for n in normalized]


def _show_pii(profile: dict[str, Any], cfg: ProjectConfig, reveal: bool) -> dict[str, Any]:
    """Replace each PII column's ``_enc``/``_hash`` pair by the value, or a mask."""
    cipher = None
    if reveal:
        from segmint.privacy import PiiCipher, load_master_key

        cipher = PiiCipher(load_master_key())
    out: dict[str, Any] = {}
    for key, value in profile.items():
        col = key.removesuffix("_enc")
        if key.endswith("_hash") and key.removesuffix("_hash") in cfg.pii:
            continue
        if key.endswith("_enc") and col in cfg.pii:
            if value is None:
                out[col] = None
            elif cipher is not None:
                out[col] = cipher.decrypt(value, col)
            else:
                out[col] = "(encrypted: --reveal to show)"
            continue
        out[key] = value
    return out


def _raise_not_found(
    wh: IbisWarehouse, cfg: ProjectConfig, identifier: str, candidates: list[str]
) -> None:
    """No person has the identifier: say whether it is one shared by too many accounts.

    A shared one is not quoted (it is mostly an e-mail or phone, PII).
    """
    if wh.has_table(T.SHARED_IDENTIFIERS):
        shared = wh.table(T.SHARED_IDENTIFIERS)
        rows = wh.to_arrow(shared.filter(shared[Col.IDENTIFIER].isin(candidates))).to_pylist()
        if rows:
            r = rows[0]
            raise NotFoundError(
                f"the {r[Col.IDENTIFIER_TYPE]} given is shared by {r[ACCOUNTS]} accounts "
                f"(more than identity.max_accounts_per_identifier="
                f"{cfg.identity.max_accounts_per_identifier}), so it is not linked to one "
                "customer; look the customer up by another identifier"
            )
    raise NotFoundError(f"no customer has the identifier {identifier!r}")


def customer_profile(
    cfg: ProjectConfig, identifier: str, *, reveal: bool = False
) -> dict[str, Any]:
    """The profile of the person any of whose identifiers equals ``identifier``.

    An e-mail or phone is looked up through its keyed hash, so it is never compared in clear.
    PII columns come back masked, or decrypted with ``reveal=True`` (which needs the key).
    """
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        if not wh.has_table(T.IDENTITIES):
            raise NotFoundError("no identities yet: run `segmint ingest` first")
        ids = wh.table(T.IDENTITIES)
        candidates = [identifier, identifier.strip(), *_lookup_hashes(cfg, identifier)]
        hit = wh.to_arrow(
            ids.filter(ids[Col.IDENTIFIER].isin(candidates) | (ids[Col.CUSTOMER_ID] == identifier))
            .select(Col.CUSTOMER_ID)
            .distinct()
        )[Col.CUSTOMER_ID].to_pylist()
        if not hit:
            _raise_not_found(wh, cfg, identifier, candidates)
        cid = hit[0]
        profile = wh.to_arrow(
            wh.table(T.CUSTOMERS).filter(ibis._[Col.CUSTOMER_ID] == cid)
        ).to_pylist()
        links = wh.to_arrow(
            ids.filter(ids[Col.CUSTOMER_ID] == cid).order_by(Col.IDENTIFIER_TYPE)
        ).to_pylist()
    out = _show_pii(profile[0], cfg, reveal) if profile else {Col.CUSTOMER_ID: cid}
    out["identifiers"] = [{k: v for k, v in link.items() if k != Col.CUSTOMER_ID} for link in links]
    return out
