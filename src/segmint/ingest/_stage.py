"""Loading one source file: stage it, quarantine what fails, de-duplicate, write the rest.

Every record of a file ends in exactly one bucket, and :class:`FileResult` keeps the sum:
``records = loaded + already_loaded + duplicates + rejected`` (``rejected`` counts malformed
lines too). Warnings (a value removed, the row kept) are counted apart in ``nullified``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from segmint.config import ProjectConfig, SourceConfig
from segmint.errors import EmptySourceError, SchemaError, SourceError
from segmint.ingest._plan import Plan, build_plan, custom_plan, raw_line
from segmint.privacy._mask import display_row, mask_sql
from segmint.schema import INPUT_TABLES, Col, T
from segmint.sources import OpenedFile, error_reason, open_file
from segmint.sql import ident, lit
from segmint.warehouse import IbisWarehouse

LINEAGE = {
    Col.ROW_KEY: "VARCHAR",
    Col.SOURCE: "VARCHAR",
    Col.RUN_ID: "VARCHAR",
    Col.INGESTED_AT: "TIMESTAMP",
}
QUARANTINE_SCHEMA = {
    "run_id": "VARCHAR",
    "source": "VARCHAR",
    "file": "VARCHAR",
    "file_sha256": "VARCHAR",
    "record": "BIGINT",
    "rule": "VARCHAR",
    "column_name": "VARCHAR",
    "action": "VARCHAR",
    "message": "VARCHAR",
    "row": "VARCHAR",
    "ingested_at": "TIMESTAMP",
}
EXAMPLES_PER_RULE = 5


@dataclass
class FileResult:
    """What happened to one file; the counts add up to ``records``."""

    source: str
    path: str
    sha256: str
    status: str = "loaded"  # loaded | skipped | failed | empty
    records: int = 0
    loaded: int = 0
    updated: int = 0
    already_loaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    nullified: int = 0
    message: str = ""
    #: rule -> {"action": "rejected" | "nullified", "rows": n}
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.records == self.loaded + self.already_loaded + self.duplicates + self.rejected

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stored_schema(cfg: ProjectConfig, table_name: str) -> dict[str, str]:
    """Column -> DuckDB type of the warehouse table a canonical input table is stored in."""
    table = INPUT_TABLES[table_name]
    out: dict[str, str] = {}
    for c in table.columns:
        if c.name in cfg.pii:
            out[f"{c.name}_hash"] = "VARCHAR"
            out[f"{c.name}_enc"] = "VARCHAR"
        else:
            out[c.name] = {
                "string": "VARCHAR",
                "int": "BIGINT",
                "float": "DOUBLE",
                "bool": "BOOLEAN",
                "timestamp": "TIMESTAMP",
                "json": "VARCHAR",
            }[c.dtype]
    if table_name == "order_lines":
        out[Col.IS_RETURN] = "BOOLEAN"
        out[Col.IS_FEE] = "BOOLEAN"  # not a product: postage, a fee (segmint.fees)
    return {**out, **LINEAGE}


class FileLoader:
    """Loads files of one run. ``staging`` is a DuckDB connection prepared by the runner.

    With ``shared``, staging is a connection to the warehouse's own DuckDB database: staged
    rows go into the stored tables by plain SQL, with no copy through Arrow. Otherwise (a
    PostgreSQL warehouse) they are streamed over in Arrow batches.
    """

    def __init__(
        self,
        cfg: ProjectConfig,
        wh: IbisWarehouse,
        staging: Any,
        run_id: str,
        now: datetime,
        *,
        shared: bool = False,
    ) -> None:
        self.cfg, self.wh, self.staging, self.run_id, self.now = cfg, wh, staging, run_id, now
        self.shared = shared
        self.examples: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def _run(self, sql: str) -> int:
        """A statement on the warehouse side; the affected row count for DML."""
        if not self.shared:
            return self.wh.execute(sql)
        res = self.staging.execute(sql).fetchall()
        return int(res[0][0]) if res and len(res[0]) == 1 and isinstance(res[0][0], int) else 0

    def load(self, source: SourceConfig, path: Path, sha: str, tag: str) -> FileResult:
        result = FileResult(source.name, str(path), sha)
        opened: OpenedFile | None = None
        try:
            opened = open_file(self.staging, path, source.format, source.csv, tag, materialize=True)
            plan = self._plan(source, opened)
            self._stage(opened, plan)
            self._quarantine(source, opened, plan, result)
            _refuse_mostly_quarantined(source, result)
            self._write(source, plan, result)
        except EmptySourceError as exc:
            result.status, result.message = "empty", str(exc)
        except SourceError as exc:
            result.status, result.message = "failed", str(exc)
        except SchemaError as exc:
            result.status, result.message = "failed", str(exc)
        finally:
            if opened is not None:
                self._drop_staging(opened)
                opened.close()
        return result

    def _plan(self, source: SourceConfig, opened: OpenedFile) -> Plan:
        if source.canonical:
            table = INPUT_TABLES[source.table]
            return build_plan(
                self.cfg,
                source,
                table,
                opened.columns,
                opened.sql,
                self.now,
                line_checked=opened.fmt == "ndjson",
            )
        return custom_plan(self.staging, source, opened, frozenset(self.cfg.pii))

    def _stage(self, opened: OpenedFile, plan: Plan) -> None:
        try:
            self.staging.execute(f"CREATE OR REPLACE TEMP TABLE _stg AS {plan.sql}")
        except Exception as exc:  # an {expr: ...} mapping or an unreadable line
            msg = error_reason(exc)
            if "Binder Error" in msg or "Parser Error" in msg or "Catalog Error" in msg:
                raise SchemaError(
                    f"{opened.path}: a column expression does not run: {msg}"
                ) from None
            raise SourceError(f"{opened.path}: cannot be read: {msg}") from None

    # -- quarantine ----------------------------------------------------------------------
    def _quarantine(
        self, source: SourceConfig, opened: OpenedFile, plan: Plan, result: FileResult
    ) -> None:
        s = self.staging
        result.records = s.execute("SELECT count(*) FROM _stg").fetchone()[0]
        head = (
            f"{lit(self.run_id)} AS run_id, {lit(source.name)} AS source, "
            f"{lit(str(opened.path))} AS file, {lit(result.sha256)} AS file_sha256"
        )
        tail = f"{lit(self.now)} AS ingested_at"
        parts = [
            f"SELECT {head}, _rec AS record, _errors[1].rule AS rule, "
            f"_errors[1].col AS column_name, 'rejected' AS action, "
            f"array_to_string(list_concat(list_transform(_errors, e -> e.message), "
            f"list_transform(_warnings, e -> e.message)), '; ') AS message, _raw AS row, "
            f"{tail} FROM _stg WHERE len(_errors) > 0",
            f"SELECT {head}, _rec, w.rule, w.col, 'nullified', w.message, _raw, {tail} "
            f"FROM (SELECT _rec, _raw, unnest(_warnings) AS w FROM _stg "
            f"WHERE len(_errors) = 0 AND len(_warnings) > 0)",
        ]
        malformed = 0
        if opened.rejects_table and _exists(s, opened.rejects_table):
            # the reader may log a line once per scan (sniffing included): count lines
            malformed = s.execute(
                f"SELECT count(DISTINCT line) FROM {opened.rejects_table}"
            ).fetchone()[0]
            # the reader's message may quote the line: masked; the line itself is encrypted
            parts.append(
                f"SELECT {head}, line AS record, 'csv_malformed', NULL, 'rejected', "
                f"'line ' || line || ': ' || {mask_sql('error_message')}, "
                f"{raw_line('csv_line', secret=plan.secret)}, {tail} FROM "
                f"(SELECT DISTINCT ON (line) * FROM {opened.rejects_table})"
            )
        s.execute(f"CREATE OR REPLACE TEMP TABLE _q AS {' UNION ALL '.join(parts)}")
        counts = s.execute(
            "SELECT rule, action, count(*) FROM _q GROUP BY ALL ORDER BY 3 DESC"
        ).fetchall()
        result.rules = {rule: {"action": a, "rows": n} for rule, a, n in counts}
        result.rejected = sum(n for _r, a, n in counts if a == "rejected")
        result.nullified = sum(n for _r, a, n in counts if a == "nullified")
        result.records += malformed
        for rule, _a, _n in counts:
            rows = s.execute(
                f"SELECT record, message, row FROM _q WHERE rule = {lit(rule)} "
                f"ORDER BY record LIMIT {EXAMPLES_PER_RULE}"
            ).fetchall()
            self.examples.setdefault((source.name, rule), []).extend(
                {"file": Path(opened.path).name, "record": r, "message": m, "row": display_row(row)}
                for r, m, row in rows
            )
        self.wh.ensure_table(T.QUARANTINE, QUARANTINE_SCHEMA)
        self._run(
            f"DELETE FROM {T.QUARANTINE} WHERE file_sha256 = {lit(result.sha256)} "
            f"AND source = {lit(source.name)}"
        )
        if result.rejected or result.nullified:
            self._copy("_q", "_q_in", T.QUARANTINE, list(QUARANTINE_SCHEMA))

    # -- valid rows ----------------------------------------------------------------------
    def _write(self, source: SourceConfig, plan: Plan, result: FileResult) -> None:
        table = INPUT_TABLES.get(source.table)
        upsert = table is not None and table.mode == "upsert"
        ob = table.order_by if table and upsert and table.order_by in plan.stored else None
        order = f"{ident(ob)} DESC NULLS LAST, _rec DESC" if ob else "_rec DESC"
        cols = [*plan.stored, Col.ROW_KEY]
        lineage = (
            f"{lit(source.name)} AS {Col.SOURCE}, {lit(self.run_id)} AS {Col.RUN_ID}, "
            f"{lit(self.now)} AS {Col.INGESTED_AT}"
        )
        select = ", ".join(f"s.{ident(c)}" for c in cols)
        if upsert:  # few rows; the newest version of each key wins
            self.staging.execute(
                f"CREATE OR REPLACE TEMP TABLE _valid AS SELECT {select}, {lineage} FROM _stg s "
                f"WHERE len(_errors) = 0 "
                f"QUALIFY row_number() OVER (PARTITION BY {Col.ROW_KEY} ORDER BY {order}) = 1"
            )
        else:
            # the first copy of each key wins; found by hashing the repeated keys only,
            # which is much cheaper than a window over every row (most keys are unique)
            self.staging.execute(
                f"CREATE OR REPLACE TEMP TABLE _valid AS "
                f"WITH rep AS (SELECT {Col.ROW_KEY}, min(_rec) AS first FROM _stg "
                f"WHERE len(_errors) = 0 GROUP BY 1 HAVING count(*) > 1) "
                f"SELECT {select}, {lineage} FROM _stg s LEFT JOIN rep USING ({Col.ROW_KEY}) "
                f"WHERE len(s._errors) = 0 AND (rep.first IS NULL OR s._rec = rep.first)"
            )
        distinct = self.staging.execute("SELECT count(*) FROM _valid").fetchone()[0]
        result.duplicates = result.records - result.rejected - distinct
        target = table.stored_as if table else source.table
        schema = stored_schema(self.cfg, source.table) if table else {**plan.dtypes, **LINEAGE}
        self.wh.ensure_table(target, schema)
        all_cols = [*cols, Col.SOURCE, Col.RUN_ID, Col.INGESTED_AT]
        self._copy("_valid", "_incoming", None, all_cols)
        names = ", ".join(ident(c) for c in all_cols)
        tgt = ident(target)
        if upsert:
            # replace a stored row when the incoming one differs and is not older
            ob = table.order_by if table and table.order_by in plan.stored else None
            newer = (
                f" AND NOT EXISTS (SELECT 1 FROM _incoming i WHERE i.{Col.ROW_KEY} = "
                f"{tgt}.{Col.ROW_KEY} AND i.{ident(ob)} < {tgt}.{ident(ob)})"
                if ob
                else ""
            )
            result.updated = self._run(
                f"DELETE FROM {tgt} WHERE {Col.ROW_KEY} IN (SELECT {Col.ROW_KEY} FROM _incoming)"
                f" AND {_content(plan)} NOT IN (SELECT {_content(plan)} FROM _incoming){newer}"
            )
        # the stored keys that match are looked up first, so the anti-join's hash table holds
        # only those, not every key of a table that grows with each file
        inserted = self._run(
            f"INSERT INTO {tgt} ({names}) SELECT {names} FROM _incoming i WHERE NOT EXISTS "
            f"(SELECT 1 FROM (SELECT t.{Col.ROW_KEY} FROM {tgt} t WHERE t.{Col.ROW_KEY} IN "
            f"(SELECT {Col.ROW_KEY} FROM _incoming)) d WHERE d.{Col.ROW_KEY} = i.{Col.ROW_KEY})"
        )
        result.loaded = inserted
        result.already_loaded = distinct - inserted
        self._run("DROP TABLE IF EXISTS _incoming")

    def _copy(self, staged: str, temp: str, target: str | None, cols: list[str]) -> None:
        """Move a staging table to the warehouse side (as temp ``temp``, then into ``target``)."""
        names = ", ".join(ident(c) for c in cols)
        if self.shared:
            if target:
                self._run(f"INSERT INTO {ident(target)} ({names}) SELECT {names} FROM {staged}")
            else:
                self._run(f"ALTER TABLE {staged} RENAME TO {temp}")
            return
        reader = self.staging.execute(f"SELECT {names} FROM {staged}").to_arrow_reader(100_000)
        self.wh.import_arrow(temp, reader)
        if target:
            self.wh.execute(f"INSERT INTO {ident(target)} ({names}) SELECT {names} FROM {temp}")
            self.wh.execute(f"DROP TABLE IF EXISTS {temp}")

    def _drop_staging(self, opened: OpenedFile) -> None:
        for t in ("_stg", "_q", "_valid", "_incoming", opened.rejects_table, opened.temp_table):
            if t:
                self.staging.execute(f"DROP TABLE IF EXISTS {t}")


def quarantine_problem(source: SourceConfig, records: int, rules: dict[str, int]) -> str | None:
    """Why a file whose rows ``rules`` (rule -> rows rejected) set aside is refused, or None:
    more than ``max_quarantined_share`` of its ``records`` rows quarantined."""
    rejected = sum(rules.values())
    if not records or rejected / records <= source.max_quarantined_share:
        return None
    top = ", ".join(f"{r} {n:,}" for r, n in sorted(rules.items(), key=lambda x: -x[1])[:3])
    hint = (
        " (check csv: delimiter, header, quote and encoding)"
        if any(r == "csv_malformed" or r.endswith(("_required", "_type")) for r in rules)
        else ""
    )
    return (
        f"{rejected:,} of {records:,} rows ({rejected / records:.0%}) would be quarantined, "
        f"more than max_quarantined_share {source.max_quarantined_share:.0%}: {top}{hint}"
    )


def _refuse_mostly_quarantined(source: SourceConfig, result: FileResult) -> None:
    rejected = {r: v["rows"] for r, v in result.rules.items() if v["action"] == "rejected"}
    problem = quarantine_problem(source, result.records, rejected)
    if problem:
        raise SourceError(
            f"{result.path}: {problem}; nothing of this file was loaded, its quarantined "
            "rows are kept to show why"
        )


def _content(plan: Plan) -> str:
    """A hash of a row's stored values (encrypted PII left out: its nonce is random)."""
    cols = [c for c in plan.stored if not c.endswith("_enc")]
    return (
        "md5(concat_ws(chr(31), "
        + ", ".join(f"coalesce(CAST({ident(c)} AS VARCHAR), '\\N')" for c in cols)
        + "))"
    )


def _exists(con: Any, name: str) -> bool:
    return bool(
        con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchone()[
            0
        ]
    )


def safe_tag(text: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", text.lower())[:40]
