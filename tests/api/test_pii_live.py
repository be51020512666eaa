"""Personal data on the live path, through real uvicorn: e-mails and phone numbers sent as
identifiers or inside events are found nowhere in clear afterwards — not in any byte of the
SQLite online store, not under a Redis prefix (keys, values, the stream, the dead letters),
not in a webhook body, not in the dead-letter and delivery-log answers — while an e-mail still
finds its customer in any case, through the warehouse's own keyed hash."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from segmint.api import create_key
from segmint.config import Settings, load_config
from segmint.privacy import PiiCipher, identifier_hash, load_master_key
from segmint.realtime import open_store
from segmint.warehouse import connect
from tests.api.conftest import Api, Shop, ago, post_events, served, uid
from tests.conftest import redis_where

EMAIL = "Alice.Example@Example.com"
PHONE = "+44 20 7946 0991"
#: every normalised form of the two that must not be found: as written, lower case, the
#: local part, the phone's digits with and without the country code and its groups
FORMS = (
    EMAIL,
    EMAIL.lower(),
    "Alice.Example",
    "example@example",
    PHONE,
    "442079460991",
    "2079460991",
    "20 7946 0991",
    "7946 0991",
    "79460991",
)


def leaks(data: bytes | str) -> set[str]:
    """The forms of EMAIL and PHONE found in ``data`` (case-insensitively)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    low = text.lower()
    return {f for f in FORMS if f.lower() in low}


def cipher_of(shop: Shop) -> PiiCipher:
    return PiiCipher(load_master_key(Settings(key_file=shop.project.key_file)))


def personal_events() -> list[dict[str, Any]]:
    """Six purchases (frequent_buyers: more than 5 in 30 days) by the e-mail, with declared
    PII in properties; a search quoting both in free text; a visit by the phone number; and
    one rejected event (a negative price) holding them all."""
    props = {"email": EMAIL, "phone": PHONE, "note": f"call me on {PHONE} or {EMAIL}"}
    buys = [
        {
            "event_id": uid("buy"),
            "event_type": "purchase",
            "customer_id": EMAIL,
            "product_id": f"SKU-{i}",
            "price": 20.0,
            "quantity": 1,
            "ts": ago(10 - i * 0.1),
            "properties": props,
        }
        for i in range(6)
    ]
    search = {
        "event_id": uid("q"),
        "event_type": "search",
        "customer_id": EMAIL,
        "query": f"orders of {EMAIL} tel {PHONE}",
        "page_url": f"https://shop.example/search?q={EMAIL}&tel={PHONE}",
        "session_id": f"s-{EMAIL}",
        "properties": {"contact": {"Email": EMAIL.upper()}, "typed": [f"{PHONE}"]},
    }
    visit = {"event_id": uid("pv"), "event_type": "page_view", "anonymous_id": PHONE}
    bad = {
        "event_id": uid("bad"),
        "event_type": "purchase",
        "customer_id": EMAIL,
        "price": -1,
        "email": EMAIL,
        "query": f"{EMAIL} {PHONE}",
        "properties": props,
    }
    return [*buys, search, visit, bad]


class Receiver:
    """A webhook receiver on 127.0.0.1 answering 200, keeping every body."""

    def __init__(self) -> None:
        bodies: list[bytes] = []
        self.bodies = bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def _hook_yaml(url: str, store: str = "") -> str:
    return (
        f"serve:\n{store}  webhooks:\n    - name: hook\n      url: {url}\n"
        "      backoff_seconds: 0.2\n      segments: [frequent_buyers]\n"
    )


