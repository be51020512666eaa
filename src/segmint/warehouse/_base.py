"""The warehouse boundary: every table segmint reads or writes goes through a :class:`Warehouse`.

Reads and derived tables are Ibis expressions, so the same code runs on DuckDB and PostgreSQL.
The few statements Ibis does not express (``DELETE``, ``INSERT ... SELECT`` with an anti-join)
are plain SQL that both engines accept, run through :meth:`Warehouse.execute`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import ibis
import pyarrow as pa

from segmint.sql import ident

#: DuckDB type names used in stored schemas, and their PostgreSQL spelling
PG_TYPES = {
    "VARCHAR": "TEXT",
    "BIGINT": "BIGINT",
    "DOUBLE": "DOUBLE PRECISION",
    "BOOLEAN": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMP",
    "DATE": "DATE",  # sniffed for the date columns of non-canonical sources
}


@runtime_checkable
class Warehouse(Protocol):
    """Batch tables: canonical data, derived tables, features, memberships."""

    url: str
    ibis: ibis.BaseBackend

    def table(self, name: str) -> ibis.Table:
        """The stored table ``name`` as an Ibis expression (Ibis's TableNotFound when there is
        none)."""

    def has_table(self, name: str) -> bool:
        """Whether table ``name`` exists (this session's temporary tables count)."""

    def list_tables(self) -> list[str]:
        """The names of the tables segmint can see, this session's temporary ones included."""

    def ensure_table(self, name: str, schema: dict[str, str]) -> None:
        """Create ``name`` with ``schema`` (column to DuckDB type name), or add the columns it
        lacks."""

    def import_arrow(self, name: str, data: pa.RecordBatchReader | pa.Table) -> int:
        """Load Arrow data into a new temporary table ``name`` (replacing one of that name); return
        its row count."""

    def execute(self, sql: str) -> int:
        """Run one SQL statement; return the rows it changed (0 for DDL)."""

    def write(self, name: str, expr: ibis.Table) -> None:
        """Create or replace ``name`` from an expression, computed inside the engine."""

    def to_arrow(self, expr: ibis.Table | str) -> pa.Table:
        """Compute an expression, or read the table of that name, into an Arrow table."""

    def count(self, name: str) -> int:
        """Rows in table ``name``; 0 when there is no such table."""

    def drop(self, name: str) -> None:
        """Drop table ``name`` if it exists."""

    def close(self) -> None:
        """Close the connection; the warehouse is not used after."""


class IbisWarehouse:
    """Shared behaviour of the Ibis-backed warehouses; subclasses open the connection."""

    url: str
    ibis: Any
    type_names: ClassVar[dict[str, str]] = {k: k for k in PG_TYPES}

    def table(self, name: str) -> ibis.Table:
        """Ibis's expression for table ``name`` (TableNotFound when there is none)."""
        return self.ibis.table(name)

    def has_table(self, name: str) -> bool:
        """Whether ``name`` is among :meth:`list_tables` (one listing per call)."""
        return name in self.list_tables()

    def list_tables(self) -> list[str]:
        """The tables Ibis lists on the connection."""
        return list(self.ibis.list_tables())

    def ensure_table(self, name: str, schema: dict[str, str]) -> None:
        """Create ``name`` with ``schema`` (DuckDB type names), or add the columns it lacks."""
        if not self.has_table(name):
            cols = ", ".join(f"{ident(c)} {self.type_names[t]}" for c, t in schema.items())
            self.execute(f"CREATE TABLE {ident(name)} ({cols})")
            return
        have = set(self.table(name).columns)
        for c, t in schema.items():
            if c not in have:
                self.execute(
                    f"ALTER TABLE {ident(name)} ADD COLUMN {ident(c)} {self.type_names[t]}"
                )

    def write(self, name: str, expr: ibis.Table) -> None:
        """Create or replace ``name`` from an expression, computed inside the engine."""
        self.ibis.create_table(name, expr, overwrite=True)

    def to_arrow(self, expr: ibis.Table | str) -> pa.Table:
        """Run an expression (or read the table named ``expr``) through Ibis into Arrow."""
        if isinstance(expr, str):
            expr = self.table(expr)
        return self.ibis.to_pyarrow(expr)

    def count(self, name: str) -> int:
        """Rows in ``name``, counted by the engine; 0 when there is no such table."""
        return int(self.table(name).count().execute()) if self.has_table(name) else 0

    def drop(self, name: str) -> None:
        """Drop table ``name`` if it exists (``DROP TABLE IF EXISTS``)."""
        self.execute(f"DROP TABLE IF EXISTS {ident(name)}")

    def row_ranges(self, table: str) -> list[str]:
        """SQL predicates that split ``table``'s rows into batches for a large UPDATE.

        One batch (``TRUE``) unless the engine needs them: see DuckDB's.
        """
        return ["TRUE"]

    def __enter__(self) -> IbisWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnect Ibis's connection."""
        self.ibis.disconnect()

    def execute(self, sql: str) -> int:  # pragma: no cover - overridden
        """Run one SQL statement; every backend overrides this."""
        raise NotImplementedError

    def import_arrow(self, name: str, data: pa.RecordBatchReader | pa.Table) -> int:
        """Load Arrow data into a temporary table; every backend overrides this."""
        raise NotImplementedError  # pragma: no cover - overridden
