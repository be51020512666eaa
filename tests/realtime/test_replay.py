"""Replaying a real clickstream through the real-time path gives the batch path's members.

Both paths share one rule language; this is the check that they also share its meaning:
the UCI clothing-shop clickstream is ingested, its rule segments computed in the warehouse as
of a moment, and the same events (everything before that moment) replayed one batch at a
time through the processor into the embedded online store, which is then read at that moment.
"""

from __future__ import annotations

import itertools
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import ibis
import pytest

from segmint.config import load_config
from segmint.features import compute_features
from segmint.ingest import ingest
from segmint.realtime import Processor, RuleSet
from segmint.realtime._sqlite import SQLiteStore
from segmint.segments.rules import compile_rule
from segmint.segments.rules._warehouse import (
    INPUTS,
    catalog_for,
    event_stream,
    rule_inputs,
    rule_members,
)
from segmint.warehouse import IbisWarehouse, connect
from tests.conftest import copy_example

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

AS_OF = datetime(2008, 4, 11, 12, 0)  # a whole hour (UTC): buckets are exact there
RULES = {
    "views": "count(product_view, 7d) >= 5",
    "sale_fans": 'count(product_view where category == "sale", 30d) >= 3',
    "pricey": "max(price where product_view, 14d) > 60",
    "variety": "distinct(product_id where product_view, 30d) >= 6",
    "recent": "days_since(product_view) < 3",
    "mostly_sale": 'share(category == "sale", 30d) > 0.5',
    "high_avg": "avg(price, 30d) > 50 and count(product_view, 30d) >= 3",
    "deep": 'in_segment("views") and in_segment("variety")',
    "polish": 'last(country) == "PL"',
    "quiet_day": "count(product_view, 1d) == 0 and count(product_view, 7d) >= 2",
}


@pytest.fixture(scope="module")
def clicks(
    clickstream_zip: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[IbisWarehouse]:
    root = tmp_path_factory.mktemp("clicks")
    project = copy_example("clickstream", root / "project")
    head = root / "clicks.csv"
    with zipfile.ZipFile(clickstream_zip) as z, z.open(z.namelist()[0]) as src:
        head.write_bytes(b"".join(itertools.islice(src, 22_001)))  # header + 22,000 views
    cfg_file = project / "segmint.yaml"
    text = cfg_file.read_text()
    start = text.index("path: ")
    end = text.index("\n", start)
    cfg_file.write_text(text[:start] + f"path: {head}" + text[end:])
    cfg = load_config(cfg_file)
    ingest(cfg)
    wh = connect(cfg.warehouse, cfg.base_dir)
    compute_features(wh, AS_OF)
    yield wh
    wh.close()


def batch_members(wh: IbisWarehouse) -> dict[str, set[str]]:
    catalog = catalog_for(wh, segments=RULES)
    compiled = {n: compile_rule(t, catalog, name=n) for n, t in RULES.items()}
    out: dict[str, set[str]] = {}
    for name, rule in compiled.items():
        inputs = rule_inputs(wh, [rule], AS_OF, members=lambda seg: _table(out[seg]))
        rows = wh.to_arrow(rule_members(rule, inputs)).to_pylist()
        out[name] = {r["customer_id"] for r in rows}
        wh.drop(INPUTS)
    return out


def _table(ids: set[str]) -> ibis.Table:
    return ibis.memtable({"customer_id": sorted(ids)}, schema={"customer_id": "string"})


def live_members(wh: IbisWarehouse, tmp_path: Path) -> dict[str, set[str]]:
    catalog = catalog_for(wh, segments=RULES)
    rules = RuleSet({n: compile_rule(t, catalog, name=n) for n, t in RULES.items()})
    store = SQLiteStore(tmp_path / "online.sqlite")
    processor = Processor(store, rules)
    events = event_stream(wh)
    assert events is not None
    rows = wh.to_arrow(
        events.filter(events.ts < ibis.timestamp(AS_OF)).order_by(["ts", "customer_id"])
    ).to_pylist()
    assert len(rows) > 10_000
    for i in range(0, len(rows), 1_000):
        batch = rows[i : i + 1_000]
        # a stream has no canonical ids yet: each event comes as the shop sent it
        for r in batch:
            r["anonymous_id"] = r.pop("customer_id").removeprefix("anonymous_id:")
            r["event_id"] = f"{r['session_id']}-{r['ts'].isoformat()}-{r['product_id']}"
        processor.apply(batch)
    processor.sweep(AS_OF)
    return {n: set(_all(store, n)) for n in RULES}


def _all(store: SQLiteStore, segment: str) -> Iterator[str]:
    after = None
    while page := store.members(segment, after, 1_000):
        yield from page
        after = page[-1]


def test_replayed_clickstream_gives_the_batch_members(
    clicks: IbisWarehouse, tmp_path: Path
) -> None:
    """Every rule segment has exactly the same members on both paths at the same moment."""
    batch = batch_members(clicks)
    live = live_members(clicks, tmp_path)
    sizes = {n: len(m) for n, m in batch.items()}
    assert all(sizes.values()) and sum(sizes.values()) > 500, sizes  # a test that can fail
    for name in RULES:
        assert live[name] == batch[name], (
            name,
            sorted(live[name] - batch[name])[:5],
            sorted(batch[name] - live[name])[:5],
        )
