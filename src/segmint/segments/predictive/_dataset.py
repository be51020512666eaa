"""Training sets that cannot see the future: features as of T, labels from after T.

For a customer model with a derived label (``purchase_within``, ``churn``) the set stacks
``snapshots`` as-of times T, each ``every_days`` apart, ending at the latest T whose label
window lies inside the data. Every row holds the features a customer had at T, computed by
:func:`segmint.features.compute_features` from data before T only, and a label read from
what they did in ``[T, T + days)``. A labels table gives each label's time; the features
are taken as of that time (to the day, or the month when there are many days). A session
model reads its rows and label from a table of the project's own.

Everything is joined inside the warehouse; only the finished rows are read into pandas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from segmint.config import ModelConfig, ProjectConfig
from segmint.errors import ConfigError, NotFoundError
from segmint.features import FEATURES, compute_features, data_end, latest_features
from segmint.schema import Col, T
from segmint.warehouse import IbisWarehouse

#: feature columns never used as model inputs: ids, times, and the label's own source
_NOT_INPUTS = frozenset({Col.CUSTOMER_ID, "as_of", Col.SIGNUP_AT})
#: most distinct label days for which features are computed as of the day itself
MAX_LABEL_DAYS = 36
HISTORY = "_history"  # orders + recent sessions before T: cold-start model, report
ROW_TIME = "_as_of"
ROW_ID = "_id"


@dataclass
class TrainingSet:
    """Rows for a model: inputs ``X``, label codes ``y``, and what each row is.

    ``y`` holds 0..k-1, the index of each row's class in ``classes`` (XGBoost and friends
    want integer labels); ``positive`` is the positive class of a binary model.

    ``ids`` are the entity ids, ``as_of`` the time the inputs are as of (None for a static
    table), ``history`` the orders a customer had placed before it (None for sessions).
    ``categorical`` lists the string and boolean columns of ``X``.
    """

    X: pd.DataFrame
    y: pd.Series
    ids: pd.Series
    as_of: pd.Series | None
    history: pd.Series | None
    features: list[str]
    categorical: list[str]
    classes: list[Any]
    positive: Any = None
    window: dict[str, Any] = field(default_factory=dict)

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2

    def decode(self, codes: Any) -> list[Any]:
        """Class values of label codes (``y`` holds 0..k-1, the index into ``classes``)."""
        return [self.classes[int(c)] for c in np.asarray(codes)]


def snapshot_times(wh: IbisWarehouse, spec: ModelConfig) -> list[datetime]:
    """The training as-of times of a derived-label customer model, oldest first."""
    end = data_end(wh)
    if end is None:
        raise NotFoundError("no events or orders yet: run `segmint ingest` first")
    days = spec.label.days or 0
    last = end - timedelta(days=days)
    if spec.as_of is not None:
        last = min(last, datetime.fromisoformat(spec.as_of))
    times = [last - timedelta(days=spec.every_days * i) for i in range(spec.snapshots)]
    return sorted(t.replace(hour=0, minute=0, second=0, microsecond=0) for t in times)


def _purchases(wh: IbisWarehouse) -> ir.Table:
    """When each customer bought: their orders placed (returns and cancellations left out),
    or, for a shop without orders, their purchase events."""
    from segmint.identity import resolved

    if wh.has_table(T.ORDERS) and wh.has_table(T.IDENTITIES):
        o = resolved(wh, T.ORDERS)
        keep = o[Col.CUSTOMER_ID].notnull()
        if Col.IS_RETURN in o.columns:
            keep = keep & ~o[Col.IS_RETURN].fill_null(False)
        return o.filter(keep).select(Col.CUSTOMER_ID, Col.TS)
    from segmint.segments.rules._warehouse import event_stream

    ev = event_stream(wh)
    if ev is None:
        raise NotFoundError("no purchases to learn from: ingest orders or purchase events")
    return ev.filter(ev.event_type == "purchase").select(Col.CUSTOMER_ID, Col.TS)


def _derived_labels(wh: IbisWarehouse, spec: ModelConfig, t: datetime, rows: ir.Table) -> ir.Table:
    """``rows`` (features as of ``t``) with ``_label``: what the customer did after ``t``."""
    days = spec.label.days or 0
    start = ibis.timestamp(t)
    stop = ibis.timestamp(t + timedelta(days=days))
    p = _purchases(wh)
    after = p.filter(p.ts >= start, p.ts < stop)
    bought = after.group_by(Col.CUSTOMER_ID).aggregate(_n_after=after.count())
    out = rows.left_join(bought, Col.CUSTOMER_ID).drop(f"{Col.CUSTOMER_ID}_right")
    n_after = out._n_after.fill_null(0)
    if spec.label.kind == "purchase_within":
        return out.mutate(_label=(n_after > 0).cast("int64")).drop("_n_after")
    # churn: among customers who had bought before T, nothing in the horizon
    out = out.filter(out.frequency > 0)
    return out.mutate(_label=(n_after == 0).cast("int64")).drop("_n_after")


def _feature_columns(cfg: ProjectConfig, wh: IbisWarehouse, spec: ModelConfig) -> list[str]:
    """The model's input columns from the feature table (computed once when missing)."""
    if spec.features == "none":
        return []
    if not wh.has_table(FEATURES):
        end = data_end(wh)
        if end is None:  # a table of the project's own, no events or orders: no features
            return []
        compute_features(wh, end, cfg.features)
    schema = wh.table(FEATURES).schema()
    usable = [
        c
        for c, t in schema.items()
        if c not in _NOT_INPUTS and (t.is_numeric() or t.is_boolean() or t.is_string())
    ]
    if spec.features == "auto":
        return [c for c in usable if c not in spec.exclude]
    missing = [f for f in spec.features if f not in usable]
    if missing:
        from segmint.segments.rules._bind import did_you_mean

        hints = "; ".join(f"'{m}'{did_you_mean(m, usable)}" for m in missing)
        raise ConfigError(
            f"models '{spec.name}': unknown features: {hints} (see `segmint features list`)"
        )
    return [f for f in spec.features if f not in spec.exclude]


