"""Checks on what a caller hands the registry, and what it adds to a version's record."""

from __future__ import annotations

import getpass
import hashlib
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from segmint.models._errors import LibraryVersionWarning, ModelMetadataError, ModelNameError
from segmint.models._features import model_features
from segmint.models._metadata import RESERVED, ModelVersion, library_versions, plain

NAME = re.compile(r"^[a-z_][a-z0-9_]*$")  # as model names in segmint.yaml
_SPEC = re.compile(r"^v?(\d+)$")
#: libraries whose types, when in a model, make a version difference worth a warning
_TYPE_LIBRARIES = {"imblearn.": "imbalanced-learn", "xgboost.": "xgboost", "lightgbm.": "lightgbm"}


def check_name(name: str) -> None:
    """Refuse a name that is not a lowercase identifier: names become folder names."""
    if not isinstance(name, str) or not NAME.match(name):
        raise ModelNameError(
            f"model name {name!r}: expected a lowercase identifier like 'purchase_intent' "
            "(letters, digits, underscores)"
        )


def parse_version(version: int | str) -> int:
    """``3``, ``"3"`` or ``"v0003"`` -> 3."""
    if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
        return version
    match = _SPEC.match(version) if isinstance(version, str) else None
    if match and int(match[1]) >= 1:
        return int(match[1])
    raise ModelNameError(
        f"version {version!r}: expected a number >= 1, 'v0003', 'latest' or 'production'"
    )


def trusted_names(types: Iterable[str]) -> frozenset[str]:
    """Extra trusted type names, checked to be fully qualified names."""
    if isinstance(types, str):
        raise TypeError("trusted should be a list of type names, not one string")
    bad = [t for t in types if not isinstance(t, str) or "." not in t]
    if bad:
        raise TypeError(f"trusted types must be fully qualified names like 'pkg.mod.Cls': {bad}")
    return frozenset(types)


def user_metadata(metadata: Mapping[str, Any], estimator: Any) -> dict[str, Any]:
    """The caller's metadata, checked and made plain, with its ``features``."""
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata should be a mapping, got {type(metadata).__name__}")
    clash = sorted(RESERVED & set(metadata))
    if clash:
        raise ModelMetadataError(
            f"metadata sets {', '.join(clash)}, which the registry writes itself; rename them"
        )
    record = plain(dict(metadata))
    fitted = getattr(estimator, "feature_names_in_", None)
    fitted = None if fitted is None else [str(f) for f in fitted]
    if "features" not in record and fitted is not None:
        record["features"] = fitted
    features = model_features(record)
    if fitted is not None and fitted != features:
        raise ModelMetadataError(
            f"metadata['features'] ({', '.join(features)}) are not the columns the estimator "
            f"was fitted on ({', '.join(fitted)}), in the same order"
        )
    dtypes = record.get("feature_dtypes")
    if dtypes is not None:
        if not isinstance(dtypes, dict) or not all(isinstance(d, str) for d in dtypes.values()):
            raise ModelMetadataError(
                f"metadata['feature_dtypes'] should map feature -> dtype name, got {dtypes!r}"
            )
        unknown = sorted(set(dtypes) - set(features))
        if unknown:
            raise ModelMetadataError(
                f"metadata['feature_dtypes'] names columns that are not features: {unknown}"
            )
    return record


def digest(data: bytes) -> str:
    """The content hash the registry records and checks: ``sha256:<hex>``."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def current_user() -> str | None:
    """Who promotes, when the system can tell."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # no login name in some containers
        return None


def warn_libraries(meta: Mapping[str, Any], chosen: ModelVersion, *, stacklevel: int) -> None:
    """Warn when a library the model is made of is another minor version than at saving."""
    recorded = meta.get("libraries") or {}
    current = library_versions()
    types = meta.get("trusted_types") or []
    used = {"scikit-learn", "skops"} | {
        lib for prefix, lib in _TYPE_LIBRARIES.items() if any(t.startswith(prefix) for t in types)
    }
    changed = [
        f"{lib} {recorded[lib]} (now {current[lib]})"
        for lib in sorted(used)
        if lib in recorded
        and lib in current
        and str(recorded[lib]).split(".")[:2] != current[lib].split(".")[:2]
    ]
    if changed:
        warnings.warn(
            f"model {chosen.name!r} {chosen.label} was saved with {', '.join(changed)}; its "
            f"scores may differ: retrain with `segmint train {chosen.name}`",
            LibraryVersionWarning,
            stacklevel=stacklevel,
        )
