"""Retries, shared event ids and late events through real uvicorn, on both event paths.

Inline (embedded SQLite store, events applied in the request) and, when a Redis answers, the
production path: a server whose online store and event bus are Redis under a prefix of the
test's own, the shop published into it, and a ``segmint`` worker (in this process) applying
the stream. What the API answers must be what was done: a ``duplicate`` changes nothing, an
``accepted`` event is counted once.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from segmint.api import create_key
from segmint.config import load_config
from segmint.errors import StoreUnavailable
from segmint.realtime import OnlineStore, Runtime, Worker
from tests.api.conftest import Api, Server, Shop, ago, purchase, uid

PURCHASES = 'count(event_type == "purchase", 30d)'


def _days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def _counters(store: OnlineStore, cid: str) -> dict[str, Any]:
    doc = store.live([cid]).get(cid)
    return {} if doc is None else doc.counters


def _statuses(out: dict[str, Any]) -> list[str]:
    return [r["status"] for r in out["results"]]


# --- the two paths --------------------------------------------------------------------------
@dataclass
class Route:
    """One way events reach the store: ``send`` posts a batch and waits until it is
    applied; ``store`` is the online store a second process would read."""

    name: str
    client: httpx.Client
    store: OnlineStore
    worker: Worker | None = None

    def send(self, *events: dict[str, Any]) -> dict[str, Any]:
        r = self.client.post("/v1/events", json={"events": list(events)})
        assert r.status_code == (202 if self.worker else 200), r.text
        if self.worker is not None:
            bus = self.worker.bus
            while bus.lag() != {"pending": 0, "waiting": 0}:
                self.worker.step()
        body: dict[str, Any] = r.json()
        return body


def _redis_url() -> str:
    return os.environ.get("SEGMINT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="module")
def redis_api(
    shop: Shop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Api, Runtime]]:
    """A server on a Redis store and stream (a prefix of its own), the shop published into
    it, and a runtime of the same project for the worker; everything dropped afterwards."""
    pytest.importorskip("redis")
    url, prefix = _redis_url(), f"segmint-test-{uuid.uuid4().hex[:10]}"
    where = f"{url}?prefix={prefix}"
    project = shop.project.copy(
        tmp_path_factory.mktemp("redis"),
        f"serve:\n  online_store: '{where}'\n  bus: '{where}'\n",
    )
    store = project.store()
    try:
        store.ping()
    except StoreUnavailable as exc:
        pytest.skip(f"no Redis answers at {url} (make test starts one): {exc}")
    try:
        project.segmint("publish", "-c", project.config)
        tokens = {"admin": create_key(store, "admin", ["admin"])[1]}
        server = Server(project, project.config.parent / "uvicorn.log")
        server.start()
        old = os.environ.get("SEGMINT_KEY_FILE")
        os.environ["SEGMINT_KEY_FILE"] = str(project.key_file)
        rt = Runtime.open(load_config(project.config))
        try:
            yield Api(server, project, tokens), rt
        finally:
            rt.close()
            server.stop()
            if old is None:
                os.environ.pop("SEGMINT_KEY_FILE", None)
            else:
                os.environ["SEGMINT_KEY_FILE"] = old
    finally:
        store.drop_all()  # type: ignore[attr-defined]
        store.close()


@pytest.fixture(params=["inline", pytest.param("redis", marks=pytest.mark.redis)])
def path(request: pytest.FixtureRequest) -> Iterator[Route]:
    """The events path under test: inline (the shared embedded server) or the stream."""
    if request.param == "inline":
        api: Api = request.getfixturevalue("api")
        store = api.project.store()
        worker = None
    else:
        api, rt = request.getfixturevalue("redis_api")
        store = rt.store
        assert rt.bus is not None
        worker = Worker(rt.bus, rt.processor, block_ms=50)
    with api.client("admin") as client:
        try:
            yield Route(request.param, client, store, worker)
        finally:
            if worker is None:
                store.close()


# --- defect 4 -------------------------------------------------------------------------------
def test_a_retry_of_an_event_a_month_older_than_the_latest_is_a_duplicate(path: Route) -> None:
    """Regression (issue 15, defect 4): the de-duplication window (7 days) counts from
    arrival, not from the event's own time: an event dated 30 days before the customer's
    latest, sent again, is answered duplicate and changes nothing (it was answered accepted,
    or duplicate on the stream, and counted again)."""
    cid = uid("C")
    old = purchase(cid, _days_ago(30))
    assert _statuses(path.send(old)) == ["accepted"]
    assert _statuses(path.send(purchase(cid, ago(1)))) == ["accepted"]
    before = _counters(path.store, cid)
    assert sum(s[0] for s in before[PURCHASES].values()) >= 1
    again = path.send(old)
    assert _statuses(again) == ["duplicate"]
    assert (again["accepted"], again["duplicate"]) == (0, 1)
    assert _counters(path.store, cid) == before
    assert set(path.store.applied([old["event_id"]])) == {old["event_id"]}


# --- defect 5 -------------------------------------------------------------------------------
def test_one_event_id_for_two_customers_is_applied_once(path: Route) -> None:
    """Regression (issue 15, defect 5): an event id is global to the project: the same id
    sent for a second customer (in a later request, or in the same one) is answered
    duplicate and counted for nobody but the first."""
    c1, c2, c3, c4 = (uid("C") for _ in range(4))
    eid = uid("shared")
    assert _statuses(path.send(purchase(c1, ago(3), eid))) == ["accepted"]
    first = _counters(path.store, c1)
    out = path.send(purchase(c2, ago(2), eid))
    assert _statuses(out) == ["duplicate"]
    assert _counters(path.store, c2) == {}
    assert _counters(path.store, c1) == first

    eid2 = uid("shared")
    both = path.send(purchase(c3, ago(2), eid2), purchase(c4, ago(1), eid2))
    assert _statuses(both) == ["accepted", "duplicate"]
    assert sum(s[0] for s in _counters(path.store, c3)[PURCHASES].values()) == 1
    assert _counters(path.store, c4) == {}


# --- defect 6 -------------------------------------------------------------------------------
def _history(client: httpx.Client, segment: str, cid: str) -> list[dict[str, Any]]:
    r = client.get(f"/v1/segments/{segment}/history", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return [c for c in r.json()["changes"] if c["customer_id"] == cid]


def _segments(client: httpx.Client, cid: str) -> set[str]:
    r = client.get(f"/v1/customers/{cid}/segments")
    assert r.status_code == 200, r.text
    return {s["segment"] for s in r.json()["segments"]}


def test_a_late_purchase_does_not_take_a_frequent_buyer_out(path: Route) -> None:
    """Regression (issue 15, defect 6): six purchases today put a customer in
    frequent_buyers (count(purchase, 30d) > 5); a purchase dated years ago is accepted and
    counted at its own time, but the customer stays in, no exit is recorded, and no change
    is dated before the one before it (it exited "at 2001-01-01" and the webhook fired)."""
    cid = uid("C")
    path.send(*(purchase(cid, ago(10 - i)) for i in range(6)))
    assert "frequent_buyers" in _segments(path.client, cid)
    entered = _history(path.client, "frequent_buyers", cid)
    assert [c["change"] for c in entered] == ["entered"]

    late = path.send(purchase(cid, "2001-01-01T00:00:00+00:00"))
    assert _statuses(late) == ["accepted"]
    assert late["changes"] == 0
    assert "frequent_buyers" in _segments(path.client, cid)
    changes = _history(path.client, "frequent_buyers", cid)
    assert [c["change"] for c in changes] == ["entered"]
    # the late event is in the counters at its own hour
    hour = str(int(datetime(2001, 1, 1, tzinfo=UTC).timestamp() // 3600))
    assert hour in _counters(path.store, cid)[PURCHASES]

    ats = [c["at"] for c in changes]
    assert ats == sorted(ats) and not any(a.startswith("2001") for a in ats)