def _features_at(
    cfg: ProjectConfig, wh: IbisWarehouse, t: datetime, cols: Sequence[str]
) -> ir.Table:
    f = latest_features(wh, t) if wh.has_table(FEATURES) else None
    if f is None or int(f.count().execute()) == 0:
        compute_features(wh, t, cfg.features)
        f = latest_features(wh, t)
    keep = [c for c in cols if c in f.columns]
    return f.select(Col.CUSTOMER_ID, *keep, **{HISTORY: history(f), ROW_TIME: f.as_of})


def history(f: ir.Table) -> ir.IntegerValue:
    """A customer's history length as of the features' time: orders placed plus sessions in
    the last 90 days (the cold-start model scores those with less than ``min_history``)."""
    total = ibis.literal(0, "int64")
    for col in ("frequency", "sessions_90d"):
        if col in f.columns:
            total = total + f[col].fill_null(0).cast("int64")
    return total


def _canonical(wh: IbisWarehouse, table: ir.Table, key: str) -> ir.Table:
    """``table`` with ``_id``: its key mapped to the canonical customer id when known."""
    if not wh.has_table(T.IDENTITIES):
        return table.mutate(**{ROW_ID: table[key].cast("string")})
    ids = wh.table(T.IDENTITIES)
    ids = ids.filter(ids[Col.IDENTIFIER_TYPE] == Col.CUSTOMER_ID).select(
        _k=ids[Col.IDENTIFIER], _c=ids[Col.CUSTOMER_ID]
    )
    j = table.left_join(ids, table[key].cast("string") == ids._k)
    return j.mutate(**{ROW_ID: ibis.coalesce(j._c, j[key].cast("string"))}).drop("_k", "_c")


def _own_table(wh: IbisWarehouse, spec: ModelConfig) -> tuple[ir.Table, str, list[str]]:
    """The model's table, its key and its input columns."""
    name = spec.table or ""
    if not wh.has_table(name):
        raise NotFoundError(
            f"models '{spec.name}': no table '{name}' in the warehouse (a source with "
            f"table: {name} must be ingested first)"
        )
    t = wh.table(name)
    key = spec.key or (Col.CUSTOMER_ID if spec.entity == "customer" else "session_id")
    if key not in t.columns:
        raise ConfigError(f"models '{spec.name}': table '{name}' has no key column '{key}'")
    label_col = spec.label.column if spec.label.kind == "column" else None
    if label_col is not None and label_col not in t.columns:
        from segmint.segments.rules._bind import did_you_mean

        raise ConfigError(
            f"models '{spec.name}': table '{name}' has no label column "
            f"'{label_col}'{did_you_mean(label_col, t.columns)}"
        )
    schema = t.schema()
    usable = [
        c
        for c, typ in schema.items()
        if not c.startswith("_")
        and c not in (key, label_col)
        and (typ.is_numeric() or typ.is_boolean() or typ.is_string())
    ]
    if spec.columns is not None:
        missing = [c for c in spec.columns if c not in usable]
        if missing:
            raise ConfigError(f"models '{spec.name}': table '{name}' has no column {missing}")
        usable = list(spec.columns)
    return t, key, [c for c in usable if c not in spec.exclude]


