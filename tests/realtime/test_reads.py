"""What the API answers, as library calls over the embedded store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from segmint.config import parse_config
from segmint.errors import NotFoundError
from segmint.realtime import Published, PublishInfo, Runtime, identity_key
from segmint.realtime import _reads as reads

PROJECT = """
project: reads
pii: [email]
segments:
  - {name: browsers, rule: 'count(product_view, 7d) >= 2'}
serve: {online_store: 'sqlite:///online.sqlite'}
"""


@pytest.fixture
def rt(tmp_path: Path, pii_key: str) -> Runtime:
    from segmint.privacy import PiiCipher, load_master_key

    cfg = parse_config(PROJECT, base_dir=tmp_path)
    runtime = Runtime.open(cfg)
    email = identity_key("email", PiiCipher(load_master_key()).hash("ann@example.com"))
    runtime.store.publish(
        [
            Published(
                "c1",
                values={"recency_days": 3.0},
                segments={"rfm_champions": "2024-01-01T00:00:00+00:00"},
                recommendations=[{"product_id": "p9", "rank": 1, "score": 0.9, "reason": "r"}],
            ),
            Published("c2", segments={"rfm_champions": "2024-01-01T00:00:00+00:00"}),
        ],
        {email: "c1", identity_key("customer_id", "c1"): "c1"},
        PublishInfo(),
    )
    runtime.store.put_meta("popular", "global", {"items": [{"product_id": "p1", "score": 5}]})
    runtime.store.put_meta(
        "popular", "segment:rfm_champions", {"items": [{"product_id": "p2", "score": 3}]}
    )
    return runtime


def test_an_email_finds_its_customer_through_the_pseudonym(rt: Runtime) -> None:
    """The shop's own identifiers work in a path, e-mails in any case, never kept in clear."""
    assert reads.find_customer(rt, "Ann@Example.com") == "c1"
    assert reads.find_customer(rt, "c1") == "c1"
    with pytest.raises(NotFoundError):
        reads.find_customer(rt, "bob@example.com")


def test_fallback_chain_always_answers(rt: Runtime) -> None:
    """Own list; no list → the segment's favourites; unknown → overall, each saying why."""
    own = reads.recommend(rt, "c1", 5)
    assert (own["fallback"], [i["product_id"] for i in own["items"]]) == (None, ["p9"])
    seg = reads.recommend(rt, "c2", 5)
    assert seg["fallback"] == "segment_popularity" and seg["items"][0]["product_id"] == "p2"
    anon = reads.recommend(rt, "someone-new", 5)
    assert (anon["known"], anon["fallback"], anon["reason"]) == (
        False,
        "popularity",
        "unknown customer",
    )
    ctx = reads.recommend(rt, "c1", 5, {"device": "mobile"})
    assert ctx["fallback"] == "precomputed" and "no recommender model" in ctx["reason"]


def test_segments_join_live_rules_and_published_batch(rt: Runtime) -> None:
    """A customer's segments: rule segments as the live path keeps them, the others as
    published; an event that moves a rule segment shows at once."""
    now = datetime.now(UTC).isoformat()
    out = reads.collect_events(
        rt,
        [
            {"event_id": f"e{i}", "event_type": "product_view", "customer_id": "c1", "ts": now}
            for i in range(2)
        ],
    )
    assert (out["accepted"], out["changes"]) == (2, 1)
    got = {(s["segment"], s["kind"], s["live"]) for s in reads.segments_of(rt, "c1")["segments"]}
    assert got == {("browsers", "rule", True), ("rfm_champions", "rfm", False)}
    again = reads.collect_events(
        rt, [{"event_id": "e0", "event_type": "product_view", "customer_id": "c1", "ts": now}]
    )
    assert again["duplicate"] == 1 and again["results"][0]["status"] == "duplicate"


def test_a_context_is_ranked_by_the_saved_model_in_memory(rt: Runtime) -> None:
    """With a context, the project's saved recommender answers (not the precomputed list),
    leaving out what the customer already has."""
    import pandas as pd

    from segmint.recommend import Interactions, Popularity, save_model
    from segmint.recommend._batch import recommender_dir

    frame = pd.DataFrame(
        {
            "customer_id": ["c1", "x", "y", "y", "z"],
            "product_id": ["p1", "p1", "p1", "p2", "p3"],
            "weight": [1.0] * 5,
        }
    )
    folder = recommender_dir(rt.cfg)
    folder.mkdir(parents=True)
    save_model(Popularity().fit(Interactions.from_frame(frame)), folder / "v0001.npz")
    live = reads.recommend(rt, "c1", 2, {"device": "mobile", "hour": "9"})
    assert live["fallback"] is None
    assert [i["product_id"] for i in live["items"]] == ["p2", "p3"]  # p1 was c1's own
    assert {i["model"] for i in live["items"]} == {"popularity"}
    assert reads.recommend(rt, "c1", 1)["items"][0]["product_id"] == "p9"  # no context
