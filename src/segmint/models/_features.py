"""Checking that the columns at hand are the features a model was trained on.

A model names its features in its metadata (``features``) and may record each one's dtype
(``feature_dtypes``, as :func:`feature_dtypes` gives them). Dtypes are compared by kind
(number, text, datetime) rather than exactly: a count that became ``float64`` because of a
missing value scores the same, a number that arrives as text does not.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from segmint.models._errors import ExtraFeaturesWarning, ModelMetadataError, ModelMismatchError

#: dtype names by kind, as pandas, numpy, Arrow and Ibis print them ("interval" is no int)
_KINDS = (
    ("number", re.compile(r"^(u?int\d*|float\d*|double|decimal|bool(ean)?|number)\b")),
    ("text", re.compile(r"^(object|string|str|category|large_string|utf8|varchar)\b")),
    ("datetime", re.compile(r"^(datetime\d*|timestamp|date\d*)\b")),
)


def dtype_kind(dtype: object) -> str:
    """The kind of a pandas, numpy, Arrow or Ibis dtype: ``number``, ``text``, ``datetime``,
    or the dtype's own name when it is none of those.

    Booleans count as numbers: the pipelines treat ``True``/``False`` as 1/0.

    >>> dtypes = ("float64", "Int64", "bool", "object", "!string", "datetime64[ns, UTC]")
    >>> [dtype_kind(d) for d in dtypes]
    ['number', 'number', 'number', 'text', 'text', 'datetime']
    """
    name = str(dtype).lower().lstrip("!")  # Ibis marks non-nullable types with '!'
    for kind, pattern in _KINDS:
        if pattern.match(name):
            return kind
    return name


def feature_dtypes(frame: Any) -> dict[str, str]:
    """Each column of a pandas DataFrame with its dtype, for metadata's ``feature_dtypes``.

    >>> import pandas as pd
    >>> feature_dtypes(pd.DataFrame({"orders_90d": [1, 2], "country": ["GB", "DE"]}))
    {'orders_90d': 'int64', 'country': 'object'}
    """
    dtypes = getattr(frame, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    return {str(col): str(dtype) for col, dtype in dtypes.items()}


def model_features(metadata: Mapping[str, Any]) -> list[str]:
    """The ``features`` list of a model's metadata, checked to be unique strings."""
    features = metadata.get("features")
    if not isinstance(features, list | tuple) or not features:
        raise ModelMetadataError(
            f"metadata['features'] should be a non-empty list of column names, got {features!r}"
        )
    bad = [f for f in features if not isinstance(f, str) or not f]
    if bad:
        raise ModelMetadataError(f"metadata['features'] holds non-names: {bad!r}")
    twice = sorted({f for f in features if features.count(f) > 1})
    if twice:
        raise ModelMetadataError(f"metadata['features'] names {', '.join(twice)} twice")
    return list(features)


def _available(available: Any) -> tuple[list[str], dict[str, str]]:
    """Column names and, where known, their dtypes."""
    dtypes = getattr(available, "dtypes", None)
    if dtypes is not None and hasattr(dtypes, "items"):  # a pandas DataFrame
        found = {str(c): str(d) for c, d in dtypes.items()}
        return list(found), found
    if callable(getattr(available, "schema", None)):  # an Ibis table
        available = available.schema()
    if isinstance(available, Mapping):  # name -> dtype, e.g. an Ibis schema
        found = {str(c): str(d) for c, d in available.items()}
        return list(found), found
    if isinstance(available, str) or not isinstance(available, Iterable):
        raise TypeError(
            "available should be column names, a name -> dtype mapping or a DataFrame, "
            f"got {type(available).__name__}"
        )
    return [str(c) for c in available], {}


def check_features(
    metadata: Mapping[str, Any],
    available: Iterable[str] | Mapping[str, Any],
    *,
    warn_extra: bool = False,
) -> None:
    """Refuse to use a model when the columns at hand lack features it was trained on.

    Parameters
    ----------
    metadata : mapping
        A registered model's metadata (``features``, optionally ``feature_dtypes``, and the
        ``name`` and ``version`` the message names).
    available : iterable of str, mapping of str to dtype, DataFrame or Ibis table
        The columns that can be given to the model. With dtypes (a mapping, an Ibis schema
        or table, a DataFrame) each feature's dtype kind must also be the one it was trained
        with.
    warn_extra : bool, default False
        Warn (:class:`ExtraFeaturesWarning`) about available columns the model does not use.
        Off by default because a scoring frame also carries ids and times; turn it on when
        ``available`` is the feature catalogue, to learn that a retrain could use more.

    Raises
    ------
    ModelMismatchError
        Naming the missing features and those whose dtype kind changed, and how to retrain.

    Examples
    --------
    >>> meta = {"name": "churn", "version": 3, "features": ["recency_days", "orders_90d"]}
    >>> check_features(meta, ["customer_id", "recency_days", "orders_90d"])
    >>> check_features(meta, ["customer_id", "recency_days"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segmint.models._errors.ModelMismatchError: model 'churn' v0003 cannot score these columns: ...
    """
    _check(metadata, available, warn_extra=warn_extra, stacklevel=3)


def _check(
    metadata: Mapping[str, Any], available: Any, *, warn_extra: bool, stacklevel: int
) -> None:
    features = model_features(metadata)
    names, dtypes = _available(available)
    present = set(names)
    missing = [f for f in features if f not in present]
    trained = metadata.get("feature_dtypes") or {}
    changed = {
        f: (str(trained[f]), dtypes[f])
        for f in features
        if f in trained and f in dtypes and dtype_kind(trained[f]) != dtype_kind(dtypes[f])
    }
    if missing or changed:
        raise ModelMismatchError(
            _message(metadata, features, missing, changed), missing=missing, changed=changed
        )
    extra = [c for c in names if c not in set(features)]
    if warn_extra and extra:
        warnings.warn(
            f"{_what(metadata)} does not use {len(extra)} available column(s): "
            f"{', '.join(extra)}; retrain with `segmint train {metadata.get('name', 'NAME')}` "
            "to let it use them",
            ExtraFeaturesWarning,
            stacklevel=stacklevel,
        )


def _what(metadata: Mapping[str, Any]) -> str:
    version = metadata.get("version")
    label = f" v{version:04d}" if isinstance(version, int) else ""
    return f"model {metadata.get('name', '?')!r}{label}"


def _message(
    metadata: Mapping[str, Any],
    features: list[str],
    missing: list[str],
    changed: dict[str, tuple[str, str]],
) -> str:
    parts = []
    if missing:
        parts.append(
            f"missing {len(missing)} of its {len(features)} features: {', '.join(missing)}"
        )
    if changed:
        parts.append(
            "changed type since training: "
            + ", ".join(
                f"{f} ({was}, {dtype_kind(was)} -> {now}, {dtype_kind(now)})"
                for f, (was, now) in changed.items()
            )
        )
    name = metadata.get("name", "NAME")
    return (
        f"{_what(metadata)} cannot score these columns: {'; '.join(parts)}. Retrain it on the "
        f"current features with `segmint train {name}`, or restore the features it needs"
    )
