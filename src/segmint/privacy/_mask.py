"""Masking personal data for display: encrypted tokens, e-mail addresses and phone numbers.

The quarantine keeps a rejected row (or a line that could not be parsed) so it can be repaired,
with its personal data encrypted. Everything that *shows* such a row — the data-quality
reports, the terminal, ``segmint quarantine`` — shows it through :func:`display_row`, and any
free text that may quote input (a reader's error message) goes through :func:`mask_text` (or its
SQL form, :func:`mask_sql`, inside the staging query), so clear values never reach a screen or a
report file.
"""

from __future__ import annotations

import json
import re
from typing import Any

from segmint.privacy._crypto import _PREFIX
from segmint.sql import lit

ENCRYPTED = "(encrypted)"
EMAIL_MASK = "(e-mail)"
PHONE_MASK = "(phone)"
# written in the subset of syntax that Python's re and DuckDB's RE2 read alike
EMAIL_PATTERN = r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+"
#: seven or more digits, optionally grouped by spaces, dots, dashes or parentheses
PHONE_PATTERN = r"\+?\(?[0-9][0-9 ().-]{5,}[0-9]"
_EMAIL = re.compile(EMAIL_PATTERN)
_PHONE = re.compile(PHONE_PATTERN)


def mask_text(text: str) -> str:
    """``text`` with e-mail addresses and phone-like digit runs replaced by placeholders.

    Examples
    --------
    >>> mask_text('line 3: "Bob.Two@Example.com,+44 20 7946 0991" has 2 fields, expected 3')
    'line 3: "(e-mail),(phone)" has 2 fields, expected 3'
    """
    return _PHONE.sub(PHONE_MASK, _EMAIL.sub(EMAIL_MASK, text))


def mask_sql(expr: str) -> str:
    """The SQL (DuckDB) form of :func:`mask_text` over the text expression ``expr``."""
    emails = f"regexp_replace({expr}, {lit(EMAIL_PATTERN)}, {lit(EMAIL_MASK)}, 'g')"
    return f"regexp_replace({emails}, {lit(PHONE_PATTERN)}, {lit(PHONE_MASK)}, 'g')"


def is_token(value: Any) -> bool:
    """Whether ``value`` is an encrypted token."""
    return isinstance(value, str) and value.startswith(_PREFIX)


def row_values(row: str | None) -> dict[str, Any] | None:
    """A quarantined row's values by column, or None when it is not a JSON object (a line
    kept as text)."""
    if not row:
        return None
    try:
        values = json.loads(row)
    except ValueError:
        return None
    return values if isinstance(values, dict) else None


def display_row(row: str | None) -> str | None:
    """A quarantined row's JSON for display: encrypted values shown as ``(encrypted)``.

    Examples
    --------
    >>> display_row('{"customer_id": "c1", "email": "v1:AAAA", "age": "-4"}')
    '{"customer_id": "c1", "email": "(encrypted)", "age": "-4"}'
    >>> display_row('not json, an e-mail a@b.com')
    'not json, an e-mail (e-mail)'
    """
    if row is None:
        return None
    values = row_values(row)
    if values is None:
        return mask_text(row)
    return json.dumps(
        {k: ENCRYPTED if is_token(v) else v for k, v in values.items()}, ensure_ascii=False
    )


def decrypt_row(row: str | None, cipher: Any) -> str | None:
    """A quarantined row's JSON with its tokens decrypted by ``cipher`` (a key holder's view).

    A value of file column ``c`` was encrypted for ``raw:c``; a whole unparsable line is kept
    under ``line`` (``raw:line``).
    """
    values = row_values(row)
    if row is None or values is None:
        return row
    clear = {k: cipher.decrypt(v, f"raw:{k}") if is_token(v) else v for k, v in values.items()}
    return json.dumps(clear, ensure_ascii=False)
