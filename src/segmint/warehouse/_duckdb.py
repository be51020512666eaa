"""DuckDB warehouse: one file, embedded, the default."""

from __future__ import annotations

from pathlib import Path

import ibis
import pyarrow as pa

from segmint.sql import ident
from segmint.warehouse._base import IbisWarehouse


class DuckDBWarehouse(IbisWarehouse):
    """A DuckDB database file (or ``:memory:``) through Ibis."""

    def __init__(self, path: str | Path, url: str | None = None) -> None:
        self.path = str(path)
        self.url = url or f"duckdb:///{path}"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.ibis = ibis.duckdb.connect(self.path)
        self.raw = self.ibis.con  # the duckdb connection, for statements Ibis does not express
        self.raw.execute("SET TimeZone = 'UTC'")
        self.raw.execute("SET enable_progress_bar = false")

    def execute(self, sql: str) -> int:
        res = self.raw.execute(sql).fetchall()
        # DML returns one row holding the affected count; DDL returns nothing
        return int(res[0][0]) if res and len(res[0]) == 1 and isinstance(res[0][0], int) else 0

    def import_arrow(self, name: str, data: pa.RecordBatchReader | pa.Table) -> int:
        """Load a stream of Arrow batches into a new temporary table ``name``."""
        view = f"_arrow_in_{name}"
        self.raw.register(view, data)
        try:
            self.raw.execute(f"CREATE OR REPLACE TEMP TABLE {ident(name)} AS SELECT * FROM {view}")
        finally:
            self.raw.unregister(view)
        return int(self.raw.execute(f"SELECT count(*) FROM {ident(name)}").fetchone()[0])
