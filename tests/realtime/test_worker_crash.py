"""Killing a worker mid-stream (kill -9) and starting another loses and double-counts nothing.

Real processes, a real Redis: `segmint worker` runs as a subprocess on a project whose online
store and event bus are Redis under a prefix of the test's own. 12,000 events (a few hundred
sent twice, as a collector's retries would be) are in the stream when the first worker starts;
it is killed with SIGKILL while it works, a second worker takes over the entries it left
pending, and at the end every customer's counters and memberships are what the events say.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

redis = pytest.importorskip("redis")

from segmint.config import load_config  # noqa: E402
from segmint.realtime import Runtime, to_wire, validate_event  # noqa: E402
from segmint.realtime import _counters as counters  # noqa: E402
from tests.conftest import redis_where  # noqa: E402

pytestmark = [pytest.mark.redis, pytest.mark.slow]
SEGMINT = str(Path(sys.executable).parent / "segmint")
CUSTOMERS, EVENTS, REPEATS = 400, 12_000, 600


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    where = redis_where()
    cfg = tmp_path / "segmint.yaml"
    cfg.write_text(
        "project: crash-test\n"
        "segments:\n"
        "  - {name: browsers, rule: 'count(product_view, 30d) >= 26'}\n"
        "  - {name: buyers, rule: 'count(purchase, 30d) >= 5'}\n"
        f"serve: {{online_store: '{where}', bus: '{where}'}}\n"
    )
    yield cfg
    rt = Runtime.open(load_config(cfg))
    rt.store.drop_all()  # type: ignore[attr-defined]
    rt.close()


def _events() -> list[dict[str, object]]:
    now = datetime.now(UTC)
    out = []
    for i in range(EVENTS):
        raw = {
            "event_id": f"e{i}",
            "event_type": "purchase" if i % 7 == 0 else "product_view",
            "customer_id": f"c{(i * 7919) % CUSTOMERS:04d}",
            "ts": (now - timedelta(hours=2) + timedelta(milliseconds=i)).isoformat(),
        }
        event, problems = validate_event(raw, now)
        assert event is not None, problems
        out.append(event)
    return out


def _wait(rt: Runtime, until: float, done: callable) -> None:  # type: ignore[valid-type]
    while time.monotonic() < until:
        if done():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out; stream lag {rt.bus.lag()}")  # type: ignore[union-attr]


def _worker(cfg: Path, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            SEGMINT,
            "worker",
            "-c",
            str(cfg),
            "--consumer",
            name,
            "--batch",
            "200",
            "--claim-idle-ms",
            "1500",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_kill_9_mid_stream_loses_and_double_counts_nothing(project: Path) -> None:
    rt = Runtime.open(load_config(project))
    assert rt.bus is not None
    events = _events()
    wire = [to_wire(e) for e in events]
    rt.bus.append(wire + wire[:REPEATS])  # the first 600 arrive twice
    first = _worker(project, "doomed")
    try:
        _wait(rt, time.monotonic() + 60, lambda: rt.bus.lag()["waiting"] < EVENTS * 0.7)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    left = rt.bus.lag()
    assert left["waiting"] > 0, f"the first worker finished before it was killed: {left}"
    second = _worker(project, "survivor")
    try:
        _wait(rt, time.monotonic() + 120, lambda: rt.bus.lag() == {"pending": 0, "waiting": 0})
    finally:
        second.terminate()
        _, err = second.communicate(timeout=30)
    assert second.returncode == 0, err.decode()[-2_000:]

    views = Counter(e["customer_id"] for e in events if e["event_type"] == "product_view")
    buys = Counter(e["customer_id"] for e in events if e["event_type"] == "purchase")
    docs = rt.store.live(sorted(views | buys))
    specs = rt.processor.rules.specs
    now = datetime.now(UTC) + timedelta(hours=1)
    for cid, doc in docs.items():
        got = counters.values(doc.counters, specs, now)
        assert got['count(event_type == "product_view", 30d)'] == views[cid], cid
        assert got['count(event_type == "purchase", 30d)'] == buys[cid], cid
    assert sum(len(d.seen) for d in docs.values()) == EVENTS
    want_browsers = sorted(c for c, n in views.items() if n >= 26)
    want_buyers = sorted(c for c, n in buys.items() if n >= 5)
    assert want_browsers and want_buyers
    assert rt.store.members("browsers", None, 10_000) == want_browsers
    assert rt.store.members("buyers", None, 10_000) == want_buyers
    entered = [h for h in rt.store.history("buyers", 10_000) if h["change"] == "entered"]
    assert sorted(h["customer_id"] for h in entered) == want_buyers  # each entered once
    rt.close()
