"""Live events: each checked on its own, with every problem named by field and rule.

A batch from a site's collector is validated item by item, so one bad event never costs the
other 999; what is rejected comes back with the field, the rule it broke and a message, and
is kept in the dead-letter table (:meth:`OnlineStore.dead_letter`), never dropped.

Personal data is taken care of here, once, so that no store or webhook downstream ever sees it
in clear (:class:`~segmint.privacy.LivePrivacy`): an e-mail or phone identifier becomes its
keyed hash, fields and ``properties`` keys declared PII are encrypted, free text is masked; a
rejected event is kept through :func:`dead_letter_copy`, which applies the same rules.

>>> ok, problems = validate_event({"event_id": "e1", "event_type": "purchase",
...                                "customer_id": "c1", "price": -3})
>>> ok is None, problems[0]["field"], problems[0]["rule"]
(True, 'price', 'min')
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pycountry

from segmint.privacy import LivePrivacy, encodable, live_privacy
from segmint.privacy._mask import _EMAIL, EMAIL_MASK, mask_text
from segmint.schema import EVENT_TYPES

#: the most events one request may carry
MAX_BATCH = 1_000
#: how far ahead of the server's clock an event's time may be (clock skew)
MAX_SKEW = timedelta(minutes=10)
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
#: the largest price taken: sums of prices must stay exact in a double and fit every store
#: (a JSON integer such as 10**300 once passed and stopped the Redis worker)
PRICE_MAX = 1e12
#: ``properties``: the most keys (at every level together), the deepest nesting (an object
#: or list in ``properties`` is level 1) and the largest JSON size; deeper JSON once
#: exhausted the recursion of the checks
PROPERTIES_MAX_KEYS = 200
PROPERTIES_MAX_DEPTH = 8
PROPERTIES_MAX_BYTES = 8_192
#: the longest ``ts`` text taken (ISO 8601 with microseconds and an offset is 32)
TS_MAX_LENGTH = 64
#: the prefix of anonymous visitors' live records: a customer id may not start with it, or
#: ``customer_id: "anonymous_id:X"`` would share visitor X's record
RESERVED_PREFIX = "anonymous_id:"
_ID = re.compile(r"^[A-Za-z0-9._:@\-]{1,128}$")
_STRINGS = {
    "customer_id": 128,
    "anonymous_id": 128,
    "session_id": 128,
    "product_id": 128,
    "category": 256,
    "query": 1_000,
    "device": 64,
    "channel": 64,
    "page_url": 2_048,
}

#: what an event may hold, for the API's schema and for messages
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event_id", "event_type"],
    "additionalProperties": False,
    "properties": {
        "event_id": {
            "type": "string",
            "pattern": _ID.pattern,
            "description": "The client's unique id: a retry with the same id is not counted again.",
        },
        "event_type": {"type": "string", "enum": list(EVENT_TYPES)},
        "ts": {
            "type": "string",
            "format": "date-time",
            "description": "When it happened (ISO 8601; default: when received).",
        },
        **{
            name: {"type": "string", "maxLength": n, "minLength": 1} for name, n in _STRINGS.items()
        },
        "price": {"type": "number", "minimum": 0, "maximum": PRICE_MAX},
        "quantity": {"type": "integer", "minimum": -100_000, "maximum": 100_000},
        "country": {"type": "string", "description": "ISO 3166-1 alpha-2, e.g. DE"},
        "properties": {
            "type": "object",
            "description": f"Anything else: at most {PROPERTIES_MAX_KEYS} keys, "
            f"{PROPERTIES_MAX_DEPTH} levels deep and {PROPERTIES_MAX_BYTES} bytes as JSON.",
        },
    },
    "description": "One event; customer_id or anonymous_id (or both, at a login) is required "
    f"(a customer_id may not start with '{RESERVED_PREFIX}'). Strings must be encodable "
    "as UTF-8.",
}
_FIELDS = frozenset(EVENT_SCHEMA["properties"])
#: the rules whose message quotes the value sent
_QUOTING = frozenset(("type", "format", "one_of", "iso_country", "unknown_field"))


def _problem(field: str, rule: str, message: str) -> dict[str, str]:
    return {"field": field, "rule": rule, "message": message}


def _bad_text(value: str) -> bool:
    """Whether ``value`` holds what UTF-8 cannot encode (a lone surrogate such as \\ud800,
    which JSON can spell and no store can keep)."""
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _encoding(name: str) -> dict[str, str]:
    return _problem(
        name, "encoding", "holds a character UTF-8 cannot encode (a lone surrogate such as \\ud800)"
    )


def _ts(value: Any, now: datetime) -> tuple[datetime | None, dict[str, str] | None]:
    if not isinstance(value, str):
        return None, _problem("ts", "type", f"should be an ISO 8601 string, got {value!r:.60}")
    if len(value) > TS_MAX_LENGTH:
        return None, _problem(
            "ts", "max_length", f"is {len(value)} characters; at most {TS_MAX_LENGTH}"
        )
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None, _problem(
            "ts", "format", f"'{value:.60}' is not an ISO 8601 time such as 2024-03-01T12:00:00Z"
        )
    try:
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is past year 9999 in UTC
        return None, _problem("ts", "range", f"'{value:.60}' is out of range")
    if ts > now + MAX_SKEW:
        return None, _problem("ts", "future", f"{ts.isoformat()} is ahead of the server's clock")
    if ts < _EARLIEST:
        return None, _problem("ts", "range", f"{ts.isoformat()} is before 2000")
    return ts, None


def _string(name: str, value: Any) -> dict[str, str] | None:
    if not isinstance(value, str):
        return _problem(name, "type", f"should be a string, got {type(value).__name__}")
    if not value.strip():
        return _problem(name, "required", "is empty")
    if len(value) > _STRINGS[name]:
        return _problem(name, "max_length", f"is {len(value)} characters; at most {_STRINGS[name]}")
    if _bad_text(value):
        return _encoding(name)
    if name == "customer_id" and value.startswith(RESERVED_PREFIX):
        return _problem(
            name,
            "reserved",
            f"may not start with '{RESERVED_PREFIX}' (the prefix of anonymous visitors' "
            "records); send the visitor's id as anonymous_id",
        )
    return None


def _number(name: str, value: Any, integer: bool) -> dict[str, str] | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _problem(name, "type", f"should be a number, got {value!r:.60}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        return _problem(name, "range", "should be a finite number of reasonable size")
    if integer and value != int(value):
        return _problem(name, "type", f"should be a whole number, got {value}")
    if name == "price" and value < 0:
        return _problem(name, "min", f"{value} is negative; a price is 0 or more")
    if name == "price" and value > PRICE_MAX:
        return _problem(name, "max", f"{value:.3g} is above {PRICE_MAX:.0e}, the largest price")
    if name == "quantity" and abs(value) > 100_000:
        return _problem(name, "range", f"{value} is outside -100000..100000")
    return None


def _country(value: Any) -> tuple[str | None, dict[str, str] | None]:
    if not isinstance(value, str):
        return None, _problem("country", "type", "should be a string such as 'DE'")
    code = value.strip().upper()
    if len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None:
        return code, None
    return None, _problem(
        "country", "iso_country", f"'{value:.40}' is not an ISO 3166-1 alpha-2 code such as 'DE'"
    )


def validate_event(
    raw: Any, now: datetime | None = None, privacy: LivePrivacy | None = None
) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """Check one event. Returns ``(event, [])`` with the event normalised (``ts`` a UTC
    datetime, ``country`` upper case, personal data hashed, encrypted or masked by
    ``privacy``, by default the project-less rules with the key of the environment), or
    ``(None, problems)``, each naming field and rule (and quoting no personal data)."""
    now = now or datetime.now(UTC)
    if not isinstance(raw, Mapping):
        return None, [_problem("(event)", "type", f"should be an object, got {type(raw).__name__}")]
    problems = [
        _problem(str(name)[:64], "unknown_field", "is not an event field; put it in properties")
        for name in sorted(set(raw) - _FIELDS, key=str)
    ]
    event: dict[str, Any] = {}
    eid = raw.get("event_id")
    if eid is None:
        problems.append(_problem("event_id", "required", "is missing"))
    elif isinstance(eid, str) and _bad_text(eid):
        problems.append(_encoding("event_id"))
    elif not isinstance(eid, str) or not _ID.match(eid):
        problems.append(_problem("event_id", "format", "should be 1-128 of A-Z a-z 0-9 . _ : @ -"))
    else:
        event["event_id"] = eid
    etype = raw.get("event_type")
    if etype is None:
        problems.append(_problem("event_type", "required", "is missing"))
    elif etype not in EVENT_TYPES:
        problems.append(
            _problem(
                "event_type", "one_of", f"{etype!r:.40} is not one of {', '.join(EVENT_TYPES)}"
            )
        )
    else:
        event["event_type"] = etype
    problems.extend(_fields(raw, event, now))
    if raw.get("customer_id") is None and raw.get("anonymous_id") is None:
        problems.append(
            _problem("customer_id", "one_of", "give customer_id or anonymous_id (or both)")
        )
    if not problems:
        privacy = privacy or live_privacy(())
        problems = [_problem(f, "pii_key", m) for f, m in privacy.event(event)]
    return (None, [_safe(p) for p in problems]) if problems else (event, [])


def _safe(problem: dict[str, str]) -> dict[str, str]:
    """A problem as it may be answered and stored: no personal data it could quote, and
    nothing UTF-8 cannot encode (a field name is the client's). Phone-like digit runs are
    masked where the message quotes the input, not in a bound's figures."""
    message = encodable(problem["message"])
    message = mask_text(message) if problem["rule"] in _QUOTING else _EMAIL.sub(EMAIL_MASK, message)
    return {
        "field": mask_text(encodable(problem["field"])),
        "rule": problem["rule"],
        "message": message,
    }


def dead_letter_copy(raw: Any, privacy: LivePrivacy | None = None) -> Any:
    """What a rejected event is stored as: personal data hashed, encrypted or masked by the
    same rules as an accepted event's, nesting cut at a bound, every string encodable."""
    return (privacy or live_privacy(())).raw(raw)


def _properties(props: Any) -> dict[str, str] | None:
    """The first bound ``properties`` breaks, walked without recursion (so depth itself is
    bounded before anything recursive, such as the JSON encoder, reads it). Exact type
    checks first: JSON gives dicts, lists and scalars, and ``isinstance`` against the ABCs
    was most of the cost of the walk."""
    if not isinstance(props, Mapping):
        return _problem("properties", "type", "should be an object")
    keys = 0
    # an upper bound of the JSON size (12 characters per character at worst, escaped as a
    # surrogate pair): the encoder runs only when the bound could pass the limit
    bound = 2
    stack: list[tuple[Any, int]] = [(props, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > PROPERTIES_MAX_DEPTH:
            return _problem(
                "properties", "max_depth", f"is nested more than {PROPERTIES_MAX_DEPTH} levels deep"
            )
        if isinstance(value, Mapping):
            keys += len(value)
            if keys > PROPERTIES_MAX_KEYS:
                return _problem(
                    "properties", "max_keys", f"has more than {PROPERTIES_MAX_KEYS} keys"
                )
            if not all(k.isascii() for k in value) and any(_bad_text(k) for k in value):
                return _encoding("properties")
            bound += sum(12 * len(str(k)) + 4 for k in value)
            items: Iterable[Any] = value.values()
        else:
            items = value
        for v in items:
            kind = type(v)
            if kind is str:
                if not v.isascii() and _bad_text(v):
                    return _encoding("properties")
                bound += 12 * len(v) + 4
            elif kind is dict or kind is list or (kind not in _SCALARS and _nested(v)):
                bound += 4
                stack.append((v, depth + 1))
            elif kind is int and not -(10**24) < v < 10**24:
                bound += len(str(v)) + 2  # a huge JSON integer is as long as its digits
            elif kind in _SCALARS:
                bound += 28  # a float (repr is at most 24 characters), int, true/false/null
            else:
                bound += 12 * len(str(v)) + 4  # encoded through str()
    if bound <= PROPERTIES_MAX_BYTES:
        return None
    size = len(json.dumps(props, default=str))
    if size > PROPERTIES_MAX_BYTES:
        return _problem(
            "properties",
            "max_size",
            f"is {size} bytes as JSON; at most {PROPERTIES_MAX_BYTES}",
        )
    return None


_SCALARS = frozenset((int, float, bool, type(None)))


def _nested(value: Any) -> bool:
    return isinstance(value, Mapping | list | tuple)


def _fields(raw: Mapping[str, Any], event: dict[str, Any], now: datetime) -> list[dict[str, str]]:
    problems: list[dict[str, str]] = []
    if raw.get("ts") is None:
        event["ts"] = now
    else:
        ts, p = _ts(raw["ts"], now)
        event["ts"] = ts
        problems += [p] if p else []
    for name in _STRINGS:
        if raw.get(name) is not None:
            p = _string(name, raw[name])
            problems += [p] if p else []
            event[name] = raw[name]
    for name in ("price", "quantity"):
        if raw.get(name) is not None:
            p = _number(name, raw[name], integer=name == "quantity")
            problems += [p] if p else []
            event[name] = raw[name]
    if raw.get("country") is not None:
        code, p = _country(raw["country"])
        problems += [p] if p else []
        event["country"] = code
    props = raw.get("properties")
    if props is not None:
        p = _properties(props)
        if p:
            problems.append(p)
        else:
            event["properties"] = dict(props)
    return problems


def to_wire(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as JSON (``ts`` as ISO text), for the stream and the event log."""
    out = dict(event)
    out["ts"] = event["ts"].isoformat()
    return out


def from_wire(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`to_wire`."""
    out = dict(doc)
    out["ts"] = datetime.fromisoformat(doc["ts"])
    return out
