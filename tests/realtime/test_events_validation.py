"""The door of the live path: bounds, encodings and reserved prefixes, each refused with the
field, the rule and the bound, through the API (real uvicorn) and as library calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from segmint.privacy import LivePrivacy, PiiCipher, identifier_kind, normalize_email
from segmint.realtime._events import (
    PROPERTIES_MAX_BYTES,
    PROPERTIES_MAX_DEPTH,
    PROPERTIES_MAX_KEYS,
    TS_MAX_LENGTH,
    dead_letter_copy,
    validate_event,
)
from tests.api.conftest import admin, api, post_events, shop, uid  # noqa: F401 (fixtures)

NOW = datetime.now(UTC)
PRIVACY = LivePrivacy(["email", "phone"], "emails_and_phones", PiiCipher(bytes(32)))


def _event(**kw: Any) -> dict[str, Any]:
    return {"event_id": uid("e"), "event_type": "page_view", "customer_id": "c1", **kw}


def _nested(depth: int) -> dict[str, Any]:
    d: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        d = {"a": d}
    return d


OVERSIZED = [
    pytest.param({"query": "q" * 1_001}, "query", "max_length", "1000", id="query"),
    pytest.param({"customer_id": "c" * 129}, "customer_id", "max_length", "128", id="customer"),
    pytest.param({"page_url": "u" * 2_049}, "page_url", "max_length", "2048", id="url"),
    pytest.param(
        {"ts": "2" * (TS_MAX_LENGTH + 1)}, "ts", "max_length", str(TS_MAX_LENGTH), id="ts"
    ),
    pytest.param(
        {"properties": {f"k{i}": i for i in range(PROPERTIES_MAX_KEYS + 1)}},
        "properties",
        "max_keys",
        str(PROPERTIES_MAX_KEYS),
        id="keys",
    ),
    pytest.param(
        {"properties": _nested(PROPERTIES_MAX_DEPTH + 1)},
        "properties",
        "max_depth",
        str(PROPERTIES_MAX_DEPTH),
        id="depth",
    ),
    pytest.param({"properties": "DEEP"}, "properties", "max_depth", "8", id="depth-40"),
    pytest.param(
        {"properties": {"blob": "x" * PROPERTIES_MAX_BYTES}},
        "properties",
        "max_size",
        str(PROPERTIES_MAX_BYTES),
        id="size",
    ),
]


@pytest.mark.parametrize(("extra", "field", "rule", "bound"), OVERSIZED)
def test_an_oversized_field_is_refused_naming_the_bound(
    admin: httpx.Client,  # noqa: F811 (the fixture imported above)
    extra: dict[str, Any],
    field: str,
    rule: str,
    bound: str,
) -> None:
    """Regression (issue 15, defect 10): fields and properties of any size were taken (and
    stored whole as dead letters); each is bounded at validation, and the refusal names the
    field, the rule and the bound. Nesting 40 deep is refused naming the bound."""
    body = json.dumps({"events": [_event(**extra)]})
    # 40 levels: within what the API parses (64), far past what properties may hold
    body = body.replace('"DEEP"', '{"a": ' * 40 + "1" + "}" * 40)
    r = admin.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text[:300]
    result = r.json()["results"][0]
    assert result["status"] == "rejected"
    (error,) = result["errors"]
    assert (error["field"], error["rule"]) == (field, rule)
    assert bound in error["message"]
    assert admin.get("/v1/dead-letters").status_code == 200


def test_properties_at_the_bounds_are_taken(admin: httpx.Client) -> None:  # noqa: F811
    """Regression (issue 15, defect 10): the bounds are inclusive — properties exactly as
    deep and with exactly as many keys as allowed are accepted."""
    keys = {f"k{i}": i for i in range(PROPERTIES_MAX_KEYS - PROPERTIES_MAX_DEPTH)}
    props = {**keys, "deep": _nested(PROPERTIES_MAX_DEPTH - 1)}
    out = post_events(admin, _event(properties=props))
    assert out["accepted"] == 1, out["results"]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(_event(event_id="e\ud800"), id="event_id"),
        pytest.param(_event(customer_id="\udfffc"), id="customer_id"),
        pytest.param(_event(query="q\ud800"), id="query"),
        pytest.param(_event(properties={"\ud800": 1}), id="property-key"),
        pytest.param(_event(properties={"a": {"b": ["\ud800"]}}), id="property-value"),
    ],
)
def test_unencodable_strings_are_refused_and_their_dead_letter_is_storable(
    raw: dict[str, Any],
) -> None:
    """Regression (issue 15, defect 9): a lone surrogate failed in SQLite and then broke
    GET /v1/dead-letters. Validation refuses it (rule `encoding`) and the dead-letter copy
    encodes as UTF-8."""
    event, problems = validate_event(raw, NOW, PRIVACY)
    assert event is None
    assert "encoding" in {p["rule"] for p in problems}
    json.dumps(dead_letter_copy(raw, PRIVACY), ensure_ascii=False).encode("utf-8")
    json.dumps(problems, ensure_ascii=False).encode("utf-8")


def test_a_customer_id_with_the_anonymous_prefix_is_refused() -> None:
    """Regression (issue 15, defect 14): customer_id "anonymous_id:X" shared visitor X's
    live record (the processor keys visitors so); it is refused with rule `reserved`."""
    _, problems = validate_event(_event(customer_id="anonymous_id:a9"), NOW, PRIVACY)
    assert [(p["field"], p["rule"]) for p in problems] == [("customer_id", "reserved")]
    assert validate_event(_event(anonymous_id="a9", customer_id=None), NOW, PRIVACY)[0]


def test_identifiers_hashed_at_the_door_and_free_text_masked() -> None:
    """Regression (issue 15, defect 12): an e-mail or phone identifier becomes its keyed
    hash (any case, the same), declared PII in properties is encrypted, free text is masked;
    ordinary ids, including long numbers, are left as they are."""
    a, _ = validate_event(
        _event(customer_id="Ann@Example.com", query="ann@example.com"), NOW, PRIVACY
    )
    b, _ = validate_event(
        _event(
            customer_id=" ann@example.COM", properties={"Email": "x@y.z", "n": "+1 555 0100 22"}
        ),
        NOW,
        PRIVACY,
    )
    assert a and b
    assert a["customer_id"] == b["customer_id"] and a["customer_id"].startswith("email:")
    assert a["query"] == "(e-mail)"
    assert b["properties"]["Email"].startswith("v1:") and b["properties"]["n"] == "(phone)"
    c, _ = validate_event(_event(customer_id="12345678", product_id="1234567"), NOW, PRIVACY)
    assert c and (c["customer_id"], c["product_id"]) == ("12345678", "1234567")
    assert [identifier_kind(v) for v in ("+44 20 7946 0991", "2024-000123", "17850")] == [
        "phone",
        None,
        None,
    ]
    assert normalize_email(" MAILTO:Ann@Example.COM ") == "ann@example.com"


def test_masking_follows_the_serve_setting() -> None:
    """Regression (issue 15, defect 12): masking free text is on by default and configurable
    (serve.mask_free_text): e-mails only, or off."""
    cipher = PiiCipher(bytes(32))
    text = "ann@example.com +44 20 7946 0991"
    shown = {
        mode: validate_event(_event(query=text), NOW, LivePrivacy([], mode, cipher))[0]["query"]  # type: ignore[index]
        for mode in ("emails_and_phones", "emails", "off")
    }
    assert shown == {
        "emails_and_phones": "(e-mail) (phone)",
        "emails": "(e-mail) +44 20 7946 0991",
        "off": text,
    }


def test_without_a_key_an_email_identifier_is_refused_never_kept_in_clear() -> None:
    """Regression (issue 15, defect 12): PII is never stored in clear as a fallback; with no
    key an e-mail identifier is refused (rule `pii_key`) and its dead letter drops it."""
    keyless = LivePrivacy(["email"], "emails_and_phones", None)
    raw = _event(customer_id="ann@example.com", properties={"email": "ann@example.com"})
    event, problems = validate_event(raw, NOW, keyless)
    assert event is None and {p["rule"] for p in problems} == {"pii_key"}
    assert "ann@example" not in json.dumps(dead_letter_copy(raw, keyless))
    assert "ann@example" not in json.dumps(problems)
