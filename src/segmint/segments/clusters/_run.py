"""Running one configured clustering (``clusters:`` in segmint.yaml) as of a point in time.

:func:`run_clustering` is the step ``segmint segment`` calls for each clustering: it fits a
:class:`SegmentClusterer` on a sample the warehouse draws, measures its stability, gives its
clusters the ids of the previous model's (:func:`align`), stores it as the next version
``<models_dir>/<name>/vNNNN.json`` and writes every customer's cluster into
:data:`CLUSTERS`, computed inside the engine.

The fit sample is the customers with the smallest hash of ``customer_id`` salted with the
spec's ``random_state``: the same customers on every run and every engine's own hash, so a
refit on the next as-of sees mostly the same people and PostgreSQL (which Ibis cannot ask
for a seeded ``TABLESAMPLE``) is as repeatable as DuckDB.
"""

from __future__ import annotations

import difflib
import json
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from segmint.errors import ConfigError
from segmint.schema import Col
from segmint.segments.clusters._align import Alignment, align
from segmint.segments.clusters._data import ClusteringWarning, jsonable
from segmint.segments.clusters._estimator import MAX_FIT_ROWS, SegmentClusterer
from segmint.segments.clusters._warehouse import assign
from segmint.warehouse import Warehouse

if TYPE_CHECKING:
    from segmint.config import ClusterConfig

#: one row per customer, as-of and clustering
CLUSTERS = "cluster_assignments"


class ClusterCol:
    """Columns of :data:`CLUSTERS`."""

    CUSTOMER_ID = Col.CUSTOMER_ID
    AS_OF = "as_of"
    CLUSTERING = "clustering"
    CLUSTER = "cluster"
    CLUSTER_NAME = "cluster_name"
    MODEL_VERSION = "model_version"


CLUSTERS_SCHEMA = {
    ClusterCol.CUSTOMER_ID: "VARCHAR",
    ClusterCol.AS_OF: "TIMESTAMP",
    ClusterCol.CLUSTERING: "VARCHAR",
    ClusterCol.CLUSTER: "BIGINT",
    ClusterCol.CLUSTER_NAME: "VARCHAR",
    ClusterCol.MODEL_VERSION: "BIGINT",
}

#: features a clustering uses when its spec names none (those present in the table): how
#: often, how much and how recently a customer buys, how engaged and decisive they are, the
#: prices they look at, their device and the channels that bring them
DEFAULT_FEATURES: tuple[str, ...] = (
    "frequency",
    "monetary",
    "avg_order_value",
    "discount_share",
    "days_since_last_activity",
    "sessions_90d",
    "browse_to_buy",
    "avg_item_price",
    "share_mobile",
    "share_email",
    "share_social",
    "share_paid_search",
    "share_direct",
)
#: most rows the bootstrap refits of the stability measure are drawn from
STABILITY_ROWS = 20_000
_VERSION_FILE = re.compile(r"v(\d{4,})\.json")


@dataclass
class ClusterRun:
    """What :func:`run_clustering` did.

    ``alignment`` is None on the first fit; ``sizes`` maps each cluster id (``-1``:
    unclustered) to the customers assigned to it, counted in the warehouse; ``note`` says
    why ids were not carried over, when they were not.
    """

    name: str
    as_of: datetime
    version: int
    model: SegmentClusterer
    alignment: Alignment | None
    sizes: dict[int, int]
    model_path: Path
    note: str | None = None


