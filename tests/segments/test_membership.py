"""Membership history: only changes are written, sizes over time, forward-only history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import ibis
import pytest

from segmint.errors import ConfigError
from segmint.segments.membership import (
    MEMBERSHIP,
    members_at,
    record_membership,
    segment_names,
    sizes_over_time,
)
from segmint.warehouse import IbisWarehouse, connect

D1, D2, D3 = datetime(2024, 1, 1), datetime(2024, 2, 1), datetime(2024, 3, 1)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def wh(request: pytest.FixtureRequest) -> Iterator[IbisWarehouse]:
    if request.param == "duckdb":
        w = connect("duckdb://:memory:")
    else:
        w = connect(request.getfixturevalue("pg_url"))
    with w:
        yield w


def members(*ids: str) -> ibis.Table:
    return ibis.memtable(
        {"customer_id": list(ids), "score": [1.0] * len(ids)},
        schema={"customer_id": "string", "score": "float64"},
    )


def ids_at(wh: IbisWarehouse, at: datetime | None = None) -> set[str]:
    return {r["customer_id"] for r in wh.to_arrow(members_at(wh, "vip", at)).to_pylist()}


def test_only_changes_are_written(wh: IbisWarehouse) -> None:
    """A stay is one row from entry to exit; recomputing touches only who moved."""
    c1 = record_membership(wh, "vip", "rule", members("a", "b"), D1)
    c2 = record_membership(wh, "vip", "rule", members("b", "c"), D2)
    c3 = record_membership(wh, "vip", "rule", members("b", "c"), D3)
    assert (c1.entered, c1.exited, c1.members) == (2, 0, 2)
    assert (c2.entered, c2.exited, c2.members) == (1, 1, 2)
    assert (c3.entered, c3.exited) == (0, 0)
    rows = wh.to_arrow(wh.table(MEMBERSHIP).order_by(["customer_id"])).to_pylist()
    assert [(r["customer_id"], r["entered_at"], r["exited_at"]) for r in rows] == [
        ("a", D1, D2),
        ("b", D1, None),
        ("c", D2, None),
    ]


def test_members_at_any_time_and_sizes_over_time(wh: IbisWarehouse) -> None:
    """Membership at a past date is read back from the stays; sizes come per computation."""
    record_membership(wh, "vip", "rule", members("a", "b"), D1)
    record_membership(wh, "vip", "rule", members("b", "c", "d"), D2)
    assert ids_at(wh, D1) == {"a", "b"}
    assert ids_at(wh, datetime(2024, 1, 15)) == {"a", "b"}
    assert ids_at(wh, D2) == ids_at(wh) == {"b", "c", "d"}
    sizes = [(r["as_of"], r["members"], r["entered"], r["exited"]) for r in sizes_over_time(wh)]
    assert sizes == [(D1, 2, 2, 0), (D2, 3, 2, 1)]
    assert segment_names(wh) == [{"segment": "vip", "kind": "rule", "as_of": D2, "members": 3}]


def test_a_customer_can_leave_and_come_back(wh: IbisWarehouse) -> None:
    """Re-entering opens a second stay; the first one stays closed."""
    record_membership(wh, "vip", "rule", members("a"), D1)
    record_membership(wh, "vip", "rule", members(), D2)
    record_membership(wh, "vip", "rule", members("a"), D3)
    stays = wh.to_arrow(wh.table(MEMBERSHIP).order_by("entered_at")).to_pylist()
    assert [(s["entered_at"], s["exited_at"]) for s in stays] == [(D1, D2), (D3, None)]


def test_recomputing_the_same_as_of_replaces_it(wh: IbisWarehouse) -> None:
    """Running the latest as-of again (after a rule fix) leaves no trace of the first run."""
    record_membership(wh, "vip", "rule", members("a", "b"), D1)
    record_membership(wh, "vip", "rule", members("a", "c"), D2)
    record_membership(wh, "vip", "rule", members("b"), D2)
    assert ids_at(wh) == {"b"}
    assert ids_at(wh, D1) == {"a", "b"}
    assert [r["members"] for r in sizes_over_time(wh, "vip")] == [2, 1]
    assert wh.count(MEMBERSHIP) == 2  # a's stay closed at D2; b's stay from D1 still open


def test_history_is_written_forward(wh: IbisWarehouse) -> None:
    """An as-of older than the latest would rewrite the past: refused with the reason."""
    record_membership(wh, "vip", "rule", members("a"), D2)
    with pytest.raises(ConfigError, match="history is written forward"):
        record_membership(wh, "vip", "rule", members("a"), D1)
