"""Fee lines at ingest: keep ``order_lines.is_fee`` equal to each source's ``fees:`` rule.

New lines are marked as they are staged (``segmint.ingest._plan``). A rule changed after its
files were loaded would leave the stored lines marked by the old one, and a re-run skips
those files; so after every run each source's stored lines are checked against its current
rule (:func:`segmint.fees.fee_rule`, in the warehouse's own engine) and only the lines whose
mark differs are updated. The counts go to the ingest report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ibis

from segmint.config import ProjectConfig
from segmint.fees import fee_rule
from segmint.schema import Col, T
from segmint.sql import ident
from segmint.warehouse import IbisWarehouse

TOP_CODES = 10


@dataclass
class FeeLines:
    """One source's fee lines after a run."""

    lines: int = 0  # stored lines marked as fee lines
    codes: int = 0  # distinct product ids among them
    remarked: int = 0  # stored lines whose mark this run changed (the rule changed)
    revenue: str = "include"
    top: list[dict[str, object]] = field(default_factory=list)  # product_id, title, lines


def mark_fee_lines(wh: IbisWarehouse, cfg: ProjectConfig) -> dict[str, FeeLines]:
    """Re-mark each ``order_lines`` source's stored lines by its rule; count its fee lines."""
    from segmint.ingest._stage import stored_schema

    sources = [s for s in cfg.sources if s.table == "order_lines"]
    if not sources or not wh.has_table(T.ORDER_LINES):
        return {}
    # a warehouse loaded before is_fee existed gets the column (its lines are products)
    wh.ensure_table(T.ORDER_LINES, stored_schema(cfg, "order_lines"))
    out: dict[str, FeeLines] = {}
    for src in sources:
        lines = wh.table(T.ORDER_LINES)
        lines = lines.filter(lines[Col.SOURCE] == src.name)
        rule = fee_rule(lines, src.fees)
        marked = lines[Col.IS_FEE].fill_null(False)
        row = wh.to_arrow(
            lines.aggregate(
                to_fee=lines.count(where=rule & ~marked),
                to_product=lines.count(where=~rule & marked),
            )
        ).to_pylist()[0]
        remarked = 0
        for value, cond, n in (
            (True, rule & ~marked, row["to_fee"]),
            (False, ~rule & marked, row["to_product"]),
        ):
            if n:
                keys = wh.ibis.compile(lines.filter(cond).select(Col.ROW_KEY))
                remarked += wh.execute(
                    f"UPDATE {ident(T.ORDER_LINES)} SET {ident(Col.IS_FEE)} = "
                    f"{'TRUE' if value else 'FALSE'} WHERE {ident(Col.ROW_KEY)} IN ({keys})"
                )
        out[src.name] = _count(wh, src.name, remarked, src.fees.revenue)
    return out


def _count(wh: IbisWarehouse, source: str, remarked: int, revenue: str) -> FeeLines:
    lines = wh.table(T.ORDER_LINES)
    fees = lines.filter(lines[Col.SOURCE] == source, lines[Col.IS_FEE].fill_null(False))
    title = fees[Col.TITLE].mode() if Col.TITLE in fees.columns else ibis.null("string")
    by_code = (
        fees.group_by(Col.PRODUCT_ID)
        .aggregate(title=title, lines=fees.count())
        .order_by(ibis.desc("lines"), Col.PRODUCT_ID)
    )
    top = wh.to_arrow(by_code.limit(TOP_CODES)).to_pylist()
    totals = wh.to_arrow(
        fees.aggregate(lines=fees.count(), codes=fees[Col.PRODUCT_ID].nunique())
    ).to_pylist()[0]
    return FeeLines(
        lines=int(totals["lines"] or 0),
        codes=int(totals["codes"] or 0),
        remarked=remarked,
        revenue=revenue,
        top=top,
    )
