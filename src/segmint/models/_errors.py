"""The errors and warnings of the model registry and its artifact store.

All are :class:`segmint.errors.Terminal`: retrying the same call gives the same answer, the
file, the name or the input has to change.
"""

from __future__ import annotations

from segmint.errors import NotFoundError, SegmintWarning, Terminal


class ArtifactKeyError(Terminal):
    """An artifact key is malformed or would reach outside the store's root."""


class ArtifactNotFoundError(NotFoundError):
    """No artifact is stored under the key."""


class ArtifactExistsError(Terminal):
    """An exclusive write found the key taken: artifacts written that way are never replaced."""


class ModelNotFoundError(NotFoundError):
    """The registry has no such model, version, or promoted version."""


class ModelNameError(Terminal):
    """A model name or version spec is malformed (not a lowercase identifier, not a version)."""


class ModelMetadataError(Terminal):
    """Metadata given to :meth:`ModelRegistry.register` cannot be stored or is inconsistent."""


class ModelIntegrityError(Terminal):
    """A stored model is not what was registered: changed bytes, missing files, bad metadata."""


class UntrustedModelError(Terminal):
    """A model file holds types outside the registry's allowlist, so it is not loaded.

    ``types`` lists the fully qualified names that were refused.
    """

    def __init__(self, message: str, types: list[str] | None = None) -> None:
        self.types = types or []
        super().__init__(message)


class ModelMismatchError(Terminal):
    """The columns at hand do not match the features a model was trained on.

    ``missing`` lists features that are absent; ``changed`` maps a feature to its
    ``(trained, now)`` dtypes where their kinds differ.
    """

    def __init__(
        self,
        message: str,
        *,
        missing: list[str] | None = None,
        changed: dict[str, tuple[str, str]] | None = None,
    ) -> None:
        self.missing = missing or []
        self.changed = changed or {}
        super().__init__(message)


class ExtraFeaturesWarning(SegmintWarning):
    """Features are available that the model was not trained on (it may be worth retraining)."""


class LibraryVersionWarning(SegmintWarning):
    """A model was saved with another minor version of a library it is made of."""
