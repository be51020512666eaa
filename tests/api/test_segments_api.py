"""Rule segments defined over the API: create, read, change, delete, and the errors a
marketer's tool must be able to tell apart."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from segmint.config import load_config
from segmint.realtime import OnlineStore
from tests.api.conftest import Api, uid


def _name() -> str:
    return uid("seg").replace("-", "_")


def _rich(store: OnlineStore, threshold: float) -> int:
    """How many published customers have monetary > ``threshold`` (the slow way)."""
    pub = store.published(list(store.customer_ids()))
    return sum((p.values.get("monetary") or 0) > threshold for p in pub.values())


def _members(client: httpx.Client, name: str) -> list[str]:
    r = client.get(f"/v1/segments/{name}/members", params={"limit": 1000})
    assert r.status_code == 200, r.text
    members: list[str] = r.json()["members"]
    return members


def test_a_posted_segment_is_computed_for_everyone_and_listed(
    admin: httpx.Client, store: OnlineStore
) -> None:
    """POST a rule: 201, and it is computed at once for every customer, the same members
    the published values give (counted here by hand), then listed and readable."""
    name = _name()
    body = {"name": name, "rule": "monetary > 100", "description": "spent over 100"}
    r = admin.post("/v1/segments", json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    expected = _rich(store, 100)
    assert expected > 0
    assert made == {
        "name": name,
        "kind": "rule",
        "source": "api",
        "rule": "monetary > 100",
        "description": "spent over 100",
        "size": expected,
        "entered": expected,
        "exited": 0,
    }
    assert len(_members(admin, name)) == expected
    listed = {s["name"]: s for s in admin.get("/v1/segments").json()["segments"]}
    assert listed[name]["size"] == expected
    got = admin.get(f"/v1/segments/{name}")
    assert got.status_code == 200
    assert {k: v for k, v in made.items() if k not in ("entered", "exited")} == got.json()


def test_put_changes_the_rule_and_recomputes_members(
    admin: httpx.Client, store: OnlineStore
) -> None:
    """PUT a stricter rule: those who no longer match leave (counted as exited) at once."""
    name = _name()
    admin.post("/v1/segments", json={"name": name, "rule": "monetary > 100"})
    before = _rich(store, 100)
    r = admin.put(f"/v1/segments/{name}", json={"rule": "monetary > 400"})
    assert r.status_code == 200, r.text
    after = _rich(store, 400)
    assert after < before
    changed = r.json()
    assert (changed["rule"], changed["size"]) == ("monetary > 400", after)
    assert (changed["entered"], changed["exited"]) == (0, before - after)
    assert len(_members(admin, name)) == after
    assert admin.get(f"/v1/segments/{name}").json()["rule"] == "monetary > 400"


def test_delete_removes_the_segment(admin: httpx.Client) -> None:
    """DELETE: 204, then the segment, its members and its PUT are all 404."""
    name = _name()
    admin.post("/v1/segments", json={"name": name, "rule": "monetary > 100"})
    r = admin.delete(f"/v1/segments/{name}")
    assert r.status_code == 204
    assert r.content == b""
    for path in (f"/v1/segments/{name}", f"/v1/segments/{name}/members"):
        gone = admin.get(path)
        assert gone.status_code == 404
        assert gone.json()["error"] == "not_found"
    assert name not in {s["name"] for s in admin.get("/v1/segments").json()["segments"]}
    assert admin.delete(f"/v1/segments/{name}").status_code == 404
    assert admin.put(f"/v1/segments/{name}", json={"rule": "monetary > 1"}).status_code == 404


@pytest.mark.parametrize(
    ("rule", "column"),
    [
        ("favourite_category == 3", 20),  # '==' between a string and a number
        ("count(purchase, 0d) > 1", 17),  # an empty window
        ('in_segment("no_such_segment")', 12),
    ],
)
def test_an_invalid_rule_is_422_naming_the_column(
    admin: httpx.Client, rule: str, column: int
) -> None:
    """A rule that does not compile is refused before anything is stored, pointing at the
    column at fault, so the tool can underline it."""
    name = _name()
    r = admin.post("/v1/segments", json={"name": name, "rule": rule})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_rule"
    assert body["column"] == column
    assert f"column {column}" in body["message"]
    assert admin.get(f"/v1/segments/{name}").status_code == 404


def test_a_rule_that_does_not_parse_is_422_with_a_column(admin: httpx.Client) -> None:
    """A syntax error, too, comes back with the column."""
    r = admin.post("/v1/segments", json={"name": _name(), "rule": "monetary >"})
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_rule"
    assert isinstance(r.json()["column"], int)


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Bad-Name", "rule": "monetary > 1"},
        {"name": "ok_name", "rule": ""},
        {"name": "ok_name"},
        {"name": "ok_name", "rule": "monetary > 1", "colour": "red"},
    ],
)
def test_a_malformed_definition_is_422(admin: httpx.Client, body: dict[str, Any]) -> None:
    """Name pattern, empty rule, missing rule, unknown key: 422 naming the field."""
    r = admin.post("/v1/segments", json=body)
    assert r.status_code == 422
    assert r.json()["error"] == "invalid"
    assert r.json()["problems"]


def test_a_name_taken_is_409(admin: httpx.Client) -> None:
    """A name from segmint.yaml cannot be defined, replaced or deleted over the API, and
    an API-defined name cannot be POSTed twice (PUT replaces it)."""
    for r in (
        admin.post("/v1/segments", json={"name": "browsers", "rule": "monetary > 1"}),
        admin.put("/v1/segments/browsers", json={"rule": "monetary > 1"}),
        admin.delete("/v1/segments/browsers"),
    ):
        assert r.status_code == 409
        assert r.json()["error"] == "conflict"
        assert "segmint.yaml" in r.json()["message"]
    name = _name()
    assert admin.post("/v1/segments", json={"name": name, "rule": "monetary > 1"}).is_success
    again = admin.post("/v1/segments", json={"name": name, "rule": "monetary > 2"})
    assert again.status_code == 409
    assert admin.get(f"/v1/segments/{name}").json()["rule"] == "monetary > 1"


@pytest.mark.parametrize("suffix", ["", "/members", "/history"])
def test_an_unknown_segment_is_404_json(admin: httpx.Client, suffix: str) -> None:
    """Reading a segment nobody defined says so, as JSON."""
    r = admin.get(f"/v1/segments/no_such_segment{suffix}")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    assert "no_such_segment" in r.json()["message"]


@pytest.mark.parametrize("cursor", ["zzz", "not-a-cursor", "!!!", "é", "QzAwMDAxNjM!"])
def test_a_cursor_the_api_did_not_give_out_is_422(admin: httpx.Client, cursor: str) -> None:
    """A damaged cursor is refused, never taken as "from the start" (a client would then
    page through the same members forever)."""
    r = admin.get("/v1/segments/browsers/members", params={"cursor": cursor})
    assert r.status_code == 422
    assert r.json()["problems"][0]["field"] == "cursor"


def test_a_cursor_given_out_continues_after_the_last_member(admin: httpx.Client) -> None:
    """The cursor of a page starts the next page right after its last member."""
    first = admin.get("/v1/segments/browsers/members", params={"limit": 2}).json()
    second = admin.get(
        "/v1/segments/browsers/members", params={"limit": 2, "cursor": first["next_cursor"]}
    ).json()
    both = _members(admin, "browsers")[:4]
    assert first["members"] + second["members"] == both


def test_a_rule_with_a_huge_number_is_answered_and_not_half_stored(api: Api) -> None:
    """`monetary > 1e400` is either a segment nobody is in (201) or refused (422); never a
    500 that leaves the definition behind.

    Regression: the literal became the bare name `inf` in the compiled rule (NameError).
    """
    name = _name()
    with api.client("admin") as client:  # its own connection: uvicorn drops one after a 500
        r = client.post("/v1/segments", json={"name": name, "rule": "monetary > 1e400"})
    with api.client("admin") as client:
        stored = client.get(f"/v1/segments/{name}").status_code
        client.delete(f"/v1/segments/{name}")
    assert r.status_code in (201, 422), r.text
    assert stored == (200 if r.status_code == 201 else 404)


def _event(cid: str) -> dict[str, Any]:
    return {"event_id": uid("ev"), "event_type": "page_view", "customer_id": cid}


def test_a_cycle_is_refused_whole_and_never_stops_event_intake(admin: httpx.Client) -> None:
    """Regression (issue 15, defect 1): a segment referring to itself, or a PUT closing a
    cycle a -> b -> a, was answered 422 but stored anyway; from then on every event was
    answered 422 and never applied. The graph a change would produce is checked before
    anything is stored, and events keep being applied."""
    a, b = _name(), _name()
    selfish = admin.post("/v1/segments", json={"name": a, "rule": f'in_segment("{a}")'})
    assert selfish.status_code == 422, selfish.text
    assert "cycle" in selfish.json()["message"]
    assert admin.get(f"/v1/segments/{a}").status_code == 404  # not stored
    assert admin.post("/v1/segments", json={"name": a, "rule": "monetary > 0"}).status_code == 201
    made = admin.post("/v1/segments", json={"name": b, "rule": f'in_segment("{a}")'})
    assert made.status_code == 201, made.text
    closing = admin.put(f"/v1/segments/{a}", json={"rule": f'in_segment("{b}")'})
    assert closing.status_code == 422, closing.text
    assert "cycle" in closing.json()["message"]
    assert admin.get(f"/v1/segments/{a}").json()["rule"] == "monetary > 0"  # unchanged
    out = admin.post("/v1/events", json={"events": [_event("C-cycle")]})
    assert out.status_code == 200, out.text
    assert out.json()["results"][0]["status"] == "accepted"
    for name in (b, a):
        assert admin.delete(f"/v1/segments/{name}").status_code == 204


def test_a_stored_cycle_disables_its_segments_and_the_rest_keep_working(
    api: Api, admin: httpx.Client, store: OnlineStore
) -> None:
    """A cycle already in the store (written by an older version) leaves those segments out
    of the live rules with the reason; every other segment keeps working."""
    from segmint.realtime._project import SEGMENTS, live_rules

    a, b = _name(), _name()
    store.put_meta(SEGMENTS, a, {"rule": f'in_segment("{b}")', "created_at": "2026-01-01"})
    store.put_meta(SEGMENTS, b, {"rule": f'in_segment("{a}")', "created_at": "2026-01-01"})
    try:
        disabled: dict[str, str] = {}
        rules = live_rules(load_config(api.project.config), store, disabled)
        assert {a, b} <= set(disabled) and not {a, b} & set(rules.rules)
        assert "cycle" in disabled[a]
        out = admin.post("/v1/events", json={"events": [_event("C-stored-cycle")]})
        assert out.json()["results"][0]["status"] == "accepted"
    finally:
        store.put_meta(SEGMENTS, a, None)
        store.put_meta(SEGMENTS, b, None)


@pytest.mark.parametrize("taken", ["rfm_champions", "behaviour_0"])
def test_names_the_batch_path_gives_are_reserved(admin: httpx.Client, taken: str) -> None:
    """Regression (issue 15, defect 7): an API segment could take the name of a batch
    segment (a cluster's ``behaviour_0``, an RFM tier), rewriting its membership; now 409."""
    r = admin.post("/v1/segments", json={"name": taken, "rule": "monetary > 0"})
    assert r.status_code == 409, r.text
    assert "batch" in r.json()["message"] or "clustering" in r.json()["message"]
