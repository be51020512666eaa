"""``segmint ingest``: load every source of a project, then rebuild the unified tables.

A run is idempotent: a file whose content (sha256) was loaded before is skipped, and rows are
keyed, so re-delivered rows never duplicate. New files matching a source's glob are appended.
A file that cannot be read fails alone; the run goes on and reports it.
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from segmint.config import ProjectConfig, SourceConfig
from segmint.errors import ConfigError, KeyMissingError
from segmint.identity import IdentityResult, resolve_identities
from segmint.ingest._derive import derive_tables
from segmint.ingest._fees import FeeLines, mark_fee_lines
from segmint.ingest._stage import FileLoader, FileResult, quarantine_problem, safe_tag
from segmint.ingest._vocab import load_vocabulary
from segmint.privacy import PiiCipher, load_master_key
from segmint.profiles import build_profiles
from segmint.schema import INPUT_TABLES, T
from segmint.sources import expand, sha256
from segmint.sql import lit
from segmint.warehouse import IbisWarehouse, connect
from segmint.warehouse._duckdb import DuckDBWarehouse, ingest_memory_limit

FILES_SCHEMA = {
    "run_id": "VARCHAR",
    "source": "VARCHAR",
    "path": "VARCHAR",
    "sha256": "VARCHAR",
    "status": "VARCHAR",
    "records": "BIGINT",
    "loaded": "BIGINT",
    "rejected": "BIGINT",
    "duplicates": "BIGINT",
    "message": "VARCHAR",
    "ingested_at": "TIMESTAMP",
}
#: canonical tables first so that later sources can rely on earlier ones
_ORDER = {
    name: i for i, name in enumerate(["customers", "products", "orders", "order_lines", "events"])
}

Progress = Callable[[str, int, int], None]  # (label, done, total)


@dataclass
class IngestReport:
    """Everything one run did; :mod:`segmint.report` renders it."""

    run_id: str
    project: str
    warehouse: str
    started_at: datetime
    finished_at: datetime | None = None
    files: list[FileResult] = field(default_factory=list)
    examples: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)
    identity: IdentityResult = field(default_factory=IdentityResult)
    #: per order_lines source: its stored fee lines (``fees:``), not products
    fees: dict[str, FeeLines] = field(default_factory=dict)

    def total(self, attr: str) -> int:
        return sum(int(getattr(f, attr)) for f in self.files)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def balanced(self) -> bool:
        return all(f.balanced for f in self.files)


def _sources_in_order(cfg: ProjectConfig) -> list[tuple[int, SourceConfig]]:
    indexed = list(enumerate(cfg.sources))
    return sorted(indexed, key=lambda p: (_ORDER.get(p[1].table, 99), p[0]))


def plan_files(cfg: ProjectConfig) -> list[tuple[SourceConfig, list[Path]]]:
    """Each source with the files it matches; a source matching none is a :class:`ConfigError`."""
    out, problems = [], []
    for i, src in _sources_in_order(cfg):
        path = cfg.resolve(src.path)
        files = expand(path)
        if not files:
            hint = ""
            if "SEGMINT_DATA" in src.path:
                hint = " (set SEGMINT_DATA to the folder holding the datasets; see README)"
            problems.append(
                f"{cfg.where(('sources', i, 'path'))}: sources[{i}].path: no file matches "
                f"{path}{hint}"
            )
        out.append((src, files))
    if problems:
        raise ConfigError("\n".join(problems), problems)
    return out


def _maps_pii(cfg: ProjectConfig) -> bool:
    """Whether some source surely maps a PII column, so a key is needed before reading.

    A table of your own without ``columns:`` takes its names from the file; whether one of
    them is PII is known only once the file is open (see ``custom_plan``).
    """
    for src in cfg.sources:
        if src.canonical:
            names = set(INPUT_TABLES[src.table].names)
            mapped = set(src.columns) if src.columns is not None else names
        else:
            mapped = set(src.columns or ())
        if mapped & set(cfg.pii):
            return True
    return False


def _staging(
    cfg: ProjectConfig, key: bytes | None = None, wh: IbisWarehouse | None = None
) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """The DuckDB connection that reads and validates files, and whether it is the warehouse's.

    With a DuckDB warehouse, staging is a second connection to that same database (its temp
    tables are its own), so clean rows reach the stored tables without a copy; the caller
    holds the warehouse to ingest's memory limit (DuckDB's limit is database-wide, a
    cursor's own included). Otherwise it is an in-memory database held to that limit here.
    Either way DuckDB spills to disk beyond it.
    """
    shared = isinstance(wh, DuckDBWarehouse)
    con = wh.raw.cursor() if isinstance(wh, DuckDBWarehouse) else duckdb.connect()
    if not (isinstance(wh, DuckDBWarehouse) and wh.path != ":memory:"):
        # a database file spills beside itself (<file>.tmp); an in-memory one needs a place
        tmp = cfg.home_dir / "tmp"
        try:
            tmp.mkdir(parents=True, exist_ok=True)
        except OSError:
            tmp = Path(tempfile.mkdtemp(prefix="segmint-"))
        con.execute(f"SET temp_directory = {lit(str(tmp))}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    limit = ingest_memory_limit()
    if not shared and limit is not None:
        con.execute(f"SET memory_limit = {lit(limit)}")
    load_vocabulary(con)
    if _maps_pii(cfg):
        PiiCipher(key or load_master_key()).register(con)
    elif cfg.pii:  # a table of your own may turn out to hold PII: be ready when a key exists
        with contextlib.suppress(KeyMissingError):
            PiiCipher(key or load_master_key()).register(con)
    return con, shared


def _loaded_before(wh: IbisWarehouse, source: str, sha: str) -> bool:
    if not wh.has_table(T.INGESTED_FILES):
        return False
    rows = wh.to_arrow(
        wh.ibis.sql(
            f"SELECT count(*) AS n FROM {T.INGESTED_FILES} WHERE source = {lit(source)} "
            f"AND sha256 = {lit(sha)} AND status IN ('loaded', 'empty')"
        )
    )
    return bool(rows["n"][0].as_py())


def ingest(
    cfg: ProjectConfig,
    *,
    force: bool = False,
    progress: Progress | None = None,
    warehouse: IbisWarehouse | None = None,
) -> IngestReport:
    """Load every source of ``cfg`` into the warehouse and rebuild the unified tables.

    Parameters
    ----------
    cfg : the validated project.
    force : re-read files already loaded (rows are still de-duplicated by key).
    progress : called as ``progress(label, done, total)`` after each file.
    warehouse : an open warehouse to use instead of ``cfg.warehouse``.
    """
    plan = plan_files(cfg)
    key = load_master_key() if _maps_pii(cfg) else None  # no key: stop before any write
    limit = ingest_memory_limit()
    wh = warehouse or connect(cfg.warehouse, cfg.base_dir)
    with contextlib.ExitStack() as stack:
        if warehouse is None:
            stack.callback(wh.close)
        if isinstance(wh, DuckDBWarehouse):  # restored when ingest ends, however it ends
            stack.enter_context(wh.memory_limit(limit))
        return _ingest(cfg, wh, plan, key, force=force, progress=progress)


def _ingest(
    cfg: ProjectConfig,
    wh: IbisWarehouse,
    plan: list[tuple[SourceConfig, list[Path]]],
    key: bytes | None,
    *,
    force: bool,
    progress: Progress | None,
) -> IngestReport:
    staging, shared = _staging(cfg, key, wh)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    report = IngestReport(uuid.uuid4().hex[:12], cfg.project, cfg.warehouse, now)
    loader = FileLoader(cfg, wh, staging, report.run_id, now, shared=shared)
    total = sum(len(files) for _, files in plan)
    done = 0
    try:
        wh.ensure_table(T.INGESTED_FILES, FILES_SCHEMA)
        for src, files in plan:
            for path in files:
                sha = sha256(path)
                if not force and _loaded_before(wh, src.name, sha):
                    res = FileResult(
                        src.name,
                        str(path),
                        sha,
                        status="skipped",
                        message="already loaded (same content)",
                    )
                else:
                    res = loader.load(src, path, sha, safe_tag(f"{src.name}_{done}"))
                    _record_file(wh, report.run_id, res, now)
                report.files.append(res)
                done += 1
                if progress:
                    progress(f"{src.name}: {path.name}", done, total)
        report.examples = loader.examples
        if progress:
            progress("identities and profiles", done, total)
        report.fees = mark_fee_lines(wh, cfg)
        excluded = [s.name for s in cfg.sources if s.fees.revenue == "exclude"]
        report.tables.update(derive_tables(wh, fees_excluded=excluded))
        report.identity = resolve_identities(wh, cfg.identity)
        report.tables[T.CUSTOMERS] = build_profiles(wh)
        for name in (T.EVENTS, T.ORDER_LINES, T.CUSTOMER_RECORDS, T.IDENTITIES, T.QUARANTINE):
            if wh.has_table(name):
                report.tables[name] = wh.count(name)
    finally:
        staging.close()
    report.finished_at = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    return report


def _record_file(wh: IbisWarehouse, run_id: str, r: FileResult, now: datetime) -> None:
    values = [
        run_id,
        r.source,
        r.path,
        r.sha256,
        r.status,
        r.records,
        r.loaded,  # replaced records (``updated``) are among the loaded ones
        r.rejected,
        r.duplicates + r.already_loaded,
        r.message[:2000],
        now,
    ]
    wh.execute(
        f"DELETE FROM {T.INGESTED_FILES} WHERE source = {lit(r.source)} AND "
        f"sha256 = {lit(r.sha256)}"
    )
    wh.execute(
        f"INSERT INTO {T.INGESTED_FILES} ({', '.join(FILES_SCHEMA)}) VALUES "
        f"({', '.join(lit(v) for v in values)})"
    )


_SAMPLE_ROWS = 2000


def _sample_problem(con: Any, src: SourceConfig, opened: Any, plan: Any) -> str | None:
    """Read the file's first rows with the declared options and mapping, as ingest would: a
    problem when more than the source's ``max_quarantined_share`` of them would be set aside."""
    sample = f"(SELECT * FROM ({plan.sql}) LIMIT {_SAMPLE_ROWS})"
    try:
        rows = con.execute(
            f"SELECT _errors[1].rule AS rule, count(*) FROM {sample} GROUP BY ALL"
        ).fetchall()
        malformed = 0
        if opened.rejects_table:
            malformed = con.execute(
                f"SELECT count(DISTINCT line) FROM {opened.rejects_table}"
            ).fetchone()[0]
    except Exception as exc:  # an expression that does not run, a line that cannot be read
        from segmint.sources import error_reason

        return f"cannot be read with these options: {error_reason(exc)}"
    records = sum(n for _r, n in rows) + malformed
    rules = {r: n for r, n in rows if r is not None}
    if malformed:
        rules["csv_malformed"] = malformed
    return quarantine_problem(src, records, rules)


