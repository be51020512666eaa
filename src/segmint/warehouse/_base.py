"""The warehouse boundary: every table segmint reads or writes goes through a :class:`Warehouse`.

Reads and derived tables are Ibis expressions, so the same code runs on DuckDB and PostgreSQL.
What Ibis does not express (delete, update in place, update from another table, replace a
table's rows, swap, rename, vacuum) is a method of the boundary, written once here: its
predicates and values are Ibis expressions, compiled by Ibis for the backend, and the
statement around them is built here with quoted identifiers. A backend overrides only what its
engine does differently (DuckDB's batched updates, PostgreSQL's transactions and vacuum), and
declares its differences in :class:`Capabilities`. Code outside ``segmint.warehouse`` sends no
SQL text (``tests/warehouse/test_boundary.py`` holds the list of the modules that still do).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeAlias, runtime_checkable

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import sqlglot.expressions as sge
from ibis.common.deferred import Deferred

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

#: rows for a table: an Ibis expression computed in the engine, or Arrow data loaded into it
Rows: TypeAlias = ir.Table | pa.Table
#: which rows: ``{column: value}`` (all equal; None is IS NULL) or an Ibis boolean expression
#: over ``wh.table(name)`` (a correlated ``.any()`` is a Deferred one); None is every row
Where: TypeAlias = Mapping[str, object] | ir.BooleanValue | Deferred | None


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do that another cannot, declared rather than tested by class.

    Attributes
    ----------
    transactional_ddl : bool
        ``DROP``, ``CREATE`` and ``ALTER TABLE ... RENAME`` inside a transaction roll back
        with it, so :meth:`Warehouse.swap` and :meth:`Warehouse.replace_table` are atomic.
    shares_duckdb_connection : bool
        ``wh.raw`` is a DuckDB connection: DuckDB's own file readers can load into the
        warehouse on it directly (ingest does), instead of through Arrow.
    update_batch_rows : int or None
        :meth:`Warehouse.update` and :meth:`Warehouse.update_from` change at most this many
        rows per statement, each batch committed on its own (None: one statement).
    """

    transactional_ddl: bool = True
    shares_duckdb_connection: bool = False
    update_batch_rows: int | None = None


@runtime_checkable
class Warehouse(Protocol):
    """Batch tables: canonical data, derived tables, features, memberships."""

    url: str
    ibis: Any
    capabilities: Capabilities

    def table(self, name: str) -> ir.Table:
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
        """Run one SQL statement; return the rows it changed (0 for DDL). For ``warehouse/``
        and the modules ``tests/warehouse/test_boundary.py`` still allows."""

    def write(self, name: str, expr: ir.Table, *, temp: bool = False) -> None:
        """Create or replace ``name`` from an expression, computed inside the engine
        (``temp``: a temporary table of this session)."""

    def to_arrow(self, expr: ir.Table | str) -> pa.Table:
        """Compute an expression, or read the table of that name, into an Arrow table."""

    def count(self, name: str) -> int:
        """Rows in table ``name``; 0 when there is no such table."""

    def drop(self, name: str) -> None:
        """Drop table ``name`` if it exists."""

    def insert(self, name: str, rows: Rows) -> int:
        """Append ``rows`` to ``name`` (columns matched by name); return how many."""

    def delete(self, name: str, where: Where) -> int:
        """Delete the rows of ``name`` matching ``where``; return how many."""

    def update(self, name: str, set: Mapping[str, object], where: Where = None) -> int:
        """Set columns of the rows of ``name`` matching ``where``; return how many changed."""

    def update_from(
        self,
        name: str,
        source: Rows,
        set: Mapping[str, str],
        on: Mapping[str, ir.Value],
        where: Where = None,
    ) -> int:
        """Set columns of ``name`` from the matching row of ``source``; return how many
        changed."""

    def replace_rows(self, name: str, rows: Rows, where: Where) -> int:
        """Delete the rows matching ``where`` and insert ``rows``, in one transaction."""

    def upsert(self, name: str, rows: Rows, key: Sequence[str]) -> int:
        """Replace the rows of ``name`` sharing a ``key`` with ``rows``, in one transaction."""

    def replace_table(self, name: str, rows: Rows) -> int:
        """Replace table ``name`` (schema and rows) by ``rows``, atomically."""

    def swap(self, stage: str, target: str) -> None:
        """Replace table ``target`` by the stored table ``stage`` (renamed), atomically."""

    def rename(self, old: str, new: str) -> None:
        """Rename table ``old`` to ``new`` (an error when ``new`` exists)."""

    def vacuum(self) -> None:
        """Reclaim the space of deleted rows and refresh the planner's statistics."""

    def transaction(self) -> AbstractContextManager[None]:
        """A block whose statements are committed together, or rolled back when it raises."""

    def close(self) -> None:
        """Close the connection; the warehouse is not used after."""


