"""The warehouse contract, part two: the statements Ibis does not express.

Every method here (insert, delete, update, update_from, replace_rows, upsert, replace_table,
swap, rename, vacuum, transaction) runs on every backend of ``conftest.py`` with real tables,
and each test reads the rows back after the operation. Where a method claims to be one
transaction, a test makes its second statement fail and finds the old rows still there.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import ibis
import pyarrow as pa
import pytest

from segmint.warehouse import IbisWarehouse

T1 = dt.datetime(2024, 1, 1)
T2 = dt.datetime(2024, 2, 1, 12, 30)


def rows(wh: IbisWarehouse, name: str, *order_by: str) -> list[dict[str, object]]:
    return wh.to_arrow(wh.table(name).order_by(list(order_by))).to_pylist()


def stays(wh: IbisWarehouse) -> None:
    """A small ``stays`` table: (id, segment, entered, exited), one stay closed."""
    wh.ensure_table(
        "stays", {"id": "VARCHAR", "seg": "VARCHAR", "entered": "TIMESTAMP", "exited": "TIMESTAMP"}
    )
    wh.insert(
        "stays",
        pa.table(
            {
                "id": ["a", "b", "c", None],
                "seg": ["s", "s", "t", "s"],
                "entered": [T1, T1, T1, T1],
                "exited": [None, T2, None, None],
            },
            schema=pa.schema(
                [
                    ("id", pa.string()),
                    ("seg", pa.string()),
                    ("entered", pa.timestamp("us")),
                    ("exited", pa.timestamp("us")),
                ]
            ),
        ),
    )


def poison() -> ibis.Table:
    """Rows whose computation fails inside the engine (a text that is no number)."""
    return ibis.memtable({"id": ["x"]}).mutate(n=ibis.literal("not a number").cast("int64"))


# --- insert -----------------------------------------------------------------------------


def test_insert_appends_arrow_rows_and_an_expression_matching_columns_by_name(
    wh: IbisWarehouse,
) -> None:
    """insert: Arrow and Ibis rows land in the named columns, the rest NULL, counted."""
    wh.ensure_table("t", {"id": "VARCHAR", "n": "BIGINT", "f": "DOUBLE"})
    assert wh.insert("t", pa.table({"n": [1, 2], "id": ["a", "b"]})) == 2
    t = wh.table("t")
    # an expression over the table itself sees it as it was before the insert
    assert wh.insert("t", t.select(id=t.id + "2", f=t.n.cast("float64") / 2)) == 2
    assert rows(wh, "t", "id") == [
        {"id": "a", "n": 1, "f": None},
        {"id": "a2", "n": None, "f": 0.5},
        {"id": "b", "n": 2, "f": None},
        {"id": "b2", "n": None, "f": 1.0},
    ]
    assert wh.insert("t", pa.table({"id": pa.array([], pa.string())})) == 0
    assert wh.count("t") == 4
    assert not [n for n in wh.list_tables() if n.startswith("_rows_")]  # its staging is gone


def test_insert_refuses_what_is_not_a_table(wh: IbisWarehouse) -> None:
    """insert: a list of dicts is a TypeError naming what it got, not a silent no-op."""
    wh.ensure_table("t", {"id": "VARCHAR"})
    with pytest.raises(TypeError, match="rows=list: expected an Ibis or a pyarrow Table"):
        wh.insert("t", [{"id": "a"}])  # type: ignore[arg-type]


# --- delete -----------------------------------------------------------------------------


def test_delete_by_columns_by_expression_and_everything(wh: IbisWarehouse) -> None:
    """delete: ``{column: value}`` (None is IS NULL), an expression with a NOT EXISTS over
    another table, and None (every row); each returns the rows it removed."""
    stays(wh)
    assert wh.delete("stays", {"id": None, "seg": "s"}) == 1
    assert wh.delete("stays", {"seg": "s", "exited": T2}) == 1
    assert rows(wh, "stays", "id") == [
        {"id": "a", "seg": "s", "entered": T1, "exited": None},
        {"id": "c", "seg": "t", "entered": T1, "exited": None},
    ]
    wh.import_arrow("keep", pa.table({"id": ["c"]}))
    s, keep = wh.table("stays"), wh.table("keep")
    assert wh.delete("stays", ~(keep.id == s.id).any()) == 1
    assert [r["id"] for r in rows(wh, "stays", "id")] == ["c"]
    assert wh.delete("stays", {"seg": "nothing"}) == 0
    assert wh.delete("stays", None) == 1
    assert wh.count("stays") == 0


# --- update -----------------------------------------------------------------------------


def test_update_sets_values_and_expressions_on_the_matching_rows(wh: IbisWarehouse) -> None:
    """update: a value (cast to the column), None (NULL) and an expression over the row, on
    the rows ``where`` picks, including through a NOT EXISTS over another table."""
    stays(wh)
    assert wh.update("stays", {"exited": None}, {"seg": "s", "exited": T2}) == 1
    wh.import_arrow("still_in", pa.table({"id": ["a"]}))
    s, still = wh.table("stays"), wh.table("still_in")
    closed = wh.update(
        "stays", {"exited": T2}, (s.seg == "s") & s.exited.isnull() & ~(still.id == s.id).any()
    )
    assert closed == 2  # b, and the stay without an id: NOT EXISTS, not NOT IN
    assert wh.update("stays", {"seg": s.seg + "!"}, s.id == "c") == 1
    assert rows(wh, "stays", "id") == [
        {"id": "a", "seg": "s", "entered": T1, "exited": None},
        {"id": "b", "seg": "s", "entered": T1, "exited": T2},
        {"id": "c", "seg": "t!", "entered": T1, "exited": None},
        {"id": None, "seg": "s", "entered": T1, "exited": T2},
    ]
    assert wh.update("stays", {"seg": "z"}, {"id": "nobody"}) == 0


def test_update_in_batches_changes_every_row(wh: IbisWarehouse) -> None:
    """update and update_from: a backend that batches large updates (DuckDB, by rowid)
    changes every matching row across its batches, and counts them all."""
    wh.import_arrow("src", pa.table({"k": [str(i) for i in range(7)], "v": list(range(7))}))
    wh.ensure_table("big", {"k": "VARCHAR", "v": "BIGINT", "w": "BIGINT"})
    wh.insert("big", wh.table("src"))
    if wh.capabilities.update_batch_rows is not None:  # batches of 2 rows: 4 statements
        wh.capabilities = dataclasses.replace(wh.capabilities, update_batch_rows=2)
        assert len(wh._batches("big", '"t0"')) == 4
    big = wh.table("big")
    assert wh.update("big", {"w": big.v * 10}, big.v >= 1) == 6
    assert wh.update_from("big", wh.table("src"), {"w": "v"}, {"k": big.k}, big.v < 3) == 3
    assert [(r["v"], r["w"]) for r in rows(wh, "big", "v")] == [
        (0, 0),
        (1, 1),
        (2, 2),
        (3, 30),
        (4, 40),
        (5, 50),
        (6, 60),
    ]


# --- update_from ------------------------------------------------------------------------


def test_update_from_sets_columns_from_the_matching_source_row(wh: IbisWarehouse) -> None:
    """update_from: rows of the table take the source's value where the source's keys equal
    expressions over the row; unmatched rows and rows already holding it are left alone."""
    wh.ensure_table("ev", {"cust": "VARCHAR", "anon": "VARCHAR", "who": "VARCHAR"})
    wh.insert(
        "ev",
        pa.table(
            {
                "cust": ["c1", None, None, "c2"],
                "anon": [None, "x", "y", "x"],
                "who": [None, None, "kept", "P2"],
            }
        ),
    )
    ids = pa.table(
        {
            "typ": ["cust", "anon", "cust"],
            "value": ["c1", "x", "c2"],
            "person": ["P1", "P1", "P2"],
        }
    )
    ev = wh.table("ev")
    key = {
        "typ": ibis.cases((ev.cust.notnull(), "cust"), (ev.anon.notnull(), "anon")),
        "value": ibis.coalesce(ev.cust, ev.anon),
    }
    assert wh.update_from("ev", ids, {"who": "person"}, key) == 2  # c2 already held P2
    assert rows(wh, "ev", "cust", "anon") == [
        {"cust": "c1", "anon": None, "who": "P1"},
        {"cust": "c2", "anon": "x", "who": "P2"},
        {"cust": None, "anon": "x", "who": "P1"},
        {"cust": None, "anon": "y", "who": "kept"},  # no source row: untouched
    ]
    moved = pa.table({"typ": ["anon"], "value": ["x"], "person": ["P9"]})
    assert wh.update_from("ev", moved, {"who": "person"}, key, ev.who.isnull()) == 0
    assert wh.update_from("ev", moved, {"who": "person"}, key, ev.who.notnull()) == 1
    assert [r["who"] for r in rows(wh, "ev", "cust", "anon")] == ["P1", "P2", "P9", "kept"]


# --- replace_rows, upsert ---------------------------------------------------------------


def scores(wh: IbisWarehouse) -> None:
    wh.ensure_table("scores", {"as_of": "TIMESTAMP", "id": "VARCHAR", "n": "BIGINT"})
    wh.insert(
        "scores",
        pa.table({"as_of": [T1, T1, T2], "id": ["a", "b", "a"], "n": [1, 2, 3]}),
    )


def test_replace_rows_replaces_one_partition_and_keeps_the_others(wh: IbisWarehouse) -> None:
    """replace_rows: the rows of ``where`` are those of ``rows`` afterwards; other rows stay."""
    scores(wh)
    wh.import_arrow("new", pa.table({"id": ["b"], "n": [20], "as_of": [T1]}))
    assert wh.replace_rows("scores", wh.table("new"), {"as_of": T1}) == 1
    assert wh.replace_rows("scores", pa.table({"id": ["z"], "as_of": [T2]}), {"as_of": T2}) == 1
    assert rows(wh, "scores", "as_of", "id") == [
        {"as_of": T1, "id": "b", "n": 20},
        {"as_of": T2, "id": "z", "n": None},
    ]
    # a partition that was not there is added
    assert wh.replace_rows("scores", pa.table({"id": ["q"], "n": [7]}), {"as_of": None}) == 1
    assert wh.count("scores") == 3


def test_replace_rows_is_one_transaction(wh: IbisWarehouse) -> None:
    """replace_rows: when the insert fails, the deleted rows are back."""
    scores(wh)
    before = rows(wh, "scores", "as_of", "id")
    with pytest.raises(Exception, match=r"(?i)convert|invalid|cast"):
        wh.replace_rows("scores", poison(), {"as_of": T1})
    assert rows(wh, "scores", "as_of", "id") == before
    wh.insert("scores", pa.table({"id": ["after"]}))  # the connection is usable again
    assert wh.count("scores") == 4


def test_upsert_replaces_rows_by_key_and_adds_the_new_ones(wh: IbisWarehouse) -> None:
    """upsert: rows sharing the key are replaced, new keys added, other rows kept; a NULL key
    replaces nothing."""
    scores(wh)
    new = pa.table({"as_of": [T1, T2, None], "id": ["a", "c", "a"], "n": [10, 30, None]})
    assert wh.upsert("scores", new, ["as_of", "id"]) == 3
    assert rows(wh, "scores", "as_of", "id") == [
        {"as_of": T1, "id": "a", "n": 10},
        {"as_of": T1, "id": "b", "n": 2},
        {"as_of": T2, "id": "a", "n": 3},
        {"as_of": T2, "id": "c", "n": 30},
        {"as_of": None, "id": "a", "n": None},
    ]
    assert wh.upsert("scores", pa.table({"id": ["a"], "n": [0]}), ["id"]) == 1
    assert [(r["id"], r["n"]) for r in rows(wh, "scores", "id", "n")] == [
        ("a", 0),
        ("b", 2),
        ("c", 30),
    ]
    with pytest.raises(ValueError, match=r"key=\[\]"):
        wh.upsert("scores", pa.table({"id": ["a"]}), [])


def test_upsert_is_one_transaction(wh: IbisWarehouse) -> None:
    """upsert: when the insert fails, the rows it would have replaced are still there."""
    scores(wh)
    before = rows(wh, "scores", "as_of", "id")
    with pytest.raises(Exception, match=r"(?i)convert|invalid|cast"):
        wh.upsert("scores", poison().mutate(id=ibis.literal("a")), ["id"])
    assert rows(wh, "scores", "as_of", "id") == before


# --- replace_table, swap, rename --------------------------------------------------------


def test_replace_table_takes_the_new_schema_and_rows(wh: IbisWarehouse) -> None:
    """replace_table: creates a missing table, then replaces it whole (schema too), from
    Arrow or from an expression over the table itself; the staging leaves nothing behind."""
    assert wh.replace_table("ids", pa.table({"id": ["a", "b"], "n": [1, 2]})) == 2
    ids = wh.table("ids")
    assert wh.replace_table("ids", ids.filter(ids.n > 1).select(id=ids.id, x=ids.n * 2.5)) == 1
    assert list(wh.table("ids").columns) == ["id", "x"]
    assert rows(wh, "ids", "id") == [{"id": "b", "x": 5.0}]
    assert sorted(n for n in wh.list_tables() if not n.startswith("ibis_")) == ["ids"]


def test_replace_table_failing_leaves_the_old_table(wh: IbisWarehouse) -> None:
    """replace_table: rows that fail to compute leave the old table and no staging table."""
    wh.replace_table("ids", pa.table({"id": ["a"]}))
    with pytest.raises(Exception, match=r"(?i)convert|invalid|cast"):
        wh.replace_table("ids", poison())
    assert rows(wh, "ids", "id") == [{"id": "a"}]
    assert not [n for n in wh.list_tables() if n.startswith("_stage_")]


def test_swap_replaces_the_target_by_the_stage(wh: IbisWarehouse) -> None:
    """swap: the stage takes the target's name (old target gone, stage gone), also when
    there was no target yet."""
    wh.replace_table("stage", pa.table({"id": ["new"]}))
    wh.swap("stage", "live")
    assert rows(wh, "live", "id") == [{"id": "new"}]
    wh.replace_table("stage", pa.table({"id": ["newer"], "n": [1]}))
    wh.swap("stage", "live")
    assert rows(wh, "live", "id") == [{"id": "newer", "n": 1}]
    assert not wh.has_table("stage")


def test_swap_failing_leaves_the_target(wh: IbisWarehouse) -> None:
    """swap: atomic where the backend declares transactional DDL: with no stage to rename,
    the dropped target comes back."""
    if not wh.capabilities.transactional_ddl:
        pytest.skip("this backend does not declare transactional DDL")
    wh.replace_table("live", pa.table({"id": ["old"]}))
    with pytest.raises(Exception, match=r"(?i)does not exist|not found"):
        wh.swap("no_such_stage", "live")
    assert rows(wh, "live", "id") == [{"id": "old"}]


def test_rename_moves_a_table_and_refuses_to_overwrite(wh: IbisWarehouse) -> None:
    """rename: the rows move to the new name; renaming onto an existing table is an error
    that leaves both."""
    wh.replace_table("a", pa.table({"id": ["1"]}))
    wh.rename("a", "b")
    assert (wh.has_table("a"), rows(wh, "b", "id")) == (False, [{"id": "1"}])
    wh.replace_table("a", pa.table({"id": ["2"]}))
    with pytest.raises(Exception, match=r"(?i)exists|already|conflict"):
        wh.rename("a", "b")
    assert (rows(wh, "a", "id"), rows(wh, "b", "id")) == ([{"id": "2"}], [{"id": "1"}])


# --- vacuum, transaction ----------------------------------------------------------------


def test_vacuum_keeps_every_row_after_deletes(wh: IbisWarehouse) -> None:
    """vacuum: runs on the backend (PostgreSQL's VACUUM refuses a transaction block; only
    the warehouse's own tables) and leaves the rows and the connection as they were."""
    scores(wh)
    wh.delete("scores", {"id": "b"})
    wh.vacuum()
    wh.vacuum()
    assert [r["n"] for r in rows(wh, "scores", "n")] == [1, 3]
    assert wh.insert("scores", pa.table({"id": ["c"]})) == 1


def test_transaction_commits_or_rolls_back_rows_and_ddl(wh: IbisWarehouse) -> None:
    """transaction: the block's changes are kept when it ends and undone when it raises,
    tables it created included where the backend declares transactional DDL."""
    scores(wh)
    with wh.transaction():
        wh.delete("scores", {"id": "b"})
    assert wh.count("scores") == 2
    with pytest.raises(RuntimeError, match="stop"), wh.transaction():
        wh.delete("scores", None)
        wh.ensure_table("made_inside", {"x": "BIGINT"})
        raise RuntimeError("stop")
    assert wh.count("scores") == 2
    assert wh.has_table("made_inside") is not wh.capabilities.transactional_ddl