def build_training_set(cfg: ProjectConfig, wh: IbisWarehouse, spec: ModelConfig) -> TrainingSet:
    """Assemble ``spec``'s training rows (see the module docstring).

    Raises
    ------
    ConfigError
        A named feature, column or table does not exist.
    NotFoundError
        There is no data to learn from.
    """
    if spec.label.kind in ("purchase_within", "churn"):
        frame, feats, window = _snapshot_rows(cfg, wh, spec)
    elif spec.label.kind == "table":
        frame, feats, window = _labels_table_rows(cfg, wh, spec)
    else:
        frame, feats, window = _column_rows(cfg, wh, spec)
    return _finish(frame, feats, spec, window)


def _snapshot_rows(
    cfg: ProjectConfig, wh: IbisWarehouse, spec: ModelConfig
) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    times = snapshot_times(wh, spec)
    if not wh.has_table(FEATURES):
        compute_features(wh, times[-1], cfg.features)
    cols = _feature_columns(cfg, wh, spec)
    parts = []
    for t in times:
        rows = _features_at(cfg, wh, t, cols)
        rows = _with_table(wh, spec, rows.mutate(**{ROW_ID: rows[Col.CUSTOMER_ID]}))
        parts.append(wh.to_arrow(_derived_labels(wh, spec, t, rows)).to_pandas())
    frame = pd.concat(parts, ignore_index=True)
    feats = [
        c for c in frame.columns if c not in (Col.CUSTOMER_ID, ROW_ID, ROW_TIME, HISTORY, "_label")
    ]
    days = spec.label.days or 0
    window = {
        "as_of": [t.isoformat() for t in times],
        "label_days": days,
        "labels_until": (times[-1] + timedelta(days=days)).isoformat(),
    }
    return frame, feats, window


def _with_table(wh: IbisWarehouse, spec: ModelConfig, rows: ir.Table) -> ir.Table:
    """Customer rows joined with the columns of the model's table, when it has one."""
    if spec.table is None:
        return rows
    t, key, cols = _own_table(wh, spec)
    own = _canonical(wh, t.select(key, *cols), key).drop(key)
    own = own.rename(**{f"_t_{ROW_ID}": ROW_ID})
    clash = [c for c in cols if c in rows.columns]
    own = own.rename(**{f"{c}_{spec.table}": c for c in clash})
    return rows.left_join(own, rows[ROW_ID] == own[f"_t_{ROW_ID}"]).drop(f"_t_{ROW_ID}")


def _column_rows(
    cfg: ProjectConfig, wh: IbisWarehouse, spec: ModelConfig
) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    t, key, cols = _own_table(wh, spec)
    label = spec.label.column or ""
    rows = t.select(key, *cols, _label=t[label])
    rows = rows.filter(rows._label.notnull())
    if spec.entity == "customer":
        rows = _canonical(wh, rows, key)
        feats = _feature_columns(cfg, wh, spec)
        if feats:
            f = wh.table(FEATURES)
            f = f.filter(f.as_of == f.as_of.max())
            f = f.select(
                _f_id=f[Col.CUSTOMER_ID],
                **{c: f[c] for c in feats if c not in rows.columns},
                **{HISTORY: history(f)},
            )
            rows = rows.left_join(f, rows[ROW_ID] == f._f_id).drop("_f_id")
    else:
        rows = rows.mutate(**{ROW_ID: rows[key].cast("string")})
    frame = wh.to_arrow(rows.drop(key)).to_pandas()
    feats = [c for c in frame.columns if c not in (ROW_ID, ROW_TIME, HISTORY, "_label")]
    return frame, feats, {"table": spec.table, "rows": len(frame)}