@pytest.fixture(scope="module")
def hooked(
    shop: Shop, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> Iterator[Api]:
    """A server on the embedded store with a webhook on frequent_buyers, after the
    personal events were posted and the webhook delivered."""
    with served(shop, tmp_path_factory.mktemp("pii"), _hook_yaml(receiver.url)) as api:
        with api.client("admin") as client:
            out = post_events(client, *personal_events())
            assert (out["accepted"], out["rejected"]) == (8, 1), out
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                items = client.get("/v1/webhooks/deliveries").json()["items"]
                if items and all(d["status"] == "delivered" for d in items):
                    break
                time.sleep(0.2)
        yield api


def test_no_store_file_webhook_or_answer_holds_an_email_or_phone(
    hooked: Api, receiver: Receiver, shop: Shop
) -> None:
    """Regression (issue 15, defect 12): e-mails sent as customer_id and inside events were
    readable in the SQLite tables (live, aliases, members, changes, event_log, dead_letter,
    deliveries), in webhook bodies and in the dead-letter and delivery-log answers."""
    with hooked.client("admin") as client:
        dead = client.get("/v1/dead-letters")
        deliveries = client.get("/v1/webhooks/deliveries")
    assert dead.status_code == deliveries.status_code == 200
    assert dead.json()["items"] and deliveries.json()["items"]  # there is something to scan
    assert receiver.bodies, "the webhook was not delivered"
    files = sorted((hooked.project.config.parent / ".segmint").glob("online.sqlite*"))
    assert files
    found = {str(f.name): leaks(f.read_bytes()) for f in files}
    found |= {f"webhook {i}": leaks(b) for i, b in enumerate(receiver.bodies)}
    found |= {"dead letters": leaks(dead.text), "deliveries": leaks(deliveries.text)}
    assert {k: v for k, v in found.items() if v} == {}

    # encrypted, not dropped: the key holder reads the declared PII back
    letter = next(d for d in dead.json()["items"] if d["event"].get("price") == -1)
    cipher = cipher_of(shop)
    assert cipher.decrypt(letter["event"]["properties"]["phone"], "properties.phone") == PHONE
    assert cipher.decrypt(letter["event"]["email"], "email") == EMAIL
    assert letter["event"]["customer_id"] == "email:" + identifier_hash(cipher, "email", EMAIL)


def test_an_email_finds_the_customer_its_events_made_in_any_case(hooked: Api, shop: Shop) -> None:
    """Regression (issue 15, defect 12): e-mail look-ups were case-sensitive and in clear.
    The events sent as Alice.Example@Example.com are found as alice.example@example.com and
    in upper case: the customer is the keyed hash of the normalised address."""
    want = "email:" + identifier_hash(cipher_of(shop), "email", EMAIL.lower())
    with hooked.client("admin") as client:
        for form in (EMAIL.lower(), EMAIL.upper(), f" {EMAIL} "):
            r = client.get(f"/v1/customers/{form}/segments")
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["customer_id"] == want
            assert "frequent_buyers" in {s["segment"] for s in body["segments"]}
        phone = client.get("/v1/customers/+44 (0)20-7946-0991")
        assert phone.status_code in (200, 404)  # (0) is a different number: no clear echo
        assert not leaks(phone.text)


def test_the_live_hash_is_the_warehouse_hash_and_finds_the_batch_customer(
    hooked: Api, shop: Shop
) -> None:
    """Regression (issue 15, defect 12): the live path must hash an e-mail exactly as the
    warehouse does. A shop customer's e-mail (decrypted from the warehouse) hashes to the
    email_hash ingest stored, and an event sent with that e-mail in upper case as its
    customer_id is applied to that customer, who is then found by the e-mail."""
    cfg = load_config(shop.project.config)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        rows = wh.to_arrow(
            wh.ibis.sql(
                "SELECT i.customer_id, r.email_enc, r.email_hash FROM customer_records r "
                "JOIN identities i ON i.identifier_type = 'email' "
                "AND i.identifier = r.email_hash WHERE r.email_enc IS NOT NULL LIMIT 1"
            )
        ).to_pylist()
    assert rows, "the synthetic shop has no customer with an e-mail"
    cid, enc, stored_hash = rows[0]["customer_id"], rows[0]["email_enc"], rows[0]["email_hash"]
    cipher = cipher_of(shop)
    email = cipher.decrypt(enc, "email")
    assert identifier_hash(cipher, "email", email.upper()) == stored_hash
    eid = uid("pv")
    view = {"event_id": eid, "event_type": "product_view", "customer_id": email.upper()}
    with hooked.client("admin") as client:
        assert post_events(client, view)["accepted"] == 1
        r = client.get(f"/v1/customers/{email.lower()}")
        assert r.status_code == 200, r.text
        assert r.json()["customer_id"] == cid
    store = hooked.project.store()
    try:
        assert eid in store.live([cid])[cid].seen
    finally:
        store.close()


def test_a_lone_surrogate_is_refused_and_dead_letters_stay_readable(admin: httpx.Client) -> None:
    """Regression (issue 15, defect 9): a lone surrogate in customer_id or event_id failed in
    SQLite, and from then on GET /v1/dead-letters answered 500. It is refused with rule
    `encoding` naming the field, and its dead letter is stored with the character replaced."""
    marker = uid("sur")
    events = [
        {"event_id": f"{marker}\ud800", "event_type": "page_view", "customer_id": "c1"},
        {"event_id": marker, "event_type": "page_view", "customer_id": "c\udfff1"},
        {
            "event_id": f"{marker}-p",
            "event_type": "page_view",
            "customer_id": "c1",
            "properties": {"k\ud800": "v", "ok": ["\udc00"]},
        },
    ]
    body = json.dumps({"events": events}).encode()  # JSON spells them \ud800
    r = admin.post("/v1/events", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["rejected"] == 3
    rules = [{(e["field"], e["rule"]) for e in res["errors"]} for res in out["results"]]
    assert rules == [
        {("event_id", "encoding")},
        {("customer_id", "encoding")},
        {("properties", "encoding")},
    ]
    dead = admin.get("/v1/dead-letters", params={"limit": 50})
    assert dead.status_code == 200, dead.text
    items = dead.json()["items"]  # other tests' dead letters may be lists or strings
    mine = [
        d
        for d in items
        if isinstance(d["event"], dict) and marker in str(d["event"].get("event_id"))
    ]
    assert len(mine) == 3


def test_a_customer_id_may_not_take_the_anonymous_prefix(admin: httpx.Client) -> None:
    """Regression (issue 15, defect 14): customer_id "anonymous_id:X" shared visitor X's
    live record. It is refused (rule `reserved`), and X's record is untouched."""
    anon = uid("anon")
    post_events(admin, {"event_id": uid("pv"), "event_type": "page_view", "anonymous_id": anon})
    out = post_events(
        admin,
        {"event_id": uid("pv"), "event_type": "purchase", "customer_id": f"anonymous_id:{anon}"},
    )
    assert out["rejected"] == 1
    assert out["results"][0]["errors"][0]["rule"] == "reserved"
    assert "anonymous_id:" in out["results"][0]["errors"][0]["message"]


# --- the stream path: a real Redis, isolated by key prefix ---------------------------------
def _redis_dump(url: str, prefix: str) -> list[tuple[str, bytes]]:
    """Every key under ``prefix`` with everything it holds, whatever its type."""
    import redis

    r: Any = redis.Redis.from_url(url)
    out: list[tuple[str, bytes]] = []
    for key in r.scan_iter(match=f"{prefix}:*", count=500):
        kind = r.type(key).decode()
        if kind == "string":
            parts: list[Any] = [r.get(key)]
        elif kind == "hash":
            parts = [x for kv in r.hgetall(key).items() for x in kv]
        elif kind == "list":
            parts = r.lrange(key, 0, -1)
        elif kind == "set":
            parts = list(r.smembers(key))
        elif kind == "zset":
            parts = [m for m, _ in r.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            parts = [x for _, fields in r.xrange(key) for kv in fields.items() for x in kv]
        else:
            parts = [r.dump(key) or b""]
        out.append((key.decode(), b"\n".join(p if isinstance(p, bytes) else b"" for p in parts)))
    return out


@pytest.mark.redis
def test_the_redis_stream_and_store_hold_no_email_or_phone(
    shop: Shop, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (issue 15, defect 12): on the Redis path the e-mail was a key name
    (`…:live:doc:alice@example.com`) and readable in the stream and in `dead`. The API
    queues only the transformed events, a worker applies them from the stream, and no key
    or value under the prefix holds any form of the e-mail or phone."""
    from segmint.realtime import Runtime, Worker

    where = redis_where()
    url, prefix = where.split("?prefix=")
    store = f"  online_store: '{where}'\n  bus: '{where}'\n"
    monkeypatch.setenv("SEGMINT_KEY_FILE", str(shop.project.key_file))
    rt = None
    keys = open_store(where, tmp_path)  # the keys live in the online store: make one there
    token = create_key(keys, "admin", ["admin"])[1]
    keys.close()
    try:
        with served(shop, tmp_path, _hook_yaml(receiver.url, store)) as api:
            with api.client(None, Authorization=f"Bearer {token}") as client:
                r = client.post("/v1/events", json={"events": personal_events()})
                assert r.status_code == 202, r.text
                assert (r.json()["accepted"], r.json()["rejected"]) == (8, 1)
                rt = Runtime.open(load_config(api.project.config))
                assert rt.bus is not None
                stats = Worker(rt.bus, rt.processor, block_ms=100).run(max_idle_rounds=3)
                assert stats.applied == 8, stats
                found = client.get(f"/v1/customers/{EMAIL.lower()}/segments")
                assert found.status_code == 200, found.text
                assert "frequent_buyers" in {s["segment"] for s in found.json()["segments"]}
                answers = [
                    client.get(p).text for p in ("/v1/dead-letters", "/v1/webhooks/deliveries")
                ]
            dump = _redis_dump(url, prefix)
            assert any(":dead" in k for k, _ in dump) and len(dump) > 5
            leaked = {k: leaks(k) | leaks(v) for k, v in dump}
            assert {k: v for k, v in leaked.items() if v} == {}
            assert [leaks(a) for a in answers] == [set(), set()]
    finally:
        if rt is not None:
            rt.store.drop_all()  # type: ignore[attr-defined]
            rt.close()
