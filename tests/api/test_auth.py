"""API keys as a shop's integration uses them: which requests get in, and what the
store and ``segmint keys`` reveal about a key."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import Api, Shop, served

PROTECTED = [
    ("GET", "/v1/segments"),
    ("GET", "/v1/customers/C0000001"),
    ("GET", "/v1/recommendations/C0000001"),
    ("POST", "/v1/events"),
]


def _request(client: httpx.Client, method: str, path: str) -> httpx.Response:
    body = {"event_id": "auth-1", "event_type": "page_view", "customer_id": "C0000001"}
    return client.request(method, path, json=body if method == "POST" else None)


def _poll(client: httpx.Client, path: str, status: int, seconds: float = 5.0) -> httpx.Response:
    """GET ``path`` until it answers ``status`` (servers re-read keys every 2 s)."""
    deadline = time.monotonic() + seconds
    while True:
        r = client.get(path)
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_a_request_without_a_key_is_401_with_a_json_body(api: Api, method: str, path: str) -> None:
    """Every /v1 route refuses a request with no key, saying how to send one, with the
    WWW-Authenticate challenge HTTP clients expect."""
    with api.client(None) as client:
        r = _request(client, method, path)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    body = r.json()
    assert body["error"] == "unauthorized"
    assert "Authorization: Bearer" in body["message"]


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        "sgm_",
        "sgm_000000000000_secret",  # an id no key has
        "Bearer sgm_x_y",
    ],
)
@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_a_malformed_or_unknown_key_is_401(api: Api, token: str, header: str) -> None:
    """A key that is not one the store holds gets in by neither header."""
    value = f"Bearer {token}" if header == "Authorization" else token
    with api.client(None, **{header: value}) as client:
        r = client.get("/v1/segments")
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"


def test_a_real_key_id_with_a_wrong_secret_is_401(api: Api) -> None:
    """Knowing a key's id (it is shown by `segmint keys list`) is not enough."""
    key_id = api.tokens["admin"].split("_", 2)[1]
    with api.client(None, Authorization=f"Bearer sgm_{key_id}_not-the-secret") as client:
        assert client.get("/v1/segments").status_code == 401


def test_a_valid_key_works_in_either_header(api: Api) -> None:
    """The same key is accepted as a Bearer token and as X-API-Key."""
    token = api.tokens["reader"]
    with api.client(None, Authorization=f"Bearer {token}") as bearer:
        assert bearer.get("/v1/segments").status_code == 200
    with api.client(None, **{"X-API-Key": token}) as plain:
        assert plain.get("/v1/segments").status_code == 200


@pytest.mark.parametrize(
    ("role", "method", "path", "scope"),
    [
        ("writer", "GET", "/v1/segments", "segments:read"),
        ("writer", "GET", "/v1/customers/C0000001", "profiles:read"),
        ("reader", "POST", "/v1/events", "events:write"),
        ("reader", "DELETE", "/v1/segments/browsers", "segments:admin"),
    ],
)
def test_a_key_lacking_the_scope_is_403_naming_it(
    api: Api, role: str, method: str, path: str, scope: str
) -> None:
    """A valid key without the route's scope is told which scope it needs (403, not 401)."""
    with api.client(role) as client:
        r = _request(client, method, path)
    assert r.status_code == 403
    body = r.json()
    assert body["error"] == "forbidden"
    assert f"'{scope}'" in body["message"]


def test_a_revoked_key_is_refused_within_seconds(api: Api) -> None:
    """`segmint keys revoke ID` on a running server: the key works before, and is refused
    (401, saying it was revoked) within 5 s after, without a restart."""
    cfg = api.project.config
    token = api.project.segmint("keys", "create", "ci", "--scope", "segments:read", "-c", cfg)
    token = token.stdout.strip()
    key_id = token.split("_", 2)[1]
    with api.client(None, Authorization=f"Bearer {token}") as client:
        assert _poll(client, "/v1/segments", 200).status_code == 200
        api.project.segmint("keys", "revoke", key_id, "-c", cfg)
        r = _poll(client, "/v1/segments", 401)
    assert r.status_code == 401
    assert "revoked" in r.json()["message"]


def test_keys_list_shows_scopes_and_never_the_token(api: Api) -> None:
    """`segmint keys list` shows each key's id, name and scopes; neither the token nor its
    secret appears in it, nor in the store, which holds only the secret's SHA-256."""
    cfg = api.project.config
    made = api.project.segmint(
        "keys", "create", "shop-frontend", "-s", "profiles:read", "-s", "events:write", "-c", cfg
    )
    token = made.stdout.strip()
    _, key_id, secret = token.split("_", 2)
    listed = api.project.segmint("keys", "list", "-c", cfg).output
    row = next(line for line in listed.splitlines() if key_id in line)
    assert "shop-frontend" in row
    assert "profiles:read, events:write" in row
    assert secret not in listed
    assert token not in listed

    store = api.project.store()
    try:
        record = store.get_meta("keys")[key_id]
    finally:
        store.close()
    assert record["hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert record["scopes"] == ["profiles:read", "events:write"]
    assert secret not in json.dumps(record)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_operations_routes_need_no_key(api: Api, path: str) -> None:
    """Load balancers and Prometheus call these without a key."""
    with api.client(None) as client:
        assert client.get(path).status_code == 200


# --- CORS ----------------------------------------------------------------------------------
ORIGIN = "https://shop.example"


@pytest.fixture(scope="module")
def cors_api(shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    serve = f'serve:\n  cors_origins: ["{ORIGIN}"]\n'
    with served(shop, tmp_path_factory.mktemp("cors"), serve) as running:
        yield running


def _preflight(client: httpx.Client, origin: str) -> httpx.Response:
    return client.options(
        "/v1/customers/C0000001/segments",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )


def test_cors_preflight_from_a_listed_origin_is_allowed(cors_api: Api) -> None:
    """With serve.cors_origins, the shop's pages may call the API from the browser: the
    preflight (sent without a key) and the real request carry the allow-origin header."""
    with cors_api.client(None) as client:
        pre = _preflight(client, ORIGIN)
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    with cors_api.client("reader", Origin=ORIGIN) as client:
        real = client.get("/v1/segments")
    assert real.status_code == 200
    assert real.headers["access-control-allow-origin"] == ORIGIN


def test_cors_preflight_from_another_origin_is_not_allowed(cors_api: Api) -> None:
    """Any other site gets no allow-origin header, so the browser blocks it."""
    with cors_api.client(None) as client:
        pre = _preflight(client, "https://evil.example")
    assert "access-control-allow-origin" not in pre.headers
    with cors_api.client("reader", Origin="https://evil.example") as client:
        assert "access-control-allow-origin" not in client.get("/v1/segments").headers


def test_no_cors_headers_without_cors_origins(api: Api) -> None:
    """By default (no serve.cors_origins) no origin is allowed, not even the shop's."""
    with api.client(None) as client:
        assert "access-control-allow-origin" not in _preflight(client, ORIGIN).headers


def test_a_405_names_the_allowed_methods(api: Api) -> None:
    """Regression (issue 15, defect 14): 405 answers lacked the ``Allow`` header HTTP
    requires."""
    with api.client("admin") as client:
        r = client.patch("/v1/segments")
    assert r.status_code == 405
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert r.json()["error"] == "method_not_allowed"