class IbisWarehouse:
    """Shared behaviour of the Ibis-backed warehouses; subclasses open the connection."""

    url: str
    ibis: Any
    type_names: ClassVar[dict[str, str]] = {k: k for k in PG_TYPES}
    #: what this backend can do that another cannot (see :class:`Capabilities`)
    capabilities: Capabilities = Capabilities()

    def table(self, name: str) -> ir.Table:
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

    def write(self, name: str, expr: ir.Table, *, temp: bool = False) -> None:
        """Create or replace ``name`` from an expression, computed inside the engine."""
        self.ibis.create_table(name, expr, overwrite=True, temp=temp)

    def to_arrow(self, expr: ir.Table | str) -> pa.Table:
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

    # --- statements Ibis does not express ------------------------------------------------

    def insert(self, name: str, rows: Rows) -> int:
        """Append ``rows`` to ``name``; return how many were inserted.

        Columns are matched by name: ``rows`` may leave out columns of ``name`` (they are
        NULL), not add any. An expression is computed inside the engine (``INSERT ...
        SELECT``), so it may read ``name`` itself, as it was before the insert.
        """
        with self._rows(rows) as src:
            return self.execute(self._insert_sql(name, src))

    def delete(self, name: str, where: Where) -> int:
        """Delete the rows of ``name`` matching ``where``; return how many.

        ``where`` is ``{column: value}`` (every one equal; None matches NULL) or an Ibis
        boolean expression over ``wh.table(name)``, which may hold subqueries over other
        tables (``~(other.id == t.id).any()`` is NOT EXISTS). None deletes every row.
        """
        alias, cond = self._where(name, where)
        return self.execute(f"DELETE FROM {ident(name)} AS {alias}{cond}")

    def update(self, name: str, set: Mapping[str, object], where: Where = None) -> int:
        """Set columns of the rows of ``name`` matching ``where``; return how many.

        ``set`` maps a column to a value (cast to the column's type; None is NULL) or to an
        Ibis expression over ``wh.table(name)``; ``where`` is as for :meth:`delete`. On a
        backend with :attr:`Capabilities.update_batch_rows` a large table is updated in
        batches, each committed on its own.
        """
        t = self.table(name)
        alias, cond = self._condition(t, where)
        values = self._projections(t, {c: self._value(t, c, v) for c, v in set.items()}, alias)
        assign = ", ".join(f"{ident(c)} = {v}" for c, v in values.items())
        return self._batched(name, alias, f"UPDATE {ident(name)} AS {alias} SET {assign}", cond)

    def update_from(
        self,
        name: str,
        source: Rows,
        set: Mapping[str, str],
        on: Mapping[str, ir.Value],
        where: Where = None,
    ) -> int:
        """Set columns of ``name`` from the matching row of ``source``; return how many changed.

        ``set`` maps a column of ``name`` to a column of ``source``; ``on`` maps a column of
        ``source`` to an Ibis expression over ``wh.table(name)`` that it must equal; ``where``
        (as for :meth:`delete`) narrows the rows of ``name``. A row already holding the value
        is left alone (so the count is of the rows that changed); at most one row of
        ``source`` should match a row of ``name``. Batched as :meth:`update` is.
        """
        t = self.table(name)
        alias, cond = self._condition(t, where)
        keys = self._projections(t, dict(on), alias)
        src = ident("_src")
        conds = [cond] if cond else []
        conds += [f"{src}.{ident(col)} = {value}" for col, value in keys.items()]
        conds += [f"{alias}.{ident(c)} IS DISTINCT FROM {src}.{ident(s)}" for c, s in set.items()]
        assign = ", ".join(f"{ident(c)} = {src}.{ident(s)}" for c, s in set.items())
        with self._rows(source) as rows:
            base = (
                f"UPDATE {ident(name)} AS {alias} SET {assign} "
                f"FROM ({self._compile(rows)}) AS {src}"
            )
            return self._batched(name, alias, base, " AND ".join(conds))

    def replace_rows(self, name: str, rows: Rows, where: Where) -> int:
        """Delete the rows of ``name`` matching ``where`` and insert ``rows``, in one
        transaction: should the insert fail, the old rows are still there. Returns the rows
        inserted. The usual use is a partition: ``where={"as_of": t}`` with the rows of ``t``.
        ``rows`` are computed after the delete, so they must not read ``name`` itself.

        Examples
        --------
        >>> import datetime as dt, pyarrow as pa
        >>> from segmint.warehouse import connect
        >>> wh = connect("duckdb://:memory:")
        >>> t1, t2 = dt.datetime(2024, 1, 1), dt.datetime(2024, 2, 1)
        >>> wh.ensure_table("scores", {"as_of": "TIMESTAMP", "id": "VARCHAR"})
        >>> wh.insert("scores", pa.table({"as_of": [t1, t2], "id": ["a", "b"]}))
        2
        >>> new = pa.table({"as_of": [t2, t2], "id": ["c", "d"]})
        >>> wh.replace_rows("scores", new, {"as_of": t2})
        2
        >>> sorted(wh.to_arrow("scores")["id"].to_pylist())
        ['a', 'c', 'd']
        """
        alias, cond = self._where(name, where)
        with self._rows(rows) as src:
            insert = self._insert_sql(name, src)
            with self.transaction():
                self.execute(f"DELETE FROM {ident(name)} AS {alias}{cond}")
                return self.execute(insert)

    def upsert(self, name: str, rows: Rows, key: Sequence[str]) -> int:
        """Replace the rows of ``name`` whose ``key`` columns equal those of a row of ``rows``
        by ``rows``, and add the others, in one transaction. Returns the rows written.

        Rows are matched with ``=``, so a NULL key never replaces anything. ``rows`` are
        computed after the delete, so they must not read ``name`` itself.
        """
        if not key:
            raise ValueError("upsert needs at least one key column, got key=[]")
        with self._rows(rows) as src:
            match = " AND ".join(f"_new.{ident(k)} = _old.{ident(k)}" for k in key)
            delete = (
                f"DELETE FROM {ident(name)} AS _old WHERE EXISTS "
                f"(SELECT 1 FROM ({self._compile(src)}) AS _new WHERE {match})"
            )
            insert = self._insert_sql(name, src)
            with self.transaction():
                self.execute(delete)
                return self.execute(insert)

    def replace_table(self, name: str, rows: Rows) -> int:
        """Replace table ``name`` (created if missing) by ``rows``, schema and all; return its
        row count.

        The rows are written to a staging table first, then :meth:`swap` puts it in place, so
        ``rows`` may read ``name`` itself, a failure while computing them leaves the old
        table, and a reader sees the old table or the new one.
        """
        stage = f"_stage_{uuid.uuid4().hex[:12]}"
        with self._rows(rows) as src:
            self.execute(f"CREATE TABLE {ident(stage)} AS {self._compile(src)}")
        try:
            self.swap(stage, name)
        except BaseException:
            self.drop(stage)
            raise
        return self.count(name)

    def swap(self, stage: str, target: str) -> None:
        """Replace table ``target`` by the stored table ``stage``, which takes its name.

        No rows are copied. Atomic where :attr:`Capabilities.transactional_ddl`: should the
        rename fail, ``target`` is as it was.
        """
        with self.transaction():
            self.execute(f"DROP TABLE IF EXISTS {ident(target)}")
            self.execute(f"ALTER TABLE {ident(stage)} RENAME TO {ident(target)}")

    def rename(self, old: str, new: str) -> None:
        """Rename table ``old`` to ``new``; an error when ``new`` exists (see :meth:`swap`)."""
        self.execute(f"ALTER TABLE {ident(old)} RENAME TO {ident(new)}")

    def vacuum(self) -> None:  # pragma: no cover - overridden
        """Reclaim deleted rows' space and refresh statistics; every backend overrides this."""
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block's statements in one transaction: committed when it ends, rolled back
        when it raises."""
        self.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    # --- helpers -------------------------------------------------------------------------

    @contextmanager
    def _rows(self, rows: Rows) -> Iterator[ir.Table]:
        """``rows`` as an expression: Arrow data is loaded into a temporary table first."""
        if isinstance(rows, pa.Table):
            name = f"_rows_{uuid.uuid4().hex[:12]}"
            self.import_arrow(name, rows)
            try:
                yield self.table(name)
            finally:
                self.drop(name)
        elif isinstance(rows, ir.Table):
            yield rows
        else:
            raise TypeError(f"rows={type(rows).__name__}: expected an Ibis or a pyarrow Table")

    def _compile(self, expr: ir.Table) -> str:
        """SQL for ``expr``, its in-memory tables registered with the engine."""
        self.ibis._run_pre_execute_hooks(expr)
        return str(self.ibis.compile(expr))

    def _insert_sql(self, name: str, rows: ir.Table) -> str:
        cols = ", ".join(ident(c) for c in rows.columns)
        return (
            f"INSERT INTO {ident(name)} ({cols}) SELECT {cols} FROM ({self._compile(rows)}) AS _new"
        )

    @staticmethod
    def _predicate(t: ir.Table, where: Where) -> ir.BooleanValue | Deferred | None:
        if where is None:
            return None
        if isinstance(where, ir.BooleanValue | Deferred):
            return where
        if isinstance(where, Mapping):
            if not where:
                return None
            return ibis.and_(*(t[c].isnull() if v is None else t[c] == v for c, v in where.items()))
        raise TypeError(
            f"where={type(where).__name__}: expected {{column: value}}, an Ibis boolean "
            "expression or None"
        )

    @staticmethod
    def _value(t: ir.Table, column: str, value: object) -> ir.Value:
        if isinstance(value, ir.Value):
            return value
        return ibis.literal(value, type=t[column].type())

    def _flat(self, query: ir.Table) -> tuple[str, sge.Select]:
        """Ibis's SELECT for ``query`` (a filter or projection of one table) and the alias
        it gives the table."""
        self.ibis._run_pre_execute_hooks(query)
        select = self.ibis.compiler.to_sqlglot(query)
        source = select.args.get("from_") if isinstance(select, sge.Select) else None
        if (
            source is None
            or not isinstance(source.this, sge.Table)
            or select.args.get("joins")
            or select.args.get("with_")
        ):  # pragma: no cover - Ibis compiles a filter or projection of a table flat
            raise TypeError(f"cannot turn this expression into a statement: {select.sql()}")
        return source.this.alias_or_name, select

    def _condition(self, t: ir.Table, where: Where) -> tuple[str, str]:
        """(the quoted alias of ``t``, the SQL of ``where`` over it, or empty)."""
        pred = self._predicate(t, where)
        alias, select = self._flat(t.filter(pred) if pred is not None else t)
        cond = select.args.get("where")
        return ident(alias), self._render(cond.this) if cond is not None else ""

    def _projections(
        self, t: ir.Table, values: Mapping[str, ir.Value], alias: str
    ) -> dict[str, str]:
        """The SQL of each expression over ``t``, its columns qualified by ``alias``."""
        if not values:
            return {}
        own, select = self._flat(t.select(**{f"_v{i}": v for i, v in enumerate(values.values())}))
        out = {}
        for name, node in zip(values, select.expressions, strict=True):
            node = node.this if isinstance(node, sge.Alias) else node
            requalified = node.transform(
                lambda n: (
                    sge.column(n.name, table=alias.strip('"'), quoted=True)
                    if isinstance(n, sge.Column) and n.table == own
                    else n
                )
            )
            out[name] = self._render(requalified)
        return out

    def _render(self, node: sge.Expression) -> str:
        return node.sql(dialect=self.ibis.compiler.dialect)

    def _where(self, name: str, where: Where) -> tuple[str, str]:
        """(the alias of ``name``, `` WHERE ...`` or empty) for a DELETE."""
        alias, cond = self._condition(self.table(name), where)
        return alias, f" WHERE {cond}" if cond else ""

    def _batched(self, name: str, alias: str, statement: str, cond: str) -> int:
        """Run an UPDATE once per batch of :meth:`_batches`; return the rows changed."""
        total = 0
        for batch in self._batches(name, alias):
            both = " AND ".join(c for c in (batch, cond) if c)
            total += self.execute(f"{statement} WHERE {both}" if both else statement)
        return total

    def _batches(self, name: str, alias: str) -> list[str]:
        """Predicates splitting ``name`` for an UPDATE: one batch (an empty predicate) unless
        the engine needs more (see DuckDB's)."""
        return [""]

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