def run_clustering(
    wh: Warehouse,
    spec: ClusterConfig,
    features: ir.Table,
    as_of: datetime,
    models_dir: Path,
) -> ClusterRun:
    """Fit, align, store and assign one clustering as of ``as_of``.

    Parameters
    ----------
    wh : Warehouse
        Where ``features`` lives and :data:`CLUSTERS` is written.
    spec : segmint.config.ClusterConfig
        The clustering (method, k, features, preprocessing, sample size, stability, seed).
    features : ibis.Table
        One row per customer: ``customer_id`` and the feature columns, e.g.
        ``segmint.features.latest_features(wh, as_of)``.
    as_of : datetime
        The as-of the rows of :data:`CLUSTERS` are written under (replacing this
        clustering's earlier rows for it).
    models_dir : Path
        Models are kept in ``models_dir / spec.name / vNNNN.json``.

    Returns
    -------
    ClusterRun

    Raises
    ------
    ConfigError
        If ``spec.features`` names a column the table lacks or one that is not numeric, or
        if none of :data:`DEFAULT_FEATURES` is present.
    """
    as_of = as_of.replace(tzinfo=None, microsecond=0)
    cols = resolve_features(spec, features)
    model = _estimator(spec, cols)
    frame = _sample(wh, features, cols, spec)
    model.fit(frame)
    if spec.stability > 0:
        model.stability(frame.iloc[:STABILITY_ROWS], n_boot=spec.stability)
    folder = Path(models_dir) / spec.name
    previous = _newest(folder)
    alignment, note = _keep_ids(model, None if previous is None else previous[1])
    version = 1 if previous is None else previous[0] + 1
    sizes = _write_assignments(wh, spec.name, model, features, as_of, version)
    path = folder / f"v{version:04d}.json"
    meta = {
        "clustering": spec.name,
        "version": version,
        "as_of": as_of.isoformat(),
        "fitted_at": datetime.now(UTC).replace(tzinfo=None, microsecond=0).isoformat(),
        "n_customers": sum(sizes.values()),
        "sizes": {str(k): v for k, v in sorted(sizes.items())},
        "spec": spec.model_dump(mode="json"),
        "alignment": _alignment_meta(alignment, previous, note),
    }
    _save(path, model, meta)
    return ClusterRun(spec.name, as_of, version, model, alignment, sizes, path, note)


def resolve_features(spec: ClusterConfig, table: ir.Table) -> list[str]:
    """The feature columns of ``spec`` (default: :data:`DEFAULT_FEATURES` present in ``table``).

    Raises
    ------
    ConfigError
        Naming each unknown or non-numeric feature, with the closest column names.
    """
    schema = table.schema()
    numeric = [c for c, t in schema.items() if t.is_numeric() or t.is_boolean()]
    where = f"clusters '{spec.name}'"
    if spec.features is None:
        cols = [f for f in DEFAULT_FEATURES if f in numeric]
        if not cols:
            raise ConfigError(
                f"{where}: none of the default features ({', '.join(DEFAULT_FEATURES)}) is in "
                "the features table: compute features first, or list features: explicitly"
            )
        return cols
    problems = []
    for f in spec.features:
        if f not in schema:
            close = difflib.get_close_matches(f, numeric, n=3, cutoff=0.6)
            hint = (
                f"did you mean {' or '.join(repr(c) for c in close)}?"
                if close
                else ("see `segmint features list` for the feature names")
            )
            problems.append(f"{where}: unknown feature '{f}' ({hint})")
        elif f not in numeric:
            problems.append(
                f"{where}: feature '{f}' is {schema[f]}, not a number: cluster on numeric or "
                "boolean features"
            )
    if len(set(spec.features)) != len(spec.features):
        problems.append(f"{where}: features lists a column twice: {spec.features}")
    if problems:
        raise ConfigError("; ".join(problems), problems)
    return list(spec.features)


def load_model(
    models_dir: Path, name: str, version: int | None = None
) -> tuple[SegmentClusterer, dict[str, Any]]:
    """A stored model of clustering ``name`` and its metadata (default: the newest version).

    Raises
    ------
    FileNotFoundError
        If the clustering has no model (or not that version).
    """
    folder = Path(models_dir) / name
    if version is None:
        versions = _versions(folder)
        if not versions:
            raise FileNotFoundError(f"no model of clustering '{name}' in {folder}")
        version = versions[-1]
    path = folder / f"v{version:04d}.json"
    if not path.exists():
        raise FileNotFoundError(f"no model version {version} of clustering '{name}': {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    return SegmentClusterer.from_dict(data), dict(data.get("metadata") or {})


def _estimator(spec: ClusterConfig, cols: list[str]) -> SegmentClusterer:
    log = list(spec.log) if isinstance(spec.log, list) else spec.log
    return SegmentClusterer(
        method=spec.method,
        k=spec.k,
        k_range=(spec.k_range[0], spec.k_range[1]),
        features=cols,
        log=log,
        pca=spec.pca,
        sample_size=spec.sample_size,
        random_state=spec.random_state,
    )


def _sample(wh: Warehouse, table: ir.Table, cols: list[str], spec: ClusterConfig) -> pd.DataFrame:
    """The fit sample, drawn and limited inside the engine (see the module docstring)."""
    if ClusterCol.CUSTOMER_ID not in table.columns:
        raise ConfigError(f"clusters '{spec.name}': the features table has no customer_id")
    size = min(spec.sample_size, MAX_FIT_ROWS.get(spec.method, spec.sample_size))
    cid = table[ClusterCol.CUSTOMER_ID].cast("string")
    key = (cid + ibis.literal(f"|{spec.random_state}")).hash()
    drawn = table.order_by([key, cid]).limit(size).select(*cols)
    return wh.to_arrow(drawn).to_pandas()


def _newest(folder: Path) -> tuple[int, SegmentClusterer] | None:
    versions = _versions(folder)
    if not versions:
        return None
    path = folder / f"v{versions[-1]:04d}.json"
    try:
        model = SegmentClusterer.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"the newest model {path} cannot be read ({exc}): move it aside to start afresh"
        ) from exc
    return versions[-1], model


