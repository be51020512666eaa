"""Live events: each checked on its own, with every problem named by field and rule.

A batch from a site's collector is validated item by item, so one bad event never costs the
other 999; what is rejected comes back with the field, the rule it broke and a message, and
is kept in the dead-letter table (:meth:`OnlineStore.dead_letter`), never dropped.

>>> ok, problems = validate_event({"event_id": "e1", "event_type": "purchase",
...                                "customer_id": "c1", "price": -3})
>>> ok is None, problems[0]["field"], problems[0]["rule"]
(True, 'price', 'min')
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pycountry

from segmint.schema import EVENT_TYPES

#: the most events one request may carry
MAX_BATCH = 1_000
#: how far ahead of the server's clock an event's time may be (clock skew)
MAX_SKEW = timedelta(minutes=10)
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
#: the largest price taken: sums of prices must stay exact in a double and fit every store
#: (a JSON integer such as 10**300 once passed and stopped the Redis worker)
PRICE_MAX = 1e12
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
_PROPERTIES_BYTES = 8_192

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
        "properties": {"type": "object", "description": "Anything else (8 KB at most)."},
    },
    "description": "One event; customer_id or anonymous_id (or both, at a login) is required.",
}
_FIELDS = frozenset(EVENT_SCHEMA["properties"])


def _problem(field: str, rule: str, message: str) -> dict[str, str]:
    return {"field": field, "rule": rule, "message": message}


def _ts(value: Any, now: datetime) -> tuple[datetime | None, dict[str, str] | None]:
    if not isinstance(value, str):
        return None, _problem("ts", "type", f"should be an ISO 8601 string, got {value!r:.60}")
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
    raw: Any, now: datetime | None = None
) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """Check one event. Returns ``(event, [])`` with the event normalised (``ts`` a UTC
    datetime, ``country`` upper case), or ``(None, problems)``, each naming field and rule."""
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
    return (None, problems) if problems else (event, [])


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
        if not isinstance(props, Mapping):
            problems.append(_problem("properties", "type", "should be an object"))
        elif len(json.dumps(props, default=str)) > _PROPERTIES_BYTES:
            problems.append(_problem("properties", "max_size", "is larger than 8 KB"))
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
