"""Personal data on the live path: what an event becomes before anything stores or sends it.

The real-time path takes events from browsers and servers, and every store and webhook
downstream of the door (the live documents, aliases, members, changes, the event log and the
stream, dead letters, deliveries) keeps what it is given. So the transformation happens once,
when an event is validated, and nothing downstream ever sees a clear value:

- an **identifier** (``customer_id``, ``anonymous_id``) that is an e-mail address or a phone
  number is replaced by its keyed hash, written ``email:<hmac>`` / ``phone:<hmac>`` (the form
  the published aliases use); the hash is the warehouse's (:func:`identifier_hash`, the same
  normalisation as ingest), so a live e-mail meets the batch customer who has it, in any case;
- an event field or ``properties`` key named in the project's ``pii:`` list is **encrypted**
  (the warehouse's cipher, the field or key name bound as associated data);
- **free text** (``query``, ``page_url``, every other string in ``properties``) has e-mail
  addresses and phone numbers masked (``serve.mask_free_text``); the other short fields
  (``session_id``, ``product_id``, ...) have e-mail addresses masked.

A rejected event is kept as a dead letter through :meth:`LivePrivacy.raw`, the same rules
applied to whatever it holds, with characters UTF-8 cannot encode replaced.

Cost: the cipher is built once per key (:func:`live_privacy` caches it), identifiers are
hashed once per process (a bounded cache), and every pattern is compiled once; an event with
no ``@`` and no digits in its text pays a few string scans.

>>> p = LivePrivacy(["email"], "emails_and_phones", PiiCipher(bytes(32)))
>>> p.identifier(" Ann@Example.com ") == p.identifier("ann@example.com")
True
>>> p.identifier("C0001")
'C0001'
>>> p.text("call +44 20 7946 0991 or write to ann@example.com")
'call (phone) or write to (e-mail)'
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any

from segmint.errors import KeyMissingError
from segmint.privacy._crypto import PiiCipher, load_master_key
from segmint.privacy._mask import _EMAIL, EMAIL_MASK, PHONE_MASK, PHONE_PATTERN

#: event fields that identify a person (hashed when they are an e-mail or phone)
IDENTIFIER_FIELDS = ("customer_id", "anonymous_id")
#: event fields of free text (e-mails and phones masked)
FREE_TEXT_FIELDS = ("query", "page_url")
#: short string fields: e-mail addresses masked (phone-like digit runs are often codes there)
CODE_FIELDS = ("session_id", "product_id", "category", "device", "channel")
MASK_SETTINGS = ("emails_and_phones", "emails", "off")
#: what replaces a PII value when no key is set to encrypt it (only in dead letters)
REMOVED = "(removed: no PII key)"
TOO_DEEP = "(too deep)"

_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)
_NOT_PHONE = re.compile(r"[^0-9+]")
#: an identifier read as a phone number: an international (+...) or grouped ("(0)20 7946")
#: form; bare digit strings, or digits with dashes, are customer ids, never phones
_PHONE_ID = re.compile(r"(?:tel:)?(?=[^ (]*[ (+])[0-9+()./ -]+", re.IGNORECASE)
#: the fields a dead letter keeps through the same rule as an accepted event
_SHORT = frozenset(("event_id", "event_type", "ts", "country", *IDENTIFIER_FIELDS, *CODE_FIELDS))
#: a phone in free text: mask_text's pattern, but a whole run (not inside a word), so an id
#: such as "sku-ab12345678cd" or a hex token keeps its digits
_PHONE_TEXT = re.compile(rf"(?<![A-Za-z0-9]){PHONE_PATTERN}(?![A-Za-z0-9])")
_CACHE_MAX = 100_000


def _digits(text: str) -> int:
    """How many digits ``text`` has: a phone needs 7, and counting them (deleting them from
    the bytes, in C) costs a seventh of searching for the pattern."""
    raw = text.encode("utf-8", "surrogatepass")
    return len(raw) - len(raw.translate(None, b"0123456789"))


_SCALARS = frozenset((int, float, bool, type(None)))
_MAX_DEPTH = 16


def normalize_email(text: str) -> str:
    """An e-mail as the warehouse hashes it: trimmed, ``mailto:`` dropped, lower case
    (ingest's ``lower(regexp_replace(trim(v), '^mailto:', '', 'i'))``)."""
    return _MAILTO.sub("", text.strip()).lower()


def normalize_phone(text: str) -> str:
    """A phone number as the warehouse hashes it: only its digits and ``+``."""
    return _NOT_PHONE.sub("", text)


def identifier_kind(text: str) -> str | None:
    """``'email'``, ``'phone'`` or None (an ordinary id) for an identifier's value.

    >>> identifier_kind("Ann@Example.com"), identifier_kind("+44 20 7946 0991")
    ('email', 'phone')
    >>> identifier_kind("17850"), identifier_kind("2024-0001234"), identifier_kind("C1")
    (None, None, None)
    """
    if "@" in text:
        return "email"
    stripped = text.strip()
    if _PHONE_ID.fullmatch(stripped) and 7 <= sum(c.isdigit() for c in stripped) <= 15:
        return "phone"
    return None


def identifier_hash(cipher: PiiCipher, kind: str, text: str) -> str:
    """The keyed hash of an e-mail or phone identifier, normalised as the warehouse does:
    equal to the ``email_hash`` / ``phone_hash`` that ingest stores for the same value."""
    return cipher.hash(normalize_email(text) if kind == "email" else normalize_phone(text))


class LivePrivacy:
    """The live path's PII rules for one project: see the module docstring.

    ``pii`` is the project's ``pii:`` list, ``mask`` the ``serve.mask_free_text`` setting,
    ``cipher`` None when no key is set (then an event that needs one is refused, and a dead
    letter has such values removed).
    """

    def __init__(self, pii: Iterable[str], mask: str, cipher: PiiCipher | None) -> None:
        if mask not in MASK_SETTINGS:
            raise ValueError(f"mask_free_text should be one of {', '.join(MASK_SETTINGS)}")
        self.pii = frozenset(p.lower() for p in pii)
        self.mask = mask
        self.cipher = cipher
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()
        # what each event field goes through, looked up once per field (the hot path)
        self._handlers: dict[str, Callable[[str], str]] = {"event_id": self.event_id}
        for name in (*CODE_FIELDS, *FREE_TEXT_FIELDS, "country"):
            if name in self.pii:
                self._handlers[name] = partial(self.encrypt, column=name)
            elif name in FREE_TEXT_FIELDS:
                self._handlers[name] = self.text
            elif name in CODE_FIELDS and mask != "off":
                self._handlers[name] = self.code
        for name in IDENTIFIER_FIELDS:
            self._handlers[name] = self.identifier
        self._codes = frozenset(n for n, h in self._handlers.items() if h == self.code)

    # --- identifiers -----------------------------------------------------------------
    def identifier(self, value: str) -> str:
        """``value``, or ``email:<hmac>`` / ``phone:<hmac>`` when it is an e-mail or phone.

        Raises KeyMissingError when it must be hashed and no key is set.
        """
        hit = self._ids.get(value)
        if hit is not None:
            return hit
        kind = identifier_kind(value)
        if kind is None:
            out = value
        else:
            if self.cipher is None:
                raise KeyMissingError("is an e-mail or phone, but the server has no PII key")
            out = f"{kind}:{identifier_hash(self.cipher, kind, value)}"
        with self._lock:
            if len(self._ids) >= _CACHE_MAX:
                self._ids.clear()
            self._ids[value] = out
        return out

    def hashed(self, value: str) -> str | None:
        """The hashed form of an identifier a reader gave, or None if it is an ordinary id
        (or no key is set)."""
        try:
            out = self.identifier(value)
        except KeyMissingError:
            return None
        return None if out == value else out

    def event_id(self, value: str) -> str:
        """An event id with any e-mail address in it replaced by (a prefix of) its hash."""
        if "@" not in value:
            return value
        if self.cipher is None:
            raise KeyMissingError("holds an e-mail address, but the server has no PII key")
        cipher = self.cipher
        return _EMAIL.sub(lambda m: "h" + identifier_hash(cipher, "email", m[0])[:24], value)

    # --- text ------------------------------------------------------------------------
    def text(self, value: str) -> str:
        """Free text with e-mail addresses (and, by default, phone numbers) masked."""
        if self.mask == "off":
            return value
        if "@" in value:
            value = _EMAIL.sub(EMAIL_MASK, value)
        if self.mask == "emails_and_phones" and _digits(value) >= 7:
            value = _PHONE_TEXT.sub(PHONE_MASK, value)
        return value

    def code(self, value: str) -> str:
        """A short field (a session or product id): e-mail addresses masked."""
        if self.mask == "off" or "@" not in value:
            return value
        return _EMAIL.sub(EMAIL_MASK, value)

    def encrypt(self, value: Any, column: str) -> str:
        """``value`` (JSON text for a non-string) encrypted for ``column``."""
        if self.cipher is None:
            raise KeyMissingError("is personal data (pii:), but the server has no PII key")
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return self.cipher.encrypt(text, column)

    # --- events ----------------------------------------------------------------------
    def event(self, event: dict[str, Any]) -> list[tuple[str, str]]:
        """Transform a validated event in place; ``(field, message)`` of each value that
        needed the key when none is set (the event must then be refused)."""
        missing: list[tuple[str, str]] = []
        handlers, codes, ids = self._handlers, self._codes, self._ids
        for name, value in event.items():
            if type(value) is not str:
                continue
            if name in codes:  # the common case, inline: only an "@" needs work
                if "@" in value:
                    event[name] = self.code(value)
                continue
            if name in IDENTIFIER_FIELDS and value in ids:
                event[name] = ids[value]
                continue
            handler = handlers.get(name)
            if handler is None:
                continue
            try:
                event[name] = handler(value)
            except KeyMissingError as exc:
                missing.append((name, str(exc)))
        props = event.get("properties")
        if props:
            try:
                event["properties"] = self._props(props, 0)
            except KeyMissingError as exc:
                missing.append(("properties", str(exc)))
        return missing

    def _field(self, name: str, value: str) -> str:
        handler = self._handlers.get(name)
        return self.code(value) if handler is None else handler(value)

    def _props(self, props: Mapping[str, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in props.items():
            name = self.text(key) if len(key) > 6 or "@" in key else key  # no phone in 6
            if key.lower() in self.pii:
                out[name] = None if value is None else self.encrypt(value, f"properties.{key}")
            else:
                out[name] = self._value(value, depth)
        return out

    def _value(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is str:
            return self.text(value)
        if kind in _SCALARS:
            return value
        if depth >= _MAX_DEPTH and isinstance(value, Mapping | list):
            return TOO_DEEP
        if isinstance(value, Mapping):
            return self._props(value, depth + 1)
        if isinstance(value, list | tuple):
            return [self._value(v, depth + 1) for v in value]
        return value

    # --- dead letters ----------------------------------------------------------------
    def raw(self, raw: Any) -> Any:
        """What a rejected event may be stored as: the same rules on whatever it holds, any
        depth cut at a bound, every string UTF-8 encodable, values needing a missing key
        removed."""
        return self._raw(raw, None, 0)

    def _raw(self, value: Any, name: str | None, depth: int) -> Any:
        if isinstance(value, str):
            value = encodable(value)
            if name is None or name not in _SHORT:
                return self.text(value)
            try:
                return self._field(name, value)
            except KeyMissingError:
                return REMOVED
        if depth >= _MAX_DEPTH and isinstance(value, Mapping | list):
            return TOO_DEEP
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            for k, v in value.items():
                key = encodable(str(k))
                top = depth == 0 and key in _SHORT
                if not top and key.lower() in self.pii and v is not None:
                    try:
                        column = key if depth == 0 else f"properties.{key}"  # as accepted
                        clear = (
                            encodable(v) if isinstance(v, str) else self._raw(v, None, depth + 1)
                        )
                        v = self.encrypt(clear, column)
                    except KeyMissingError:
                        v = REMOVED
                    out[self.text(key)] = v
                else:
                    out[self.text(key)] = self._raw(v, key if top else None, depth + 1)
            return out
        if isinstance(value, list):
            return [self._raw(v, None, depth + 1) for v in value]
        return value


def encodable(text: str) -> str:
    """``text`` with what UTF-8 cannot encode (a lone surrogate such as ``\\ud800``) replaced
    by ``?``, so any store can keep it."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


_PRIVACY: dict[tuple[Any, ...], LivePrivacy] = {}


def live_privacy(pii: Iterable[str], mask: str = "emails_and_phones") -> LivePrivacy:
    """The :class:`LivePrivacy` of a project (its ``pii:`` list and ``serve.mask_free_text``),
    built once per key: the key is read from ``SEGMINT_KEY`` / ``SEGMINT_KEY_FILE`` the
    first time, and the cipher and hash cache kept while those stay the same."""
    pii = tuple(pii)
    cache_key = (pii, mask, os.environ.get("SEGMINT_KEY"), os.environ.get("SEGMINT_KEY_FILE"))
    hit = _PRIVACY.get(cache_key)
    if hit is None:
        try:
            cipher: PiiCipher | None = PiiCipher(load_master_key())
        except KeyMissingError:
            cipher = None
        hit = _PRIVACY[cache_key] = LivePrivacy(pii, mask, cipher)
    return hit
