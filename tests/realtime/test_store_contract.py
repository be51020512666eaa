"""One contract every online store must meet: SQLite (embedded) and Redis (production).

Each test runs once per store; the Redis run skips when no Redis answers at
$SEGMINT_TEST_REDIS_URL (what ``make test`` exports), $SEGMINT_TEST_REDIS or
redis://127.0.0.1:6379/0, and works under a prefix of its own that is dropped afterwards.
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from segmint.errors import StoreUnavailable
from segmint.realtime._sqlite import SQLiteStore
from segmint.realtime._store import (
    Change,
    Commit,
    Conflict,
    LiveDoc,
    OnlineStore,
    Published,
    PublishInfo,
)
from tests.conftest import redis_url

AT = "2024-05-01T10:00:00.000+00:00"


def _sqlite_opener(tmp_path: Path) -> Iterator[Callable[[], OnlineStore]]:
    yield lambda: SQLiteStore(tmp_path / "online.sqlite")


def _redis_opener() -> Iterator[Callable[[], OnlineStore]]:
    pytest.importorskip("redis")
    from segmint.realtime._redis import RedisStore

    url, prefix = redis_url(), f"segmint-test-{uuid.uuid4().hex[:12]}"
    first = RedisStore(url, prefix=prefix)
    try:
        first.ping()
    except StoreUnavailable as exc:
        pytest.skip(f"no Redis answers at {url} (make test starts one): {exc}")
    try:
        yield lambda: RedisStore(url, prefix=prefix)
    finally:
        first.drop_all()
        first.close()


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], OnlineStore]]:
    """Opens a store over the same data each call (another connection, as another process)."""
    opened: list[OnlineStore] = []
    make = _sqlite_opener(tmp_path) if request.param == "sqlite" else _redis_opener()
    base = next(make)

    def open_one() -> OnlineStore:
        opened.append(base())
        return opened[-1]

    yield open_one
    for s in opened:
        s.close()
    make.close()


@pytest.fixture
def store(opener: Callable[[], OnlineStore]) -> OnlineStore:
    return opener()


def customer(cid: str, marker: int = 1, **segments: str) -> Published:
    return Published(
        cid,
        values={"marker": marker, "country": "FR"},
        scores={"churn": 0.25},
        clusters={"rfm": 3},
        segments=segments,
        recommendations=[{"product_id": "p1", "score": 0.9, "rank": 1}],
        counters={"spend_30d": {"h": [[473000, 12.5]]}},
    )


def enter(cid: str, segment: str, event_id: str | None = None) -> Change:
    return Change(cid, segment, "entered", AT, event_id)


def exit_(cid: str, segment: str) -> Change:
    return Change(cid, segment, "exited", AT)


def delivery(did: str, status: str, next_at: float | None, created: float) -> dict[str, Any]:
    return {"id": did, "status": status, "next_at": next_at, "created": created, "attempts": 0}


# --- the published snapshot --------------------------------------------------------------
def test_no_publish_yet(store: OnlineStore) -> None:
    store.ping()
    assert store.info() == PublishInfo()
    assert store.published(["a"]) == {}
    assert store.resolve(["a"]) == {}


def test_publish_round_trips_every_field(store: OnlineStore) -> None:
    sent = [customer("a", vip=AT), customer("b")]
    info = store.publish(sent, {}, PublishInfo(as_of="2024-04-30", cut=1714521600.123456))
    assert (info.version, info.as_of, info.cut, info.customers) == (
        1,
        "2024-04-30",
        1714521600.123456,
        2,
    )
    assert info.published_at is not None
    assert store.info() == info
    assert store.published(["a", "b", "nobody"]) == {"a": sent[0], "b": sent[1]}


def test_publish_replaces_the_snapshot_entirely(store: OnlineStore) -> None:
    store.publish(
        [customer("a", vip=AT, eu=AT), customer("b", eu=AT)],
        {"a@x.org": "a", "b@x.org": "b"},
        PublishInfo(),
    )
    store.commit(Commit(docs=[LiveDoc("z")], changes=[enter("z", "live-only")]))
    info = store.publish(
        [customer("b", 2, vip=AT), customer("c", 2)], {"c@x.org": "c"}, PublishInfo()
    )
    assert info.version == 2
    assert store.info().customers == 2
    assert set(store.published(["a", "b", "c"])) == {"b", "c"}
    assert store.published(["b"])["b"].values["marker"] == 2
    assert store.resolve(["a@x.org", "b@x.org", "c@x.org"]) == {"c@x.org": "c"}
    # memberships are the new snapshot's, live ones included (the processor re-derives them)
    assert store.members("vip", None, 10) == ["b"]
    assert (store.size("eu"), store.size("live-only")) == (0, 0)
    assert store.members("eu", None, 10) == []


def test_a_failed_publish_changes_nothing(store: OnlineStore) -> None:
    store.publish([customer("a", vip=AT)], {"a@x.org": "a"}, PublishInfo(as_of="old"))

    def broken() -> Iterator[Published]:
        for i in range(1_500):
            yield customer(f"n{i:04d}", 2, vip=AT)
        raise RuntimeError("warehouse went away")

    with pytest.raises(RuntimeError, match="warehouse went away"):
        store.publish(broken(), {}, PublishInfo(as_of="new"))
    assert (store.info().version, store.info().as_of) == (1, "old")
    assert set(store.published(["a", "n0000"])) == {"a"}
    assert store.members("vip", None, 10) == ["a"]
    assert store.resolve(["a@x.org"]) == {"a@x.org": "a"}


def test_a_reader_never_sees_half_a_publish(opener: Callable[[], OnlineStore]) -> None:
    writer, reader = opener(), opener()
    n = 5_000
    ids = [f"c{i:05d}" for i in range(n)]
    writer.publish((customer(c, 1) for c in ids), {}, PublishInfo())
    seen: list[set[int]] = []
    started, stop = threading.Event(), threading.Event()

    def read() -> None:
        while not stop.is_set():
            got = reader.published([ids[0], ids[-1]])
            seen.append({p.values["marker"] for p in got.values()} if len(got) == 2 else set())
            started.set()

    thread = threading.Thread(target=read)
    thread.start()
    try:
        started.wait(5)
        writer.publish((customer(c, 2) for c in ids), {}, PublishInfo())
        last = len(seen)
        while len(seen) < last + 3 and thread.is_alive():
            stop.wait(0.001)
    finally:
        stop.set()
        thread.join(5)
    assert all(len(markers) == 1 for markers in seen), "a read mixed two snapshots or missed one"
    assert {1, 2} <= set().union(*seen)


# --- identity -----------------------------------------------------------------------------
def test_resolve_prefers_live_links(store: OnlineStore) -> None:
    """A login seen live beats the batch path's older link.

    Regression: SQLite sorted 'live' before 'published', so the published link won.
    """
    store.publish([customer("a"), customer("b")], {"x": "a", "y": "b"}, PublishInfo())
    store.commit(Commit(aliases={"x": "c", "w": "d"}))
    assert store.resolve(["x", "y", "w", "nobody"]) == {"x": "c", "y": "b", "w": "d"}
    store.publish([customer("a")], {"x": "a"}, PublishInfo())  # a publish keeps live links
    assert store.resolve(["x", "w"]) == {"x": "c", "w": "d"}


# --- live documents -----------------------------------------------------------------------
def test_live_documents_round_trip_with_versions(store: OnlineStore) -> None:
    doc = LiveDoc(
        "a",
        counters={"spend_7d": {"h": [[473000, 2.5], [473001, 1]]}},
        seen={"e1": 473000},
        segments={"vip": AT},
        publish=3,
        clock=1714557600.123456,
    )
    store.commit(Commit(docs=[doc]))
    assert doc.version == 1
    assert store.live(["a", "nobody"]) == {"a": doc}
    doc.seen["e2"] = 473001
    store.commit(Commit(docs=[doc]))
    again = store.live(["a"])["a"]
    assert (again.version, again.seen) == (2, {"e1": 473000, "e2": 473001})


def test_a_stale_document_conflicts(opener: Callable[[], OnlineStore]) -> None:
    one, two = opener(), opener()
    one.commit(Commit(docs=[LiveDoc("a")]))
    mine, theirs = one.live(["a"])["a"], two.live(["a"])["a"]
    two.commit(Commit(docs=[theirs]))
    with pytest.raises(Conflict, match="'a'"):
        one.commit(Commit(docs=[mine]))
    assert mine.version == 1
    assert one.live(["a"])["a"].version == 2


def test_a_document_created_since_read_conflicts(opener: Callable[[], OnlineStore]) -> None:
    one, two = opener(), opener()
    assert one.live(["new"]) == {}
    two.commit(Commit(docs=[LiveDoc("new", publish=7)]))
    with pytest.raises(Conflict):
        one.commit(Commit(docs=[LiveDoc("new")]))
    assert one.live(["new"])["new"].publish == 7


def test_a_stale_deleted_document_conflicts(store: OnlineStore) -> None:
    store.commit(Commit(docs=[LiveDoc("anon")]))
    read = store.live(["anon"])["anon"]
    store.commit(Commit(docs=[store.live(["anon"])["anon"]]))
    with pytest.raises(Conflict):
        store.commit(Commit(docs=[LiveDoc("known")], deleted=[read]))
    assert set(store.live(["anon", "known"])) == {"anon"}


def test_a_conflict_writes_nothing(store: OnlineStore) -> None:
    store.commit(Commit(docs=[LiveDoc("gone"), LiveDoc("raced")]))
    gone, stale = store.live(["gone"])["gone"], store.live(["raced"])["raced"]
    store.commit(Commit(docs=[store.live(["raced"])["raced"]]))
    fresh = LiveDoc("fresh")
    attempt = Commit(
        docs=[fresh, stale],  # the stale one last: checking while writing would show
        aliases={"anon-1": "fresh"},
        deleted=[gone],
        changes=[enter("fresh", "vip", "e1")],
        deliveries=[delivery("d1", "pending", 0.0, 1.0)],
    )
    with pytest.raises(Conflict):
        store.commit(attempt)
    assert (fresh.version, stale.version) == (0, 1)
    assert set(store.live(["fresh", "gone", "raced"])) == {"gone", "raced"}
    assert store.resolve(["anon-1"]) == {}
    assert (store.members("vip", None, 10), store.size("vip")) == ([], 0)
    assert store.history("vip", 10) == []
    assert store.notifications(0, 10) == []
    assert store.due_deliveries(math.inf, 10) == []
    assert store.deliveries(10) == []


# --- applied event ids (global to the project, by arrival) -------------------------------------
DAY = 86_400.0


def test_applied_event_ids_are_global_with_their_arrival(store: OnlineStore) -> None:
    """Regression (issue 15, defects 4 and 5): a commit claims its event ids for the whole
    project, whichever customer they came with, remembered with their arrival time."""
    now = time.time()
    assert store.applied(["e1", "e2"]) == {}
    store.commit(
        Commit(
            docs=[LiveDoc("a")],
            event_ids={"e1": now - 30 * DAY + 60, "e2": now},
            remember_s=31 * DAY,
        )
    )
    got = store.applied(["e1", "e2", "e3", "e1"])
    assert set(got) == {"e1", "e2"}
    assert got["e1"] == pytest.approx(now - 30 * DAY + 60) and got["e2"] == pytest.approx(now)
    assert store.applied([]) == {}


def test_claiming_a_held_event_id_conflicts_and_writes_nothing(
    opener: Callable[[], OnlineStore],
) -> None:
    """Regression (issue 15, defect 5): two writers applying one event id, each for another
    customer: the second commit conflicts (so it reads again and sees a duplicate), and none
    of it is written."""
    one, two = opener(), opener()
    now = time.time()
    one.commit(Commit(docs=[LiveDoc("a")], event_ids={"shared": now}, remember_s=DAY))
    attempt = Commit(
        docs=[LiveDoc("b")],
        changes=[enter("b", "vip", "shared")],
        event_ids={"own": now, "shared": now},
        remember_s=DAY,
    )
    with pytest.raises(Conflict, match="shared"):
        two.commit(attempt)
    assert set(two.live(["a", "b"])) == {"a"}
    assert two.applied(["own", "shared"]).keys() == {"shared"}
    assert two.history("vip", 10) == []


def test_event_ids_are_forgotten_a_window_after_their_arrival(store: OnlineStore) -> None:
    """Regression (issue 15, defect 4): the window counts from arrival: an id that arrived
    longer ago than ``remember_s`` is forgotten (and may be claimed again), one that arrived
    within it is held, whatever the event's own time."""
    now = time.time()
    store.commit(
        Commit(
            docs=[LiveDoc("a")],
            event_ids={"old": now - 8 * DAY, "recent": now - 6 * DAY},
            remember_s=7 * DAY,
        )
    )
    assert set(store.applied(["old", "recent"])) == {"recent"}
    doc = store.live(["a"])["a"]
    store.commit(Commit(docs=[doc], event_ids={"old": now}, remember_s=7 * DAY))
    assert set(store.applied(["old", "recent"])) == {"old", "recent"}
    with pytest.raises(Conflict):
        store.commit(Commit(docs=[LiveDoc("b")], event_ids={"recent": now}, remember_s=7 * DAY))


