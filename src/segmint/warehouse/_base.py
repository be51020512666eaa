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

    def table(self, name: str) -> ibis.Table: ...
    def has_table(self, name: str) -> bool: ...
    def list_tables(self) -> list[str]: ...
    def ensure_table(self, name: str, schema: dict[str, str]) -> None: ...
    def import_arrow(self, name: str, data: pa.RecordBatchReader | pa.Table) -> int: ...
    def execute(self, sql: str) -> int: ...
    def write(self, name: str, expr: ibis.Table) -> None: ...
    def to_arrow(self, expr: ibis.Table | str) -> pa.Table: ...
    def count(self, name: str) -> int: ...
    def drop(self, name: str) -> None: ...
    def close(self) -> None: ...


class IbisWarehouse:
    """Shared behaviour of the Ibis-backed warehouses; subclasses open the connection."""

    url: str
    ibis: Any
    type_names: ClassVar[dict[str, str]] = {k: k for k in PG_TYPES}

    def table(self, name: str) -> ibis.Table:
        return self.ibis.table(name)

    def has_table(self, name: str) -> bool:
        return name in self.list_tables()

    def list_tables(self) -> list[str]:
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
        if isinstance(expr, str):
            expr = self.table(expr)
        return self.ibis.to_pyarrow(expr)

    def count(self, name: str) -> int:
        return int(self.table(name).count().execute()) if self.has_table(name) else 0

    def drop(self, name: str) -> None:
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
        self.ibis.disconnect()

    def execute(self, sql: str) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def import_arrow(self, name: str, data: pa.RecordBatchReader | pa.Table) -> int:
        raise NotImplementedError  # pragma: no cover - overridden
