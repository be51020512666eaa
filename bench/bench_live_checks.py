"""What the live path's new checks cost: issue 15's target is under 5% of an event or a read.

The checks added at the door (field and ``properties`` bounds, encodable strings, an e-mail
or phone identifier looked up by its keyed hash, declared PII encrypted, free text masked)
run in ``validate_event``. This script times, in one run on the same events:

* ``baseline``: ``validate_event`` as it was before those checks (the module read from git
  at ``--before``, 55a2052 by default), on an event with an ordinary id;
* ``plain``: today's ``validate_event`` on the same event, the project's rules applied;
* ``pii``: today's, on an event whose id is an e-mail, with a declared PII property and a
  search query holding an e-mail and a phone;
* ``apply``: applying an event to the embedded SQLite store (``Processor.apply`` in batches
  of 500, two rule segments), what every accepted event goes on to cost;
* ``read``: one read of the store (``published`` of a customer: the least a read costs, so
  the share is an upper bound), and the hashed look-up of an e-mail identifier a read adds.

It prints the added cost of each as a share of ``baseline + apply`` (an event) and of
``read``. Run: ``python bench/bench_live_checks.py`` (about 30 s).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _old_events(commit: str) -> ModuleType:
    """The events module as it was at ``commit``, imported under another name."""
    text = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:src/segmint/realtime/_events.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "events_before.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("events_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _per_call(fn: Callable[[], Any], n: int, repeats: int = 7) -> float:
    """Best-of-``repeats`` seconds per call of ``fn`` over ``n`` calls."""
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - t) / n)
    return min(runs)


def _event(i: int, now: datetime, *, pii: bool) -> dict[str, Any]:
    base = {
        "event_id": f"e{i}",
        "event_type": "product_view",
        "ts": (now - timedelta(seconds=i % 600)).isoformat(),
        "customer_id": f"Ann.{i}@Example.com" if pii else f"c{i}",
        "session_id": f"s{i // 5}",
        "product_id": f"p{i % 97}",
        "category": "Women > Dresses",
        "price": 49.9,
        "device": "mobile",
        "country": "DE",
        "properties": {"colour": "red", "size": "M"},
    }
    if pii:
        base["event_type"] = "search"
        base["query"] = f"dress for ann.{i}@example.com call +49 30 1234567"
        base["properties"] = {"email": f"ann.{i}@example.com", "colour": "red"}
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="55a2052", help="commit of the baseline checks")
    parser.add_argument("--n", type=int, default=3000, help="events per timing")
    args = parser.parse_args()

    import os

    from segmint.privacy import LivePrivacy, PiiCipher, generate_key
    from segmint.realtime._events import validate_event
    from segmint.realtime._processor import Processor, RuleSet
    from segmint.realtime._sqlite import SQLiteStore
    from segmint.segments.rules import compile_rule

    os.environ.setdefault("SEGMINT_KEY", generate_key())
    from segmint.privacy import load_master_key

    privacy = LivePrivacy(["email", "phone"], "emails_and_phones", PiiCipher(load_master_key()))
    old = _old_events(args.before)
    now = datetime.now(UTC)
    plain = [_event(i, now, pii=False) for i in range(args.n)]
    personal = [_event(i, now, pii=True) for i in range(args.n)]
    it = iter(range(10**9))

    def cycle(events: list[dict[str, Any]]) -> Callable[[], dict[str, Any]]:
        return lambda: events[next(it) % len(events)]

    nxt_plain, nxt_pii = cycle(plain), cycle(personal)
    # interleaved rounds, best of each: no variant gains from running first or last
    best = {"base": 1.0, "plain": 1.0, "pii": 1.0}
    variants = {
        "base": lambda: old.validate_event(nxt_plain(), now),
        "plain": lambda: validate_event(nxt_plain(), now, privacy),
        "pii": lambda: validate_event(nxt_pii(), now, privacy),
    }
    for _ in range(7):
        for name, fn in variants.items():
            best[name] = min(best[name], _per_call(fn, args.n, repeats=1))
    t_base, t_plain, t_pii = best["base"], best["plain"], best["pii"]

    # what an accepted event goes on to cost: applied to the embedded store
    work = Path(tempfile.mkdtemp(prefix="segmint-bench-"))
    store = SQLiteStore(work / "online.sqlite")
    rules = RuleSet(
        {
            "browsers": compile_rule("count(product_view, 7d) >= 3"),
            "dress_fans": compile_rule(
                'count(product_view where category == "Women > Dresses", 30d) >= 2'
            ),
        }
    )
    processor = Processor(store, rules)
    valid = [validate_event(e, now, privacy)[0] for e in plain]
    applied = []
    for rep in range(3):
        batch_events = [{**e, "event_id": f"{e['event_id']}-{rep}"} for e in valid]
        t = time.perf_counter()
        for i in range(0, len(batch_events), 500):
            processor.apply(batch_events[i : i + 500])
        applied.append((time.perf_counter() - t) / len(batch_events))
    t_apply = min(applied)

    # a read, and the hashed look-up an e-mail identifier adds to it
    t_read = _per_call(lambda: store.published(["c1"]), args.n)
    emails = [f"Reader.{i}@Example.com" for i in range(args.n)]
    t_hash = _per_call(lambda: privacy.identifier(emails[next(it) % len(emails)]), args.n)

    event = t_base + t_apply
    rows = [
        ("validate_event before the checks (baseline)", t_base, None),
        ("validate_event now, ordinary event", t_plain, (t_plain - t_base) / event),
        ("validate_event now, e-mail id + PII + free text", t_pii, (t_pii - t_base) / event),
        ("apply one event (SQLite, batches of 500)", t_apply, None),
        ("store read of one customer (the least a read costs)", t_read, None),
        ("hashed look-up of an e-mail identifier", t_hash, t_hash / t_read),
    ]
    print(f"{'measure':52} {'µs/call':>9} {'added share':>12}")
    for name, secs, share in rows:
        extra = f"{share:11.1%}" if share is not None else ""
        print(f"{name:52} {secs * 1e6:9.1f} {extra:>12}")
    print(
        f"\nadded per event: ordinary {(t_plain - t_base) / event:.1%}, with PII "
        f"{(t_pii - t_base) / event:.1%} of validate + apply ({event * 1e6:.0f} µs); "
        f"per e-mail read {t_hash / t_read:.1%} of the store read alone (target: < 5%)"
    )
    store.close()


if __name__ == "__main__":
    sys.exit(main())
