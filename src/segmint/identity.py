"""Identity resolution: link every identifier seen together into one person.

Identifiers that appear on the same row (a CRM record's customer id, CRM id and hashed e-mail;
an event's anonymous id and the customer id it logged in as) are edges of a graph; each
connected component is one person (transitively: two accounts sharing an e-mail, one of which
browsed anonymously, are one person with three identifiers). Components are found with
:func:`scipy.sparse.csgraph.connected_components` over the distinct edges, which the warehouse
computes; rows themselves never leave the engine.

An identifier linked to more accounts than ``identity.max_accounts_per_identifier`` (a shop's
test address, a shared kiosk device) is not used to merge them, and is reported.

The canonical id of a person is, by ``identity.priority``, the smallest identifier of the
first type the component has: a ``customer_id`` stays as the shop wrote it; other types are
written ``type:value`` (``anonymous_id:abc``) so they cannot collide with customer ids.
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
from segmint.sql import ident, lit
from segmint.warehouse import IbisWarehouse

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


def _columns(wh: IbisWarehouse, table: str) -> list[tuple[str, str]]:
    """(identifier type, stored column) pairs the table has."""
    have = set(wh.table(table).columns)
    out = []
    for typ in _ID_SOURCES[table]:
        for col in (typ, f"{typ}_hash"):
            if col in have:
                out.append((typ, col))
                break
    return out


def _node_sql(wh: IbisWarehouse) -> tuple[str, str]:
    """SQL for (type, value, ts) of every identifier sighting, and for row-wise edges."""
    nodes, edges = [], []
    for table, ts in _TS.items():
        if not wh.has_table(table):
            continue
        cols = _columns(wh, table)
        tcol = ident(ts) if ts in wh.table(table).columns else "NULL"
        for typ, col in cols:
            nodes.append(
                f"SELECT {lit(typ)} AS t, {ident(col)} AS v, {tcol} AS ts FROM {ident(table)} "
                f"WHERE {ident(col)} IS NOT NULL"
            )
        # a star per row: every identifier linked to the row's first one
        for i, (typ_a, col_a) in enumerate(cols):
            for typ_b, col_b in cols[i + 1 :]:
                earlier = [f"{ident(c)} IS NULL" for _, c in cols[:i]]
                cond = " AND ".join(
                    [*earlier, f"{ident(col_a)} IS NOT NULL", f"{ident(col_b)} IS NOT NULL"]
                )
                edges.append(
                    f"SELECT DISTINCT {lit(typ_a)} AS ta, {ident(col_a)} AS va, {lit(typ_b)} "
                    f"AS tb, {ident(col_b)} AS vb FROM {ident(table)} WHERE {cond}"
                )
    node_sql = (
        f"SELECT t, v, min(ts) AS first_seen, max(ts) AS last_seen FROM "
        f"({' UNION ALL '.join(nodes)}) n GROUP BY t, v"
    )
    edge_sql = " UNION ".join(edges) if edges else ""
    return node_sql, edge_sql


def resolve_identities(wh: IbisWarehouse, cfg: IdentityConfig) -> IdentityResult:
    """Rebuild the ``identities`` table; see the module docstring for the rules."""
    result = IdentityResult()
    if not any(wh.has_table(t) for t in _ID_SOURCES):
        return result
    node_sql, edge_sql = _node_sql(wh)
    nodes = wh.to_arrow(wh.ibis.sql(node_sql))
    result.identifiers = nodes.num_rows
    keys = pc.binary_join_element_wise(nodes["t"], nodes["v"], "\x1f")
    index = {k: i for i, k in enumerate(keys.to_pylist())}
    src: list[int] = []
    dst: list[int] = []
    if edge_sql:
        edges = wh.to_arrow(wh.ibis.sql(edge_sql))
        edges = _drop_noisy(edges, cfg.max_accounts_per_identifier, result)
        a = pc.binary_join_element_wise(edges["ta"], edges["va"], "\x1f").to_pylist()
        b = pc.binary_join_element_wise(edges["tb"], edges["vb"], "\x1f").to_pylist()
        src = [index[k] for k in a]
        dst = [index[k] for k in b]
    result.edges = len(src)
    n = nodes.num_rows
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
    result.persons, labels = connected_components(graph, directed=False)
    canonical = _canonical_ids(nodes, labels, cfg.priority)
    table = pa.table(
        {
            Col.IDENTIFIER_TYPE: nodes["t"],
            Col.IDENTIFIER: nodes["v"],
            Col.CUSTOMER_ID: pa.array(canonical, pa.string()),
            Col.FIRST_SEEN: nodes["first_seen"],
            Col.LAST_SEEN: nodes["last_seen"],
        }
    )
    is_cust = np.asarray(pc.equal(nodes["t"], Col.CUSTOMER_ID).to_numpy(zero_copy_only=False))
    cust_labels = labels[is_cust]
    _, counts = np.unique(cust_labels, return_counts=True)
    result.merged_accounts = int(counts[counts > 1].sum())
    wh.import_arrow("_identities_in", table)
    _replace(wh, T.IDENTITIES, "_identities_in")
    return result


def _drop_noisy(edges: pa.Table, limit: int, result: IdentityResult) -> pa.Table:
    """Remove edges through identifiers linked to more than ``limit`` customer ids."""
    df = edges.to_pandas()
    both = [
        df[df.ta == Col.CUSTOMER_ID].rename(columns={"tb": "t", "vb": "v", "va": "c"}),
        df[df.tb == Col.CUSTOMER_ID].rename(columns={"ta": "t", "va": "v", "vb": "c"}),
    ]
    import pandas as pd

    links = pd.concat([b[["t", "v", "c"]] for b in both])
    fan = links.groupby(["t", "v"]).c.nunique()
    noisy = fan[fan > limit]
    if noisy.empty:
        return edges
    result.noisy = [
        {"identifier_type": t, "identifier": v, "accounts": int(k)} for (t, v), k in noisy.items()
    ]
    bad = set(noisy.index)
    keep = [
        (ta, va) not in bad and (tb, vb) not in bad
        for ta, va, tb, vb in zip(df.ta, df.va, df.tb, df.vb, strict=True)
    ]
    return edges.filter(pa.array(keep))


def _canonical_ids(nodes: pa.Table, labels: np.ndarray, priority: list[str]) -> list[str]:
    rank = {t: i for i, t in enumerate(priority)}
    types = nodes["t"].to_pylist()
    values = nodes["v"].to_pylist()
    best: dict[int, tuple[int, str, str]] = {}
    for lab, t, v in zip(labels.tolist(), types, values, strict=True):
        cand = (rank.get(t, len(rank)), v, t)
        if lab not in best or cand < best[lab]:
            best[lab] = cand
    out = []
    for lab in labels.tolist():
        _r, v, t = best[lab]
        out.append(v if t == Col.CUSTOMER_ID else f"{t}:{v}")
    return out


def _replace(wh: IbisWarehouse, name: str, temp: str) -> None:
    """Swap a table's content for a temp table's, in one transaction."""
    wh.execute("BEGIN")
    try:
        wh.execute(f"DROP TABLE IF EXISTS {ident(name)}")
        wh.execute(f"CREATE TABLE {ident(name)} AS SELECT * FROM {ident(temp)}")
        wh.execute("COMMIT")
    except Exception:
        wh.execute("ROLLBACK")
        raise
    wh.execute(f"DROP TABLE IF EXISTS {ident(temp)}")


def resolved(wh: IbisWarehouse, table: str) -> ir.Table:
    """``table`` with ``customer_id`` replaced by the person's canonical id (Ibis expression).

    The raw id the source gave stays in ``source_customer_id``. Events without a customer id
    are attributed through their anonymous or device id, so a visitor's browsing before they
    logged in counts toward their profile.
    """
    t = wh.table(table)
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
