"""PostgreSQL warehouse, for teams that already run one. Needs the ``postgres`` extra."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlparse

import pyarrow as pa
import pyarrow.csv as pacsv

from segmint.errors import ConfigError, StoreUnavailable
from segmint.sql import ident
from segmint.warehouse._base import PG_TYPES, IbisWarehouse

_ARROW_PG = {
    pa.string(): "TEXT",
    pa.large_string(): "TEXT",
    pa.int64(): "BIGINT",
    pa.int32(): "BIGINT",
    pa.float64(): "DOUBLE PRECISION",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
}


class PostgresWarehouse(IbisWarehouse):
    """A PostgreSQL database; ``?schema=NAME`` keeps segmint's tables in their own schema."""

    type_names: ClassVar[dict[str, str]] = PG_TYPES

    def __init__(self, url: str) -> None:
        try:
            import ibis
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError(
                f"warehouse {url} needs the postgres extra: pip install 'segmint[postgres]' ({exc})"
            ) from None
        parts = urlparse(url)
        query = parse_qs(parts.query)
        self.schema = query.get("schema", ["public"])[0]
        self.url = url
        kwargs: dict[str, Any] = {
            "host": parts.hostname or "localhost",
            "port": parts.port or 5432,
            "user": unquote(parts.username) if parts.username else "postgres",
            "password": unquote(parts.password) if parts.password else None,
            "database": parts.path.lstrip("/") or "postgres",
        }
        try:
            boot = psycopg.connect(
                host=kwargs["host"],
                port=kwargs["port"],
                user=kwargs["user"],
                password=kwargs["password"],
                dbname=kwargs["database"],
                autocommit=True,
                connect_timeout=5,
            )
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"cannot reach PostgreSQL at {url}: {exc}") from None
        with boot:
            boot.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(self.schema)}")
        self.ibis = ibis.postgres.connect(**kwargs, schema=self.schema)
        self.raw = self.ibis.con
        self.raw.autocommit = True
        # only our schema: with `public` on the path, an unqualified DROP or overwrite of a
        # table segmint has not created yet would hit the team's table of that name there
        self.raw.execute(f"SET search_path TO {ident(self.schema)}")
        self.raw.execute("SET TIME ZONE 'UTC'")

    def list_tables(self) -> list[str]:
        """Tables in the warehouse's schema and this session's temporary tables (as DuckDB lists
        them)."""
        rows = self.raw.execute(
            # this session's temp tables too (import_arrow's), as DuckDB lists them
            "SELECT DISTINCT table_name FROM information_schema.tables WHERE table_schema = %s "
            "OR table_schema = (SELECT nspname FROM pg_namespace WHERE oid = pg_my_temp_schema())",
            (self.schema,),
        ).fetchall()
        return [r[0] for r in rows]

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """psycopg's transaction block: the connection is in autocommit mode outside it."""
        with self.raw.transaction():
            yield

    def vacuum(self) -> None:
        """``VACUUM (ANALYZE)`` of the tables of the warehouse's schema only (a database-wide
        VACUUM would reach the team's other tables)."""
        rows = self.raw.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type = 'BASE TABLE' ORDER BY 1",
            (self.schema,),
        ).fetchall()
        if rows:
            names = ", ".join(f"{ident(self.schema)}.{ident(r[0])}" for r in rows)
            self.raw.execute(f"VACUUM (ANALYZE) {names}")

    def execute(self, sql: str) -> int:
        """Run ``sql`` (autocommit); return psycopg's row count, 0 when the statement has none."""
        cur = self.raw.execute(sql)
        return max(cur.rowcount, 0)

    def import_arrow(self, name: str, data: pa.RecordBatchReader | pa.Table) -> int:
        """Load Arrow batches into a temp table with COPY, batch by batch.

        In PostgreSQL's CSV format an unquoted empty field is NULL and ``""`` an empty string,
        which is exactly how pyarrow writes them.
        """
        schema = data.schema
        cols = ", ".join(f"{ident(f.name)} {_pg_type(f.type)}" for f in schema)
        # qualified: an unqualified name would drop a stored table when no temp one exists
        self.raw.execute(f"DROP TABLE IF EXISTS pg_temp.{ident(name)}")
        self.raw.execute(f"CREATE TEMP TABLE {ident(name)} ({cols})")
        batches = data.to_batches() if isinstance(data, pa.Table) else data
        total = 0
        names = ", ".join(ident(f.name) for f in schema)
        with (
            self.raw.cursor() as cur,
            cur.copy(f"COPY {ident(name)} ({names}) FROM STDIN WITH (FORMAT csv)") as copy,
        ):
            for batch in batches:
                if batch.num_rows == 0:
                    continue
                buf = io.BytesIO()
                pacsv.write_csv(
                    batch,
                    buf,
                    pacsv.WriteOptions(include_header=False, quoting_style="needed"),
                )
                copy.write(buf.getvalue())
                total += batch.num_rows
        return total


def _pg_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    # DuckDB hands over UBIGINT, HUGEINT (as decimal128) and FLOAT too; as TEXT they could
    # not be inserted into the numeric columns of a stored table
    if pa.types.is_integer(t):
        return "NUMERIC(20, 0)" if t == pa.uint64() else "BIGINT"
    if pa.types.is_floating(t):
        return "DOUBLE PRECISION"
    if pa.types.is_decimal(t):
        return f"NUMERIC({t.precision}, {t.scale})"
    return _ARROW_PG.get(t, "TEXT")