def _labels_table_rows(
    cfg: ProjectConfig, wh: IbisWarehouse, spec: ModelConfig
) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    lab = spec.label
    name = lab.table or ""
    if not wh.has_table(name):
        raise NotFoundError(f"models '{spec.name}': no labels table '{name}' (ingest it first)")
    lt = wh.table(name)
    for c in (lab.key, lab.column, lab.time):
        if c is not None and c not in lt.columns:
            raise ConfigError(f"models '{spec.name}': labels table '{name}' has no column '{c}'")
    labels = _canonical(wh, lt, lab.key)
    labels = labels.select(
        ROW_ID,
        _label=labels[lab.column or ""],
        _when=labels[lab.time].cast("timestamp") if lab.time else ibis.null("timestamp"),
    ).filter(ibis._["_label"].notnull())
    labelled = wh.to_arrow(labels).to_pandas()
    if labelled.empty:
        raise NotFoundError(f"models '{spec.name}': the labels table '{name}' has no labels")
    cols = _feature_columns(cfg, wh, spec)
    if lab.time is None or spec.features == "none":
        parts = [_static_rows(cfg, wh, spec, labelled, cols)]
        times: list[datetime] = []
    else:
        times, parts = _timed_rows(cfg, wh, spec, labelled, cols)
    frame = pd.concat(parts, ignore_index=True)
    feats = [
        c
        for c in frame.columns
        if c not in (ROW_ID, ROW_TIME, HISTORY, "_label", "_when", Col.CUSTOMER_ID)
    ]
    return frame, feats, {"labels": name, "as_of": [t.isoformat() for t in times]}


def _static_rows(
    cfg: ProjectConfig,
    wh: IbisWarehouse,
    spec: ModelConfig,
    labelled: pd.DataFrame,
    cols: list[str],
) -> pd.DataFrame:
    frame = labelled.drop(columns=["_when"])
    if spec.table is not None:
        t, key, own_cols = _own_table(wh, spec)
        own = wh.to_arrow(_canonical(wh, t.select(key, *own_cols), key).drop(key)).to_pandas()
        frame = frame.merge(own, on=ROW_ID, how="left")
    if cols and wh.has_table(FEATURES):
        f = wh.table(FEATURES)
        f = wh.to_arrow(f.filter(f.as_of == f.as_of.max()).select(Col.CUSTOMER_ID, *cols))
        feats = f.to_pandas().rename(columns={Col.CUSTOMER_ID: ROW_ID})
        frame = frame.merge(feats, on=ROW_ID, how="left", suffixes=("", "_feature"))
    return frame


def _timed_rows(
    cfg: ProjectConfig,
    wh: IbisWarehouse,
    spec: ModelConfig,
    labelled: pd.DataFrame,
    cols: list[str],
) -> tuple[list[datetime], list[pd.DataFrame]]:
    when = pd.to_datetime(labelled["_when"])
    day = when.dt.floor("D")
    if day.nunique() > MAX_LABEL_DAYS:  # the first of the month: still before every label
        day = when.dt.to_period("M").dt.to_timestamp()
    labelled = labelled.assign(_t=day)
    times = sorted(pd.Timestamp(t).to_pydatetime() for t in labelled["_t"].dropna().unique())
    parts = []
    for t in times:
        rows = _features_at(cfg, wh, t, cols)
        rows = _with_table(wh, spec, rows.mutate(**{ROW_ID: rows[Col.CUSTOMER_ID]}))
        got = wh.to_arrow(rows).to_pandas()
        these = labelled[labelled["_t"] == pd.Timestamp(t)].drop(columns=["_t", "_when"])
        parts.append(these.merge(got, on=ROW_ID, how="inner"))
    return times, parts


def _is_text(col: pd.Series) -> bool:
    if col.dtype == bool or str(col.dtype) == "boolean":
        return False
    return col.dtype == object or pd.api.types.is_string_dtype(col)


def prepare(
    frame: pd.DataFrame, features: Sequence[str], categorical: Sequence[str]
) -> pd.DataFrame:
    """The model's input columns as it was trained on them: ``categorical`` columns as text
    (numbers that are codes become their digits), booleans as 0/1, the rest as floats."""
    cats = set(categorical)
    out = {}
    for c in features:
        col = frame[c] if c in frame.columns else pd.Series([None] * len(frame), dtype=object)
        if c in cats:
            out[c] = [None if _missing(v) else _text(v) for v in col.to_numpy(dtype=object)]
        else:
            num = (
                col.astype("float64")
                if col.dtype == bool or str(col.dtype) == "boolean"
                else (pd.to_numeric(col, errors="coerce"))
            )
            out[c] = num.astype("float64").to_numpy()
    X = pd.DataFrame(out, index=frame.index)
    for c in cats:
        X[c] = X[c].astype(object)
    return X.replace([np.inf, -np.inf], np.nan)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA


def _text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))  # a code read as 3.0 is the category "3"
    return str(v)


