"""Outside ``segmint.warehouse``, no module sends SQL text (issue 16, item 2).

The warehouse's statements are methods of :class:`~segmint.warehouse.Warehouse` (see
``test_statements.py``); a module that still builds SQL strings is a module a new backend has
to be taught about. This test finds every ``.execute(<something>)``, ``.sql(...)`` and use of
a raw connection (``.raw.``, ``wh.raw``) in the package and fails on any module outside
``warehouse/`` that is not in :data:`ALLOWED` below. The list can only shrink: an entry whose
module no longer sends SQL fails too, so it is removed when its module is converted.
"""

from __future__ import annotations

import re
from pathlib import Path

import segmint

PACKAGE = Path(segmint.__file__).parent

#: a call that sends text to an engine: ``x.execute(<argument>)`` (an Ibis expression's
#: ``.execute()`` and a Redis pipeline's have none), ``x.sql(...)``, a raw connection
SENDS_SQL = re.compile(r"\.execute\(\s*(?!\))|\.sql\(|\.raw\.|\bwh\.raw\b")

#: module (relative to the package) -> why it may still send SQL text; only ever shrinks
ALLOWED = {
    # ingest (owned by another engineer, issue 16 follow-up): DuckDB's own file readers and
    # the staging connection; the batches it loads go into the warehouse through SQL today
    "ingest/_plan.py": "builds the DuckDB read_csv/read_json query that parses a source file",
    "ingest/_run.py": "opens the staging DuckDB connection (or the warehouse's own) for ingest",
    "ingest/_stage.py": "validates and deduplicates in the staging DuckDB, then appends by SQL",
    "ingest/_vocab.py": "maps raw values to the canonical vocabulary inside the staging DuckDB",
    "ingest/_derive.py": "derives order totals and returns with UPDATE statements after a load",
    "ingest/_fees.py": "marks fee lines (postage, bank charges) with an UPDATE after a load",
    # reading files is DuckDB's engine, not the warehouse: a local connection of its own
    "sources/_files.py": "reads CSV/JSON/Parquet files through DuckDB's readers and rejects",
    # segments.predictive (owned by another engineer): scores are written by DELETE + INSERT
    "segments/predictive/_score.py": "replaces a model's scores for an as-of (replace_rows next)",
    # recommend (owned by another engineer): the batch table is staged and swapped by SQL
    "recommend/_batch.py": "stages recommendations and swaps them in by hand (swap next)",
    "recommend/_source.py": "a docstring example creates its toy table with wh.execute",
    # the online store is SQLite, another boundary with its own protocol (OnlineStore)
    "realtime/_sqlite.py": "the SQLite online store's own statements, not the warehouse",
}


def senders() -> dict[str, int]:
    """Modules outside ``warehouse/`` and the number of SQL-sending calls in each."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("warehouse/"):
            continue
        hits = len(SENDS_SQL.findall(path.read_text(encoding="utf-8")))
        if hits:
            found[rel] = hits
    return found


def test_the_pattern_finds_sql_and_spares_ibis_and_redis() -> None:
    """The scanner itself: multi-line calls are found; ``expr.execute()`` and
    ``pipe.execute()`` are not SQL."""
    assert SENDS_SQL.search('wh.execute(\n    f"DELETE FROM t"\n)')
    assert SENDS_SQL.search("con.execute(sql, params)")
    assert SENDS_SQL.search("wh.ibis.sql('SELECT 1')")
    assert SENDS_SQL.search("cursor = wh.raw.cursor()")
    assert not SENDS_SQL.search("n = t.count().execute()")
    assert not SENDS_SQL.search("rows = pipe.execute() if ids else []")
    assert not SENDS_SQL.search("return privacy.raw(raw)")


def test_no_module_outside_the_warehouse_sends_sql_unless_listed() -> None:
    """Guards the boundary: a module that starts sending SQL text (or one of the six
    converted in issue 16 that goes back to it) fails here, named."""
    unlisted = {m: n for m, n in senders().items() if m not in ALLOWED}
    assert unlisted == {}, (
        f"these modules send SQL text outside segmint.warehouse: {unlisted}; use the "
        "Warehouse methods (insert, delete, update, update_from, replace_rows, upsert, "
        "replace_table, swap, rename, vacuum) instead"
    )


def test_the_allow_list_only_names_modules_that_still_send_sql() -> None:
    """The list can only shrink: a converted module must leave it."""
    stale = sorted(set(ALLOWED) - set(senders()))
    assert stale == [], f"remove from ALLOWED, they send no SQL any more: {stale}"


def test_the_converted_modules_send_none() -> None:
    """The modules converted in issue 16 (RFM, clusters, segment definitions, membership
    history, features, identities) stay off the list."""
    converted = {
        "segments/rfm/_store.py",
        "segments/clusters/_run.py",
        "segments/_run.py",
        "segments/membership.py",
        "features/_compute.py",
        "identity.py",
    }
    assert converted.isdisjoint(senders())
    assert converted.isdisjoint(ALLOWED)
