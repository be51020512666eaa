"""Inputs of the clusterer: frames, Arrow tables, arrays and warehouse tables, as float frames."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import ibis
import ibis.common.exceptions as ibis_exc
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.exceptions import NotFittedError as SklearnNotFitted
from sklearn.utils.validation import check_array

from segmint.errors import InvalidArgument, InvalidParameter, NotFittedError, SegmintWarning


class ClusteringWarning(SegmintWarning):
    """A clustering choice was adjusted (a smaller sample, an unrepeatable warehouse sample)."""


def check_features(features: object) -> list[str] | None:
    """``features`` as a list of column names, or None for every numeric column."""
    if features is None:
        return None
    if isinstance(features, str) or not isinstance(features, Sequence):
        raise InvalidArgument(f"features must be a list of column names, got {features!r}")
    names = [str(f) for f in features]
    if not names:
        raise InvalidParameter("features is empty: give at least one column name, or None for all")
    if len(set(names)) != len(names):
        raise InvalidParameter(f"features has duplicate names: {names}")
    return names


def as_frame(
    X: Any, features: list[str] | None, who: str = "the model"
) -> tuple[pd.DataFrame, bool]:
    """The feature columns of ``X`` as a float64 frame, and whether ``X`` named its columns.

    A DataFrame or Arrow table gives its columns by name (``features``, else every numeric or
    boolean column); any other array-like is read positionally (``features`` then names its
    columns, else they are ``x0, x1, ...``). Missing values become NaN; infinities, strings,
    complex numbers, sparse matrices, empty inputs and 1-D arrays are refused with a
    ``InvalidParameter`` or ``InvalidArgument`` (a ``ValueError`` or ``TypeError``) in
    scikit-learn's words.
    """
    if isinstance(X, ir.Table):
        raise InvalidArgument(
            "X is a warehouse table: fit() accepts one (it samples it), but to label every "
            "row inside the warehouse use segmint.segments.clusters.assign(model, table)"
        )
    if isinstance(X, pa.RecordBatch):
        X = pa.Table.from_batches([X])
    if isinstance(X, pa.Table):
        X = X.to_pandas()
    if isinstance(X, pd.DataFrame):
        return _from_frame(X, features), True
    values = _checked(
        X, dtype=np.float64, ensure_all_finite="allow-nan", ensure_min_samples=1, copy=False
    )
    if features is not None and len(features) != values.shape[1]:
        raise InvalidParameter(
            f"X has {values.shape[1]} features, but {who} is expecting "
            f"{len(features)} features as input ({features})"
        )
    names = features if features is not None else [f"x{i}" for i in range(values.shape[1])]
    return pd.DataFrame(values, columns=names, copy=False), False


def _from_frame(df: pd.DataFrame, features: list[str] | None) -> pd.DataFrame:
    if features is None:
        cols = [c for c in df.columns if _numeric(df[c])]
    else:
        missing = [f for f in features if f not in df.columns]
        if missing:
            raise InvalidParameter(
                f"X lacks the feature columns {missing}; it has {list(df.columns)[:20]}"
            )
        cols = list(features)
    out = pd.DataFrame(
        {str(c): _float_column(df[c], str(c)) for c in cols}, index=df.index, copy=False
    )
    # validates what the columns hold (infinities, emptiness) with scikit-learn's messages
    _checked(
        out.to_numpy(dtype=np.float64) if cols else np.empty((len(df), 0)),
        ensure_all_finite="allow-nan",
        ensure_min_samples=1,
    )
    return out


def _checked(X: Any, **kw: Any) -> np.ndarray:
    """scikit-learn's ``check_array``, its refusals raised as segmint errors (still a
    ValueError or TypeError, in scikit-learn's words)."""
    try:
        return check_array(X, **kw)
    except ValueError as exc:
        raise InvalidParameter(str(exc)) from exc
    except TypeError as exc:
        raise InvalidArgument(str(exc)) from exc


class ClusteringNotFitted(NotFittedError, SklearnNotFitted):
    """A clustering (or its preprocessor) was used before :meth:`fit`: a segmint
    :class:`~segmint.errors.NotFittedError` and scikit-learn's ``NotFittedError`` both, so
    either ``except`` catches it and scikit-learn's estimator checks stay green."""


def check_fitted(estimator: Any, attribute: str) -> None:
    """Raise :class:`ClusteringNotFitted` unless ``estimator`` has ``attribute`` (set by fit)."""
    if not hasattr(estimator, attribute):
        raise ClusteringNotFitted(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )


def _numeric(col: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))


def _float_column(col: pd.Series, name: str) -> np.ndarray:
    if not _numeric(col):
        try:
            return pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            raise InvalidParameter(
                f"feature column '{name}' is not numeric (dtype {col.dtype}): cluster on "
                "numbers, booleans or encoded categories"
            ) from None
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def sample_rows(n: int, size: int, rng: np.random.RandomState) -> np.ndarray | None:
    """Sorted positions of ``size`` rows out of ``n`` without replacement (None: keep all)."""
    if n <= size:
        return None
    return np.sort(rng.choice(n, size=size, replace=False))


def sample_table(table: ir.Table, features: list[str] | None, size: int, seed: int) -> pd.DataFrame:
    """At most ``size`` rows of ``table``'s feature columns, sampled inside the warehouse.

    Each row is drawn independently (Bernoulli), at a rate that makes more than ``size`` rows
    a three-sigma event, so the final limit almost never cuts and every row, first or last
    in the table's order, has the same chance; the sample is then about
    ``size - 3 * sqrt(size)`` rows (for ``size`` of 100 or more). Backends that take a seed
    (DuckDB) give a repeatable sample; the others (PostgreSQL, whose ``TABLESAMPLE ...
    REPEATABLE`` Ibis 12 does not emit) give a fresh one each time, with a
    :class:`ClusteringWarning`.
    """
    if features is None:
        features = [c for c, t in table.schema().items() if t.is_numeric() or t.is_boolean()]
    missing = [f for f in features if f not in table.columns]
    if missing:
        raise InvalidParameter(f"table lacks the feature columns {missing}")
    cols = table.select(*features)
    n = int(cols.count().execute())
    if n > size:
        # a limit after a larger draw would keep its first rows in scan order and never
        # the table's last ones: draw a little less instead, and limit only as a safeguard
        # (a sample under 100 rows is too small to draw short: it is drawn twice over)
        target = size - 3.0 * math.sqrt(size) if size >= 100 else 2.0 * size
        fraction = min(1.0, target / n)
        try:
            cols = cols.sample(fraction, seed=seed).limit(size)
            df = cols.to_pandas()
        except ibis_exc.UnsupportedOperationError:
            warnings.warn(
                "this warehouse cannot sample with a seed: the fit sample is not repeatable",
                ClusteringWarning,
                stacklevel=3,
            )
            df = table.select(*features).sample(fraction).limit(size).to_pandas()
    else:
        df = cols.to_pandas()
    return _from_frame(df, features)


def literal(value: float) -> ir.FloatingScalar:
    """A float64 literal (typed, so PostgreSQL does not read it as NUMERIC)."""
    return ibis.literal(float(value), type="float64")


def jsonable(obj: Any) -> Any:
    """Plain Python types, with NaN and infinities as None (JSON has neither)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    return obj
