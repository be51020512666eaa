"""Segment membership with its history: who entered and left each segment, and when.

``segment_membership`` holds one row per stay of a customer in a segment: ``entered_at`` and,
once they leave, ``exited_at`` (both as-of times of the computations that saw the change). A
recomputation writes only the changes: customers who entered get a new open row, customers
who left get their open row closed; everyone else is untouched. ``segment_runs`` keeps one
row per segment and computation (size, entered, exited), so sizes over time are a plain
query. History is written forward: recomputing the latest as-of again replaces that
computation's changes; an as-of older than the latest is refused.

Works on every warehouse (plain SQL through :class:`~segmint.warehouse.IbisWarehouse`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from segmint.errors import ConfigError
from segmint.sql import ident, lit
from segmint.warehouse import IbisWarehouse

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


def _ts(value: datetime) -> str:
    return f"TIMESTAMP {lit(value.replace(tzinfo=None, microsecond=0).isoformat(sep=' '))}"


def _last_as_of(wh: IbisWarehouse, segment: str) -> datetime | None:
    runs = wh.table(RUNS)
    v = runs.filter(runs.segment == segment).as_of.max().execute()
    if v is None or str(v) == "NaT":
        return None
    return v.to_pydatetime() if hasattr(v, "to_pydatetime") else v


def record_membership(
    wh: IbisWarehouse, segment: str, kind: str, members: ir.Table, as_of: datetime
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
    seg, t = lit(segment), _ts(as_of)
    if last == as_of:  # the same computation again: undo its changes first
        wh.execute(f"DELETE FROM {MEMBERSHIP} WHERE segment = {seg} AND entered_at = {t}")
        wh.execute(
            f"UPDATE {MEMBERSHIP} SET exited_at = NULL WHERE segment = {seg} AND exited_at = {t}"
        )
        wh.execute(f"DELETE FROM {RUNS} WHERE segment = {seg} AND as_of = {t}")
    score = members.score.cast("float64") if "score" in members.columns else ibis.null("float64")
    cid = members.customer_id.cast("string")
    sel = members.select(customer_id=cid, score=score)
    new = sel.group_by("customer_id").aggregate(score=sel.score.max())
    temp = "_members_new"
    wh.write(temp, new)
    try:
        tmp = ident(temp)
        open_rows = f"segment = {seg} AND exited_at IS NULL"
        exited = wh.execute(
            f"UPDATE {MEMBERSHIP} SET exited_at = {t} WHERE {open_rows} AND NOT EXISTS "
            f"(SELECT 1 FROM {tmp} n WHERE n.customer_id = {MEMBERSHIP}.customer_id)"
        )
        entered = wh.execute(
            f"INSERT INTO {MEMBERSHIP} (customer_id, segment, kind, score, entered_at, exited_at) "
            f"SELECT n.customer_id, {seg}, {lit(kind)}, n.score, {t}, NULL FROM {tmp} n "
            f"WHERE NOT EXISTS (SELECT 1 FROM {MEMBERSHIP} m WHERE m.segment = {seg} "
            f"AND m.exited_at IS NULL AND m.customer_id = n.customer_id)"
        )
        size = wh.count(temp)
    finally:
        wh.drop(temp)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    wh.execute(
        f"INSERT INTO {RUNS} (segment, kind, as_of, members, entered, exited, computed_at) "
        f"VALUES ({seg}, {lit(kind)}, {t}, {size}, {entered}, {exited}, {_ts(now)})"
    )
    return MembershipChange(segment, kind, as_of, size, entered, exited)


def members_at(wh: IbisWarehouse, segment: str, as_of: datetime | None = None) -> ir.Table:
    """The members of ``segment`` as of ``as_of`` (default: now, i.e. the open stays)."""
    m = wh.table(MEMBERSHIP)
    m = m.filter(m.segment == segment)
    if as_of is None:
        return m.filter(m.exited_at.isnull())
    t = ibis.timestamp(as_of.replace(tzinfo=None, microsecond=0))
    return m.filter(m.entered_at <= t, m.exited_at.isnull() | (m.exited_at > t))


def sizes_over_time(wh: IbisWarehouse, segment: str | None = None) -> list[dict[str, Any]]:
    """Each computation of each segment: as-of, members, entered, exited (oldest first)."""
    if not wh.has_table(RUNS):
        return []
    r = wh.table(RUNS)
    if segment is not None:
        r = r.filter(r.segment == segment)
    return wh.to_arrow(r.order_by(["segment", "as_of"])).to_pylist()


def segment_names(wh: IbisWarehouse) -> list[dict[str, Any]]:
    """Every segment computed so far with its kind, latest as-of and size."""
    if not wh.has_table(RUNS):
        return []
    r = wh.table(RUNS)
    latest = r.group_by("segment").aggregate(as_of=r.as_of.max())
    cur = r.inner_join(latest, ["segment", "as_of"]).select("segment", "kind", "as_of", "members")
    return wh.to_arrow(cur.order_by("segment")).to_pylist()
