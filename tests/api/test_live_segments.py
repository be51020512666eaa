"""The real-time path end to end, as in the issue: an anonymous visitor browses, logs in,
buys; segments follow at once, the history and members say so, and webhooks are told."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from segmint.realtime import verify
from tests.api.conftest import Api, Shop, ago, post_events, served, uid

SECRET = "test-hook-secret-0123456789"


def _segments(client: httpx.Client, identifier: str) -> dict[str, Any]:
    r = client.get(f"/v1/customers/{identifier}/segments")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _names(answer: dict[str, Any]) -> set[str]:
    return {s["segment"] for s in answer["segments"]}


def _purchases(cid: str, n: int, start: float) -> list[dict[str, Any]]:
    """``n`` purchases by ``cid``, a few seconds apart from ``start`` minutes ago."""
    return [
        {
            "event_id": uid("buy"),
            "event_type": "purchase",
            "customer_id": cid,
            "product_id": f"SKU-{i}",
            "price": 20.0,
            "quantity": 1,
            "ts": ago(start - i * 0.1),
        }
        for i in range(n)
    ]


def test_a_visitor_who_browses_logs_in_and_buys_moves_segments_live(admin: httpx.Client) -> None:
    """The issue's scenario. 3 product views (count(product_view, 14d) >= 3, no purchase)
    put an anonymous visitor in `browsers`; at login the account takes over the visitor's
    history (and so `browsers`), and either id answers the account; 6 purchases
    (count(purchase, 30d) > 5) move it from `browsers` to `frequent_buyers`."""
    anon, cid = uid("anon"), uid("C")
    views = [
        {
            "event_id": uid("pv"),
            "event_type": "product_view",
            "anonymous_id": anon,
            "product_id": f"SKU-{i}",
            "ts": ago(10 - i),
        }
        for i in range(3)
    ]
    post_events(admin, *views[:2])
    assert "browsers" not in _names(_segments(admin, anon))  # 2 views are not enough
    post_events(admin, views[2])
    seen = _segments(admin, anon)
    assert {(s["segment"], s["live"]) for s in seen["segments"]} == {("browsers", True)}

    login = {
        "event_id": uid("login"),
        "event_type": "login",
        "customer_id": cid,
        "anonymous_id": anon,
        "ts": ago(6),
    }
    post_events(admin, login)
    for identifier in (anon, cid):
        merged = _segments(admin, identifier)
        assert merged["customer_id"] == cid
        assert _names(merged) == {"browsers"}

    buys = _purchases(cid, 6, start=5)
    out = post_events(admin, *buys)
    assert out["accepted"] == 6
    for identifier in (anon, cid):
        now = _segments(admin, identifier)
        assert now["customer_id"] == cid
        assert _names(now) == {"frequent_buyers"}
        assert all(s["live"] for s in now["segments"])

    fb = admin.get("/v1/segments/frequent_buyers/history").json()["changes"]
    entered = [c for c in fb if c["customer_id"] == cid]
    assert [(c["change"], c["event_id"]) for c in entered] == [("entered", buys[5]["event_id"])]
    br = admin.get("/v1/segments/browsers/history").json()["changes"]
    mine = [(c["change"], c["event_id"]) for c in reversed(br) if c["customer_id"] == cid]
    # in at the login (the visitor's views became the account's), out at the first purchase
    assert mine == [("entered", login["event_id"]), ("exited", buys[0]["event_id"])]


def _frequent_buyer(client: httpx.Client) -> str:
    cid = uid("C")
    post_events(client, *_purchases(cid, 6, start=5))
    assert "frequent_buyers" in _names(_segments(client, cid))
    return cid


def test_members_page_through_every_member_once_in_order(admin: httpx.Client) -> None:
    """Paging with limit=1 and the cursor until next_cursor is null visits each member
    exactly once, sorted, the live one included, and as many as the segment's size."""
    cid = _frequent_buyer(admin)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10_000):
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = admin.get("/v1/segments/frequent_buyers/members", params=params).json()
        assert len(page["members"]) <= 1
        seen += page["members"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert cid in seen
    assert seen == sorted(set(seen))
    whole = admin.get("/v1/segments/frequent_buyers/members", params={"limit": 1000}).json()
    assert whole["members"] == seen
    assert whole["next_cursor"] is None
    assert admin.get("/v1/segments/frequent_buyers").json()["size"] == len(seen)


# --- webhooks -------------------------------------------------------------------------------
@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: ``/flaky`` answers 500 to its first request and
    200 after; ``/down`` always answers 503. Every request is recorded."""

    server: ThreadingHTTPServer
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def got(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if r["path"] == path]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    box: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            rec = box[0]
            with rec.lock:
                rec.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                n = len([r for r in rec.requests if r["path"] == self.path])
            code = 503 if self.path == "/down" else 500 if n == 1 else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.append(Receiver(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@dataclass
class HookRun:
    api: Api
    customer_id: str
    deliveries: dict[str, dict[str, Any]]  # by webhook name


def _settled(api: Api, cid: str, seconds: float = 20.0) -> dict[str, dict[str, Any]]:
    """The deliveries for ``cid``'s changes by webhook, once none is pending."""
    store = api.project.store()
    try:
        deadline = time.monotonic() + seconds
        while True:
            mine = [d for d in store.deliveries(50) if d["payload"]["customer_id"] == cid]
            done = len(mine) == 2 and all(d["status"] != "pending" for d in mine)
            if done or time.monotonic() > deadline:
                return {d["webhook"]: d for d in mine}
            time.sleep(0.2)
    finally:
        store.close()


@pytest.fixture(scope="module")
def hook_run(
    shop: Shop, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> Iterator[HookRun]:
    """A server with two webhooks on frequent_buyers (one whose receiver fails once, one
    whose receiver is down), and one customer who entered the segment."""
    hooks = "".join(
        f"    - name: {name}\n"
        f"      url: {receiver.url}{path}\n"
        "      secret_env: SEGMINT_TEST_HOOK_SECRET\n"
        "      backoff_seconds: 0.2\n"
        f"      max_attempts: {attempts}\n"
        "      segments: [frequent_buyers]\n"
        for name, path, attempts in (("hook", "/flaky", 6), ("dead", "/down", 3))
    )
    serve = f"serve:\n  webhooks:\n{hooks}"
    env = {"SEGMINT_TEST_HOOK_SECRET": SECRET}
    with served(shop, tmp_path_factory.mktemp("hooks"), serve, env) as api:
        with api.client("admin") as client:
            cid = _frequent_buyer(client)
        yield HookRun(api, cid, _settled(api, cid))


def test_a_webhook_receives_the_enter_signed_after_a_failed_attempt(
    hook_run: HookRun, receiver: Receiver
) -> None:
    """The receiver answered 500 the first time: the dispatcher tried again after the
    backoff, and the second POST carried the same signed segment.entered, which verifies
    with the shared secret (and not with another)."""
    posts = receiver.got("/flaky")
    assert len(posts) == 2
    assert posts[0]["body"] == posts[1]["body"]
    last = posts[1]
    payload = json.loads(last["body"])
    assert payload["type"] == "segment.entered"
    assert payload["segment"] == "frequent_buyers"
    assert payload["customer_id"] == hook_run.customer_id
    assert payload["event_id"]
    assert last["headers"]["Segmint-Event"] == "segment.entered"
    header = last["headers"]["Segmint-Signature"]
    assert verify(SECRET.encode(), last["body"], header)
    assert not verify(b"another-secret", last["body"], header)
    assert not verify(SECRET.encode(), last["body"] + b" ", header)

    d = hook_run.deliveries["hook"]
    assert d["status"] == "delivered"
    assert d["attempts"] == 2
    assert [entry["code"] for entry in d["log"]] == [500, 200]
    assert last["headers"]["Segmint-Delivery"] == d["id"]


def test_a_webhook_that_always_fails_ends_dead_after_max_attempts(
    hook_run: HookRun, receiver: Receiver
) -> None:
    """A receiver that is down gets exactly max_attempts (3) POSTs; then the delivery is
    `dead` (the webhook dead letter), with every attempt logged."""
    d = hook_run.deliveries["dead"]
    assert d["status"] == "dead"
    assert d["attempts"] == 3
    assert [entry["code"] for entry in d["log"]] == [503, 503, 503]
    time.sleep(1.0)  # the dispatcher polls every 0.5 s: a 4th attempt would come by now
    assert len(receiver.got("/down")) == 3
