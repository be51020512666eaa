"""A segment defined over the API while a Redis worker runs is applied by that worker.

Real processes and a real Redis: ``uvicorn`` serves a project whose online store and event bus
are Redis under a prefix of the test's own, and ``segmint worker`` (as a user starts it) reads
the stream. Events go in through ``POST /v1/events``; segments are defined through ``POST
/v1/segments``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from segmint.api import create_key
from segmint.config import load_config
from segmint.realtime import open_store
from tests.api.conftest import Project, Server, ago, uid
from tests.conftest import redis_where

redis = pytest.importorskip("redis")
pytestmark = [pytest.mark.redis, pytest.mark.slow]
SEGMINT = str(Path(sys.executable).parent / "segmint")
_STRAY = ("SEGMINT_WAREHOUSE", "SEGMINT_KEY", "SEGMINT_KEY_FILE", "SEGMINT_PROJECT")


@dataclass
class Live:
    client: httpx.Client
    worker: subprocess.Popen[bytes]
    project: Project


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    where = redis_where()
    config = tmp_path / "segmint.yaml"
    config.write_text(
        "project: refresh\n"
        "segments:\n"
        "  - {name: browsers, rule: 'count(product_view, 30d) >= 26'}\n"
        f"serve: {{online_store: '{where}', bus: '{where}'}}\n"
    )
    project = Project(config, tmp_path / "k.key")
    project.segmint("keys", "generate", "--out", project.key_file)
    cfg = load_config(config)
    store = open_store(cfg.serve.online_store, cfg.base_dir)
    _, token = create_key(store, "admin", ["admin"])
    server = Server(project, tmp_path / "uvicorn.log")
    env = {k: v for k, v in os.environ.items() if k not in _STRAY}
    env.update(SEGMINT_KEY_FILE=str(project.key_file), OPENBLAS_NUM_THREADS="1")
    worker = subprocess.Popen(
        [SEGMINT, "worker", "-c", str(config), "--consumer", "w1", "--batch", "50"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        server.start()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(
            base_url=server.url, headers=headers, timeout=30, trust_env=False
        ) as client:
            yield Live(client, worker, project)
    finally:
        server.stop()
        worker.terminate()
        _, err = worker.communicate(timeout=30)
        store.drop_all()  # type: ignore[attr-defined]
        store.close()
    assert worker.returncode == 0, err.decode()[-2_000:]


def _views(cid: str, n: int) -> list[dict[str, Any]]:
    return [
        {
            "event_id": uid("pv"),
            "event_type": "product_view",
            "customer_id": cid,
            "product_id": f"SKU-{i}",
            "ts": ago(30 - i),
        }
        for i in range(n)
    ]


def _queue(client: httpx.Client, *events: dict[str, Any]) -> None:
    r = client.post("/v1/events", json={"events": list(events)})
    assert r.status_code == 202, r.text  # on the stream: the worker applies them
    assert r.json()["accepted"] == len(events), r.text


def _segments(client: httpx.Client, cid: str) -> set[str] | None:
    r = client.get(f"/v1/customers/{cid}/segments")
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    return {s["segment"] for s in r.json()["segments"]}


def _until(done: Callable[[], bool], what: str, live: Live, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        assert live.worker.poll() is None, "the worker stopped"
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_applies_a_segment_defined_after_it_started(live: Live) -> None:
    """Regression (issue 15, defect 3): a Redis worker compiled the rule segments once, when
    it started, so an event that should make a customer enter a segment defined over the API
    since did nothing until the worker was restarted. The worker now checks the store's
    definitions version before each batch.

    Also checks that the members ``POST /v1/segments`` computes at once for customers the
    store already knows are kept by the worker's next event for them, not undone."""
    known, newcomer = uid("C"), uid("C")
    _queue(live.client, *_views(known, 2))
    # the worker is up and applying with the rules it started with
    _until(lambda: _segments(live.client, known) is not None, "the first events", live)
    assert _segments(live.client, known) == set()

    r = live.client.post(
        "/v1/segments", json={"name": "lookers", "rule": "count(product_view, 30d) >= 2"}
    )
    assert r.status_code == 201, r.text
    assert _segments(live.client, known) == {"lookers"}  # computed at once for the known

    _queue(live.client, *_views(newcomer, 2))
    _until(lambda: _segments(live.client, newcomer) == {"lookers"}, "newcomer in lookers", live)

    # another event for the known customer: the worker keeps what the definition computed
    marker = _views(known, 1)[0]
    _queue(live.client, marker)
    store = live.project.store()
    try:
        _until(
            lambda: any(marker["event_id"] in d.seen for d in store.live([known]).values()),
            "the known customer's third view",
            live,
        )
        assert sorted(store.members("lookers", None, 100)) == sorted([known, newcomer])
    finally:
        store.close()
    assert _segments(live.client, known) == {"lookers"}
