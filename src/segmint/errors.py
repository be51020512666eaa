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


class EmptySourceError(SourceError):
    """A source file holds no rows (0 bytes, blank, or a header only): reported, not an error."""


class NotFoundError(Terminal):
    """A customer, table or object that was asked for does not exist."""


class NotFittedError(Terminal):
    """A model was asked to predict or recommend before it was fitted."""


class InvalidParameter(Terminal, ValueError):
    """A library call was given a value it cannot use (a parameter out of range, too few
    rows). Also a ``ValueError``, so scikit-learn's conventions and checks hold for the
    estimators that raise it."""


class InvalidArgument(Terminal, TypeError):
    """A library call was given an argument of the wrong kind. Also a ``TypeError``."""


class RuleError(Terminal):
    """A rule or feature expression cannot be used: it names something unknown or mixes types.

    ``position`` is the 0-based offset in ``text`` the problem starts at; the message shows
    the text with a caret under it.
    """

    def __init__(self, message: str, text: str = "", position: int | None = None) -> None:
        self.reason = message
        self.text = text
        self.position = position
        super().__init__(self._render())

    @property
    def column(self) -> int | None:
        """1-based column of the problem, or None when it concerns the whole text."""
        return None if self.position is None else self.position + 1

    def _render(self) -> str:
        if self.position is None or not self.text:
            return self.reason
        line = self.text.replace("\n", " ")
        return f"column {self.position + 1}: {self.reason}\n  {line}\n  {' ' * self.position}^"


class RuleSyntaxError(RuleError):
    """A rule does not parse: ``expected`` names what could come at ``position``."""

    def __init__(
        self, message: str, text: str, position: int, expected: tuple[str, ...] = ()
    ) -> None:
        self.expected = expected
        super().__init__(message, text, position)


class KeyMissingError(ConfigError):
    """PII must be encrypted but no key is configured."""


class DecryptionError(Terminal):
    """An encrypted value cannot be read: another key, another column, or altered."""


class StoreUnavailable(Transient):
    """A warehouse or online store cannot be reached."""


class SegmintWarning(UserWarning):
    """Base category of the warnings segmint emits."""
