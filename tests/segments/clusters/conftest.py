"""Fixtures of the clustering tests: one BLAS thread, a warehouse per backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits

from segmint.warehouse import IbisWarehouse, connect


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread() -> Iterator[None]:
    """OpenBLAS threads spin against each other when two xdist workers share two cores: on
    the small matrices of these fits (a Gaussian mixture's covariances) that made them 15
    times slower. One thread each is also what a parallel test run should use."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def wh(request: pytest.FixtureRequest) -> Iterator[IbisWarehouse]:
    """An empty warehouse: in-memory DuckDB, or a PostgreSQL schema of the test's own."""
    url = "duckdb://:memory:" if request.param == "duckdb" else request.getfixturevalue("pg_url")
    warehouse = connect(url)
    try:
        yield warehouse
    finally:
        warehouse.close()
