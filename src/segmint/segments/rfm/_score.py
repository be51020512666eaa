"""RFM scores as one Ibis expression: ranks, thresholds and the grid, inside the engine.

Quantile scores come from ``RANK()`` over the scored customers of each as-of, in "worse to
better" order: a 0-based rank is the number of customers with a strictly worse value, so
equal values always get equal scores and no customer's score depends on row order. The
arithmetic is integer (``FLOOR`` of an exact quotient), so DuckDB and PostgreSQL agree.
"""

from __future__ import annotations

from functools import reduce

import ibis
import ibis.expr.types as ir

from segmint.config import RFMConfig, RFMDimension
from segmint.errors import InvalidArgument, SchemaError
from segmint.segments.rfm._grid import GRID, SEGMENTS
from segmint.segments.rfm._schema import INPUT, RC, SCHEMA

#: the 1..5 scale of the named grid
GRID_BINS = 5
_SCORED = "_rfm_scored"
_N = "_rfm_n"
#: dimension, feature column, score column, and whether a higher value is better
#: recency is scored in whole days (the days part of T - last order, as pandas' ``.dt.days``):
#: two customers who last bought on the same day are equally recent, whatever the hour
_WHOLE_DAYS = "_rfm_recency_whole_days"
_DIMENSIONS: tuple[tuple[RFMDimension, str, str, bool], ...] = (
    ("recency", _WHOLE_DAYS, RC.R_SCORE, False),
    ("frequency", RC.FREQUENCY, RC.F_SCORE, True),
    ("monetary", RC.MONETARY, RC.M_SCORE, True),
)


def rfm_scores(features: ir.Table, cfg: RFMConfig | None = None) -> ir.Table:
    """R, F and M scores, their combinations and the named segment of every customer.

    Customers with ``frequency > 0`` are scored; the others keep their row with null scores
    and a null segment. Each as-of of the input is ranked on its own.

    Parameters
    ----------
    features : ibis.Table
        Features of one as-of (``latest_features(wh, as_of)``), with at least
        ``customer_id``, ``as_of``, ``recency_days``, ``frequency`` and ``monetary``.
    cfg : RFMConfig, optional
        ``bins`` (scores run 1..bins) and fixed ``edges`` per dimension; default
        ``RFMConfig()``: quintiles.

    Returns
    -------
    ibis.Table
        An unexecuted expression, one row per input row: ``customer_id``, ``as_of``,
        ``recency_days``, ``frequency``, ``monetary``, ``r_score``, ``f_score``, ``m_score``,
        ``fm_score``, ``rfm_score``, ``rfm_segment``, ``grid_r``, ``grid_fm`` (the cell of the
        1..5 grid the segment is read from).

    Raises
    ------
    SchemaError
        If ``features`` lacks one of the columns above.

    Examples
    --------
    >>> import ibis
    >>> from datetime import datetime
    >>> f = ibis.memtable({
    ...     "customer_id": ["a", "b", "c", "d", "e", "f"],
    ...     "as_of": [datetime(2024, 1, 1)] * 6,
    ...     "recency_days": [3.0, 9.0, 40.0, 200.0, 400.0, None],
    ...     "frequency": [9, 1, 3, 3, 1, 0],
    ...     "monetary": [800.0, 20.0, 90.0, 150.0, 15.0, 0.0],
    ... })
    >>> out = ibis.duckdb.connect().to_pandas(rfm_scores(f).order_by("customer_id"))
    >>> print(out[["customer_id", "rfm_score", "rfm_segment"]].to_string(index=False))
    customer_id rfm_score        rfm_segment
              a       555          Champions
              b       412 Potential Loyalist
              c       333     Need Attention
              d       234            At Risk
              e       111               Lost
              f      None               None

    ``c`` and ``d`` placed 3 orders each: equal values, equal F score (3).
    """
    cfg = RFMConfig() if cfg is None else cfg
    if not isinstance(cfg, RFMConfig):
        raise InvalidArgument(f"cfg should be an RFMConfig, got {type(cfg).__name__}")
    missing = [c for c in INPUT if c not in features.columns]
    if missing:
        raise SchemaError(
            f"features lack {', '.join(missing)}: RFM needs {', '.join(INPUT)} "
            "(compute them with `segmint features`)"
        )
    f = features
    base = f.select(
        **{
            RC.CUSTOMER_ID: f[RC.CUSTOMER_ID].cast("string"),
            RC.AS_OF: f[RC.AS_OF],
            RC.RECENCY_DAYS: f[RC.RECENCY_DAYS].cast("float64"),
            RC.FREQUENCY: f[RC.FREQUENCY].cast("int64"),
            RC.MONETARY: f[RC.MONETARY].cast("float64"),
            _SCORED: (f[RC.FREQUENCY] > 0).fill_null(False),
            _WHOLE_DAYS: f[RC.RECENCY_DAYS].cast("float64").floor(),
        }
    )
    group = [base[RC.AS_OF], base[_SCORED]]
    counted = base.mutate(**{_N: base.count().over(ibis.window(group_by=group))})
    scores = {
        score: _null_unless_scored(
            counted, _score(counted, column, better_high, cfg.edges.get(dim), cfg.bins)
        )
        for dim, column, score, better_high in _DIMENSIONS
    }
    scored = counted.mutate(**scores)
    return _combine(scored, cfg.bins).select(*SCHEMA)


