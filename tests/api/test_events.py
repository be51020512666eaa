"""POST /v1/events as a site's collector sends them: per-item answers, dead letters,
retries that are not counted twice, and bodies that are not events at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from segmint.realtime import OnlineStore
from tests.api.conftest import Api, ago, post_events, purchase, uid


def _segments(client: httpx.Client, identifier: str) -> set[str]:
    r = client.get(f"/v1/customers/{identifier}/segments")
    assert r.status_code == 200, r.text
    return {s["segment"] for s in r.json()["segments"]}


def _mixed_batch(cid: str) -> tuple[list[dict[str, Any]], list[tuple[str, str] | None]]:
    """A batch of good and bad events, and per item the (field, rule) it must be rejected
    for (None: accepted)."""
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    base = {"event_type": "page_view", "customer_id": cid, "ts": ago(5)}
    cases: list[tuple[dict[str, Any], tuple[str, str] | None]] = [
        ({**base}, None),
        ({**base, "event_type": "purchase", "price": -3, "product_id": "SKU-1"}, ("price", "min")),
        ({**base, "event_type": "teleport"}, ("event_type", "one_of")),
        ({"event_type": "page_view", "ts": ago(5)}, ("customer_id", "one_of")),
        ({**base, "colour": "red"}, ("colour", "unknown_field")),
        ({**base, "ts": future}, ("ts", "future")),
        ({**base, "country": "XX"}, ("country", "iso_country")),
        ({**base, "event_type": "product_view", "product_id": "SKU-2"}, None),
    ]
    events = [{"event_id": uid("ev"), **e} for e, _ in cases]
    return events, [want for _, want in cases]


def test_a_batch_answers_each_event_in_order_naming_field_and_rule(admin: httpx.Client) -> None:
    """One bad event costs none of the others: each gets its own status, in the order sent,
    and each rejection names the field and the rule it broke."""
    events, wanted = _mixed_batch(uid("C"))
    out = post_events(admin, *events)
    assert [r["index"] for r in out["results"]] == list(range(len(events)))
    assert [r["event_id"] for r in out["results"]] == [e["event_id"] for e in events]
    statuses = [r["status"] for r in out["results"]]
    assert statuses == ["accepted" if w is None else "rejected" for w in wanted]
    for result, want in zip(out["results"], wanted, strict=True):
        if want is None:
            assert result["errors"] == []
        else:
            assert want in {(p["field"], p["rule"]) for p in result["errors"]}, result
            assert all(p["message"] for p in result["errors"])
    assert (out["accepted"], out["duplicate"], out["rejected"]) == (2, 0, 6)


def test_rejected_events_are_kept_in_the_dead_letters(
    admin: httpx.Client, store: OnlineStore
) -> None:
    """A rejected event is never dropped: the dead letters hold it as sent, with its errors."""
    events, wanted = _mixed_batch(uid("C"))
    out = post_events(admin, *events)
    sent = {e["event_id"]: e for e in events}
    dead = {
        d["event"]["event_id"]: d
        for d in store.dead_letters(100)
        if isinstance(d["event"], dict) and d["event"].get("event_id") in sent
    }
    rejected = [r for r in out["results"] if r["status"] == "rejected"]
    assert set(dead) == {r["event_id"] for r in rejected}
    for r in rejected:
        letter = dead[r["event_id"]]
        assert letter["event"] == sent[r["event_id"]]
        assert letter["errors"] == r["errors"]
        assert letter["source"] == "api"
    accepted = [e for e, w in zip(events, wanted, strict=True) if w is None]
    assert not {e["event_id"] for e in accepted} & set(dead)


def test_a_retried_batch_is_answered_duplicate_and_not_counted_again(
    admin: httpx.Client,
) -> None:
    """A collector that retries a batch (same event ids) gets `duplicate` for each event and
    the counts do not move: 3 purchases sent twice are still 3, short of frequent_buyers
    (more than 5); 3 new ones then make 6 and the customer is in."""
    cid = uid("C")
    first = [purchase(cid, ago(10 - i)) for i in range(3)]
    out = post_events(admin, *first)
    assert out["accepted"] == 3
    again = post_events(admin, *first)
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 3
    assert (again["accepted"], again["duplicate"], again["changes"]) == (0, 3, 0)
    assert "frequent_buyers" not in _segments(admin, cid)
    post_events(admin, *(purchase(cid, ago(5 - i)) for i in range(3)))
    assert "frequent_buyers" in _segments(admin, cid)


def test_the_same_event_twice_in_one_batch_counts_once(admin: httpx.Client) -> None:
    """A collector that queued one event twice: the second copy is the duplicate."""
    cid = uid("C")
    buys = [purchase(cid, ago(10 - i)) for i in range(5)]
    out = post_events(admin, *buys, buys[-1])
    assert [r["status"] for r in out["results"]] == ["accepted"] * 5 + ["duplicate"]
    # 5 purchases, not 6: not more than 5
    assert "frequent_buyers" not in _segments(admin, cid)


def test_rejected_events_of_a_retried_batch_stay_rejected(admin: httpx.Client) -> None:
    """A retry does not turn a rejected event into a duplicate of something applied."""
    events, wanted = _mixed_batch(uid("C"))
    post_events(admin, *events)
    again = post_events(admin, *events)
    assert [r["status"] for r in again["results"]] == [
        "duplicate" if w is None else "rejected" for w in wanted
    ]


def test_a_single_event_object_is_accepted_unwrapped(admin: httpx.Client) -> None:
    """A collector may send one event as the body, without {"events": [...]}."""
    cid = uid("C")
    event = {"event_id": uid("ev"), "event_type": "page_view", "customer_id": cid}
    r = admin.post("/v1/events", json=event)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["results"] == [
        {"index": 0, "event_id": event["event_id"], "status": "accepted", "errors": []}
    ]
    assert admin.get(f"/v1/customers/{cid}/segments").json()["customer_id"] == cid


def test_a_body_that_is_not_json_is_400_with_a_json_answer(admin: httpx.Client) -> None:
    """Truncated or non-JSON bodies get a 400 the client can parse, not an HTML page."""
    r = admin.post("/v1/events", content=b'{"events": [', headers={"content-type": "text/plain"})
    assert r.status_code == 400
    assert r.json()["error"] == "bad_json"
    assert admin.post("/v1/events", content=b"\xff\xfe").status_code == 400


@pytest.mark.parametrize("body", ["[]", '[{"event_id": "a"}]', "42", '"text"', "null", "true"])
def test_a_json_body_that_is_neither_an_event_nor_a_batch_is_422(
    admin: httpx.Client, body: str
) -> None:
    """A list, a number or a string is not an event: 422 saying what to send."""
    r = admin.post("/v1/events", content=body.encode())
    assert r.status_code == 422
    assert r.json()["problems"][0]["rule"] == "type"


def test_a_batch_with_a_key_beside_events_is_422(admin: httpx.Client) -> None:
    """{"events": [...], "meta": ...} is refused whole (the extra key is probably a bug)."""
    r = admin.post("/v1/events", json={"events": [], "meta": 1})
    assert r.status_code == 422
    assert r.json()["problems"][0] == {
        "field": "meta",
        "rule": "unknown_field",
        "message": "unknown key 'meta' beside 'events'",
    }


def test_more_than_1000_events_is_422_and_applies_none(admin: httpx.Client) -> None:
    """The batch limit is 1,000: 1,001 are refused whole, none of them applied."""
    cid = uid("C")
    events = [
        {"event_id": f"{cid}-{i}", "event_type": "page_view", "customer_id": cid}
        for i in range(1001)
    ]
    r = admin.post("/v1/events", json={"events": events})
    assert r.status_code == 422
    assert r.json()["problems"][0]["rule"] == "max_items"
    assert admin.get(f"/v1/customers/{cid}").status_code == 404
    assert post_events(admin, *events[:1000])["accepted"] == 1000


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param('"ts": "1999-12-31T00:00:00Z"', "ts", id="ts-before-2000"),
        pytest.param('"price": 1e999', "price", id="price-infinite"),
        pytest.param('"ts": "9999-12-31T23:59:59-23:59"', "ts", id="ts-past-year-9999"),
        pytest.param('"ts": "0001-01-01T00:00:00+23:59"', "ts", id="ts-before-year-1"),
        pytest.param(f'"price": {10**400}', "price", id="price-huge-int"),
        # finite as a double, but it stopped the Redis worker (issue 15, defect 2)
        pytest.param(f'"price": {10**300}', "price", id="price-1e300-int"),
        pytest.param(f'"quantity": {10**400}', "quantity", id="quantity-huge-int"),
    ],
)
def test_an_out_of_range_value_is_rejected_not_a_server_error(
    api: Api, raw: str, field: str
) -> None:
    """Values JSON allows but no real event has are per-item rejections naming the field.

    Regression: a time past year 9999 in UTC and integers too large for a float raised
    OverflowError, a 500.
    """
    body = f'{{"event_id": "{uid("ev")}", "event_type": "purchase", "customer_id": "C1", {raw}}}'
    with api.client("writer") as client:  # its own connection: uvicorn drops one after a 500
        r = client.post("/v1/events", content=body.encode())
    assert r.status_code == 200, r.text
    result = r.json()["results"][0]
    assert result["status"] == "rejected"
    assert field in {p["field"] for p in result["errors"]}


def test_dead_letters_keep_items_that_are_not_objects(
    admin: httpx.Client, store: OnlineStore
) -> None:
    """Even an item that is not an object at all is kept, as sent."""
    marker = uid("junk")
    out = post_events(admin, [marker], {"event_id": uid("ev")})
    assert [r["status"] for r in out["results"]] == ["rejected", "rejected"]
    assert out["results"][0]["errors"][0]["field"] == "(event)"
    kept = [d for d in store.dead_letters(50) if d["event"] == [marker]]
    assert len(kept) == 1
    assert json.dumps(kept[0]["errors"]) == json.dumps(out["results"][0]["errors"])


def test_a_valid_event_after_a_rejected_one_with_its_id_is_accepted(admin: httpx.Client) -> None:
    """A collector that fixes a bad event and sends it again in the same batch (same id):
    the fixed copy is applied, and must be answered `accepted`, not `duplicate`.

    Regression: the ids of rejected items counted as given, so the copy read `duplicate`.
    """
    cid = uid("C")
    bad = purchase(cid, ago(5), event_id=uid("ev")) | {"price": -1}
    good = bad | {"price": 10}
    out = post_events(admin, bad, good)
    assert [r["status"] for r in out["results"]] == ["rejected", "accepted"]


def test_admins_read_the_dead_letters_over_the_api(admin: httpx.Client) -> None:
    """What was set aside can be read back without a database client."""
    marker = uid("ev")
    post_events(admin, {"event_id": marker, "event_type": "nope", "customer_id": "C1"})
    items = admin.get("/v1/dead-letters", params={"limit": 20}).json()["items"]
    kept = [
        d for d in items if isinstance(d["event"], dict) and d["event"].get("event_id") == marker
    ]
    assert kept and kept[0]["errors"][0]["rule"] == "one_of"
    assert admin.get("/v1/webhooks/deliveries").status_code == 200


def test_a_body_over_the_limit_is_413_and_nothing_is_kept(api: Api, store: OnlineStore) -> None:
    """Regression (issue 15, defect 10): a 100 MB POST /v1/events was accepted and its
    rejected items stored whole as dead letters. A body over serve.max_body_bytes is 413,
    declared or streamed in chunks, and the dead letters do not grow."""
    before = len(store.dead_letters(10_000))
    junk = {"event_id": "x", "event_type": "nope", "properties": {"pad": "y" * 7_000}}
    body = json.dumps({"events": [junk] * 1_000}).encode()  # ~7 MB of rejected items
    with api.client("writer") as client:
        r = client.post("/v1/events", content=body)
        assert r.status_code == 413, r.text[:200]
        assert r.json()["error"] == "too_large"

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 65_536):
            yield body[i : i + 65_536]

    with api.client("writer") as client:
        r = client.post("/v1/events", content=chunks())
        assert r.status_code == 413
    assert len(store.dead_letters(10_000)) == before


@pytest.mark.parametrize("depth", [100_000, 5_000])
def test_deeply_nested_json_is_400_not_a_server_error(api: Api, depth: int) -> None:
    """Regression (issue 15, defect 9): ``events`` 100,000 deep or ``properties`` 5,000 deep
    exhausted the recursion: a 500."""
    inner = "[" * depth + "]" * depth
    body = (
        f'{{"events": {inner}}}'
        if depth > 10_000
        else (
            '{"event_id": "d", "event_type": "page_view", "customer_id": "C1", "properties": '
            + '{"a": ' * depth
            + "1"
            + "}" * depth
            + "}"
        )
    )
    with api.client("writer") as client:
        r = client.post("/v1/events", content=body.encode())
    assert r.status_code == 400, r.text[:200]
    assert r.json()["error"] == "too_deep"
