"""Storing RFM scores per as-of in the ``rfm`` table, and reading them back as summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from segmint.config import RFMConfig
from segmint.errors import NotFoundError
from segmint.features import FEATURES, latest_features
from segmint.segments.rfm._grid import GRID, SEGMENTS
from segmint.segments.rfm._schema import RC, RFM, SCHEMA
from segmint.segments.rfm._score import GRID_BINS, rfm_scores
from segmint.warehouse import Warehouse

_TEMP = "_rfm_new"


@dataclass
class RFMRun:
    """What one computation wrote: the as-of time, the scored customers, the summary."""

    as_of: datetime
    customers: int
    summary: list[dict[str, Any]] = field(default_factory=list)


def _naive(as_of: datetime) -> datetime:
    # the same normalisation as segmint.features, so the as-of looked up is the one stored
    return as_of.replace(tzinfo=None, microsecond=0)


def _cli_date(as_of: datetime) -> str:
    if as_of == datetime(as_of.year, as_of.month, as_of.day):
        return as_of.strftime("%Y-%m-%d")
    return f'"{as_of:%Y-%m-%d %H:%M:%S}"'


def _features_of(wh: Warehouse, as_of: datetime) -> ir.Table:
    hint = f"run `segmint features --as-of {_cli_date(as_of)}` first"
    if not wh.has_table(FEATURES):
        raise NotFoundError(f"no features computed yet: {hint}")
    features = latest_features(wh, as_of)
    if int(features.count().execute()) == 0:
        raise NotFoundError(f"no features as of {as_of}: {hint}")
    return features


def compute_rfm(wh: Warehouse, as_of: datetime, cfg: RFMConfig | None = None) -> RFMRun:
    """Score the customers of the features as of ``as_of`` and store them in ``rfm``.

    Rows of an earlier computation for the same as-of are replaced; other as-ofs are kept.
    Everything runs inside the warehouse (:func:`rfm_scores`, then
    :meth:`~segmint.warehouse.Warehouse.replace_rows`, one transaction).

    Parameters
    ----------
    wh : Warehouse
        The warehouse holding ``features``.
    as_of : datetime
        An as-of of ``features`` (seconds precision; a time zone is dropped, as the
        features do).
    cfg : RFMConfig, optional
        Bins and fixed edges (default ``RFMConfig()``).

    Returns
    -------
    RFMRun
        The as-of, the number of scored customers and :func:`rfm_summary` of the as-of.

    Raises
    ------
    NotFoundError
        If ``features`` has no rows as of ``as_of``.

    Examples
    --------
    >>> import ibis
    >>> from datetime import datetime
    >>> from segmint.warehouse import connect
    >>> wh = connect("duckdb://:memory:")
    >>> t = datetime(2024, 1, 1)
    >>> wh.write("features", ibis.memtable({
    ...     "customer_id": ["a", "b", "c"], "as_of": [t] * 3,
    ...     "recency_days": [2.0, 50.0, None], "frequency": [4, 1, 0],
    ...     "monetary": [300.0, 20.0, 0.0]}))
    >>> run = compute_rfm(wh, t)
    >>> run.customers, wh.count("rfm")
    (2, 3)
    >>> [(s["segment"], s["customers"]) for s in run.summary if s["customers"]]
    [('Need Attention', 1), ('Lost', 1)]
    >>> compute_rfm(wh, datetime(2024, 2, 1))  # doctest: +NORMALIZE_WHITESPACE
    Traceback (most recent call last):
    ...
    segmint.errors.NotFoundError: no features as of 2024-02-01 00:00:00:
    run `segmint features --as-of 2024-02-01` first
    """
    as_of = _naive(as_of)
    expr = rfm_scores(_features_of(wh, as_of), cfg)
    wh.write(_TEMP, expr)
    try:
        wh.ensure_table(RFM, SCHEMA)
        wh.replace_rows(RFM, wh.table(_TEMP).select(*SCHEMA), {RC.AS_OF: as_of})
    finally:
        wh.drop(_TEMP)
    summary = rfm_summary(wh, as_of)
    return RFMRun(as_of, sum(s["customers"] for s in summary), summary)


def _scored(wh: Warehouse, as_of: datetime | None) -> ir.Table:
    """The scored rows of one stored as-of (default: the latest)."""
    if not wh.has_table(RFM):
        raise NotFoundError("no RFM scores yet: compute them with compute_rfm(wh, as_of)")
    t = wh.table(RFM)
    if as_of is None:
        latest = t[RC.AS_OF].max().execute()
        if latest is None or str(latest) == "NaT":
            raise NotFoundError("the rfm table is empty: compute it with compute_rfm(wh, as_of)")
        t = t.filter(t[RC.AS_OF] == t[RC.AS_OF].max())
    else:
        as_of = _naive(as_of)
        t = t.filter(t[RC.AS_OF] == ibis.timestamp(as_of))
        if int(t.count().execute()) == 0:
            raise NotFoundError(f"no RFM scores as of {as_of}: compute them with compute_rfm")
    return t.filter(t[RC.RFM_SEGMENT].notnull())


def rfm_summary(wh: Warehouse, as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Size, means and revenue of each named segment, computed inside the warehouse.

    Parameters
    ----------
    wh : Warehouse
        The warehouse holding ``rfm``.
    as_of : datetime, optional
        A stored as-of (default: the latest).

    Returns
    -------
    list of dict
        One dict per segment, in :data:`SEGMENTS` order and empty ones included:
        ``segment``, ``customers``, ``share`` (of the scored customers),
        ``mean_recency_days``, ``mean_frequency``, ``mean_monetary`` (None when empty),
        ``total_monetary`` and ``revenue_share`` (of the scored customers' total monetary;
        None when that total is 0).

    Raises
    ------
    NotFoundError
        If nothing is stored for ``as_of``.

    Examples
    --------
    >>> import ibis
    >>> from datetime import datetime
    >>> from segmint.warehouse import connect
    >>> wh = connect("duckdb://:memory:")
    >>> t = datetime(2024, 1, 1)
    >>> wh.write("features", ibis.memtable({
    ...     "customer_id": ["a", "b", "c", "d", "e"], "as_of": [t] * 5,
    ...     "recency_days": [2.0, 5.0, 20.0, 60.0, 300.0], "frequency": [8, 5, 3, 2, 1],
    ...     "monetary": [900.0, 400.0, 150.0, 50.0, 0.0]}))
    >>> _ = compute_rfm(wh, t)
    >>> [(s["segment"], s["customers"], round(s["revenue_share"], 3))
    ...  for s in rfm_summary(wh) if s["customers"]]  # doctest: +NORMALIZE_WHITESPACE
    [('Champions', 1, 0.6), ('Loyal', 1, 0.267), ('Need Attention', 1, 0.1),
     ('Hibernating', 1, 0.033), ('Lost', 1, 0.0)]
    """
    t = _scored(wh, as_of)
    g = t.group_by(seg=t[RC.RFM_SEGMENT]).aggregate(
        customers=t.count(),
        mean_recency_days=t[RC.RECENCY_DAYS].mean(),
        mean_frequency=t[RC.FREQUENCY].cast("float64").mean(),
        mean_monetary=t[RC.MONETARY].mean(),
        total_monetary=t[RC.MONETARY].sum(),
    )
    everyone = ibis.window()
    g = g.mutate(
        share=g.customers.cast("float64") / g.customers.sum().over(everyone),
        revenue_share=g.total_monetary / g.total_monetary.sum().over(everyone).nullif(0.0),
    )
    got = {r.pop("seg"): r for r in wh.to_arrow(g).to_pylist()}
    revenue = sum(r["total_monetary"] or 0.0 for r in got.values())
    out = []
    for name in SEGMENTS:
        r = got.get(name)
        if r is None:
            out.append(_empty(name, revenue))
            continue
        out.append(
            {
                "segment": name,
                "customers": int(r["customers"]),
                "share": float(r["share"]),
                "mean_recency_days": _float(r["mean_recency_days"]),
                "mean_frequency": _float(r["mean_frequency"]),
                "mean_monetary": _float(r["mean_monetary"]),
                "total_monetary": float(r["total_monetary"] or 0.0),
                "revenue_share": _float(r["revenue_share"]),
            }
        )
    return out


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


