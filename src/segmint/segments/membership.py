"""Segment membership with its history: who entered and left each segment, and when.

``segment_membership`` holds one row per stay of a customer in a segment: ``entered_at`` and,
once they leave, ``exited_at`` (both as-of times of the computations that saw the change). A
recomputation writes only the changes: customers who entered get a new open row, customers
who left get their open row closed; everyone else is untouched. ``segment_runs`` keeps one
row per segment and computation (size, entered, exited), so sizes over time are a plain
query. History is written forward: recomputing the latest as-of again replaces that
computation's changes; an as-of older than the latest is refused.

Works on every warehouse, through the statements of :class:`~segmint.warehouse.Warehouse`
(update, insert, delete) with Ibis predicates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from segmint.errors import ConfigError
from segmint.warehouse import Warehouse

MEMBERSHIP = "segment_membership"
RUNS = "segment_runs"
MEMBERSHIP_SCHEMA = {
    "customer_id": "VARCHAR",
    "segment": "VARCHAR",
    "kind": "VARCHAR",
    "score": "DOUBLE",
    "entered_at": "TIMESTAMP",
    "exited_at": "TIMESTAMP",
}
RUNS_SCHEMA = {
    "segment": "VARCHAR",
    "kind": "VARCHAR",
    "as_of": "TIMESTAMP",
    "members": "BIGINT",
    "entered": "BIGINT",
    "exited": "BIGINT",
    "computed_at": "TIMESTAMP",
}


@dataclass(frozen=True)
class MembershipChange:
    """What one computation of one segment changed."""

    segment: str
    kind: str
    as_of: datetime
    members: int
    entered: int
    exited: int


def _last_as_of(wh: Warehouse, segment: str) -> datetime | None:
    runs = wh.table(RUNS)
    v = runs.filter(runs.segment == segment).as_of.max().execute()
    if v is None or str(v) == "NaT":
        return None
    return v.to_pydatetime() if hasattr(v, "to_pydatetime") else v


def record_membership(
    wh: Warehouse, segment: str, kind: str, members: ir.Table, as_of: datetime
) -> MembershipChange:
    """Bring ``segment``'s membership up to date with ``members`` as of ``as_of``.

    Parameters
    ----------
    wh : the warehouse.
    segment : the segment's name.
    kind : ``rule``, ``rfm``, ``cluster`` or ``predictive``; kept with each row.
    members : an expression with ``customer_id`` (and optionally ``score``) of the customers
        in the segment as of ``as_of``, computed inside the warehouse.
    as_of : the computation's point in time.

    Raises
    ------
    ConfigError
        If ``as_of`` is older than the segment's latest computation.
    """
    as_of = as_of.replace(tzinfo=None, microsecond=0)
    wh.ensure_table(MEMBERSHIP, MEMBERSHIP_SCHEMA)
    wh.ensure_table(RUNS, RUNS_SCHEMA)
    last = _last_as_of(wh, segment)
    if last is not None and as_of < last:
        raise ConfigError(
            f"segment '{segment}' was last computed as of {last}; history is written forward, "
            f"so {as_of} cannot be added (recompute as of {last} or later)",
            [],
        )
    if last == as_of:  # the same computation again: undo its changes first
        with wh.transaction():
            wh.delete(MEMBERSHIP, {"segment": segment, "entered_at": as_of})
            wh.update(MEMBERSHIP, {"exited_at": None}, {"segment": segment, "exited_at": as_of})
            wh.delete(RUNS, {"segment": segment, "as_of": as_of})
    score = members.score.cast("float64") if "score" in members.columns else ibis.null("float64")
    cid = members.customer_id.cast("string")
    sel = members.select(customer_id=cid, score=score)
    new = sel.group_by("customer_id").aggregate(score=sel.score.max())
    temp = "_members_new"
    wh.write(temp, new)
    try:
        n, m = wh.table(temp), wh.table(MEMBERSHIP)
        # NOT EXISTS rather than NOT IN: a stay without a customer id is closed too
        gone = (
            (m.segment == segment) & m.exited_at.isnull() & ~(n.customer_id == m.customer_id).any()
        )
        exited = wh.update(MEMBERSHIP, {"exited_at": as_of}, gone)
        still_in = m.filter(m.segment == segment, m.exited_at.isnull())
        arrived = n.filter(~(still_in.customer_id == n.customer_id).any())
        entered = wh.insert(
            MEMBERSHIP,
            arrived.select(
                customer_id=arrived.customer_id,
                segment=ibis.literal(segment, type="string"),
                kind=ibis.literal(kind, type="string"),
                score=arrived.score,
                entered_at=ibis.literal(as_of, type="timestamp"),
                exited_at=ibis.null("timestamp"),
            ),
        )
        size = wh.count(temp)
    finally:
        wh.drop(temp)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    run = {
        "segment": pa.array([segment], pa.string()),
        "kind": pa.array([kind], pa.string()),
        "as_of": pa.array([as_of], pa.timestamp("us")),
        "members": pa.array([size], pa.int64()),
        "entered": pa.array([entered], pa.int64()),
        "exited": pa.array([exited], pa.int64()),
        "computed_at": pa.array([now], pa.timestamp("us")),
    }
    wh.insert(RUNS, pa.table(run))
    return MembershipChange(segment, kind, as_of, size, entered, exited)


def members_at(wh: Warehouse, segment: str, as_of: datetime | None = None) -> ir.Table:
    """The members of ``segment`` as of ``as_of`` (default: now, i.e. the open stays)."""
    m = wh.table(MEMBERSHIP)
    m = m.filter(m.segment == segment)
    if as_of is None:
        return m.filter(m.exited_at.isnull())
    t = ibis.timestamp(as_of.replace(tzinfo=None, microsecond=0))
    return m.filter(m.entered_at <= t, m.exited_at.isnull() | (m.exited_at > t))


def sizes_over_time(wh: Warehouse, segment: str | None = None) -> list[dict[str, Any]]:
    """Each computation of each segment: as-of, members, entered, exited (oldest first)."""
    if not wh.has_table(RUNS):
        return []
    r = wh.table(RUNS)
    if segment is not None:
        r = r.filter(r.segment == segment)
    return wh.to_arrow(r.order_by(["segment", "as_of"])).to_pylist()


def segment_names(wh: Warehouse) -> list[dict[str, Any]]:
    """Every segment computed so far with its kind, latest as-of and size."""
    if not wh.has_table(RUNS):
        return []
    r = wh.table(RUNS)
    latest = r.group_by("segment").aggregate(as_of=r.as_of.max())
    cur = r.inner_join(latest, ["segment", "as_of"]).select("segment", "kind", "as_of", "members")
    return wh.to_arrow(cur.order_by("segment")).to_pylist()
