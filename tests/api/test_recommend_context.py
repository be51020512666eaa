"""``GET /v1/recommendations/{id}`` with a context, through real uvicorn: the shop's rules hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import segmint

from .conftest import Api, Server, Shop


@pytest.fixture(scope="module")
def trained(shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A copy of the shop with a recommender trained and published, served."""
    folder = tmp_path_factory.mktemp("recs-context")
    project = shop.project.copy(folder)
    project.segmint("recommend", "train", "-c", project.config, "--skip-evaluation")
    project.segmint("publish", "-c", project.config)
    server = Server(project, folder / "uvicorn.log")
    server.start()
    try:
        yield Api(server, project, shop.tokens)
    finally:
        server.stop()


def _bought(config: Path) -> dict[str, set[str]]:
    """What each customer bought (net of returns), as the warehouse holds it."""
    with segmint.open(config).warehouse() as wh:
        lines = wh.table("order_lines")
        rows = wh.to_arrow(
            lines.filter(lines.customer_id.notnull(), lines.quantity > 0).select(
                "customer_id", "product_id"
            )
        ).to_pylist()
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(str(r["customer_id"]), set()).add(str(r["product_id"]))
    return out


def _out_of_stock(config: Path) -> set[str]:
    with segmint.open(config).warehouse() as wh:
        p = wh.table("products")
        if "in_stock" not in p.columns:
            return set()
        return set(wh.to_arrow(p.filter(~p.in_stock).select("product_id")).column(0).to_pylist())


def test_the_context_path_applies_the_shops_business_rules(trained: Api) -> None:
    """Regression (issue 16, item 1): with a context, the API ranked with the model alone:
    products the customer had bought and products out of stock came back, where ``segmint
    recommend show`` (the same customer, the same context) left them out. Both now run the
    same code, so the lists are the same."""
    config = trained.project.config
    bought = _bought(config)
    gone = _out_of_stock(config)
    buyers = sorted(c for c, items in bought.items() if len(items) >= 2)[:15]
    assert buyers, "the shop has no repeat buyers to check"
    library = segmint.open(config)
    with trained.client("admin") as client:
        for cid in buyers:
            r = client.get(f"/v1/recommendations/{cid}", params={"k": 8, "device": "mobile"})
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["fallback"] is None, body  # the model ranked it, for this context
            items = [i["product_id"] for i in body["items"]]
            assert not set(items) & bought[cid], (cid, set(items) & bought[cid])
            assert not set(items) & gone, (cid, set(items) & gone)
            same = library.recommend([cid], k=8, context={"device": "mobile"})
            assert items == same["product_id"].tolist(), cid


def test_a_context_for_an_unknown_customer_still_answers(trained: Api) -> None:
    """An unknown customer with a context gets the popular fallback, not an error."""
    with trained.client("admin") as client:
        r = client.get("/v1/recommendations/nobody-at-all", params={"device": "desktop"})
    assert r.status_code == 200 and r.json()["items"], r.text
    assert isinstance(r.json()["fallback"], str)
    assert httpx.codes.is_success(r.status_code)