def test_deleted_documents_go(store: OnlineStore) -> None:
    store.commit(Commit(docs=[LiveDoc("anon"), LiveDoc("known")]))
    anon, known = store.live(["anon"])["anon"], store.live(["known"])["known"]
    store.commit(Commit(docs=[known], deleted=[anon], aliases={"anon": "known"}))
    assert set(store.live(["anon", "known"])) == {"known"}
    assert list(store.live_ids()) == ["known"]
    assert store.resolve(["anon"]) == {"anon": "known"}


def test_live_ids_lists_every_document_once_in_id_order(store: OnlineStore) -> None:
    ids = [f"c{i:05d}" for i in range(2_345)]  # more than one page
    random.Random(7).shuffle(ids)
    store.commit(Commit(docs=[LiveDoc(c) for c in ids]))
    assert list(store.live_ids()) == sorted(ids)


def test_customer_ids_are_the_snapshot_and_the_live_documents(store: OnlineStore) -> None:
    published = [f"p{i:04d}" for i in range(1_500)]  # more than one page
    store.publish([customer("gone")], {}, PublishInfo())
    store.publish((customer(c) for c in published), {}, PublishInfo())
    store.commit(Commit(docs=[LiveDoc("p0007"), LiveDoc("a-live"), LiveDoc("z-live")]))
    assert list(store.customer_ids()) == ["a-live", *published, "z-live"]


