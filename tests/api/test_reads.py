"""What a shop reads: a published customer's profile (the same values the warehouse
holds), recommendations that always answer, readiness and metrics."""

from __future__ import annotations

import csv
import math
from datetime import datetime
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from segmint.config import load_config
from segmint.realtime import OnlineStore
from segmint.warehouse import connect
from tests.api.conftest import Api, post_events, uid


@pytest.fixture(scope="module")
def warehouse_view(api: Api) -> dict[str, Any]:
    """The biggest spender's latest features, open memberships and clusters, read from the
    warehouse directly (the batch path's answer)."""
    cfg = load_config(api.project.config)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        f = wh.table("features")
        latest = f.filter(f.as_of == f.as_of.max())
        row = wh.to_arrow(latest.order_by([latest.monetary.desc(), "customer_id"]).limit(1))
        features = row.to_pylist()[0]
        cid = features["customer_id"]
        m = wh.table("segment_membership")
        open_ = m.filter((m.customer_id == cid) & m.exited_at.isnull())
        segments = {r["segment"] for r in wh.to_arrow(open_).to_pylist()}
        c = wh.table("cluster_assignments")
        c = c.filter(c.customer_id == cid)
        c = c.filter(c.as_of == c.as_of.max())
        clusters = {r["clustering"]: str(r["cluster"]) for r in wh.to_arrow(c).to_pylist()}
    return {"customer_id": cid, "features": features, "segments": segments, "clusters": clusters}


def _same(api_value: Any, wh_value: Any) -> bool:
    if isinstance(wh_value, float) and not math.isfinite(wh_value):
        return api_value is None
    if isinstance(wh_value, datetime):
        return bool(api_value == wh_value.isoformat())
    return bool(api_value == wh_value)


def test_a_published_customer_has_the_warehouse_features_segments_and_clusters(
    admin: httpx.Client, warehouse_view: dict[str, Any]
) -> None:
    """GET /v1/customers/{id} serves what `segmint segment` computed: every feature with
    the warehouse's value, the open memberships, the cluster, and the as-of time."""
    cid = warehouse_view["customer_id"]
    r = admin.get(f"/v1/customers/{cid}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["customer_id"] == cid
    features = {k: v for k, v in warehouse_view["features"].items() if k != "customer_id"}
    features.pop("as_of")
    assert features["monetary"] > 0
    wrong = {k for k, v in features.items() if not _same(body["features"].get(k), v)}
    assert not wrong, {k: (body["features"].get(k), features[k]) for k in wrong}
    # segments other tests define over the API are the server's, not the warehouse's
    api_defined = {
        s["name"] for s in admin.get("/v1/segments").json()["segments"] if s["source"] == "api"
    }
    served = {s["segment"] for s in body["segments"]} - api_defined
    assert served == warehouse_view["segments"]
    assert body["clusters"] == warehouse_view["clusters"]
    assert isinstance(body["scores"], dict)
    assert body["published_as_of"].startswith(
        warehouse_view["features"]["as_of"].date().isoformat()
    )


def test_a_customer_is_found_by_email(api: Api, admin: httpx.Client) -> None:
    """The shop may look a customer up by e-mail (any case); it is matched through its
    keyed hash, never stored in clear."""
    with (api.project.config.parent / "customers.csv").open() as f:
        first = next(csv.DictReader(f))
    r = admin.get(f"/v1/customers/{first['email'].upper()}")
    assert r.status_code == 200, r.text
    assert r.json()["customer_id"] == first["customer_id"]


def test_an_unknown_customer_is_404_json(admin: httpx.Client) -> None:
    """Nobody has the id: a 404 with a JSON body, for the profile and for its segments."""
    for path in ("/v1/customers/nobody-here", "/v1/customers/nobody-here/segments"):
        r = admin.get(path)
        assert r.status_code == 404
        assert r.json()["error"] == "not_found"


def test_an_unknown_customer_gets_popular_recommendations(
    admin: httpx.Client, store: OnlineStore
) -> None:
    """An unknown visitor still gets an answer (200): the most bought products overall,
    marked as a fallback with the reason."""
    r = admin.get(f"/v1/recommendations/{uid('stranger')}", params={"k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["known"] is False
    assert (body["fallback"], body["reason"]) == ("popularity", "unknown customer")
    popular = store.get_meta("popular")["global"]["items"]
    assert [i["product_id"] for i in body["items"]] == [p["product_id"] for p in popular[:5]]
    assert [i["rank"] for i in body["items"]] == [1, 2, 3, 4, 5]


def test_a_customer_without_a_published_list_gets_a_fallback(
    admin: httpx.Client, warehouse_view: dict[str, Any]
) -> None:
    """No recommendations were trained for the shop: a known customer gets a non-empty
    list too, with `fallback` saying it is not their own."""
    r = admin.get(f"/v1/recommendations/{warehouse_view['customer_id']}")
    assert r.status_code == 200
    body = r.json()
    assert body["known"] is True
    assert body["fallback"] in ("segment_popularity", "popularity")
    assert body["reason"]
    assert 0 < len(body["items"]) <= 10


@pytest.mark.parametrize(("k", "status"), [(0, 422), (101, 422), (-1, 422), (1, 200), (100, 200)])
def test_k_is_between_1_and_100(admin: httpx.Client, k: int, status: int) -> None:
    """k outside 1..100 is a 422 naming k; inside, at most k items come back."""
    r = admin.get("/v1/recommendations/C0000001", params={"k": k})
    assert r.status_code == status
    if status == 422:
        assert r.json()["problems"][0]["field"] == "query.k"
    else:
        assert 0 < len(r.json()["items"]) <= k


def test_readyz_reports_the_published_snapshot(api: Api, store: OnlineStore) -> None:
    """/readyz is 200 `ready` with the version and size of the snapshot in service."""
    with api.client(None) as client:
        r = client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    info = store.info()
    assert body["status"] == "ready"
    assert body["checks"] == {"online_store": "ok"}
    assert body["published"]["version"] >= 1
    assert body["published"] == {
        "version": info.version,
        "as_of": info.as_of,
        "customers": info.customers,
    }


def _samples(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def test_metrics_count_requests_by_route_template_and_events_by_outcome(
    admin: httpx.Client,
) -> None:
    """Prometheus sees latency under the route template (not one series per customer)
    and the events by outcome: 2 accepted and 1 rejected here."""
    before = _samples(admin)
    cid = uid("C")
    post_events(
        admin,
        {"event_id": uid("ev"), "event_type": "page_view", "customer_id": cid},
        {"event_id": uid("ev"), "event_type": "page_view", "customer_id": cid},
        {"event_id": uid("ev"), "event_type": "page_view"},
    )
    assert admin.get(f"/v1/customers/{cid}/segments").status_code == 200
    after = _samples(admin)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("segmint_events_total", outcome="accepted") == 2
    assert delta("segmint_events_total", outcome="rejected") == 1
    route = "/v1/customers/{identifier}/segments"
    labels = {"method": "GET", "route": route, "status": "200"}
    assert delta("segmint_request_seconds_count", **labels) == 1
    assert not [k for k in after if cid in str(k)]
