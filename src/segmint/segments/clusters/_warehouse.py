"""Cluster assignment inside the warehouse: the model's arithmetic as Ibis expressions.

The coordinates (:meth:`Preprocessor.expr`), each prototype's score and the argmax are plain
SQL arithmetic (``LN``, ``GREATEST``, ``CASE``), so DuckDB or PostgreSQL label every customer
without a row leaving the engine. The expressions repeat the NumPy computation of
:meth:`SegmentClusterer.predict` operation for operation and in the same order, so both give
the same labels (up to the last bit of ``LN``, which only a near-exact tie could expose).
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

from segmint.segments.clusters._data import check_fitted, literal
from segmint.segments.clusters._prototypes import Prototypes

_TMP = "__segmint_cluster_"


def assign_expr(model: Any, table: ir.Table) -> ir.IntegerValue:
    """The cluster id of each row of ``table``, as one Ibis expression.

    Parameters
    ----------
    model : SegmentClusterer
        A fitted model.
    table : ibis.Table
        A warehouse table (or expression) with the model's feature columns.

    Returns
    -------
    ibis.expr.types.IntegerValue
        int64 cluster ids (``-1``: unclustered), equal to ``model.predict`` on the same rows.
        Usable in ``table.mutate``, ``select``, ``filter`` or ``group_by``; for whole tables
        :func:`assign` writes shorter SQL.

    Examples
    --------
    >>> import ibis, pandas as pd
    >>> from segmint.segments.clusters import SegmentClusterer
    >>> X = pd.DataFrame({"orders": [1, 2, 1, 2, 30, 28, 31]})
    >>> model = SegmentClusterer(k=2, random_state=0).fit(X)
    >>> t = ibis.memtable(X)
    >>> con = ibis.duckdb.connect()
    >>> con.to_pandas(t.mutate(cluster=assign_expr(model, t))).cluster.tolist()
    [0, 0, 0, 0, 1, 1, 1]
    """
    check_fitted(model, "prototypes_")
    protos: Prototypes = model.prototypes_
    z = list(model.preprocessor_.expr(table).values())
    sq = _dot(z, None) if protos.radius is not None else None
    return _label(protos, _scores(protos, z), sq)


def assign(model: Any, table: ir.Table, *, column: str = "cluster") -> ir.Table:
    """``table`` with a ``column`` of cluster ids, computed inside the warehouse.

    The coordinates and the scores are computed once each, as intermediate columns, which
    engines that keep nested projections apart (DuckDB) evaluate once per row; the result has
    the columns of ``table`` plus ``column`` (replaced when it exists).

    Parameters
    ----------
    model : SegmentClusterer
        A fitted model.
    table : ibis.Table
        Rows to label, with the model's feature columns.
    column : str, default 'cluster'
        Name of the id column.

    Returns
    -------
    ibis.Table
        An unexecuted expression: write it with ``warehouse.write(name, expr)``.
    """
    check_fitted(model, "prototypes_")
    protos: Prototypes = model.prototypes_
    coords = model.preprocessor_.expr(table)
    znames = [f"{_TMP}z{i}" for i in range(len(coords))]
    t1 = table.mutate(**dict(zip(znames, coords.values(), strict=True)), **_fence("z"))
    z = [t1[n] for n in znames]
    scores = _scores(protos, z)
    snames = [f"{_TMP}s{j}" for j in range(len(scores))]
    extra = {f"{_TMP}sq": _dot(z, None)} if protos.radius is not None else {}
    t2 = t1.mutate(**dict(zip(snames, scores, strict=True)), **extra, **_fence("s"))
    sq = t2[f"{_TMP}sq"] if extra else None
    labels = _label(protos, [t2[n] for n in snames], sq)
    return t2.mutate(**{column: labels}).drop(*znames, *snames, *extra, *_fence("z"), *_fence("s"))


def _fence(stage: str) -> dict[str, ir.Value]:
    """A volatile column that keeps a stage a subquery of its own.

    PostgreSQL inlines a simple subquery's expressions wherever the outer query names them and
    has no common-subexpression elimination, so every score would be recomputed at each of
    the P log P places the argmax names it (and its JIT compiler can stall for minutes on the
    resulting expression). It never inlines a subquery whose select list calls a volatile
    function; ``random()`` costs next to nothing, and DuckDB keeps stages apart anyway.
    """
    return {f"{_TMP}fence_{stage}": ibis.random()}


def _scores(protos: Prototypes, z: list[ir.FloatingValue]) -> list[ir.FloatingValue]:
    """The score of each prototype, operation for operation as ``Prototypes.scores``."""
    const = protos.constants()
    out = []
    for j, center in enumerate(protos.centers):
        if protos.transforms is None:
            out.append(_dot(z, center) + literal(const[j]))
            continue
        w = protos.transforms[j]
        d = [zi - literal(c) for zi, c in zip(z, center, strict=True)]
        ys = [
            _sum([d[i] * literal(w[i, m]) for i in range(len(d)) if w[i, m] != 0.0])
            for m in range(w.shape[1])
        ]
        out.append(literal(const[j]) + literal(-0.5) * _sum([y * y for y in ys]))
    return out


def _label(
    protos: Prototypes, scores: list[ir.FloatingValue], sq: ir.FloatingValue | None
) -> ir.IntegerValue:
    """The label of the best-scoring prototype (the first on ties), or -1 beyond its radius.

    A knockout tournament finds it: each match keeps the higher score (the left, lower index,
    on a tie, as ``numpy.argmax``) and carries the winner's label and squared radius. Unlike
    comparing every score with the overall maximum, its SQL grows as P log P, not P^2, in the
    number of prototypes P, even when the engine inlines the score columns.
    """
    radius = protos.radius
    nodes: list[tuple[Any, list[Any]]] = [
        (
            s,
            [ibis.literal(int(lab), type="int64")]
            + ([literal(float(radius[j]) ** 2)] if radius is not None else []),
        )
        for j, (s, lab) in enumerate(zip(scores, protos.labels, strict=True))
    ]
    while len(nodes) > 1:
        nxt = []
        for a in range(0, len(nodes) - 1, 2):
            (sa, pa), (sb, pb) = nodes[a], nodes[a + 1]
            left = sa >= sb
            nxt.append(
                (ibis.greatest(sa, sb), [left.ifelse(x, y) for x, y in zip(pa, pb, strict=True)])
            )
        if len(nodes) % 2:
            nxt.append(nodes[-1])
        nodes = nxt
    best, (label, *rest) = nodes[0]
    if radius is None or sq is None:
        return label
    # ||z - c||^2 = ||z||^2 - 2 * score for prototypes without a map or bias
    far = sq - literal(2.0) * best > rest[0]
    return far.ifelse(ibis.literal(-1, type="int64"), label)


def _dot(z: list[Any], c: Any) -> Any:
    """``z . c`` (``z . z`` when ``c`` is None), summed left to right."""
    if c is None:
        return _sum([zi * zi for zi in z])
    return _sum([zi * literal(float(ci)) for zi, ci in zip(z, c, strict=True)])


def _sum(terms: list[Any]) -> Any:
    if not terms:
        return literal(0.0)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total
