"""Identity resolution: link every identifier seen together into one person.

Identifiers that appear on the same row (a CRM record's customer id, CRM id and hashed e-mail;
an event's anonymous id and the customer id it logged in as) are edges of a graph; each
connected component is one person (transitively: two accounts sharing an e-mail, one of which
browsed anonymously, are one person with three identifiers). Components are found with
:func:`scipy.sparse.csgraph.connected_components` over the distinct edges, which the warehouse
computes; rows themselves never leave the engine.

An identifier linked to more accounts than ``identity.max_accounts_per_identifier`` (a shop's
test address, a shared kiosk device) is not used to merge them, and is reported. It is no
person either: it is left out of ``identities`` (a row only it identifies belongs to nobody)
and kept, with its number of accounts, in ``shared_identifiers`` so a look-up can say why.

The canonical id of a person is, by ``identity.priority``, the smallest identifier of the
first type the component has: a ``customer_id`` stays as the shop wrote it; other types are
written ``type:value`` (``anonymous_id:abc``) so they cannot collide with customer ids.

Each row of ``events``, ``order_lines`` and ``customer_records`` keeps its person's canonical
id in :data:`RESOLVED_ID`, so features and rules group by a column instead of joining every
event to ``identities`` three times per pass. A resolution writes it only where it changes:
on rows that have none yet (new rows) and on rows whose identifier moved to another person
(an anonymous visitor who logged in as a customer).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from segmint.config import IdentityConfig
from segmint.schema import Col, T
from segmint.warehouse import Warehouse

#: per input table: the identifier columns a row may carry (the hashed form for PII)
_ID_SOURCES: dict[str, tuple[str, ...]] = {
    T.CUSTOMER_RECORDS: (
        Col.CUSTOMER_ID,
        Col.CRM_ID,
        Col.PERSON_ID,
        Col.ANONYMOUS_ID,
        Col.DEVICE_ID,
        Col.EMAIL,
        Col.PHONE,
    ),
    T.EVENTS: (Col.CUSTOMER_ID, Col.ANONYMOUS_ID, Col.DEVICE_ID),
    T.ORDER_RECORDS: (Col.CUSTOMER_ID,),
    T.ORDER_LINES: (Col.CUSTOMER_ID,),
}
#: the canonical customer id of a row, kept by :func:`resolve_identities`; code that changes a
#: row's identifiers must set it to NULL (the next resolution fills it again)
RESOLVED_ID = "_resolved_id"
#: the tables :func:`resolved` reads, whose rows keep :data:`RESOLVED_ID`
STAMPED = (T.EVENTS, T.ORDER_LINES, T.CUSTOMER_RECORDS)
#: ``shared_identifiers``: how many accounts an identifier not used for linking is linked to
ACCOUNTS = "accounts"
#: the identifiers a row is resolved by, the first present one winning
_ROW_KEYS = (Col.CUSTOMER_ID, Col.ANONYMOUS_ID, Col.DEVICE_ID)
_TS = {
    T.CUSTOMER_RECORDS: Col.SIGNUP_AT,
    T.EVENTS: Col.TS,
    T.ORDER_RECORDS: Col.TS,
    T.ORDER_LINES: Col.TS,
}


@dataclass
class IdentityResult:
    """Counts from one resolution: ``persons`` is the number of distinct customers."""

    identifiers: int = 0
    edges: int = 0
    persons: int = 0
    merged_accounts: int = 0  # customer ids that share a person with another customer id
    noisy: list[dict[str, object]] = field(default_factory=list)


def _columns(wh: Warehouse, table: str) -> list[tuple[str, str]]:
    """(identifier type, stored column) pairs the table has."""
    have = set(wh.table(table).columns)
    out = []
    for typ in _ID_SOURCES[table]:
        for col in (typ, f"{typ}_hash"):
            if col in have:
                out.append((typ, col))
                break
    return out


def _sightings(wh: Warehouse) -> tuple[ir.Table | None, ir.Table | None]:
    """(type, value, ts) of every identifier sighting, and the row-wise edges (ta, va, tb,
    vb) between the identifiers of a row, as expressions (None when there are none)."""
    nodes: list[ir.Table] = []
    edges: list[ir.Table] = []
    for table, ts in _TS.items():
        if not wh.has_table(table):
            continue
        t = wh.table(table)
        cols = _columns(wh, table)
        seen = t[ts].cast("timestamp") if ts in t.columns else ibis.null("timestamp")
        for typ, col in cols:
            nodes.append(
                t.filter(t[col].notnull()).select(
                    t=ibis.literal(typ, type="string"), v=t[col].cast("string"), ts=seen
                )
            )
        # a star per row: every identifier linked to the row's first one
        for i, (typ_a, col_a) in enumerate(cols):
            for typ_b, col_b in cols[i + 1 :]:
                earlier = [t[c].isnull() for _, c in cols[:i]]
                edges.append(
                    t.filter(*earlier, t[col_a].notnull(), t[col_b].notnull())
                    .select(
                        ta=ibis.literal(typ_a, type="string"),
                        va=t[col_a].cast("string"),
                        tb=ibis.literal(typ_b, type="string"),
                        vb=t[col_b].cast("string"),
                    )
                    .distinct()
                )
    if not nodes:
        return None, None
    n = ibis.union(*nodes) if len(nodes) > 1 else nodes[0]
    grouped = n.group_by("t", "v").aggregate(first_seen=n.ts.min(), last_seen=n.ts.max())
    edge = (ibis.union(*edges, distinct=True) if len(edges) > 1 else edges[0]) if edges else None
    return grouped, edge


def resolve_identities(wh: Warehouse, cfg: IdentityConfig) -> IdentityResult:
    """Rebuild the ``identities`` table; see the module docstring for the rules.

    The warehouse numbers the identifiers and hands over the edges as pairs of numbers, so
    the graph is built from integer arrays (no identifier becomes a Python object).
    """
    result = IdentityResult()
    if not any(wh.has_table(t) for t in _ID_SOURCES):
        return result
    sightings, edges = _sightings(wh)
    if sightings is None:
        return result
    wh.write("_id_nodes", sightings.select(*sightings.columns, i=ibis.row_number()), temp=True)
    try:
        numbered = wh.table("_id_nodes")
        nodes = wh.to_arrow(numbered.select("i", "t", "v", "first_seen", "last_seen"))
        # in number order (cheaper here than an ORDER BY of 4.6M rows in the engine)
        where = np.empty(nodes.num_rows, dtype=np.int64)
        where[nodes["i"].to_numpy()] = np.arange(nodes.num_rows)
        nodes = nodes.drop_columns(["i"]).take(pa.array(where))
        src = dst = np.zeros(0, dtype=np.int64)
        if edges is not None:
            a = numbered.select(ai="i", at="t", av="v")
            b = numbered.select(bi="i", bt="t", bv="v")
            pairs = wh.to_arrow(
                edges.join(a, [edges.ta == a["at"], edges.va == a.av])
                .join(b, [edges.tb == b.bt, edges.vb == b.bv])
                .select(src="ai", dst="bi")
            )
            src = pairs["src"].to_numpy().astype(np.int64)
            dst = pairs["dst"].to_numpy().astype(np.int64)
    finally:
        wh.drop("_id_nodes")
    result.identifiers = n = nodes.num_rows
    is_cust = np.asarray(pc.equal(nodes["t"], Col.CUSTOMER_ID).to_numpy(zero_copy_only=False))
    src, dst, bad = _drop_noisy(nodes, is_cust, src, dst, cfg.max_accounts_per_identifier, result)
    result.edges = len(src)
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
    persons, labels = connected_components(graph, directed=False)
    # a shared identifier has no edge left, so it is a component of its own: no person
    result.persons = persons - len(bad)
    keep = np.ones(n, dtype=bool)
    keep[bad] = False
    table = pa.table(
        {
            Col.IDENTIFIER_TYPE: nodes["t"],
            Col.IDENTIFIER: nodes["v"],
            Col.CUSTOMER_ID: _canonical_ids(nodes, labels, cfg.priority),
            Col.FIRST_SEEN: nodes["first_seen"],
            Col.LAST_SEEN: nodes["last_seen"],
        }
    ).filter(pa.array(keep))
    _, counts = np.unique(labels[is_cust], return_counts=True)
    result.merged_accounts = int(counts[counts > 1].sum())
    # rows first: should this stop half-way, the old identities still tell what changed
    _stamp_rows(wh, table)
    wh.replace_table(T.IDENTITIES, table)
    _write_shared(wh, result.noisy)
    return result


def _write_shared(wh: Warehouse, noisy: list[dict[str, object]]) -> None:
    """Replace ``shared_identifiers`` with this resolution's over-shared identifiers."""
    shared = pa.table(
        {
            Col.IDENTIFIER_TYPE: pa.array([r["identifier_type"] for r in noisy], pa.string()),
            Col.IDENTIFIER: pa.array([r["identifier"] for r in noisy], pa.string()),
            ACCOUNTS: pa.array([r["accounts"] for r in noisy], pa.int64()),
        }
    )
    wh.replace_table(T.SHARED_IDENTIFIERS, shared)


