"""The Redis Streams event bus: at-least-once delivery through one consumer group.

Needs a Redis at $SEGMINT_TEST_REDIS_URL, $SEGMINT_TEST_REDIS or redis://127.0.0.1:6379/0
(skips when none answers); each test works under a prefix of its own, removed afterwards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from segmint.errors import StoreUnavailable

redis = pytest.importorskip("redis")

from segmint.realtime._redis_bus import RedisStreamBus  # noqa: E402
from tests.conftest import redis_url  # noqa: E402

pytestmark = pytest.mark.redis


@pytest.fixture
def bus_factory() -> Iterator[Callable[[], RedisStreamBus]]:
    """Opens buses on one stream (each another connection, as another worker process)."""
    url, prefix = redis_url(), f"segmint-test-{uuid.uuid4().hex[:12]}"
    raw = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=2)
    try:
        raw.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis answers at {url} (make test starts one): {exc}")
    opened: list[RedisStreamBus] = []

    def make() -> RedisStreamBus:
        opened.append(RedisStreamBus(url, prefix=prefix))
        return opened[-1]

    try:
        yield make
    finally:
        for bus in opened:
            bus.close()
        raw.delete(f"{prefix}:events")
        assert list(raw.scan_iter(match=f"{prefix}:*")) == []
        raw.close()


@pytest.fixture
def bus(bus_factory: Callable[[], RedisStreamBus]) -> RedisStreamBus:
    return bus_factory()


def events(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"event_id": f"e{i}", "type": "page_view", "value": i / 2} for i in range(start, n)]


def test_append_read_ack(bus: RedisStreamBus) -> None:
    bus.ping()
    sent = events(3)
    ids = bus.append(sent)
    assert len(set(ids)) == 3
    assert bus.lag() == {"pending": 0, "waiting": 3}
    got = bus.read("w1", count=10, block_ms=0)
    expected = [(i, e, 1) for i, e in zip(ids, sent, strict=True)]
    assert [(e.id, e.event, e.deliveries) for e in got] == expected
    assert bus.lag() == {"pending": 3, "waiting": 0}
    bus.ack([e.id for e in got[:2]])
    assert bus.lag() == {"pending": 1, "waiting": 0}
    bus.ack([got[2].id])
    assert bus.lag() == {"pending": 0, "waiting": 0}
    assert bus.read("w1", count=10, block_ms=0) == []
    assert bus.append([]) == []


def test_read_waits_for_new_entries_up_to_block_ms(bus: RedisStreamBus) -> None:
    start = time.monotonic()
    assert bus.read("w1", count=10, block_ms=200) == []
    assert 0.15 <= time.monotonic() - start < 1.5


def test_entries_of_a_dead_consumer_are_claimed(
    bus_factory: Callable[[], RedisStreamBus],
) -> None:
    dying, survivor = bus_factory(), bus_factory()
    sent = events(3)
    dying.append(sent)
    taken = dying.read("w-dying", count=10, block_ms=0)  # and never acked
    assert len(taken) == 3
    assert survivor.claim("w-survivor", min_idle_ms=60_000, count=10) == []  # not idle yet
    time.sleep(0.06)
    claimed = survivor.claim("w-survivor", min_idle_ms=50, count=10)
    assert [(e.id, e.event) for e in claimed] == [(e.id, e.event) for e in taken]
    assert all(e.deliveries >= 2 for e in claimed)
    assert survivor.claim("w-survivor", min_idle_ms=50, count=10) == []  # now its own, fresh
    survivor.ack([e.id for e in claimed])
    assert survivor.lag() == {"pending": 0, "waiting": 0}


def test_claim_takes_at_most_count(bus_factory: Callable[[], RedisStreamBus]) -> None:
    dying, survivor = bus_factory(), bus_factory()
    dying.append(events(5))
    dying.read("w-dying", count=10, block_ms=0)
    time.sleep(0.03)
    first = survivor.claim("w-survivor", min_idle_ms=20, count=2)
    rest = survivor.claim("w-survivor", min_idle_ms=20, count=10)
    assert (len(first), len(rest)) == (2, 3)
    assert {e.event["event_id"] for e in first + rest} == {f"e{i}" for i in range(5)}


def test_two_consumers_share_entries_without_overlap(
    bus_factory: Callable[[], RedisStreamBus],
) -> None:
    one, two = bus_factory(), bus_factory()
    ids = one.append(events(20))
    a = one.read("w1", count=7, block_ms=0)
    b = two.read("w2", count=100, block_ms=0)
    assert (len(a), len(b)) == (7, 13)
    assert sorted(e.id for e in a + b) == sorted(ids)
    assert one.lag() == {"pending": 20, "waiting": 0}


def test_lag_when_redis_cannot_tell(bus: RedisStreamBus) -> None:
    ids = bus.append(events(3))
    bus._r.xdel(bus.key, ids[1])  # a hole after the group's position: XINFO lag is nil
    assert bus.lag() == {"pending": 0, "waiting": 2}
    assert [e.id for e in bus.read("w1", count=10, block_ms=0)] == [ids[0], ids[2]]


def test_a_deleted_stream_gets_its_group_back(bus: RedisStreamBus) -> None:
    bus.append(events(1))
    bus.ack([e.id for e in bus.read("w1", count=10, block_ms=0)])
    bus._r.delete(bus.key)
    bus.append(events(2, start=1))
    assert [e.event["event_id"] for e in bus.read("w1", count=10, block_ms=0)] == ["e1"]


def test_a_destroyed_group_comes_back(bus: RedisStreamBus) -> None:
    bus.append(events(2))
    assert bus.lag() == {"pending": 0, "waiting": 2}
    bus._r.xgroup_destroy(bus.key, bus.group)
    assert bus.lag() == {"pending": 0, "waiting": 2}
    bus._r.xgroup_destroy(bus.key, bus.group)
    assert len(bus.read("w1", count=10, block_ms=0)) == 2


def test_nothing_asked_nothing_read(bus: RedisStreamBus) -> None:
    bus.append(events(2))
    assert bus.read("w1", count=0, block_ms=0) == []
    assert bus.claim("w1", min_idle_ms=0, count=0) == []
    bus.ack([])
    assert bus.lag() == {"pending": 0, "waiting": 2}


def test_redis_down_is_store_unavailable() -> None:
    bus = RedisStreamBus("redis://:hunter2@127.0.0.1:1/0", prefix="nowhere")
    for call in (
        bus.ping,
        bus.lag,
        lambda: bus.append(events(1)),
        lambda: bus.read("w1", count=1, block_ms=0),
        lambda: bus.claim("w1", min_idle_ms=0, count=1),
        lambda: bus.ack(["1-0"]),
    ):
        with pytest.raises(StoreUnavailable, match=r"event bus redis://:\*\*\*@127") as err:
            call()
        assert "hunter2" not in str(err.value)
