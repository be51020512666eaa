"""Saving and loading estimators with skops, against an explicit allowlist of types.

skops stores an object as a tree of typed nodes and, unlike pickle, builds nothing while it
reads that tree. :func:`skops.io.get_untrusted_types` lists every type in a file that skops
does not trust by default (it trusts scikit-learn's public estimators, numpy and scipy
ufuncs, builtins containers and primitives). We load a file only when each of those types is
in :data:`TRUSTED_TYPES` (plus any a registry was given); otherwise nothing is constructed
and :class:`UntrustedModelError` names the types. There is no pickle fallback.

:data:`TRUSTED_TYPES` is exactly what skops 0.16 reports for the pipelines segmint trains
(``segments/predictive``): every algorithm (XGBoost, LightGBM, random forest, logistic
regression) with each imbalance mode (none, class weights, SMOTE in an imbalanced-learn
pipeline), binary and multi-class, bare and inside ``CalibratedClassifierCV`` (sigmoid and
isotonic), with a ``ColumnTransformer`` of ``SimpleImputer``, ``StandardScaler`` and
``OneHotEncoder``. ``tests/models/test_safety.py`` rebuilds those pipelines and checks that
the list is still complete and that each name still imports (a library release that moves a
private class fails there, not at scoring time).

The names are of private modules, and the types with native payloads (``Tree``, the two
``Booster`` types) are trusted because we write these files ourselves: skops notes that a
*crafted* tree can crash the process on ``predict``. The content hash the registry checks
before parsing catches a changed file, not a writer who rewrites the hash too, so the
artifact store must be writable only by whoever trains models.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from typing import Any

from segmint.models._errors import ModelIntegrityError, UntrustedModelError

#: types a model file may hold beyond skops' defaults, each a fully qualified name
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        # containers and dtypes (skops trusts neither by default)
        "collections.OrderedDict",  # LightGBM's booster parameters
        "numpy.dtype",  # dtypes of fitted arrays: ColumnTransformer, encoders, imputers
        # scikit-learn internals of public estimators
        "sklearn.tree._tree.Tree",  # RandomForestClassifier's trees
        "sklearn.calibration._CalibratedClassifier",  # CalibratedClassifierCV, one per fold
        "sklearn.calibration._SigmoidCalibration",  # method="sigmoid" (isotonic is public)
        "sklearn.neighbors._kd_tree.KDTree",  # SMOTE's fitted nearest neighbours
        "sklearn.metrics._dist_metrics.EuclideanDistance64",  # ... and their metric
        # imbalanced-learn
        "imblearn.pipeline.Pipeline",
        "imblearn.over_sampling._smote.base.SMOTE",
        # XGBoost
        "xgboost.sklearn.XGBClassifier",
        "xgboost.core.Booster",  # saved as XGBoost's own model buffer
        # LightGBM
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.basic.Booster",  # saved as LightGBM's own model text
    }
)


def dump_estimator(estimator: Any) -> bytes:
    """``estimator`` in the skops format; :class:`UntrustedModelError` if skops cannot."""
    import skops.io as sio

    try:
        return sio.dumps(estimator)
    except (TypeError, ValueError, AttributeError) as exc:
        raise UntrustedModelError(
            f"cannot save {type(estimator).__name__} in the skops format: {exc}"
        ) from exc


def untrusted_types(data: bytes, *, what: str) -> list[str]:
    """Types in the skops file ``data`` that skops does not trust by default, sorted."""
    import skops.io as sio

    try:
        return sio.get_untrusted_types(data=data)
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ModelIntegrityError(f"{what} is not a readable skops file: {exc}") from exc


def refused_types(data: bytes, *, trusted: Iterable[str], what: str) -> list[str]:
    """Types in ``data`` that are neither trusted by skops nor in ``trusted``, sorted."""
    allowed = set(trusted)
    return [t for t in untrusted_types(data, what=what) if t not in allowed]


def load_estimator(data: bytes, *, trusted: Iterable[str], what: str) -> Any:
    """Load the skops file ``data`` when it holds only trusted types, else refuse.

    Parameters
    ----------
    data : bytes
        A file written by :func:`dump_estimator`.
    trusted : iterable of str
        Fully qualified type names trusted beyond skops' defaults (:data:`TRUSTED_TYPES`).
    what : str
        Names the file in messages, e.g. ``"model 'churn' v0003"``.

    Raises
    ------
    UntrustedModelError
        The file holds other types; nothing in it has been constructed.
    ModelIntegrityError
        The bytes are not a skops file.

    Examples
    --------
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> import os
    >>> data = dump_estimator(FunctionTransformer(func=os.system))
    >>> load_estimator(data, trusted=TRUSTED_TYPES, what="demo")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segmint.models._errors.UntrustedModelError: demo holds types segmint does not load: ...system
    """
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    allowed = sorted(set(trusted))
    refused = refused_types(data, trusted=allowed, what=what)
    if refused:
        raise UntrustedModelError(
            f"{what} holds types segmint does not load: {', '.join(refused)}", refused
        )
    try:
        # skops audits the tree again against the same list before it constructs anything
        return sio.loads(data, trusted=allowed)
    except UntrustedTypesFoundException as exc:
        raise UntrustedModelError(f"{what}: {exc}") from exc