def check_sources(cfg: ProjectConfig) -> list[str]:
    """Problems found by opening each source's files and mapping their columns (no writes).

    Each problem names the project-file line of the source, so `segmint validate` can point
    at what to fix before a run.
    """
    from segmint.errors import EmptySourceError, SchemaError, SourceError
    from segmint.ingest._plan import build_plan, custom_plan
    from segmint.sources import open_file

    try:
        plan = plan_files(cfg)
    except ConfigError as exc:
        return exc.problems
    problems = []
    try:
        staging, _ = _staging(cfg)
    except KeyMissingError as exc:
        problems.append(str(exc))
        staging, _ = _staging(cfg, key=bytes(32))  # checks the mappings all the same
    index = {s.name: i for i, s in enumerate(cfg.sources)}
    try:
        for src, files in plan:
            where = cfg.where(("sources", index[src.name], "columns"))
            for n, path in enumerate(files):
                try:
                    opened = open_file(staging, path, src.format, src.csv, f"chk{n}")
                    try:
                        if src.canonical:
                            file_plan = build_plan(
                                cfg,
                                src,
                                INPUT_TABLES[src.table],
                                opened.columns,
                                opened.sql,
                                datetime.now(UTC),
                                line_checked=opened.fmt == "ndjson",
                            )
                        else:
                            file_plan = custom_plan(staging, src, opened, frozenset(cfg.pii))
                        sampled = _sample_problem(staging, src, opened, file_plan)
                        if sampled:
                            problems.append(f"{where}: {path.name}: on its first rows, {sampled}")
                    finally:
                        opened.close()
                except EmptySourceError:
                    continue  # reported as `empty` by ingest, not an error (docs)
                except (SourceError, SchemaError) as exc:
                    problems.append(f"{where}: {exc}")
    finally:
        staging.close()
    return problems
