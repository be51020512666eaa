"""DuckDB warehouse: one file, embedded, the default.

DuckDB holds itself to a memory limit and spills to disk beyond it. The limit belongs to the
database instance, not to a connection or cursor, so it is set in one place: here, when the
warehouse opens (``SEGMINT_MEMORY_LIMIT``, default :data:`MEMORY_LIMIT`), and changed only for
the length of a ``with wh.memory_limit(...)`` block (ingest uses one, see
:func:`ingest_memory_limit`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ibis
import pyarrow as pa

from segmint.errors import ConfigError
from segmint.sql import ident, lit
from segmint.warehouse._base import Capabilities, IbisWarehouse

#: the environment variable holding DuckDB's memory limit for everything but ingest
MEMORY_LIMIT_ENV = "SEGMINT_MEMORY_LIMIT"
#: the environment variable holding DuckDB's memory limit while ingesting
INGEST_MEMORY_LIMIT_ENV = "SEGMINT_INGEST_MEMORY_LIMIT"
#: segmentation of 1M customers and 10M events peaks at about 2.6 GiB under it (4 GiB target)
MEMORY_LIMIT = "2GB"
#: ingest runs Python beside DuckDB (PII encryption, Arrow batches): 10M events peak < 2 GiB
INGEST_MEMORY_LIMIT = "1GB"
#: the value that leaves DuckDB its own default (80% of RAM)
UNLIMITED = "default"
#: rows per UPDATE statement: DuckDB keeps an update's new values in memory until it commits
UPDATE_BATCH_ROWS = 2_000_000

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def size_bytes(size: str, where: str = "memory limit") -> int:
    """Bytes in a DuckDB size such as ``2GB``, ``1500MB`` or ``4GiB``.

    >>> size_bytes("1.5GB"), size_bytes("2GiB")
    (1500000000, 2147483648)
    """
    m = _SIZE.match(size)
    unit = m.group(2).lower() if m else ""
    if m is None or unit not in _UNITS:
        raise ConfigError(
            f"{where}={size!r}: expected a size such as 2GB, 1500MB or 4GiB, or {UNLIMITED!r}"
        )
    return int(float(m.group(1)) * _UNITS[unit])


def _from_env(var: str, default: str) -> str | None:
    value = os.environ.get(var, "").strip() or default
    if value.lower() == UNLIMITED:
        return None
    size_bytes(value, var)
    return value


def warehouse_memory_limit() -> str | None:
    """DuckDB's memory limit for a warehouse: ``SEGMINT_MEMORY_LIMIT``, else 2GB.

    None (``SEGMINT_MEMORY_LIMIT=default``) leaves DuckDB's own default, 80% of RAM.
    """
    return _from_env(MEMORY_LIMIT_ENV, MEMORY_LIMIT)


def ingest_memory_limit() -> str | None:
    """DuckDB's memory limit while ingesting: ``SEGMINT_INGEST_MEMORY_LIMIT``, else 1GB, and
    never above :func:`warehouse_memory_limit`."""
    ingest = _from_env(INGEST_MEMORY_LIMIT_ENV, INGEST_MEMORY_LIMIT)
    general = warehouse_memory_limit()
    if ingest is None or general is None:
        return ingest or general
    return ingest if size_bytes(ingest) <= size_bytes(general) else general


class DuckDBWarehouse(IbisWarehouse):
    """A DuckDB database file (or ``:memory:``) through Ibis.

    ``memory_limit`` (a size such as ``2GB``; default :func:`warehouse_memory_limit`, from the
    environment) holds DuckDB to it; ``"default"`` leaves DuckDB's own (80% of RAM).
    """

    capabilities = Capabilities(
        transactional_ddl=True, shares_duckdb_connection=True, update_batch_rows=UPDATE_BATCH_ROWS
    )

    def __init__(
        self, path: str | Path, url: str | None = None, *, memory_limit: str | None = None
    ) -> None:
        self.path = str(path)
        self.url = url or f"duckdb:///{path}"
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.ibis = ibis.duckdb.connect(self.path)
        self.raw = self.ibis.con  # the duckdb connection, for statements Ibis does not express
        self.raw.execute("SET TimeZone = 'UTC'")
        self.raw.execute("SET enable_progress_bar = false")
        if memory_limit is None:
            limit = warehouse_memory_limit()
        elif memory_limit.strip().lower() == UNLIMITED:
            limit = None
        else:
            size_bytes(memory_limit)
            limit = memory_limit
        self._limit: str | None = None
        self._set_limit(limit)

    @property
    def current_memory_limit(self) -> str | None:
        """The memory limit segmint set (None: DuckDB's default)."""
        return self._limit

    def _set_limit(self, limit: str | None) -> None:
        if limit is None:
            self.raw.execute("RESET memory_limit")
        else:
            self.raw.execute(f"SET memory_limit = {lit(limit)}")
        self._limit = limit

    @contextmanager
    def memory_limit(self, limit: str | None) -> Iterator[None]:
        """Hold DuckDB to ``limit`` inside the block, then restore the limit it had.

        DuckDB applies the limit to the whole database, every connection and cursor of it
        included, which is why it is only ever changed for a block.
        """
        before = self._limit
        self._set_limit(limit)
        try:
            yield
        finally:
            self._set_limit(before)

    def _batches(self, name: str, alias: str) -> list[str]:
        """Predicates on ``rowid`` splitting ``name`` into batches of at most
        :attr:`Capabilities.update_batch_rows` (:data:`UPDATE_BATCH_ROWS`) rows: one UPDATE of
        10M rows keeps every new value in memory until it commits, and under a 1 GB limit it
        thrashes instead of spilling."""
        step = self.capabilities.update_batch_rows
        top = self.raw.execute(f"SELECT max(rowid) FROM {ident(name)}").fetchone()
        if step is None or top is None or top[0] is None or top[0] < step:
            return [""]
        return [
            f"{alias}.rowid >= {lo} AND {alias}.rowid < {lo + step}"
            for lo in range(0, int(top[0]) + 1, step)
        ]

    def vacuum(self) -> None:
        """``ANALYZE`` then ``CHECKPOINT``: statistics refreshed, the write-ahead log folded into
        the file and the blocks of deleted rows and dropped tables free for reuse."""
        self.raw.execute("ANALYZE")
        self.raw.execute("CHECKPOINT")

    def execute(self, sql: str) -> int:
        """Run ``sql`` on the raw DuckDB connection; return the count a one-integer result holds
        (DuckDB's affected rows for DML), else 0."""
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