def _versions(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    found = (_VERSION_FILE.fullmatch(p.name) for p in folder.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


def _keep_ids(
    model: SegmentClusterer, previous: SegmentClusterer | None
) -> tuple[Alignment | None, str | None]:
    """Align to ``previous``; when its features differ, give every cluster a fresh id."""
    if previous is None:
        return None, None
    old, new = set(previous.features_), set(model.features_)
    if old == new:
        return align(model, previous), None
    start = int(previous.next_id_)
    mapping = {int(i): start + n for n, i in enumerate(model.cluster_ids_)}
    model.relabel(mapping)
    note = (
        f"the features changed (added {sorted(new - old)}, removed {sorted(old - new)}): "
        f"clusters are not matched to the previous model's and take new ids from {start}"
    )
    warnings.warn(note, ClusteringWarning, stacklevel=3)
    return Alignment(mapping, {}, list(mapping), 0.0), note


def _write_assignments(
    wh: Warehouse,
    name: str,
    model: SegmentClusterer,
    features: ir.Table,
    as_of: datetime,
    version: int,
) -> dict[int, int]:
    """Replace this clustering's rows for ``as_of`` in :data:`CLUSTERS`; sizes per id."""
    wh.ensure_table(CLUSTERS, CLUSTERS_SCHEMA)
    labelled = assign(model, features, column=ClusterCol.CLUSTER)
    temp = f"_clusters_{name}_new"
    wh.write(
        temp,
        labelled.select(
            labelled[ClusterCol.CUSTOMER_ID].cast("string").name(ClusterCol.CUSTOMER_ID),
            ClusterCol.CLUSTER,
        ),
    )
    try:
        t = wh.table(temp)
        c = t[ClusterCol.CLUSTER]
        names = [(int(i), n) for i, n in sorted(model.names_.items())]
        label = c.cases(*names, else_=None) if names else ibis.null("string")
        rows = t.select(
            **{
                ClusterCol.CUSTOMER_ID: t[ClusterCol.CUSTOMER_ID],
                ClusterCol.AS_OF: ibis.literal(as_of, type="timestamp"),
                ClusterCol.CLUSTERING: ibis.literal(name, type="string"),
                ClusterCol.CLUSTER: c,
                ClusterCol.CLUSTER_NAME: label.cast("string"),
                ClusterCol.MODEL_VERSION: ibis.literal(int(version), type="int64"),
            }
        )
        wh.replace_rows(CLUSTERS, rows, {ClusterCol.CLUSTERING: name, ClusterCol.AS_OF: as_of})
        counts = wh.to_arrow(t.group_by(ClusterCol.CLUSTER).aggregate(n=t.count())).to_pylist()
    finally:
        wh.drop(temp)
    return {int(r[ClusterCol.CLUSTER]): int(r["n"]) for r in counts}


def _alignment_meta(
    alignment: Alignment | None,
    previous: tuple[int, SegmentClusterer] | None,
    note: str | None,
) -> dict[str, Any] | None:
    if alignment is None or previous is None:
        return None
    return {
        "previous_version": previous[0],
        "mapping": {str(k): v for k, v in alignment.mapping.items()},
        "distances": {str(k): v for k, v in alignment.distances.items()},
        "fresh": alignment.fresh,
        "threshold": alignment.threshold,
        "note": note,
    }


def _save(path: Path, model: SegmentClusterer, meta: dict[str, Any]) -> None:
    """``model.to_dict()`` with ``metadata`` beside it; written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**model.to_dict(), "metadata": jsonable(meta)}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False), encoding="utf-8")
    tmp.replace(path)
