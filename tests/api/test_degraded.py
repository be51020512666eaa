"""With its Redis gone, the API keeps answering: reads from the last state it read, 503s
with a JSON body for what it cannot do, /readyz says degraded, and it recovers by itself.

A Redis server of the test's own (on a free port) is stopped under a running uvicorn.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from segmint.api import create_key
from segmint.realtime import Published, PublishInfo, open_store

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, str, subprocess.Popen[bytes], int]]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make test installs it)")
    rport, aport = _port(), _port()
    redis_proc = _redis(rport)
    url = f"redis://127.0.0.1:{rport}/0?prefix=degrade"
    cfg = tmp_path / "segmint.yaml"
    cfg.write_text(
        "project: degrade\n"
        "segments:\n  - {name: browsers, rule: 'count(product_view, 7d) >= 3'}\n"
        f"serve: {{online_store: '{url}', cache_ttl_seconds: 0.3}}\n"
    )
    store = open_store(url)
    store.publish(
        [Published("c1", segments={"browsers": "2024-01-01T00:00:00+00:00"})], {}, PublishInfo()
    )
    _, token = create_key(store, "t", ["admin"])
    store.close()
    env = {**os.environ, "SEGMINT_PROJECT": str(cfg)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "segmint.api._server:app",
            "--factory",
            "--port",
            str(aport),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{aport}"
    for _ in range(200):
        try:
            httpx.get(f"{base}/healthz", timeout=0.5)
            break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield base, token, redis_proc, rport
    finally:
        server.terminate()
        server.wait(10)
        redis_proc.kill()
        redis_proc.wait()


def test_store_down_degrades_and_recovers(
    api: tuple[str, str, subprocess.Popen[bytes], int],
) -> None:
    base, token, redis_proc, rport = api
    h = {"Authorization": f"Bearer {token}"}
    seen = httpx.get(f"{base}/v1/customers/c1/segments", headers=h)
    assert seen.status_code == 200
    segment = httpx.get(f"{base}/v1/segments/browsers", headers=h)
    assert segment.status_code == 200
    assert httpx.get(f"{base}/readyz").json()["status"] == "ready"

    redis_proc.kill()
    redis_proc.wait()
    time.sleep(0.5)  # past the cache's time-to-live: the next read goes to the store

    again = httpx.get(f"{base}/v1/customers/c1/segments", headers=h)
    assert again.status_code == 200 and again.json() == seen.json()  # the last state it read
    # regression (issue 15, defect 14): segment reads answered 503 where customer reads
    # were served from the last state read
    kept = httpx.get(f"{base}/v1/segments/browsers", headers=h)
    assert kept.status_code == 200 and kept.json() == segment.json()
    never = httpx.get(f"{base}/v1/customers/c2/segments", headers=h)
    assert never.status_code == 503 and never.json()["error"] == "unavailable"
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "degraded"
    event = {"event_id": "e1", "event_type": "product_view", "customer_id": "c1"}
    posted = httpx.post(f"{base}/v1/events", json=event, headers=h)
    assert posted.status_code == 503 and posted.json()["error"] == "unavailable"
    assert httpx.get(f"{base}/healthz").status_code == 200  # the process never went down
    # regression (issue 15, defect 11): bodies named the Redis URL and its prefix, readyz too
    for body in (never.text, ready.text, posted.text):
        assert "redis://" not in body and "127.0.0.1" not in body and "prefix" not in body
    assert len(never.json()["request_id"]) == 16  # the id the detail is logged under
    assert ready.json()["checks"]["online_store"] == "down"

    restarted = _redis(rport)
    try:
        for _ in range(100):
            if httpx.get(f"{base}/readyz").status_code == 200:
                break
            time.sleep(0.1)
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
    finally:
        restarted.kill()
        restarted.wait()