# --- memberships, history, notifications ----------------------------------------------------
def test_members_pages_cover_every_member_once_in_id_order(store: OnlineStore) -> None:
    store.publish([customer("m-published", vip=AT)], {}, PublishInfo())
    ids = [f"m{i:02d}" for i in range(25)]
    random.Random(3).shuffle(ids)
    store.commit(Commit(changes=[enter(c, "vip") for c in ids] + [enter("x", "other")]))
    store.commit(Commit(changes=[exit_("m07", "vip")]))
    expected = sorted({*ids, "m-published"} - {"m07"})
    pages, after = [], None
    while page := store.members("vip", after, 7):
        assert len(page) <= 7
        pages.append(page)
        after = page[-1]
    assert [c for p in pages for c in p] == expected
    assert len(pages) == 4
    assert store.size("vip") == 25
    assert store.members("vip", "m20", 100) == expected[expected.index("m20") + 1 :]


def test_history_is_newest_first_per_segment(store: OnlineStore) -> None:
    store.commit(Commit(changes=[enter("a", "vip", "e1"), enter("b", "eu", "e1")]))
    store.commit(Commit(changes=[exit_("a", "vip"), enter("c", "vip", "e3")]))
    history = store.history("vip", 10)
    assert [(h["customer_id"], h["change"]) for h in history] == [
        ("c", "entered"),
        ("a", "exited"),
        ("a", "entered"),
    ]
    assert history[0] == {
        "seq": history[0]["seq"],
        "customer_id": "c",
        "change": "entered",
        "at": AT,
        "event_id": "e3",
    }
    assert [h["seq"] for h in history] == sorted((h["seq"] for h in history), reverse=True)
    assert store.history("vip", 1) == history[:1]
    assert store.history("nothing", 10) == []