def _score(
    t: ir.Table, column: str, higher_is_better: bool, edges: list[float] | None, bins: int
) -> ir.IntegerValue:
    v = t[column]
    if edges is not None:
        # 1 + the thresholds the value reaches in the "better" direction
        reached = [(v >= e) if higher_is_better else (v <= e) for e in edges]
        # CASE, not CAST: PostgreSQL has no boolean -> bigint cast
        counts = [ibis.cases((b, 1), else_=0) for b in reached]
        return reduce(lambda acc, c: acc + c, counts, ibis.literal(1, "int64"))
    worst_first = v if higher_is_better else ibis.desc(v)
    window = ibis.window(group_by=[t[RC.AS_OF], t[_SCORED]], order_by=worst_first)
    worse = ibis.rank().over(window)  # 0-based min rank: how many are strictly worse
    return 1 + (bins * worse) // t[_N]


def _null_unless_scored(t: ir.Table, value: ir.IntegerValue) -> ir.IntegerValue:
    return ibis.cases((t[_SCORED], value.cast("int64")), else_=ibis.null("int64"))


def _to_grid(score: ir.IntegerValue, bins: int) -> ir.IntegerValue:
    """``ceil(5 * score / bins)``, in integers."""
    if bins == GRID_BINS:
        return score
    return (GRID_BINS * score + (bins - 1)) // bins


def _combine(t: ir.Table, bins: int) -> ir.Table:
    r, f, m = t[RC.R_SCORE], t[RC.F_SCORE], t[RC.M_SCORE]
    # digits run together while each score is one digit; "10-5-4" once one can be two
    parts = [r.cast("string"), f.cast("string"), m.cast("string")]
    if bins >= 10:
        parts = [parts[0], ibis.literal("-"), parts[1], ibis.literal("-"), parts[2]]
    text = parts[0].concat(*parts[1:])
    f5, m5 = _to_grid(f, bins), _to_grid(m, bins)
    t = t.mutate(
        **{
            RC.FM_SCORE: ((f + m + 1) // 2).cast("int64"),
            RC.RFM_SCORE: text,
            RC.GRID_R: _to_grid(r, bins).cast("int64"),
            RC.GRID_FM: ((f5 + m5 + 1) // 2).cast("int64"),
        }
    )
    return t.mutate(**{RC.RFM_SEGMENT: segment_expr(t[RC.GRID_R], t[RC.GRID_FM])})


def segment_expr(grid_r: ir.IntegerValue, grid_fm: ir.IntegerValue) -> ir.StringValue:
    """The named segment of a grid cell, as an SQL ``CASE`` read from :data:`GRID`."""
    cell = grid_r * 10 + grid_fm
    branches = [
        (cell.isin([r * 10 + fm for (r, fm), n in GRID.items() if n == name]), name)
        for name in SEGMENTS
    ]
    return ibis.cases(*branches, else_=ibis.null("string"))