def _drop_noisy(
    nodes: pa.Table,
    is_cust: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    limit: int,
    result: IdentityResult,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Remove edges through identifiers linked to more than ``limit`` customer ids.

    Returns the edges left and the numbers of the identifiers removed.
    """
    n = nodes.num_rows
    # (identifier, customer id) links: each edge with a customer id at one end
    a_cust, b_cust = is_cust[src], is_cust[dst]
    node = np.concatenate([dst[a_cust], src[b_cust]])
    cust = np.concatenate([src[a_cust], dst[b_cust]])
    links = np.sort(node * n + cust)
    links = links[np.r_[True, links[1:] != links[:-1]]] if len(links) else links  # distinct
    fan = np.bincount(links // n if n else links, minlength=n)
    bad = np.flatnonzero(fan > limit)
    if not len(bad):
        return src, dst, bad
    noisy = [
        {"identifier_type": t, "identifier": v, "accounts": int(k)}
        for t, v, k in zip(
            nodes["t"].take(bad).to_pylist(),
            nodes["v"].take(bad).to_pylist(),
            fan[bad].tolist(),
            strict=True,
        )
    ]
    result.noisy = sorted(noisy, key=lambda r: (r["identifier_type"], r["identifier"]))
    keep = ~(np.isin(src, bad) | np.isin(dst, bad))
    return src[keep], dst[keep], bad


def _canonical_ids(nodes: pa.Table, labels: np.ndarray, priority: list[str]) -> pa.Array:
    """Per node, its component's id: the least (priority rank, value, type) of its nodes."""
    types, values = nodes["t"], nodes["v"]
    rank = pc.fill_null(
        pc.index_in(types, value_set=pa.array(priority, pa.string())), len(priority)
    )
    order = pc.sort_indices(
        pa.table({"l": labels, "r": rank, "v": values, "t": types}),
        sort_keys=[("l", "ascending"), ("r", "ascending"), ("v", "ascending"), ("t", "ascending")],
    ).to_numpy()
    _, first = np.unique(labels[order], return_index=True)  # labels are 0..persons-1
    best = order[first]
    own = pc.if_else(
        pc.equal(types, Col.CUSTOMER_ID),
        values,
        pc.binary_join_element_wise(types, values, ":"),
    )
    return own.take(pa.array(best[labels]))


def _row_keys(wh: Warehouse, table: str) -> list[str]:
    have = set(wh.table(table).columns)
    return [c for c in _ROW_KEYS if c in have] if Col.CUSTOMER_ID in have else []


def _stamp_rows(wh: Warehouse, identities: pa.Table) -> None:
    """Bring :data:`RESOLVED_ID` up to date on every stamped table, given the new identities.

    A row's canonical id is that of its first identifier present, in :data:`_ROW_KEYS` order
    (every identifier of a row is in ``identities``, as a node of the graph, unless it is
    shared by too many accounts: a row only such an identifier names keeps no id).
    """
    tables = [t for t in STAMPED if wh.has_table(t) and _row_keys(wh, t)]
    if not tables:
        return
    types = pa.array(sorted({k for t in tables for k in _row_keys(wh, t)}), pa.string())
    keep = pc.is_in(identities[Col.IDENTIFIER_TYPE], value_set=types)
    cols = [Col.IDENTIFIER_TYPE, Col.IDENTIFIER, Col.CUSTOMER_ID]
    wh.import_arrow("_id_map", identities.filter(keep).select(cols))
    changes = None
    if wh.has_table(T.IDENTITIES):
        changes = "_id_changes"
        n, o = wh.table("_id_map"), wh.table(T.IDENTITIES)
        moved = n.left_join(
            o,
            [
                o[Col.IDENTIFIER_TYPE] == n[Col.IDENTIFIER_TYPE],
                o[Col.IDENTIFIER] == n[Col.IDENTIFIER],
            ],
        )
        moved = moved.filter(
            ~moved[f"{Col.CUSTOMER_ID}_right"].identical_to(moved[Col.CUSTOMER_ID])
        ).select(*cols)
        wh.write(changes, moved, temp=True)
    try:
        for table in tables:
            wh.ensure_table(table, {RESOLVED_ID: "VARCHAR"})
            _stamp_table(wh, table, _row_keys(wh, table), changes)
    finally:
        wh.drop("_id_map")
        if changes:
            wh.drop(changes)


def _stamp_table(wh: Warehouse, table: str, keys: list[str], changes: str | None) -> None:
    """Set :data:`RESOLVED_ID` on the rows of ``table`` whose identifier maps elsewhere."""
    t = wh.table(table)
    kind = ibis.cases(*((t[k].notnull(), k) for k in keys)) if len(keys) > 1 else None
    match: dict[str, ir.Value] = {
        Col.IDENTIFIER_TYPE: kind if kind is not None else ibis.literal(keys[0], type="string"),
        Col.IDENTIFIER: ibis.coalesce(*(t[k] for k in keys)) if len(keys) > 1 else t[keys[0]],
    }
    # new rows against every identifier; stamped rows only against the identifiers that moved
    passes = [("_id_map", t[RESOLVED_ID].isnull())]
    if changes:
        passes.append((changes, t[RESOLVED_ID].notnull()))
    for source, which in passes:
        wh.update_from(table, wh.table(source), {RESOLVED_ID: Col.CUSTOMER_ID}, match, which)


def resolved(wh: Warehouse, table: str) -> ir.Table:
    """``table`` with ``customer_id`` replaced by the person's canonical id (Ibis expression).

    The raw id the source gave stays in ``source_customer_id``. Events without a customer id
    are attributed through their anonymous or device id, so a visitor's browsing before they
    logged in counts toward their profile.

    The canonical id is the row's :data:`RESOLVED_ID` when every row that has an identifier
    holds one (as :func:`resolve_identities` leaves them); otherwise it is looked up in
    ``identities``, as for tables written before segmint kept it.
    """
    t = wh.table(table)
    if RESOLVED_ID in t.columns:
        if _all_stamped(wh, t):
            out = t.rename(source_customer_id=Col.CUSTOMER_ID)
            return out.mutate(customer_id=out[RESOLVED_ID]).drop(RESOLVED_ID)
        t = t.drop(RESOLVED_ID)
    return _joined(wh, t)


def _all_stamped(wh: Warehouse, t: ir.Table) -> bool:
    keys = [c for c in _ROW_KEYS if c in t.columns]
    has_id = ibis.or_(*[t[c].notnull() for c in keys])
    missing = t.filter(t[RESOLVED_ID].isnull() & has_id).select(keys[0]).limit(1)
    return wh.to_arrow(missing).num_rows == 0


def _joined(wh: Warehouse, t: ir.Table) -> ir.Table:
    ids = wh.table(T.IDENTITIES)
    t = t.rename(source_customer_id=Col.CUSTOMER_ID)
    out = t
    order = [
        c
        for c in (Col.CUSTOMER_ID, Col.ANONYMOUS_ID, Col.DEVICE_ID)
        if (c == Col.CUSTOMER_ID and "source_customer_id" in t.columns) or c in t.columns
    ]
    joined_cols = []
    for i, typ in enumerate(order):
        col = "source_customer_id" if typ == Col.CUSTOMER_ID else typ
        m = ids.filter(ids[Col.IDENTIFIER_TYPE] == typ).select(
            **{f"_k{i}": ids[Col.IDENTIFIER], f"_c{i}": ids[Col.CUSTOMER_ID]}
        )
        out = out.left_join(m, out[col] == m[f"_k{i}"])
        joined_cols.append(f"_c{i}")
    cid = (
        ibis.coalesce(*[out[c] for c in joined_cols])
        if len(joined_cols) > 1
        else out[joined_cols[0]]
    )
    drop = [c for c in out.columns if c.startswith(("_k", "_c")) and c[2:].isdigit()]
    return out.mutate(customer_id=cid).drop(*drop)