def test_notifications_after_a_sequence_number(store: OnlineStore) -> None:
    store.commit(Commit(changes=[enter("a", "vip", "e1"), enter("b", "eu")]))
    store.commit(Commit(changes=[exit_("a", "vip")]))
    every = store.notifications(0, 100)
    assert [(n["type"], n["segment"], n["customer_id"]) for n in every] == [
        ("segment.entered", "vip", "a"),
        ("segment.entered", "eu", "b"),
        ("segment.exited", "vip", "a"),
    ]
    assert every[0] == {
        "seq": every[0]["seq"],
        "type": "segment.entered",
        "segment": "vip",
        "customer_id": "a",
        "at": AT,
        "event_id": "e1",
    }
    seqs = [n["seq"] for n in every]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert store.notifications(seqs[0], 100) == every[1:]
    assert store.notifications(seqs[0], 1) == every[1:2]
    assert store.notifications(seqs[-1], 100) == []


# --- event log and dead letters --------------------------------------------------------------
def test_log_events_tells_new_from_seen(store: OnlineStore) -> None:
    e1, e2, e3 = ({"event_id": f"e{i}", "type": "page_view"} for i in (1, 2, 3))
    assert store.log_events([e1, e2, e1]) == [True, True, False]
    assert store.log_events([e2, e3]) == [False, True]
    assert store.log_events([]) == []


