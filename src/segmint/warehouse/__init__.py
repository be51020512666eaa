"""The warehouse boundary: DuckDB file by default, PostgreSQL by URL.

>>> wh = connect("duckdb://:memory:")
>>> wh.ensure_table("t", {"a": "BIGINT"})
>>> wh.list_tables()
['t']
"""

from __future__ import annotations

from pathlib import Path

from segmint.errors import ConfigError
from segmint.warehouse._base import Capabilities, IbisWarehouse, Rows, Warehouse, Where
from segmint.warehouse._duckdb import DuckDBWarehouse

__all__ = [
    "Capabilities",
    "DuckDBWarehouse",
    "IbisWarehouse",
    "Rows",
    "Warehouse",
    "Where",
    "connect",
]


def connect(url: str, base_dir: Path | None = None) -> IbisWarehouse:
    """Open the warehouse named by ``url``.

    ``duckdb:///relative/file.duckdb`` resolves against ``base_dir`` (the project folder),
    ``duckdb:////abs/file.duckdb`` is absolute, ``duckdb://:memory:`` is in memory,
    ``postgresql://user@host:port/db?schema=name`` is a PostgreSQL schema.
    """
    if url.startswith("duckdb://"):
        rest = url.removeprefix("duckdb://")
        if rest in (":memory:", "/:memory:", ""):
            return DuckDBWarehouse(":memory:", url)
        path = Path(rest[1:] if rest.startswith("/") else rest)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return DuckDBWarehouse(path, url)
    if url.startswith(("postgresql://", "postgres://")):
        from segmint.warehouse._postgres import PostgresWarehouse

        return PostgresWarehouse(url)
    raise ConfigError(f"warehouse '{url}': expected duckdb:///FILE or postgresql://HOST/DB")
