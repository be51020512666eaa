"""Webhook delivery: each enter/exit POSTed, signed, retried with backoff, then dead-lettered.

Every notification a configured webhook wants becomes a delivery in the online store in the
same commit as the membership change, so none is lost when a process dies. The dispatcher
(run by ``segmint serve`` and ``segmint worker``) posts the due ones. A body is signed with
HMAC-SHA256 over ``"{timestamp}.{body}"``, sent as ``Segmint-Signature: t=<unix>,v1=<hex>``;
receivers check it with :func:`verify`, which also refuses a stale timestamp (replays). A 2xx
answer delivers; anything else waits ``backoff * 2**(attempt-1)`` seconds and tries again,
until ``max_attempts``, when the delivery's status becomes ``dead`` (the dead letter). Each
attempt is logged on the delivery (time, status code or error).

>>> header = sign(b"s3cret", b'{"a":1}', timestamp=1700000000)
>>> verify(b"s3cret", b'{"a":1}', header, now=1700000010)
True
>>> verify(b"other", b'{"a":1}', header, now=1700000010)
False
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from segmint.config import WebhookConfig
from segmint.realtime._store import OnlineStore

HEADER = "Segmint-Signature"
#: how old a signed timestamp may be before :func:`verify` refuses it
TOLERANCE = 300


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for ``body``."""
    t = int(time.time() if timestamp is None else timestamp)
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(
    secret: bytes, body: bytes, header: str, *, now: float | None = None, tolerance: int = TOLERANCE
) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is recent enough."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = sign(secret, body, t).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class Dispatcher:
    """Posts due deliveries for the configured webhooks."""

    def __init__(
        self,
        store: OnlineStore,
        webhooks: Sequence[WebhookConfig],
        *,
        client: httpx.Client | None = None,
    ) -> None:
        self.store = store
        self.hooks = {h.name: h for h in webhooks}
        self.client = client or httpx.Client(follow_redirects=False)
        self._stop = threading.Event()

    def secret(self, hook: WebhookConfig) -> bytes:
        """The signing key of ``hook``: its ``secret_env`` variable's value as bytes (empty when
        unset)."""
        value = os.environ.get(hook.secret_env, "") if hook.secret_env else ""
        return value.encode()

    def run_once(self, now: float | None = None, limit: int = 100) -> int:
        """Attempt every due delivery once; return how many were attempted."""
        now = time.time() if now is None else now
        due = self.store.due_deliveries(now, limit)
        for delivery in due:
            self.store.record_attempt(self.attempt(delivery, now))
        return len(due)

    def attempt(self, delivery: Mapping[str, Any], now: float) -> dict[str, Any]:
        """One POST of ``delivery``; its new state (delivered, pending again, or dead)."""
        d = dict(delivery)
        hook = self.hooks.get(d["webhook"])
        d["attempts"] = int(d.get("attempts", 0)) + 1
        if hook is None:
            return self._fail(d, now, None, "webhook no longer configured", final=True)
        body = json.dumps(d["payload"], separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            HEADER: sign(self.secret(hook), body, int(now)),
            "Segmint-Delivery": d["id"],
            "Segmint-Event": d["payload"].get("type", ""),
        }
        try:
            r = self.client.post(
                hook.url, content=body, headers=headers, timeout=hook.timeout_seconds
            )
        except httpx.HTTPError as exc:
            return self._fail(d, now, None, f"{type(exc).__name__}: {exc}"[:300], hook=hook)
        if 200 <= r.status_code < 300:
            d["status"] = "delivered"
            d["delivered_at"] = now
            d.setdefault("log", []).append({"at": now, "code": r.status_code})
            return d
        return self._fail(d, now, r.status_code, r.text[:300], hook=hook)

    @staticmethod
    def _fail(
        d: dict[str, Any],
        now: float,
        code: int | None,
        error: str,
        *,
        hook: WebhookConfig | None = None,
        final: bool = False,
    ) -> dict[str, Any]:
        d.setdefault("log", []).append({"at": now, "code": code, "error": error})
        d["last_code"], d["last_error"] = code, error
        limit = hook.max_attempts if hook is not None else 0
        if final or d["attempts"] >= limit:
            d["status"] = "dead"
            d["next_at"] = now
        else:
            backoff = hook.backoff_seconds if hook is not None else 1.0
            d["next_at"] = now + backoff * 2 ** (d["attempts"] - 1)
        return d

    def run_forever(self, interval: float = 0.5) -> None:
        """Dispatch until :meth:`stop`; a store that is down is waited out."""
        from segmint.errors import StoreUnavailable

        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except StoreUnavailable:
                busy = 0
            if not busy:
                self._stop.wait(interval)

    def start(self) -> threading.Thread:
        """Run :meth:`run_forever` in a daemon thread; return the thread."""
        thread = threading.Thread(target=self.run_forever, name="segmint-webhooks", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Make :meth:`run_forever` return once the round in progress ends."""
        self._stop.set()