def test_log_events_tells_an_applied_id_is_not_new(store: OnlineStore) -> None:
    """Regression (issue 15, defects 4 and 5): an id a commit applied (and the store still
    remembers) is not new to the log either, so the stream path's answer (duplicate) is what
    its worker will do (skip it), also when the id's log marker is gone."""
    store.commit(Commit(docs=[LiveDoc("a")], event_ids={"e9": time.time()}, remember_s=DAY))
    e8, e9 = ({"event_id": f"e{i}", "type": "page_view"} for i in (8, 9))
    assert store.log_events([e8, e9]) == [True, False]


def test_dead_letters_are_newest_first(store: OnlineStore) -> None:
    store.dead_letter([{"event": {"event_id": "e1"}, "error": "bad"}, {"error": "worse"}])
    store.dead_letter([{"error": "worst"}])
    letters = store.dead_letters(10)
    assert [d["error"] for d in letters] == ["worst", "worse", "bad"]
    assert letters[2]["event"] == {"event_id": "e1"}
    assert [d["id"] for d in letters] == sorted((d["id"] for d in letters), reverse=True)
    assert all(isinstance(d["received_at"], str) for d in letters)
    assert store.dead_letters(2) == letters[:2]


def test_dead_letters_are_capped_oldest_dropped_and_counted(
    store: OnlineStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (issue 15, defect 10): the embedded store kept every dead letter, so any
    events:write key could fill the disk; past the cap the oldest go, and are counted."""
    monkeypatch.setattr(store, "dead_letter_cap", 3)
    assert store.dead_letters_dropped() == 0
    store.dead_letter([{"error": f"e{i}"} for i in range(4)])
    store.dead_letter([{"error": "e4"}])
    assert [d["error"] for d in store.dead_letters(10)] == ["e4", "e3", "e2"]
    assert store.dead_letters_dropped() == 2


def test_a_huge_dead_letter_is_stored_cut_with_its_size(store: OnlineStore) -> None:
    """Regression (issue 15, defect 10): a 100 MB batch's rejected items were stored whole."""
    from segmint.realtime._store import DEAD_LETTER_MAX_BYTES

    item = {
        "event": {"event_id": "x", "properties": {"blob": "a" * 200_000}},
        "errors": [{"field": "properties", "rule": "max_size", "message": "too big"}],
        "source": "api",
    }
    store.dead_letter([item])
    (got,) = store.dead_letters(1)
    assert got["truncated"] is True and got["size"] > 200_000
    assert len(got["event"]) <= DEAD_LETTER_MAX_BYTES and got["event"].startswith('{"event"')
    assert got["errors"] == item["errors"] and got["source"] == "api"


# --- definitions and keys --------------------------------------------------------------------
def test_meta_put_get_delete(store: OnlineStore) -> None:
    assert store.get_meta("segments") == {}
    store.put_meta("segments", "vip", {"rule": "spend_30d > 100"})
    store.put_meta("segments", "eu", {"rule": "country in ('FR', 'DE')"})
    store.put_meta("webhooks", "vip", {"url": "https://example.org/hook"})
    store.put_meta("segments", "vip", {"rule": "spend_30d > 200"})
    assert store.get_meta("segments") == {
        "vip": {"rule": "spend_30d > 200"},
        "eu": {"rule": "country in ('FR', 'DE')"},
    }
    store.put_meta("segments", "vip", None)
    store.put_meta("segments", "never-there", None)
    assert store.get_meta("segments") == {"eu": {"rule": "country in ('FR', 'DE')"}}
    assert store.get_meta("webhooks") == {"vip": {"url": "https://example.org/hook"}}


# --- webhook deliveries ----------------------------------------------------------------------
def test_deliveries_due_recorded_and_logged(store: OnlineStore) -> None:
    d1 = delivery("d1", "pending", 100.0, 1.0)
    d2 = delivery("d2", "pending", 50.5, 2.0)
    d3 = delivery("d3", "failed", 10.0, 3.0)
    store.commit(Commit(deliveries=[d1, d2, d3]))
    assert store.due_deliveries(75.0, 10) == [d2]
    assert store.due_deliveries(200.0, 10) == [d2, d1]
    assert store.due_deliveries(200.0, 1) == [d2]
    assert [d["id"] for d in store.deliveries(10)] == ["d3", "d2", "d1"]
    assert [d["id"] for d in store.deliveries(2)] == ["d3", "d2"]

    sent = {**d2, "status": "delivered", "attempts": 1, "last_status": 200}
    store.record_attempt(sent)
    retry = {**d1, "next_at": 300.0, "attempts": 1, "last_error": "timeout"}
    store.record_attempt(retry)
    assert store.due_deliveries(200.0, 10) == []
    assert store.due_deliveries(300.0, 10) == [retry]
    assert store.deliveries(10) == [d3, sent, retry]


# --- Redis specifics -------------------------------------------------------------------------
def test_redis_store_down_is_store_unavailable() -> None:
    pytest.importorskip("redis")
    from segmint.realtime._redis import RedisStore

    store = RedisStore("redis://:hunter2@127.0.0.1:1/0", prefix="nowhere")
    for call in (
        store.ping,
        store.info,
        lambda: store.published(["a"]),
        lambda: store.commit(Commit(docs=[LiveDoc("a")])),
        lambda: list(store.live_ids()),
        lambda: store.publish([customer("a")], {}, PublishInfo()),
    ):
        with pytest.raises(StoreUnavailable, match=r"redis://:\*\*\*@127\.0\.0\.1:1/0") as err:
            call()
        assert "hunter2" not in str(err.value)


def test_open_store_builds_a_redis_store_with_its_prefix() -> None:
    pytest.importorskip("redis")
    from segmint.realtime._factory import open_store
    from segmint.realtime._redis import RedisStore

    store = open_store("redis://127.0.0.1:6379/2?prefix=shop")
    assert isinstance(store, RedisStore)
    assert (store.prefix, store.url) == ("shop", "redis://127.0.0.1:6379/2?prefix=shop")


@pytest.mark.parametrize("opener", [pytest.param("redis", marks=pytest.mark.redis)], indirect=True)
def test_redis_drop_all_leaves_no_key(opener: Callable[[], OnlineStore]) -> None:
    from segmint.realtime._redis import RedisStore

    store = opener()

    assert isinstance(store, RedisStore)
    store.publish([customer("a", vip=AT)], {"x": "a"}, PublishInfo())
    store.publish([customer("a", vip=AT)], {"x": "a"}, PublishInfo())
    store.commit(Commit(docs=[LiveDoc("a")], changes=[enter("a", "eu")]))
    store.log_events([{"event_id": "e1"}])
    keys = set(store._r.scan_iter(match=f"{store.prefix}:*"))
    assert f"{store.prefix}:g1:pub" not in keys  # the previous snapshot is gone
    assert store.drop_all() == len(keys)
    assert list(store._r.scan_iter(match=f"{store.prefix}:*")) == []


def test_customer_reads_one_person_in_one_call(store: OnlineStore) -> None:
    """The API's read: the first identity key that resolves (a live link before a published
    one), else an id held as it is, with the record and the live document; None for nobody."""
    store.publish([customer("a", marker=7), customer("b")], {"k:x": "a", "k:y": "b"}, PublishInfo())
    store.commit(Commit(docs=[LiveDoc("b", segments={"s": "t"})], aliases={"k:y": "a"}))
    hit = store.customer(["k:none", "k:y"], [])
    assert hit is not None and hit[0] == "a" and hit[1] is not None
    assert hit[1].values["marker"] == 7 and hit[2] is None
    by_id = store.customer(["k:none"], ["zzz", "b"])
    assert by_id is not None and by_id[0] == "b" and by_id[2] is not None
    assert by_id[2].segments == {"s": "t"} and by_id[2].version == 1
    assert store.customer(["k:none"], ["zzz"]) is None


@pytest.mark.redis
def test_the_stream_marker_lives_as_long_as_the_dedup_window(tmp_path: Path) -> None:
    """Regression (issue 15, defect 4): the Redis path's arrival marker lived 7 days whatever
    serve.dedup_days said, so with a shorter window a retry was answered `duplicate` and then
    applied by the worker. The marker now lives the window, set by Runtime.open."""
    from segmint.config import load_config
    from segmint.realtime import Runtime
    from tests.conftest import redis_where

    where = redis_where()
    (tmp_path / "segmint.yaml").write_text(
        f"project: ttl\nserve: {{online_store: '{where}', bus: '{where}', dedup_days: 0.00002}}\n"
    )
    rt = Runtime.open(load_config(tmp_path / "segmint.yaml"))
    try:
        assert rt.store.event_ttl_s == pytest.approx(1.728)  # type: ignore[attr-defined]
        event = {"event_id": "ttl-1", "event_type": "page_view"}
        assert rt.store.log_events([event]) == [True]
        assert rt.store.log_events([event]) == [False]
        time.sleep(2.2)  # past the window (markers expire in whole seconds)
        assert rt.store.log_events([event]) == [True]
    finally:
        rt.store.drop_all()  # type: ignore[attr-defined]
        rt.close()
