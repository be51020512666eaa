"""A poison entry on the stream is dead-lettered with its reason; the worker goes on.

Regression (issue 15, defect 2): with a rule summing ``price``, an event with ``"price":
10**300`` (a JSON integer) was accepted at the door, then the Redis worker died with
``TypeError: Integer exceeds 64-bit range``; every restart died on the same entry and all
behind it stayed pending. Prices are now bounded at the door, and a worker that cannot apply
one entry dead-letters it and applies the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from segmint.config import load_config
from segmint.realtime import Runtime, Worker
from segmint.realtime._events import PRICE_MAX, to_wire, validate_event
from segmint.realtime._reads import segments_of
from tests.conftest import redis_where

redis = pytest.importorskip("redis")
pytestmark = pytest.mark.redis


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    where = redis_where()
    cfg = tmp_path / "segmint.yaml"
    cfg.write_text(
        "project: poison\n"
        "segments:\n"
        "  - {name: spenders, rule: 'sum(purchase.price, 30d) > 100'}\n"
        f"serve: {{online_store: '{where}', bus: '{where}'}}\n"
    )
    rt = Runtime.open(load_config(cfg))
    yield rt
    rt.store.drop_all()  # type: ignore[attr-defined]
    rt.close()


def _purchase(i: int, customer: str, price: object) -> dict[str, object]:
    ts = datetime.now(UTC) - timedelta(minutes=10 - i)
    return {
        "event_id": f"p{i}",
        "event_type": "purchase",
        "customer_id": customer,
        "price": price,
        "ts": ts.isoformat(),
    }


def test_a_huge_integer_price_is_rejected_at_the_door() -> None:
    now = datetime.now(UTC)
    event, problems = validate_event(_purchase(0, "c1", 10**300), now)
    assert event is None
    assert [(p["field"], p["rule"]) for p in problems] == [("price", "max")]
    assert validate_event(_purchase(0, "c1", PRICE_MAX), now)[0] is not None


def test_the_worker_dead_letters_a_poison_entry_and_applies_the_rest(runtime: Runtime) -> None:
    """An entry the processor cannot apply (written by an older server, say) goes to the dead
    letters naming why; the entries before and after it are applied and everything is acked."""
    assert runtime.bus is not None
    good = [validate_event(_purchase(i, "c1", 60.0), datetime.now(UTC))[0] for i in (1, 2)]
    assert all(good)
    poison = to_wire(good[0])  # type: ignore[arg-type]
    poison.update(event_id="p-poison", customer_id="c2", price=10**300)
    runtime.bus.append([to_wire(good[0]), poison, to_wire(good[1])])  # type: ignore[arg-type]
    worker = Worker(runtime.bus, runtime.processor, consumer="w1", batch=10, block_ms=50)
    stats = worker.run(max_idle_rounds=2)
    assert (stats.applied, stats.dead) == (2, 1)
    assert runtime.bus.lag() == {"pending": 0, "waiting": 0}
    dead = [d for d in runtime.store.dead_letters(10) if d["event"].get("event_id") == "p-poison"]
    assert len(dead) == 1
    assert dead[0]["errors"][0]["rule"] == "apply"
    assert "could not be applied" in dead[0]["errors"][0]["message"]
    segments = segments_of(runtime, "c1")["segments"]
    assert [s["segment"] for s in segments] == ["spenders"]  # 60 + 60 > 100
