"""One definition store for both paths: a segment defined over the API is computed by the
batch path (``segmint segment``), published by ``segmint publish``, and has the same members
on the live path and the batch path for the same data."""

from __future__ import annotations

from pathlib import Path

import httpx

from segmint.config import load_config
from segmint.segments import definitions
from segmint.segments.membership import members_at
from segmint.warehouse import connect
from tests.api.conftest import Project, Shop, served

#: features only, so the live path (published features) and the batch path (features as of
#: the data's end, as when the shop was built) read the same numbers
RULE = "frequency >= 2 and monetary > 100"


def _live_members(client: httpx.Client, name: str) -> list[str]:
    out: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        r = client.get(f"/v1/segments/{name}/members", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        out += body["members"]
        cursor = body["next_cursor"]
        if not cursor:
            return out


def _batch_members(project: Project, name: str) -> list[str]:
    cfg = load_config(project.config)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        ids = wh.to_arrow(members_at(wh, name).select("customer_id"))["customer_id"]
        return sorted(ids.to_pylist())


def _batch_definition(project: Project, name: str) -> dict[str, object] | None:
    cfg = load_config(project.config)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        return definitions(wh).get(name)


def test_a_segment_defined_over_the_api_is_computed_and_published_by_the_batch_path(
    shop: Shop, tmp_path: Path
) -> None:
    """Regression (issue 15, defect 13): segments defined over the API lived only on the
    live path; `segmint segment`, reports, exports and `segmint publish` never read them, so
    the two paths disagreed about the same segment (and a publish emptied it). Both now
    read the online store's definitions: the batch path computes the segment on the
    warehouse with the same members the live path gave it, and a publish keeps them.

    A stored definition that no longer compiles is reported and skipped, and one that takes
    a segmint.yaml segment's name loses to segmint.yaml; neither fails the run."""
    with served(shop, tmp_path) as api, api.client("admin") as admin:
        r = admin.post("/v1/segments", json={"name": "api_valuable", "rule": RULE})
        assert r.status_code == 201, r.text
        live = _live_members(admin, "api_valuable")
        assert 10 < len(live) < 300  # some, not everyone: the comparison means something
        frequent = _batch_members(api.project, "frequent_buyers")
        store = api.project.store()
        try:  # definitions stored by an older version, before they were checked
            store.put_meta("segments", "api_broken", {"rule": "no_such_feature > 1"})
            store.put_meta("segments", "frequent_buyers", {"rule": "monetary > 0"})
        finally:
            store.close()

        run = api.project.segmint("segment", "-c", api.project.config)
        flat = " ".join(run.output.split())
        assert "segment 'api_broken' (defined over the API) is skipped" in flat
        assert "no_such_feature" in flat
        assert "segment 'frequent_buyers' (defined over the API) is skipped" in flat

        assert _batch_members(api.project, "api_valuable") == sorted(live)
        defined = _batch_definition(api.project, "api_valuable")
        assert defined is not None and defined["definition"] == RULE
        assert _batch_members(api.project, "frequent_buyers") == frequent  # segmint.yaml's
        assert _batch_definition(api.project, "api_broken") is None

        api.project.segmint("publish", "-c", api.project.config)
        assert _live_members(admin, "api_valuable") == sorted(live)
        r = admin.get(f"/v1/customers/{live[0]}/segments")
        assert r.status_code == 200, r.text
        assert "api_valuable" in {s["segment"] for s in r.json()["segments"]}

        # deleted over the API: gone from reads at once, though the published snapshot
        # still lists its batch members until the next publish (regression: it lingered as
        # a "batch" segment until then)
        assert admin.delete("/v1/segments/api_valuable").status_code in (200, 204)
        r = admin.get(f"/v1/customers/{live[0]}/segments")
        assert "api_valuable" not in {s["segment"] for s in r.json()["segments"]}
        api.project.segmint("publish", "-c", api.project.config)
        r = admin.get(f"/v1/customers/{live[0]}/segments")
        assert "api_valuable" not in {s["segment"] for s in r.json()["segments"]}


def test_a_publish_keeps_the_live_members_of_a_segment_the_batch_has_not_computed(
    shop: Shop, tmp_path: Path
) -> None:
    """Regression (issue 15, defect 13): a publish replaced the members index with the
    batch's memberships, so a segment defined over the API since the last `segmint segment`
    was emptied by `segmint publish`. It now keeps the members the live path gave it."""
    with served(shop, tmp_path) as api, api.client("admin") as admin:
        r = admin.post("/v1/segments", json={"name": "api_fresh", "rule": RULE})
        assert r.status_code == 201, r.text
        live = _live_members(admin, "api_fresh")
        assert live
        api.project.segmint("publish", "-c", api.project.config)
        assert _live_members(admin, "api_fresh") == live


def test_the_batch_path_creates_no_online_store(shop: Shop, tmp_path: Path) -> None:
    """Regression (issue 15, defect 13): reading the API's definitions must not create an
    online store in a project that has none yet (a fresh project, `make demo`)."""
    project = shop.project.copy(tmp_path)
    cfg = load_config(project.config)
    online = cfg.base_dir / ".segmint" / "online.sqlite"
    for f in online.parent.glob("online.sqlite*"):
        f.unlink()
    assert cfg.serve.online_store == "sqlite:///.segmint/online.sqlite"
    project.segmint("segment", "-c", project.config)
    assert not online.exists()
