"""The warehouse contract: one suite every backend must pass (DuckDB file, PostgreSQL schema).

Shared code (ingest, identities, profiles) only talks to a warehouse through these calls, so a
behaviour that differs here is a behaviour that differs for the user between backends.
Backend differences are modelled as data on :class:`Backend`, never as name checks.
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from decimal import Decimal

import ibis
import pyarrow as pa

from segmint.sql import ident
from segmint.warehouse import IbisWarehouse, Warehouse, connect
from tests.warehouse.conftest import Backend


def rows(wh: IbisWarehouse, name: str, order_by: str) -> list[dict[str, object]]:
    return wh.to_arrow(wh.table(name).order_by(order_by)).to_pylist()


def bits(x: float | None) -> bytes | None:
    """The exact IEEE-754 bits of a float (so 0.0 != -0.0 and NaN == NaN)."""
    return None if x is None else struct.pack("<d", x)


# --- ensure_table ------------------------------------------------------------------------


def test_a_new_warehouse_is_empty_and_satisfies_the_protocol(wh: IbisWarehouse) -> None:
    assert isinstance(wh, Warehouse)
    assert wh.list_tables() == []
    assert not wh.has_table("order_lines")
    assert wh.count("order_lines") == 0


def test_ensure_table_creates_the_table_with_the_declared_types(wh: IbisWarehouse) -> None:
    wh.ensure_table(
        "t",
        {"s": "VARCHAR", "i": "BIGINT", "f": "DOUBLE", "b": "BOOLEAN", "ts": "TIMESTAMP"},
    )
    assert wh.has_table("t")
    assert "t" in wh.list_tables()
    assert wh.count("t") == 0
    schema = wh.table("t").schema()
    assert list(schema.names) == ["s", "i", "f", "b", "ts"]
    assert [str(t).removesuffix("(6)") for t in schema.types] == [
        "string",
        "int64",
        "float64",
        "boolean",
        "timestamp",
    ]
    wh.execute(
        "INSERT INTO t VALUES ('x', 9007199254740993, 2.5, TRUE, TIMESTAMP '2011-12-09 12:50:00')"
    )
    assert wh.to_arrow("t").to_pylist() == [
        {
            "s": "x",
            "i": 9007199254740993,
            "f": 2.5,
            "b": True,
            "ts": dt.datetime(2011, 12, 9, 12, 50),
        }
    ]


def test_ensure_table_adds_missing_columns_and_keeps_the_rows(wh: IbisWarehouse) -> None:
    wh.ensure_table("t", {"id": "BIGINT", "s": "VARCHAR"})
    assert wh.execute("INSERT INTO t VALUES (1, 'a'), (2, NULL)") == 2

    wider = {"id": "BIGINT", "s": "VARCHAR", "f": "DOUBLE", "ts": "TIMESTAMP", "b": "BOOLEAN"}
    wh.ensure_table("t", wider)
    wh.ensure_table("t", wider)  # idempotent
    wh.ensure_table("t", {"id": "BIGINT"})  # a narrower schema never drops a column

    assert list(wh.table("t").columns) == ["id", "s", "f", "ts", "b"]
    assert rows(wh, "t", "id") == [
        {"id": 1, "s": "a", "f": None, "ts": None, "b": None},
        {"id": 2, "s": None, "f": None, "ts": None, "b": None},
    ]
    wh.execute("INSERT INTO t (id, f, b) VALUES (3, 0.5, FALSE)")
    assert rows(wh, "t", "id")[2] == {"id": 3, "s": None, "f": 0.5, "ts": None, "b": False}


def test_ensure_table_accepts_date_columns(wh: IbisWarehouse) -> None:
    # ingest stores a non-canonical source with the types DuckDB sniffs, DATE among them
    wh.ensure_table("launches", {"sku": "VARCHAR", "launched": "DATE"})
    wh.import_arrow(
        "launches_in",
        pa.table({"sku": ["A", "B"], "launched": [dt.date(2020, 1, 2), None]}),
    )
    wh.execute("INSERT INTO launches SELECT sku, launched FROM launches_in")
    assert rows(wh, "launches", "sku") == [
        {"sku": "A", "launched": dt.date(2020, 1, 2)},
        {"sku": "B", "launched": None},
    ]


# --- import_arrow --------------------------------------------------------------------------

FLOATS = [0.1 + 0.2, 1 / 3, 5e-324, 1.7976931348623157e308, -0.0, float("inf"), float("nan")]
ODD_TEXT = [
    "",
    " padded ",
    'quote " and, comma',
    "two\nlines\r\nand CR",
    "back\\slash \\N",
    "\\.",
    "Zoë 東京 🎉",
    "NULL",
]


def sample() -> pa.Table:
    """Values that break naive loaders: NULL vs '', quoting, float extremes, µs timestamps."""
    n = len(ODD_TEXT) + 2
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "s": pa.array([*ODD_TEXT, None, "plain"], pa.string()),
            "i": pa.array([2**63 - 1, -(2**63), 0, None, *range(n - 4)], pa.int64()),
            "f": pa.array([*FLOATS, None, 2.5, -1e-300], pa.float64()),
            "b": pa.array([True, False, None] * 3 + [True], pa.bool_()),
            "ts": pa.array(
                [
                    dt.datetime(2011, 12, 9, 12, 50, 0, 1),
                    None,
                    dt.datetime(1970, 1, 1),
                    dt.datetime(1899, 12, 31, 23, 59, 59, 999999),
                    dt.datetime(2038, 1, 19, 3, 14, 8),
                    dt.datetime(2011, 3, 27, 1, 30),  # no such local time in London: not shifted
                    dt.datetime(2000, 2, 29),
                    dt.datetime(2024, 12, 31, 23, 59, 59),
                    dt.datetime(2010, 12, 1, 8, 26),
                    dt.datetime(9999, 12, 31, 23, 59, 59),
                ],
                pa.timestamp("us"),
            ),
        }
    )


def assert_same_values(got: pa.Table, want: pa.Table) -> None:
    assert got.column_names == want.column_names
    assert got.num_rows == want.num_rows
    g = got.sort_by("id").to_pylist()
    w = want.sort_by("id").to_pylist()
    for a, b in zip(g, w, strict=True):
        assert bits(a.pop("f")) == bits(b.pop("f")), a["id"]
        assert a == b


def test_import_arrow_table_round_trips_every_value(wh: IbisWarehouse) -> None:
    data = sample()
    assert wh.import_arrow("incoming", data) == data.num_rows
    assert wh.has_table("incoming")
    assert wh.count("incoming") == data.num_rows
    got = wh.to_arrow("incoming")
    assert [str(t) for t in got.schema.types] == [
        "int64",
        "string",
        "int64",
        "double",
        "bool",
        "timestamp[us]",
    ]
    assert_same_values(got, data)
    # NULL and '' stay different things, in SQL as well
    nulls = wh.to_arrow(wh.ibis.sql("SELECT count(*) AS n FROM incoming WHERE s IS NULL"))
    empties = wh.to_arrow(wh.ibis.sql("SELECT count(*) AS n FROM incoming WHERE s = ''"))
    assert (nulls["n"][0].as_py(), empties["n"][0].as_py()) == (1, 1)


def test_import_arrow_streams_a_reader_of_several_batches(wh: IbisWarehouse) -> None:
    data = sample()
    # an empty batch in the middle must not end the stream
    parts, start = [], 0
    for size in (3, 0, 1, 4, 2):
        parts.append(pa.RecordBatch.from_pylist(data.slice(start, size).to_pylist(), data.schema))
        start += size
    reader = pa.RecordBatchReader.from_batches(data.schema, parts)
    assert wh.import_arrow("incoming", reader) == 10
    assert wh.count("incoming") == 10
    assert_same_values(wh.to_arrow("incoming"), data)


def test_import_arrow_of_many_rows_counts_them_all(wh: IbisWarehouse) -> None:
    n = 25_000
    data = pa.table({"k": pa.array(range(n), pa.int64()), "v": [f"v{i}" for i in range(n)]})
    reader = pa.RecordBatchReader.from_batches(data.schema, data.to_batches(max_chunksize=4096))
    assert wh.import_arrow("big", reader) == n
    total = wh.to_arrow(wh.table("big").aggregate(s=ibis._.k.sum(), n=ibis._.count()))
    assert total.to_pylist() == [{"s": n * (n - 1) // 2, "n": n}]


def test_import_arrow_replaces_an_earlier_import_of_the_same_name(wh: IbisWarehouse) -> None:
    wh.import_arrow("incoming", pa.table({"a": [1, 2, 3]}))
    assert wh.import_arrow("incoming", pa.table({"b": ["x"]})) == 1
    assert wh.to_arrow("incoming").to_pylist() == [{"b": "x"}]


def test_import_arrow_is_temporary_and_spares_a_stored_table_of_that_name(url: str) -> None:
    with connect(url) as wh:
        wh.ensure_table("kept", {"a": "BIGINT"})
        wh.execute("INSERT INTO kept VALUES (1), (2)")
        assert wh.import_arrow("kept", pa.table({"a": [7, 8, 9]})) == 3
        assert wh.import_arrow("scratch", pa.table({"a": [1]})) == 1
    with connect(url) as wh:
        assert not wh.has_table("scratch")
        assert sorted(wh.to_arrow("kept")["a"].to_pylist()) == [1, 2]


# --- execute -------------------------------------------------------------------------------


def test_execute_returns_the_number_of_rows_a_statement_changed(wh: IbisWarehouse) -> None:
    assert wh.execute("CREATE TABLE t (id BIGINT, s TEXT)") == 0
    assert wh.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'b')") == 3
    assert wh.execute("UPDATE t SET s = 'c' WHERE s = 'b'") == 2
    assert wh.execute("UPDATE t SET s = 'z' WHERE id > 100") == 0
    assert wh.execute("INSERT INTO t SELECT id + 10, s FROM t WHERE s = 'c'") == 2
    assert wh.execute("DELETE FROM t WHERE id >= 3") == 3
    assert wh.execute("DELETE FROM t WHERE id >= 3") == 0
    assert rows(wh, "t", "id") == [{"id": 1, "s": "a"}, {"id": 2, "s": "c"}]


# --- write, to_arrow, count, list, drop ------------------------------------------------------


def test_write_creates_then_replaces_a_table_from_an_expression(wh: IbisWarehouse) -> None:
    wh.import_arrow(
        "lines",
        pa.table({"order_id": ["o1", "o1", "o2", "o3"], "amount": [2.5, 1.25, -4.0, 10.0]}),
    )
    lines = wh.table("lines")
    wh.write("totals", lines.group_by("order_id").aggregate(total=lines.amount.sum()))
    assert wh.count("totals") == 3
    assert rows(wh, "totals", "order_id") == [
        {"order_id": "o1", "total": 3.75},
        {"order_id": "o2", "total": -4.0},
        {"order_id": "o3", "total": 10.0},
    ]
    # replaced, with a different shape
    wh.write("totals", lines.filter(lines.amount > 0).select("order_id"))
    assert list(wh.table("totals").columns) == ["order_id"]
    assert wh.count("totals") == 3
    # replaced from an expression over itself
    t = wh.table("totals")
    wh.write("totals", t.filter(t.order_id != "o1").distinct())
    assert rows(wh, "totals", "order_id") == [{"order_id": "o3"}]


def test_write_result_outlives_the_connection(url: str) -> None:
    with connect(url) as wh:
        wh.import_arrow("src", pa.table({"a": [1, 2, 3]}))
        wh.write("dst", wh.table("src").mutate(b=ibis._.a * 2))
    with connect(url) as wh:
        assert wh.list_tables() == ["dst"]
        assert rows(wh, "dst", "a") == [{"a": 1, "b": 2}, {"a": 2, "b": 4}, {"a": 3, "b": 6}]


def test_to_arrow_reads_a_table_by_name_or_an_expression(wh: IbisWarehouse) -> None:
    wh.ensure_table("t", {"c": "VARCHAR", "x": "DOUBLE"})
    wh.execute("INSERT INTO t VALUES ('a', 1.5), ('a', 2.0), ('b', NULL), (NULL, 4.0)")
    by_name = wh.to_arrow("t")
    assert isinstance(by_name, pa.Table)
    assert by_name.num_rows == 4
    t = wh.table("t")
    agg = wh.to_arrow(
        t.group_by("c")
        .aggregate(n=t.count(), s=t.x.sum())
        .order_by(ibis.asc("c", nulls_first=True))
    )
    assert agg.to_pylist() == [
        {"c": None, "n": 1, "s": 4.0},
        {"c": "a", "n": 2, "s": 3.5},
        {"c": "b", "n": 1, "s": None},
    ]


def test_count_list_and_drop(wh: IbisWarehouse) -> None:
    wh.ensure_table("a", {"x": "BIGINT"})
    wh.ensure_table("b", {"x": "BIGINT"})
    wh.execute("INSERT INTO b SELECT * FROM (VALUES (1), (2), (3)) v(x)")
    assert sorted(wh.list_tables()) == ["a", "b"]
    assert (wh.count("a"), wh.count("b")) == (0, 3)
    wh.drop("b")
    wh.drop("b")  # dropping what is not there is not an error
    wh.drop("never_existed")
    assert wh.list_tables() == ["a"]
    assert not wh.has_table("b")
    assert wh.count("b") == 0


def test_never_touches_a_table_of_the_same_name_outside_its_namespace(
    wh: IbisWarehouse, backend: Backend
) -> None:
    """A PostgreSQL warehouse lives in its own schema beside the team's other tables."""
    name = f"segmint_guard_{uuid.uuid4().hex[:8]}"
    theirs = f"{ident(backend.neighbour_schema)}.{ident(name)}"
    wh.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(backend.neighbour_schema)}")
    wh.execute(f"CREATE TABLE {theirs} (mine TEXT)")
    try:
        wh.execute(f"INSERT INTO {theirs} VALUES ('precious')")
        assert not wh.has_table(name)
        assert wh.count(name) == 0
        wh.drop(name)
        wh.write(name, ibis.memtable({"x": [1, 2]}))
        assert wh.count(name) == 2
        wh.drop(name)
        left = wh.to_arrow(wh.ibis.sql(f"SELECT mine FROM {theirs}"))
        assert left["mine"].to_pylist() == ["precious"]
    finally:
        wh.execute(f"DROP TABLE IF EXISTS {theirs}")


