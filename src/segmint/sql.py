"""Quoting for the SQL segmint writes itself.

Identifiers and literals always pass through :func:`ident` and :func:`lit`, so a column name
from a user's file can never change the meaning of a statement.
"""

from __future__ import annotations

from datetime import datetime


def ident(name: str) -> str:
    """A double-quoted SQL identifier.

    >>> ident('session ID')
    '"session ID"'
    >>> ident('a"b')
    '"a""b"'
    """
    return '"' + str(name).replace('"', '""') + '"'


def lit(value: object) -> str:
    """A SQL literal for a string, number, bool, None or datetime.

    >>> lit("it's")
    "'it''s'"
    >>> lit(None), lit(True), lit(3)
    ('NULL', 'TRUE', '3')
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.strftime('%Y-%m-%d %H:%M:%S')}'"
    return "'" + str(value).replace("'", "''") + "'"
