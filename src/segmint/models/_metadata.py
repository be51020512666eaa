"""What a registered version records about itself, and turning metadata into plain JSON."""

from __future__ import annotations

import functools
import json
import math
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from importlib import metadata as importlib_metadata
from pathlib import PurePath
from typing import Any

import numpy as np

import segmint
from segmint.models._errors import ModelIntegrityError, ModelMetadataError

#: libraries recorded with each version: name -> distributions that provide it
LIBRARIES: dict[str, tuple[str, ...]] = {
    "scikit-learn": ("scikit-learn",),
    "imbalanced-learn": ("imbalanced-learn",),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "lightgbm": ("lightgbm",),
    "skops": ("skops",),
    "numpy": ("numpy",),
    "scipy": ("scipy",),
    "pandas": ("pandas",),
}
#: keys the registry writes; metadata given to ``register`` may not set them
RESERVED = frozenset(
    {"name", "version", "created_at", "content_hash", "size", "libraries", "format", "file"}
    | {"estimator_type", "trusted_types"}
)


def library_versions() -> dict[str, str]:
    """Versions of python, segmint and each installed library of :data:`LIBRARIES`.

    Read from the installed distributions, so nothing heavy is imported; a library that is
    not installed is left out.

    Examples
    --------
    >>> versions = library_versions()
    >>> sorted(set(versions) & {"python", "segmint", "scikit-learn"})
    ['python', 'scikit-learn', 'segmint']
    """
    return dict(_installed())


@functools.cache
def _installed() -> tuple[tuple[str, str], ...]:
    # reading distribution metadata takes ~30 ms; installed versions do not change mid-run
    found = {"python": platform.python_version(), "segmint": segmint.__version__}
    for name, dists in LIBRARIES.items():
        for dist in dists:
            try:
                found[name] = importlib_metadata.version(dist)
                break
            except importlib_metadata.PackageNotFoundError:
                continue
    return tuple(found.items())


def plain(value: Any, where: str = "metadata") -> Any:
    """``value`` as JSON-ready data: datetimes as ISO text, numpy values as Python ones,
    arrays, pandas indexes, tuples and sets as lists, NaN and infinities as None.

    Raises :class:`ModelMetadataError` naming the place (``metadata['metrics']['auc']``) of
    a value that has no JSON form.

    Examples
    --------
    >>> plain({"auc": np.float64(0.81), "train_to": datetime(2011, 9, 1), "loss": float("nan")})
    {'auc': 0.81, 'train_to': '2011-09-01T00:00:00', 'loss': None}
    """
    if isinstance(value, np.generic):  # before float: np.float64 is a float
        return plain(value.item(), where)
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.ndarray) or callable(getattr(value, "tolist", None)):
        return plain(value.tolist(), where)  # arrays, and pandas Index and Series
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if isinstance(key, np.generic):
                key = key.item()
            if not isinstance(key, str | int | float | bool):
                raise ModelMetadataError(
                    f"{where} has a key of type {type(key).__name__} ({key!r}); keys must be "
                    "strings or numbers"
                )
            out[str(key)] = plain(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [plain(item, f"{where}[{i}]") for i, item in enumerate(items)]
    raise ModelMetadataError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which has no JSON "
        "form; give numbers, strings, booleans, datetimes, lists or dicts"
    )


def encode(metadata: Mapping[str, Any]) -> bytes:
    """``metadata`` as indented UTF-8 JSON, ending in a newline."""
    return (json.dumps(metadata, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()


def decode(data: bytes, *, what: str) -> dict[str, Any]:
    """The JSON object in ``data``; :class:`ModelIntegrityError` if it is not one."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelIntegrityError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ModelIntegrityError(f"{what} holds a {type(value).__name__}, expected an object")
    return value


def headline(metrics: Any) -> dict[str, float]:
    """The top-level numbers of a ``metrics`` mapping: what a listing shows.

    >>> headline({"roc_auc": 0.84, "per_class": {"0": {"f1": 0.9}}, "n_test": 1200})
    {'roc_auc': 0.84, 'n_test': 1200}
    """
    if not isinstance(metrics, Mapping):
        return {}
    return {
        str(k): v
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model: what ``segmint models list`` shows.

    Attributes
    ----------
    name, version : str, int
        The model and its version number (1, 2, ...; folders are ``v0001``, ``v0002``).
    created_at : datetime
        When it was registered (UTC).
    content_hash : str
        ``sha256:<hex>`` of the model file, checked on every load.
    size : int
        Bytes in the model file.
    key : str
        The artifact-store folder holding ``model.skops`` and ``metadata.json``.
    metrics : dict
        The headline metrics (the top-level numbers of the metadata's ``metrics``).
    """

    name: str
    version: int
    created_at: datetime
    content_hash: str
    size: int
    key: str
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The version as its folder is named, e.g. ``v0003``."""
        return version_label(self.version)

    @classmethod
    def from_metadata(cls, meta: Mapping[str, Any], key: str) -> ModelVersion:
        """Read the registry's own fields of a stored ``metadata.json``."""
        try:
            return cls(
                name=str(meta["name"]),
                version=int(meta["version"]),
                created_at=datetime.fromisoformat(str(meta["created_at"])),
                content_hash=str(meta["content_hash"]),
                size=int(meta["size"]),
                key=key,
                metrics=headline(meta.get("metrics")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelIntegrityError(
                f"{key}/metadata.json lacks the registry's fields or has bad ones ({exc!r})"
            ) from exc


def version_label(version: int) -> str:
    """``3`` -> ``'v0003'``: four digits keep folders in order in any file listing."""
    return f"v{version:04d}"
