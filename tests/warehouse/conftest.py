"""The backends every contract test of the warehouse runs on, as fixtures.

Backend differences the tests depend on are data on :class:`Backend` (or the warehouse's own
:class:`~segmint.warehouse.Capabilities`), never name checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from segmint.warehouse import IbisWarehouse, connect


@dataclass(frozen=True)
class Backend:
    """How to open one backend, and the capabilities the tests depend on.

    ``neighbour_schema`` is a namespace of the same database holding other people's tables
    (PostgreSQL's ``public`` beside segmint's schema); a warehouse must never read or change
    a table there.
    """

    make_url: Callable[[pytest.FixtureRequest, Path], str]
    neighbour_schema: str


DUCKDB = Backend(
    make_url=lambda request, tmp: "duckdb:///" + str(tmp / "w.duckdb"),
    neighbour_schema="neighbour",
)
POSTGRES = Backend(
    make_url=lambda request, tmp: request.getfixturevalue("pg_url"),
    neighbour_schema="public",
)


@pytest.fixture(
    params=[
        pytest.param(DUCKDB, id="duckdb"),
        pytest.param(POSTGRES, id="postgres", marks=pytest.mark.postgres),
    ]
)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.param


@pytest.fixture
def url(backend: Backend, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend.make_url(request, tmp_path)


@pytest.fixture
def wh(url: str) -> Iterator[IbisWarehouse]:
    w = connect(url)
    try:
        yield w
    finally:
        w.close()
