"""Fee lines: order lines that are not products (postage, bank charges, manual adjustments).

A source's ``fees:`` (:class:`~segmint.config.FeesConfig`) says which lines they are; ingest
stores the answer in ``order_lines.is_fee``. Everything that reads order lines as products
reads them through :func:`product_lines` or :func:`is_fee`, so a fee line is never a product
(``products``), a ``purchase`` event of the rule language, an interaction, a recommendation
or its reason. Revenue counts fee lines unless the source says ``revenue: exclude``
(``segmint.ingest._derive`` builds ``orders.revenue`` so).

A warehouse written before ``is_fee`` existed has no such column, or NULL in the lines
loaded before: those lines are products.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

from segmint.schema import Col

if TYPE_CHECKING:  # the rule language imports this module: it stays free of pydantic
    from segmint.config import FeesConfig


def is_fee(lines: ir.Table) -> ir.BooleanValue:
    """Whether each order line is a fee line, as ingest marked it (False when unmarked).

    >>> import ibis
    >>> t = ibis.memtable({"product_id": ["POST", "85123A", "M"], "is_fee": [True, False, None]})
    >>> t.select(f=is_fee(t)).to_pyarrow()["f"].to_pylist()
    [True, False, False]
    """
    if Col.IS_FEE not in lines.columns:
        return ibis.literal(False)
    return lines[Col.IS_FEE].fill_null(False)


def product_lines(lines: ir.Table) -> ir.Table:
    """The order lines that are products: fee lines left out."""
    if Col.IS_FEE not in lines.columns:
        return lines
    return lines.filter(~is_fee(lines))


def fee_only_products(lines: ir.Table) -> ir.Table:
    """The product ids seen on fee lines and on no other line: no products (one column).

    An id on product lines too (a product line titled like a fee) stays a product.

    >>> import ibis
    >>> t = ibis.memtable({"product_id": ["POST", "POST", "p1", "p1"],
    ...                    "is_fee": [True, True, False, True]})
    >>> fee_only_products(t).to_pyarrow()["product_id"].to_pylist()
    ['POST']
    """
    fee = is_fee(lines)
    kinds = lines.group_by(Col.PRODUCT_ID).aggregate(
        _fee=lines.count(where=fee), _product=lines.count(where=~fee)
    )
    return kinds.filter((kinds._fee > 0) & (kinds._product == 0)).select(Col.PRODUCT_ID)


def fee_rule(lines: ir.Table, fees: FeesConfig) -> ir.BooleanValue:
    """Whether each line is a fee line by the rule ``fees`` (the rule ingest applies).

    >>> import ibis
    >>> from segmint.config import FeesConfig
    >>> t = ibis.memtable({"product_id": ["POST", "gift_10", "22423"],
    ...                    "title": ["POSTAGE", "Gift voucher", "Next Day Carriage"]})
    >>> rule = FeesConfig(product_ids=["POST"], product_id_pattern="^gift_",
    ...                   title_pattern="(?i)carriage$")
    >>> t.select(f=fee_rule(t, rule)).to_pyarrow()["f"].to_pylist()
    [True, True, True]
    """
    pid = lines[Col.PRODUCT_ID]
    cond: ir.BooleanValue = ibis.literal(False)
    if fees.product_ids:
        cond = cond | pid.isin(fees.product_ids)
    if fees.product_id_pattern:
        cond = cond | pid.re_search(fees.product_id_pattern)
    if fees.title_pattern and Col.TITLE in lines.columns:
        cond = cond | lines[Col.TITLE].re_search(fees.title_pattern)
    return cond.fill_null(False)
