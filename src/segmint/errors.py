"""The errors segmint raises. Catch :class:`SegmintError` for all of them.

Terminal errors (bad configuration, bad data shape) will fail the same way on retry;
:class:`Transient` ones (a store that is down) may succeed later, so retry logic can tell.
"""

from __future__ import annotations


class SegmintError(Exception):
    """Root of every error segmint raises on purpose."""


class Terminal(SegmintError):
    """Retrying will not help: the input or configuration must change."""


class Transient(SegmintError):
    """A dependency is unavailable for now; retrying later may succeed."""


class ConfigError(Terminal):
    """The project file or environment is invalid. ``problems`` lists every finding."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        self.problems = problems or [message]
        super().__init__(message)


class SchemaError(Terminal):
    """A source does not have the columns or format its mapping expects."""


class SourceError(Terminal):
    """A source file cannot be read (empty, not text, not the declared format)."""


class NotFoundError(Terminal):
    """A customer, table or object that was asked for does not exist."""


class KeyMissingError(ConfigError):
    """PII must be encrypted but no key is configured."""


class DecryptionError(Terminal):
    """An encrypted value cannot be read: another key, another column, or altered."""


class StoreUnavailable(Transient):
    """A warehouse or online store cannot be reached."""


class SegmintWarning(UserWarning):
    """Base category of the warnings segmint emits."""
