"""The model registry: numbered, immutable versions of each model, one of them in production.

Layout under the registry's prefix (``models/predictive`` in the project's ``.segmint/``)::

    <name>/v0001/model.skops      the estimator, in the skops format
    <name>/v0001/metadata.json    what it was trained on and how well it did (written last)
    <name>/production.json        which version is in production, since when, by whom

A version number is claimed by the exclusive write of its ``model.skops``, so two trainers
registering at once never share one, and a file once written is never replaced. The
metadata is written after the model and a version counts only once its metadata is there: a
crash in between leaves an unlisted model file and a number that is not used again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from segmint.models._checks import (
    NAME,
    check_name,
    current_user,
    digest,
    parse_version,
    trusted_names,
    user_metadata,
    warn_libraries,
)
from segmint.models._errors import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    ModelIntegrityError,
    ModelNameError,
    ModelNotFoundError,
    UntrustedModelError,
)
from segmint.models._features import _check, model_features
from segmint.models._metadata import ModelVersion, decode, encode, library_versions, version_label
from segmint.models._safety import TRUSTED_TYPES, dump_estimator, load_estimator, untrusted_types
from segmint.models._store import ArtifactStore, LocalArtifacts, check_key

if TYPE_CHECKING:
    from segmint.config import ProjectConfig

MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"
PRODUCTION_FILE = "production.json"
_FOLDER = re.compile(r"^v(\d{4,})$")
_MAX_CLAIMS = 1000


@dataclass(frozen=True)
class ModelSummary:
    """A model in :meth:`ModelRegistry.models`: its latest and production versions."""

    name: str
    latest: ModelVersion
    production: ModelVersion | None
    count: int


@dataclass(frozen=True)
class LoadedModel:
    """An estimator loaded from the registry, with its metadata and version."""

    estimator: Any
    metadata: dict[str, Any]
    version: ModelVersion

    @property
    def features(self) -> list[str]:
        """The columns the model was trained on, in training order."""
        return model_features(self.metadata)

    def check_features(self, available: Any, *, warn_extra: bool = False) -> None:
        """:func:`check_features` for this model (raises :class:`ModelMismatchError`)."""
        _check(self.metadata, available, warn_extra=warn_extra, stacklevel=3)


class ModelRegistry:
    """Versioned models with their metadata in an :class:`ArtifactStore`.

    Parameters
    ----------
    store : ArtifactStore
        Where the files go, e.g. ``LocalArtifacts(Path(".segmint"))``.
    prefix : str, default "models/predictive"
        The folder of the store the registry keeps its models in.
    trusted : iterable of str, default ()
        Fully qualified type names to load beyond :data:`TRUSTED_TYPES`, for a model made of
        other types that you have reviewed.

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> from pathlib import Path
    >>> from sklearn.linear_model import LogisticRegression
    >>> tmp = tempfile.TemporaryDirectory()
    >>> registry = ModelRegistry(LocalArtifacts(Path(tmp.name)))
    >>> X = pd.DataFrame({"orders_90d": [0, 1, 4, 6], "recency_days": [200, 90, 12, 3]})
    >>> clf = LogisticRegression().fit(X, [0, 0, 1, 1])
    >>> registry.register("purchase_intent", clf, {"metrics": {"roc_auc": 1.0}}).label
    'v0001'
    >>> model = registry.get("purchase_intent")
    >>> model.features, model.version.metrics
    (['orders_90d', 'recency_days'], {'roc_auc': 1.0})
    >>> registry.promote("purchase_intent", 1).version
    1
    >>> [(m.name, m.latest.version, m.production.version) for m in registry.models()]
    [('purchase_intent', 1, 1)]
    >>> tmp.cleanup()
    """

    def __init__(
        self,
        store: ArtifactStore,
        prefix: str = "models/predictive",
        *,
        trusted: Iterable[str] = (),
    ) -> None:
        self.store = store
        self.prefix = check_key(prefix.strip("/"))
        self.trusted = frozenset(TRUSTED_TYPES | trusted_names(trusted))

    def __repr__(self) -> str:
        return f"ModelRegistry({self.store!r}, prefix={self.prefix!r})"

    # -- writing ---------------------------------------------------------------------------

    def register(self, name: str, estimator: Any, metadata: Mapping[str, Any]) -> ModelVersion:
        """Save a fitted ``estimator`` as the next version of model ``name``.

        Parameters
        ----------
        name : str
            A lowercase identifier, as the model's name in ``segmint.yaml``.
        estimator : object
            A fitted scikit-learn compatible estimator or pipeline.
        metadata : mapping
            What the version records: ``features`` (the input columns, in order; taken from
            the estimator's ``feature_names_in_`` when absent), optionally ``feature_dtypes``
            (:func:`feature_dtypes`), and anything else JSON can hold: entity, label,
            data window, parameters, ``metrics`` (the top-level numbers are the headline),
            classes. Datetimes and numpy values are converted.

        Returns
        -------
        ModelVersion
            The new version. Its ``metadata.json`` also holds name, version, created_at
            (UTC), content_hash, size and the versions of the libraries in use.

        Raises
        ------
        ModelMetadataError
            Metadata sets a key the registry writes, has no JSON form, or names other
            features than the estimator was fitted on.
        UntrustedModelError
            The estimator holds types the registry would refuse to load.
        """
        check_name(name)
        record = user_metadata(metadata, estimator)
        data = dump_estimator(estimator)
        what = f"model {name!r}"
        found = untrusted_types(data, what=what)
        refused = [t for t in found if t not in self.trusted]
        if refused:
            raise UntrustedModelError(
                f"{what} holds types the registry does not load: {', '.join(refused)}. Use the "
                "estimators of segmint's pipelines, or pass reviewed types to "
                "ModelRegistry(..., trusted=[...])",
                refused,
            )
        version = self._claim(name, data)
        key = self._folder(name, version)
        stored = {
            "name": name,
            "version": version,
            "created_at": datetime.now(UTC).isoformat(),
            **record,
            "file": MODEL_FILE,
            "format": "skops",
            "content_hash": digest(data),
            "size": len(data),
            "estimator_type": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
            "trusted_types": found,
            "libraries": library_versions(),
        }
        try:
            self.store.write_bytes(f"{key}/{METADATA_FILE}", encode(stored), overwrite=False)
        except BaseException:
            # an orphan model file is never listed, but leave as little behind as we can
            self.store.delete(f"{key}/{MODEL_FILE}")
            raise
        return ModelVersion.from_metadata(stored, key)

    def _claim(self, name: str, data: bytes) -> int:
        """Write ``data`` as the first free version's model file; the write is the claim."""
        version = max(self._files(name), default=0) + 1
        for _ in range(_MAX_CLAIMS):
            try:
                self.store.write_bytes(
                    f"{self._folder(name, version)}/{MODEL_FILE}", data, overwrite=False
                )
                return version
            except ArtifactExistsError:
                version = max(version + 1, max(self._files(name), default=0) + 1)
        raise ModelIntegrityError(  # pragma: no cover - needs a thousand racing writers
            f"model {name!r}: no free version number after {_MAX_CLAIMS} attempts"
        )

    def promote(self, name: str, version: int | str) -> ModelVersion:
        """Make ``version`` (a number, ``"v0003"`` or ``"latest"``) the production version.

        The model file is checked against its content hash first; the pointer
        (``production.json``: version, hash, when, by whom, the previous version) is
        replaced atomically.
        """
        if version is None or version == "production":
            raise ModelNameError(f"promote needs a version number or 'latest', got {version!r}")
        chosen = self.resolve(name, version)
        self._read_model(chosen)
        current = self.production(name)
        pointer = {
            "name": name,
            "version": chosen.version,
            "content_hash": chosen.content_hash,
            "promoted_at": datetime.now(UTC).isoformat(),
            "promoted_by": current_user(),
            "previous": current.version if current else None,
        }
        self.store.write_bytes(f"{self.prefix}/{name}/{PRODUCTION_FILE}", encode(pointer))
        return chosen

    # -- reading ---------------------------------------------------------------------------

    def versions(self, name: str) -> list[ModelVersion]:
        """Every complete version of ``name``, oldest first (empty when there is none)."""
        check_name(name)
        return [self._version(name, v) for v in self._complete(name)]

    def models(self) -> list[ModelSummary]:
        """Every model with its latest version and the promoted one, by name."""
        found: dict[str, dict[int, set[str]]] = {}
        for key in self.store.list_keys(self.prefix):
            parts = key[len(self.prefix) + 1 :].split("/")
            match = _FOLDER.match(parts[1]) if len(parts) == 3 else None
            if match and NAME.match(parts[0]):
                found.setdefault(parts[0], {}).setdefault(int(match[1]), set()).add(parts[2])
        out = []
        for name in sorted(found):
            complete = sorted(v for v, files in found[name].items() if _is_complete(files))
            if complete:
                out.append(
                    ModelSummary(
                        name,
                        self._version(name, complete[-1]),
                        self.production(name),
                        len(complete),
                    )
                )
        return out

    def production(self, name: str) -> ModelVersion | None:
        """The promoted version of ``name``, or None when none has been promoted."""
        check_name(name)
        key = f"{self.prefix}/{name}/{PRODUCTION_FILE}"
        try:
            pointer = decode(self.store.read_bytes(key), what=key)
        except ArtifactNotFoundError:
            return None
        number = pointer.get("version")
        if not isinstance(number, int) or number not in self._complete(name):
            raise ModelIntegrityError(
                f"{key} points at version {number!r}, which model {name!r} does not have; "
                f"promote an existing one with `segmint models promote {name} VERSION`"
            )
        chosen = self._version(name, number)
        if pointer.get("content_hash") != chosen.content_hash:
            raise ModelIntegrityError(
                f"model {name!r} {chosen.label} is not the file that was promoted (hash "
                f"{pointer.get('content_hash')} when promoted, {chosen.content_hash} now); "
                f"promote it again with `segmint models promote {name} {chosen.version}`"
            )
        return chosen

    def resolve(self, name: str, version: int | str | None = None) -> ModelVersion:
        """The version a spec names: None (production if promoted, else latest), ``"latest"``,
        ``"production"``, a number or ``"v0003"``."""
        check_name(name)
        complete = self._complete(name)
        if not complete:
            raise ModelNotFoundError(
                f"no model {name!r} in {self.store!r} under {self.prefix!r}; train one with "
                f"`segmint train {name}`"
            )
        if version is None or version == "production":
            chosen = self.production(name)
            if chosen is not None:
                return chosen
            if version is None:
                return self._version(name, complete[-1])
            raise ModelNotFoundError(
                f"model {name!r} has no production version; promote one with "
                f"`segmint models promote {name} VERSION` (versions: {_labels(complete)})"
            )
        if version == "latest":
            return self._version(name, complete[-1])
        number = parse_version(version)
        if number not in complete:
            raise ModelNotFoundError(
                f"model {name!r} has no version {version!r}; it has {_labels(complete)}"
            )
        return self._version(name, number)

    def metadata(self, name: str, version: int | str | None = None) -> dict[str, Any]:
        """The stored ``metadata.json`` of a version (default as in :meth:`get`)."""
        chosen = self.resolve(name, version)
        return self._metadata(name, chosen.version)

    def get(
        self, name: str, version: int | str | None = None, *, available: Any = None
    ) -> LoadedModel:
        """Load a version of ``name``: by default the production one, else the latest.

        The model file must match the content hash in its metadata and hold only trusted
        types; with ``available`` (column names, a name -> dtype mapping, a DataFrame or an
        Ibis table) the features are checked before anything is loaded.

        Raises
        ------
        ModelNotFoundError
            No such model or version.
        ModelIntegrityError
            The file is missing, changed since registration, or not a skops file.
        UntrustedModelError
            The file holds a type outside the allowlist (nothing in it has been built).
        ModelMismatchError
            ``available`` lacks features of the model or their dtype kind changed.
        """
        chosen = self.resolve(name, version)
        meta = self._metadata(name, chosen.version)
        if available is not None:
            _check(meta, available, warn_extra=False, stacklevel=3)
        data = self._read_model(chosen)
        estimator = load_estimator(
            data, trusted=self.trusted, what=f"model {name!r} {chosen.label}"
        )
        warn_libraries(meta, chosen, stacklevel=3)
        return LoadedModel(estimator, meta, chosen)

    # -- helpers ---------------------------------------------------------------------------

    def _folder(self, name: str, version: int) -> str:
        return f"{self.prefix}/{name}/{version_label(version)}"

    def _files(self, name: str) -> dict[int, set[str]]:
        """Files in each version folder of ``name``, complete or not."""
        base = f"{self.prefix}/{name}"
        files: dict[int, set[str]] = {}
        for key in self.store.list_keys(base):
            parts = key[len(base) + 1 :].split("/")
            match = _FOLDER.match(parts[0]) if len(parts) == 2 else None
            if match:
                files.setdefault(int(match[1]), set()).add(parts[1])
        return files

    def _complete(self, name: str) -> list[int]:
        return sorted(v for v, files in self._files(name).items() if _is_complete(files))

    def _metadata(self, name: str, version: int) -> dict[str, Any]:
        key = f"{self._folder(name, version)}/{METADATA_FILE}"
        meta = decode(self.store.read_bytes(key), what=key)
        if meta.get("name") != name or meta.get("version") != version:
            raise ModelIntegrityError(
                f"{key} describes {meta.get('name')!r} version {meta.get('version')!r}, not "
                f"{name!r} version {version}"
            )
        return meta

    def _version(self, name: str, version: int) -> ModelVersion:
        return ModelVersion.from_metadata(
            self._metadata(name, version), self._folder(name, version)
        )

    def _read_model(self, chosen: ModelVersion) -> bytes:
        key = f"{chosen.key}/{MODEL_FILE}"
        what = f"model {chosen.name!r} {chosen.label}"
        try:
            data = self.store.read_bytes(key)
        except ArtifactNotFoundError:
            raise ModelIntegrityError(
                f"{what} has metadata but its model file {key} is gone; restore it or "
                f"retrain with `segmint train {chosen.name}`"
            ) from None
        found = digest(data)
        if found != chosen.content_hash or len(data) != chosen.size:
            raise ModelIntegrityError(
                f"{what}: {key} does not match the content hash recorded when it was "
                f"registered ({chosen.content_hash}, {chosen.size} bytes; found {found}, "
                f"{len(data)} bytes). It was changed or damaged since and is not loaded: "
                f"restore the file or retrain with `segmint train {chosen.name}`"
            )
        return data


def project_registry(cfg: ProjectConfig) -> ModelRegistry:
    """The registry of a project: ``<home>/models/predictive/`` (``.segmint/`` by default)."""
    return ModelRegistry(LocalArtifacts(cfg.home_dir))


def _is_complete(files: set[str]) -> bool:
    # metadata is written last, so it marks a finished version; a model file gone from
    # beside it is an integrity error when loading, not a version that silently vanished
    return METADATA_FILE in files


def _labels(versions: list[int]) -> str:
    return ", ".join(version_label(v) for v in versions)