def _positive_of(y_raw: pd.Series, spec: ModelConfig) -> Callable[[Any], int]:
    """1 for a label value among ``label.positive``, else 0, matched as the source wrote it.

    A Yes/No column is stored as a boolean, so ``positive: ["Yes"]`` is matched through the
    words a boolean column reads (``yes`` is true); when none of the values matches any
    training row, the error says what the column holds now.
    """
    from segmint.ingest._vocab import FALSE_WORDS, TRUE_WORDS

    given = spec.label.positive or []
    words = {str(v).strip().lower() for v in given}
    booleans = y_raw.dtype == bool or str(y_raw.dtype) == "boolean"
    if booleans:
        wanted = {True for w in words if w in TRUE_WORDS} | {
            False for w in words if w in FALSE_WORDS
        }
        wanted |= {v for v in given if isinstance(v, bool)}

        def is_positive(v: Any) -> int:
            return int(not _missing(v) and bool(v) in wanted)
    else:

        def is_positive(v: Any) -> int:
            return int(not _missing(v) and _text(v).strip().lower() in words)

    if not any(is_positive(v) for v in pd.unique(y_raw)):
        held = sorted({_text(v) for v in pd.unique(y_raw) if not _missing(v)})[:10]
        kind = "booleans (true/false)" if booleans else "values"
        raise ConfigError(
            f"models '{spec.name}': label.positive {given} matches no training row; the label "
            f"column now holds {kind}: {', '.join(held)}"
        )
    return is_positive


def _finish(
    frame: pd.DataFrame, feats: list[str], spec: ModelConfig, window: dict[str, Any]
) -> TrainingSet:
    if frame.empty:
        raise NotFoundError(f"models '{spec.name}': no training rows (no labelled entities)")
    y_raw = frame["_label"]
    if y_raw.dtype == bool or set(pd.unique(y_raw)) <= {0, 1}:
        y = y_raw.astype(int)
    else:
        y = y_raw.astype(str)
    positive = None
    if spec.label.positive is not None:
        y = y_raw.map(_positive_of(y_raw, spec))
    classes = sorted(pd.unique(y).tolist())
    y = y.map({c: i for i, c in enumerate(classes)}).astype("int64")
    if len(classes) < 2:
        raise NotFoundError(
            f"models '{spec.name}': every training row has the label {classes[0]!r}; a model "
            "needs at least two classes (a longer horizon, more snapshots or more data)"
        )
    if len(classes) == 2:
        positive = 1 if set(classes) == {0, 1} else classes[-1]
    codes = set(spec.categorical)
    unknown = sorted(codes - set(feats))
    if unknown:
        raise ConfigError(
            f"models '{spec.name}': categorical names columns it does not use: {unknown}; "
            f"its columns are {feats}"
        )
    categorical = [c for c in feats if c in codes or _is_text(frame[c])]
    X = prepare(frame, feats, categorical)
    return TrainingSet(
        X=X,
        y=y.reset_index(drop=True),
        ids=frame[ROW_ID].astype(str).reset_index(drop=True),
        as_of=frame[ROW_TIME].reset_index(drop=True) if ROW_TIME in frame else None,
        history=frame[HISTORY].fillna(0).astype(int).reset_index(drop=True)
        if HISTORY in frame
        else None,
        features=feats,
        categorical=categorical,
        classes=classes,
        positive=positive,
        window=window,
    )


def scoring_rows(
    cfg: ProjectConfig,
    wh: IbisWarehouse,
    spec: ModelConfig,
    features: Sequence[str],
    as_of: datetime,
) -> ir.Table:
    """The rows a model scores as of ``as_of``: ``_id``, its input columns, ``_history``.

    Customer models score every customer of the features as of ``as_of`` (computed when
    missing), with the columns of the model's table joined; a model on a table alone (a
    session model, or customer attributes without features) scores the table's rows.
    """
    own_cols: list[str] = []
    if spec.table is not None:
        _t, _key, own_cols = _own_table(wh, spec)
    from_features = [c for c in features if c not in own_cols]
    if spec.entity == "customer" and from_features:
        rows = _features_at(cfg, wh, as_of, from_features)
        rows = rows.mutate(**{ROW_ID: rows[Col.CUSTOMER_ID]})
        return _with_table(wh, spec, rows)
    t, key, _cols = _own_table(wh, spec)
    rows = t.select(key, *[c for c in features if c in t.columns])
    if spec.entity == "customer":
        rows = _canonical(wh, rows, key)
    else:
        rows = rows.mutate(**{ROW_ID: rows[key].cast("string")})
    return rows.mutate(**{HISTORY: ibis.null("int64")}).drop(key)