def _empty(name: str, revenue: float) -> dict[str, Any]:
    return {
        "segment": name,
        "customers": 0,
        "share": 0.0,
        "mean_recency_days": None,
        "mean_frequency": None,
        "mean_monetary": None,
        "total_monetary": 0.0,
        "revenue_share": 0.0 if revenue else None,
    }


def rfm_grid(wh: Warehouse, as_of: datetime | None = None) -> list[dict[str, Any]]:
    """Scored customers in each cell of the R x FM grid (1..5 scale), counted in the engine.

    Parameters
    ----------
    wh : Warehouse
        The warehouse holding ``rfm``.
    as_of : datetime, optional
        A stored as-of (default: the latest).

    Returns
    -------
    list of dict
        The 25 cells, ``r`` from 5 down to 1 and ``fm`` from 1 to 5: ``r``, ``fm``,
        ``customers`` (0 for an empty cell) and ``segment`` (from :data:`GRID`).

    Examples
    --------
    >>> import ibis
    >>> from datetime import datetime
    >>> from segmint.warehouse import connect
    >>> wh = connect("duckdb://:memory:")
    >>> t = datetime(2024, 1, 1)
    >>> wh.write("features", ibis.memtable({
    ...     "customer_id": ["a", "b"], "as_of": [t] * 2,
    ...     "recency_days": [2.0, 50.0], "frequency": [4, 1], "monetary": [300.0, 20.0]}))
    >>> _ = compute_rfm(wh, t)
    >>> [c for c in rfm_grid(wh) if c["customers"]]  # doctest: +NORMALIZE_WHITESPACE
    [{'r': 3, 'fm': 3, 'customers': 1, 'segment': 'Need Attention'},
     {'r': 1, 'fm': 1, 'customers': 1, 'segment': 'Lost'}]
    """
    t = _scored(wh, as_of)
    g = t.group_by(r=t[RC.GRID_R], fm=t[RC.GRID_FM]).aggregate(customers=t.count())
    counts = {(int(c["r"]), int(c["fm"])): int(c["customers"]) for c in wh.to_arrow(g).to_pylist()}
    return [
        {"r": r, "fm": fm, "customers": counts.get((r, fm), 0), "segment": GRID[r, fm]}
        for r in range(GRID_BINS, 0, -1)
        for fm in range(1, GRID_BINS + 1)
    ]