def test_import_arrow_keeps_every_numeric_type_a_number(wh: IbisWarehouse) -> None:
    """DuckDB hands over UBIGINT, HUGEINT (decimal128) and FLOAT columns; they stay numbers."""
    data = pa.table(
        {
            "i8": pa.array([-8, None], pa.int8()),
            "i16": pa.array([-16, 16], pa.int16()),
            "u32": pa.array([32, None], pa.uint32()),
            "u64": pa.array([2**64 - 1, 0], pa.uint64()),
            "f32": pa.array([1.5, -0.25], pa.float32()),
            "big": pa.array([7, -(10**30)], pa.decimal128(38, 0)),
            "money": pa.array([Decimal("2.55"), None], pa.decimal128(10, 2)),
        }
    )
    wh.import_arrow("n", data)
    assert wh.to_arrow("n").to_pylist() == data.to_pylist()
    # as ingest does: the quarantine's record numbers arrive as HUGEINT and go into a BIGINT
    wh.ensure_table("q", {"record": "BIGINT", "price": "DOUBLE"})
    # two statements: in one UNION, DuckDB would widen DECIMAL and FLOAT to FLOAT first
    assert wh.execute("INSERT INTO q (record, price) SELECT i16, money FROM n") == 2
    assert wh.execute("INSERT INTO q (record, price) SELECT big, f32 FROM n WHERE big > 0") == 1
    assert rows(wh, "q", "record") == [
        {"record": -16, "price": 2.55},
        {"record": 7, "price": 1.5},
        {"record": 16, "price": None},
    ]
