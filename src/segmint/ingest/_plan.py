"""The staging query for one source file: map, clean, cast, standardize and check every row.

One streamed SELECT over the file produces, per record, the typed canonical columns, a list of
``_errors`` (any one rejects the row) and ``_warnings`` (a value removed, the row kept), and
the original row as JSON for the quarantine, only for records that have a finding. PII values
are encrypted and hashed in the innermost projection, so their clear text never reaches a
materialized table, the quarantine included.

Three layers, each a CTE:

``src``
    the file's text columns, cleaned (trimmed, null markers removed) per canonical column
    as ``v_<col>``; PII columns only as ``<col>__enc`` / ``<col>__hash`` / ``<col>__ok``.
``typed``
    ``t_<col>``: the typed, standardized value; ``k_<col>``: a vocabulary hit, if any.
``checked``
    the ``_errors`` and ``_warnings`` lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from segmint.config import ColumnExpr, ProjectConfig, SourceConfig
from segmint.errors import SchemaError
from segmint.ingest._vocab import (
    COUNTRY_NULLS,
    FALSE_WORDS,
    FOLD_SQL,
    NULL_MARKERS,
    TRUE_WORDS,
)
from segmint.schema import HASHED_IDENTIFIERS, RETURN_STATUSES, Col, Column, Table
from segmint.sql import ident, lit

EARLIEST = datetime(1990, 1, 1)
_VOCAB_KINDS = {"country", "gender", "device", "channel", "event_type", "order_status"}
_EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"


@dataclass(frozen=True)
class Plan:
    """What :func:`build_plan` produced: the query and the columns it stores."""

    sql: str
    stored: list[str]  # typed columns in the warehouse table, in order
    dtypes: dict[str, str]  # stored column -> DuckDB type
    rules: list[str]  # every rule the query can report, for the report's zero rows
    #: the source maps PII: a line that cannot be parsed is kept encrypted, as ``raw:line``
    secret: bool = False


def build_plan(
    cfg: ProjectConfig,
    source: SourceConfig,
    table: Table,
    file_columns: list[str],
    file_sql: str,
    now: datetime,
    *,
    line_checked: bool = False,
) -> Plan:
    """The staging SELECT for one file of ``source`` feeding canonical ``table``.

    ``line_checked``: the file relation carries ``_malformed``/``_text`` (NDJSON read line by
    line), and a malformed line is quarantined as ``json_malformed``.
    """
    mapping = _mapping(source, table, file_columns)
    builder = _Builder(cfg, source, table, mapping, now)
    builder.line_checked = line_checked
    return builder.build(file_columns, file_sql)


def _mapping(source: SourceConfig, table: Table, file_columns: list[str]) -> dict[str, str]:
    """Canonical column -> SQL text expression over the file's columns."""
    if source.columns is None:  # same names as the canonical columns
        lowered = {c.lower(): c for c in file_columns}
        spec: dict[str, str | ColumnExpr] = {c: lowered[c] for c in table.names if c in lowered}
    else:
        spec = dict(source.columns)
    out: dict[str, str] = {}
    missing = []
    for target, src in spec.items():
        if isinstance(src, ColumnExpr):
            out[target] = f"CAST(({src.expr}) AS VARCHAR)" if src.expr else lit(str(src.value))
        elif src in file_columns:
            out[target] = ident(src)
        else:
            missing.append((target, src))
    if missing:
        from segmint.config import _did_you_mean

        parts = [f"'{s}' (for {t}){_did_you_mean(s, file_columns)}" for t, s in missing]
        raise SchemaError(
            f"sources[{source.name}].columns: the file has no column {', '.join(parts)}; "
            f"its columns are: {', '.join(file_columns)}"
        )
    unmapped = [c.name for c in table.columns if c.required and c.name not in out]
    if unmapped:
        raise SchemaError(
            f"sources[{source.name}]: table '{table.name}' requires {', '.join(unmapped)} but "
            f"the mapping does not give it (add it under columns:); file columns: "
            f"{', '.join(file_columns)}"
        )
    if table.one_of and not any(c in out for c in table.one_of):
        raise SchemaError(
            f"sources[{source.name}]: table '{table.name}' needs at least one of "
            f"{', '.join(table.one_of)} mapped"
        )
    return out


def _reads(expr: str, column: str) -> bool:
    """Whether a mapping may read file column ``column``, erring towards yes.

    A PII column mapped through ``{expr: ...}`` reads the file's columns by name; those must
    be encrypted in the quarantine row too, not only a column mapped one to one.
    """
    if expr == ident(column) or ident(column) in expr:
        return True
    bare = rf"(?<![\w\"]){re.escape(column)}(?![\w\"])"
    return expr.startswith("CAST((") and re.search(bare, expr, re.IGNORECASE) is not None


def _clean(expr: str, extra_nulls: tuple[str, ...] = ()) -> str:
    markers = ", ".join(lit(m) for m in (*NULL_MARKERS, *extra_nulls))
    # list_contains, not IN (...): DuckDB plans a long IN list as a join per column
    return (
        f"(CASE WHEN trim({expr}) = '' OR list_contains([{markers}], lower(trim({expr}))) "
        f"THEN NULL ELSE trim({expr}) END)"
    )


def _fold(expr: str) -> str:
    return FOLD_SQL.format(x=expr)


class _Builder:
    def __init__(
        self,
        cfg: ProjectConfig,
        source: SourceConfig,
        table: Table,
        mapping: dict[str, str],
        now: datetime,
    ) -> None:
        self.cfg, self.source, self.table, self.mapping = cfg, source, table, mapping
        self.now = now
        self.columns = [c for c in table.columns if c.name in mapping]
        self.pii = {c.name for c in self.columns if c.name in cfg.pii}
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.nullified: dict[str, list[str]] = {}
        self.rules: list[str] = []
        self.line_checked = False
        self.file_sql = ""

    # -- layer 1: src ------------------------------------------------------------------
    def _src(self, file_columns: list[str], file_sql: str) -> str:
        raw = [f"r{i}" for i in range(len(file_columns))]
        pii_sources = [self.mapping[c] for c in self.pii]
        pii_raw = {
            f"r{i}"
            for i, fc in enumerate(file_columns)
            if any(_reads(expr, fc) for expr in pii_sources)
        }
        # mapping expressions name the file's columns; expose them under those names
        named = ", ".join(f"{ident(fc)} AS r{i}" for i, fc in enumerate(file_columns))
        mapped = []
        for col in self.columns:
            v = self._v_expr(col)
            if col.name in self.pii:
                norm = self._normalized(col, v)
                mapped += [
                    f"segmint_encrypt({v}, {lit(col.name)}) AS {ident(col.name + '__enc')}",
                    f"segmint_hmac({norm}) AS {ident(col.name + '__hash')}",
                    f"({v} IS NULL OR {self._format_ok(col, norm)}) AS {ident(col.name + '__ok')}",
                ]
            else:
                mapped.append(f"{v} AS v_{col.name}")
        # the original row for the quarantine, PII columns encrypted
        pairs = [
            f"{lit(fc)}, "
            + (f"segmint_encrypt(r{i}, {lit('raw:' + fc)})" if f"r{i}" in pii_raw else f"r{i}")
            for i, fc in enumerate(file_columns)
        ]
        raw_json = f"json_object({', '.join(pairs)})" if pairs else "NULL"
        extra_cols = ", _malformed, _text" if self.line_checked else ""
        # expressions ({expr: ...}) see the file's own column names, so they run on the file
        inner = f"SELECT *, {named} FROM ({file_sql})" if named else f"SELECT * FROM ({file_sql})"
        keep = [r for r in raw if r not in pii_raw]
        select = [*keep, *mapped, f"{raw_json} AS _raw_json", f"_rec{extra_cols}"]
        return f"SELECT {', '.join(select)} FROM ({inner})"

    def _v_expr(self, col: Column) -> str:
        """The cleaned, value-mapped text of a column, over the file's own columns."""
        extra = COUNTRY_NULLS if col.kind == "country" else ()
        return self._value_map(col, _clean(self.mapping[col.name], extra))

    def _value_map(self, col: Column, v: str) -> str:
        mapping = self.source.values.get(col.name)
        if not mapping:
            return v
        cases = " ".join(
            f"WHEN lower({v}) = {lit(k.strip().lower())} THEN {lit(val)}"
            for k, val in mapping.items()
        )
        return f"(CASE {cases} ELSE {v} END)"

    @staticmethod
    def _normalized(col: Column, v: str) -> str:
        if col.kind == "email":
            return f"lower(regexp_replace({v}, '^mailto:', '', 'i'))"
        if col.kind == "phone":
            return f"regexp_replace({v}, '[^0-9+]', '', 'g')"
        return f"lower({v})"

    @staticmethod
    def _format_ok(col: Column, norm: str) -> str:
        if col.kind == "email":
            return f"regexp_full_match({norm}, {lit(_EMAIL_RE)})"
        if col.kind == "phone":
            return f"length(regexp_replace({norm}, '[^0-9]', '', 'g')) >= 7"
        return "TRUE"

    # -- layer 2: typed ----------------------------------------------------------------
    def _typed(self, col: Column) -> tuple[list[str], str | None]:
        """Select expressions for ``t_<col>`` (and ``f_<col>``: a vocabulary hit), plus a join."""
        v = f"v_{col.name}"
        if col.name in self.pii:
            return [], None
        if col.kind in _VOCAB_KINDS:
            k = f"k_{col.name}"
            # fold each distinct value of the file once, not every row: a file holds a handful
            # of countries or event types, and folding runs several regular expressions
            distinct = f"SELECT DISTINCT {self._v_expr(col)} AS raw FROM ({self.file_sql})"
            join = (
                f"LEFT JOIN (SELECT d.raw, vv.key, vv.value FROM ({distinct}) d "
                f"LEFT JOIN segmint_vocab vv ON vv.kind = {lit(col.kind)} "
                f"AND vv.key = {_fold('d.raw')}) {k} ON {k}.raw = {v}"
            )
            out = [f"({k}.key IS NOT NULL) AS f_{col.name}"]
            if col.kind == "channel":  # open vocabulary: unknown channels kept, snake-cased
                fallback = f"trim(regexp_replace(lower({v}), '[^a-z0-9]+', '_', 'g'), '_')"
                return [*out, f"coalesce({k}.value, {fallback}) AS t_{col.name}"], join
            return [*out, f"{k}.value AS t_{col.name}"], join
        return [f"{self._cast(col, v)} AS t_{col.name}"], None

    def _cast(self, col: Column, v: str) -> str:
        if col.dtype == "int":
            integral = f"regexp_full_match({v}, '[+-]?[0-9]+(\\.0*)?')"
            return f"(CASE WHEN {integral} THEN TRY_CAST(split_part({v}, '.', 1) AS BIGINT) END)"
        if col.dtype == "float":
            return f"(CASE WHEN isfinite(TRY_CAST({v} AS DOUBLE)) THEN TRY_CAST({v} AS DOUBLE) END)"
        if col.dtype == "bool":
            yes, no = (", ".join(lit(w) for w in words) for words in (TRUE_WORDS, FALSE_WORDS))
            return (
                f"(CASE WHEN lower({v}) IN ({yes}) THEN TRUE "
                f"WHEN lower({v}) IN ({no}) THEN FALSE END)"
            )
        if col.dtype == "timestamp":
            return self._timestamp(v)
        if col.dtype == "json":
            return f"(CASE WHEN json_valid({v}) THEN {v} END)"
        if col.kind == "identifier":  # ids exported through a float column: 17850.0 -> 17850
            return f"regexp_replace({v}, '^([0-9]+)\\.0+$', '\\1')"
        if col.kind == "lower":
            return f"lower({v})"
        if col.kind in ("email", "phone"):
            return self._normalized(col, v)
        if col.name == Col.CURRENCY:
            return f"upper({v})"
        return v

    def _timestamp(self, v: str) -> str:
        fmt = self.source.timestamp_format
        tz = self.cfg.timezone
        if fmt in ("epoch_s", "epoch_ms"):
            scale = "1000.0" if fmt == "epoch_ms" else "1.0"
            return f"(to_timestamp(TRY_CAST({v} AS DOUBLE) / {scale}) AT TIME ZONE 'UTC')"
        if fmt:
            fmts = [fmt] if isinstance(fmt, str) else fmt
            naive = f"try_strptime({v}, [{', '.join(lit(f) for f in fmts)}])"
        else:
            naive = f"TRY_CAST({v} AS TIMESTAMP)"
        local = naive if tz == "UTC" else f"(timezone({lit(tz)}, {naive}) AT TIME ZONE 'UTC')"
        # an explicit offset or Z wins over the project time zone
        aware = f"(TRY_CAST({v} AS TIMESTAMPTZ) AT TIME ZONE 'UTC')"
        return (
            f"(CASE WHEN regexp_matches({v}, '(Z|[+-][0-9]{{2}}:?[0-9]{{2}})$') "
            f"THEN {aware} ELSE {local} END)"
        )

    # -- layer 3: checks ---------------------------------------------------------------
    def _finding(self, rule: str, kind: str, cond: str, message: str, col: str | None) -> None:
        """Record a rule; ``col`` is the column a ``nullify`` action empties.

        A finding with no column to empty (a missing identity, a malformed line), or whose
        column is required, always rejects the row, whatever the project file asks.
        """
        action = self.cfg.action_for(rule, kind)
        if col is None or self.table.column(col).required:
            action = "reject"
        struct = (
            f"CASE WHEN {cond} THEN struct_pack(rule := {lit(rule)}, col := {lit(col)}::VARCHAR, "
            f"message := {message}) END"
        )
        self.rules.append(rule)
        if action == "reject":
            self.errors.append(struct)
        else:
            self.warnings.append(struct)
            if col is not None:
                self.nullified.setdefault(col, []).append(cond)

    def _checks(self, col: Column) -> None:
        name = col.name
        v, t = f"v_{name}", f"t_{name}"
        shown = f"coalesce({v}, '')"
        if name in self.pii:
            if col.kind in ("email", "phone"):
                what = "an e-mail address" if col.kind == "email" else "a phone number"
                self._finding(
                    f"{name}_format",
                    "format",
                    f"NOT {ident(name + '__ok')}",
                    lit(f"{name} is not {what} (value encrypted in the quarantine row)"),
                    name,
                )
            return
        if col.required:
            self._finding(
                f"{name}_required",
                "required",
                f"{v} IS NULL",
                lit(f"{name} is required but empty"),
                None,
            )
        if col.dtype != "string":
            expected = {
                "int": "an integer",
                "float": "a number",
                "bool": "true/false",
                "timestamp": "a timestamp",
                "json": "JSON",
            }.get(col.dtype)
            if expected:
                self._finding(
                    f"{name}_type",
                    "type",
                    f"{v} IS NOT NULL AND {t} IS NULL",
                    f"{lit(name + '=')} || {shown} || {lit(' is not ' + expected)}",
                    name,
                )
        if col.min is not None or col.max is not None:
            lo = f"{t} < {col.min}" if col.min is not None else "FALSE"
            hi = f"{t} > {col.max}" if col.max is not None else "FALSE"
            if col.max is None:
                bounds = f" is below the minimum {_num(col.min)}"
            elif col.min is None:
                bounds = f" is above the maximum {_num(col.max)}"
            else:
                bounds = f" is outside {_num(col.min)}..{_num(col.max)}"
            self._finding(
                col.rule_range,
                "range",
                f"({lo} OR {hi})",
                f"{lit(name + '=')} || {t} || {lit(bounds)}",
                name,
            )
        if col.dtype == "timestamp":
            late = self.now + timedelta(days=1)
            self._finding(
                f"{name}_future",
                "future",
                f"{t} > {lit(late)}",
                f"{lit(name + '=')} || {t} || {lit(' is in the future')}",
                name,
            )
            self._finding(
                f"{name}_too_old",
                "too_old",
                f"{t} < {lit(EARLIEST)}",
                f"{lit(name + '=')} || {t} || {lit(' is before 1990-01-01')}",
                name,
            )
        self._vocab_checks(col, v, t, shown)

    def _vocab_checks(self, col: Column, v: str, t: str, shown: str) -> None:
        name = col.name
        unknown = f"{v} IS NOT NULL AND NOT f_{name}"
        if col.kind == "country":
            self._finding(
                f"{name}_unknown",
                "unknown",
                unknown,
                f"{lit(name + '=')} || {shown} || ' is not an ISO 3166 country'",
                name,
            )
        elif col.kind in ("gender", "device"):
            self._finding(
                f"{name}_vocabulary",
                "vocabulary",
                unknown,
                f"{lit(name + '=')} || {shown} || {lit(' is not a known ' + name)}",
                name,
            )
        elif col.kind in ("event_type", "order_status"):
            hint = f"; map it under sources.{self.source.name}.values.{name}"
            self._finding(
                f"{name}_allowed",
                "allowed",
                unknown,
                f"{lit(name + '=')} || {shown} || {lit(' is not allowed' + hint)}",
                name,
            )
        elif col.kind in ("email", "phone"):  # not declared PII: checked in clear
            norm = self._normalized(col, v)
            self._finding(
                f"{name}_format",
                "format",
                f"{v} IS NOT NULL AND NOT ({self._format_ok(col, norm)})",
                f"{lit(name + '=')} || {shown} || ' is not well formed'",
                name,
            )

    # -- final -------------------------------------------------------------------------
    def _final(self, col: Column) -> list[tuple[str, str, str]]:
        """(expression, stored name, DuckDB type) for one mapped column."""
        if col.name in self.pii:
            nulled = f"NOT {ident(col.name + '__ok')}" if col.name in self.nullified else "FALSE"
            return [
                (
                    f"CASE WHEN {nulled} THEN NULL ELSE {ident(col.name + '__hash')} END",
                    f"{col.name}_hash",
                    "VARCHAR",
                ),
                (
                    f"CASE WHEN {nulled} THEN NULL ELSE {ident(col.name + '__enc')} END",
                    f"{col.name}_enc",
                    "VARCHAR",
                ),
            ]
        expr = f"t_{col.name}"
        conds = self.nullified.get(col.name)
        if conds:
            expr = f"CASE WHEN {' OR '.join(f'({c})' for c in conds)} THEN NULL ELSE {expr} END"
        return [(expr, col.name, _DUCK[col.dtype])]

    def _derived(self, finals: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
        names = {n for _, n, _ in finals}
        out = []
        prefix = self.source.returns.order_id_prefix
        if self.table.name == "order_lines":
            if Col.QUANTITY not in names:
                out.append(("1::BIGINT", Col.QUANTITY, "BIGINT"))
            conds = [f"coalesce(t_{Col.QUANTITY}, 1) < 0" if Col.QUANTITY in names else "FALSE"]
            if prefix:
                conds.append(f"starts_with(t_{Col.ORDER_ID}, {lit(prefix)})")
            if Col.STATUS in names:
                conds.append(f"t_{Col.STATUS} IN ({', '.join(lit(s) for s in RETURN_STATUSES)})")
            out.append((f"coalesce({' OR '.join(conds)}, FALSE)", Col.IS_RETURN, "BOOLEAN"))
            out.append((self._is_fee(names), Col.IS_FEE, "BOOLEAN"))
            if prefix and Col.STATUS not in names:
                out.append(
                    (
                        f"CASE WHEN starts_with(t_{Col.ORDER_ID}, {lit(prefix)}) "
                        "THEN 'cancelled' END",
                        Col.STATUS,
                        "VARCHAR",
                    )
                )
        if self.table.name == "orders" and prefix:
            status = f"t_{Col.STATUS}" if Col.STATUS in names else "NULL"
            out = [
                (
                    f"CASE WHEN starts_with(t_{Col.ORDER_ID}, {lit(prefix)}) THEN 'cancelled' "
                    f"ELSE {status} END",
                    Col.STATUS,
                    "VARCHAR",
                )
            ]
        return out

    def _is_fee(self, names: set[str]) -> str:
        """Whether a line is a fee line (``fees:``); segmint.fees.fee_rule is the same rule in
        Ibis, which re-marks stored lines when the rule changes."""
        fees = self.source.fees
        pid = f"t_{Col.PRODUCT_ID}"
        conds = []
        if fees.product_ids:
            conds.append(f"list_contains([{', '.join(lit(i) for i in fees.product_ids)}], {pid})")
        if fees.product_id_pattern:
            conds.append(f"regexp_matches({pid}, {lit(fees.product_id_pattern)})")
        if fees.title_pattern and Col.TITLE in names:
            conds.append(f"regexp_matches(t_{Col.TITLE}, {lit(fees.title_pattern)})")
        return f"coalesce({' OR '.join(conds)}, FALSE)" if conds else "FALSE"

    def build(self, file_columns: list[str], file_sql: str) -> Plan:
        self.file_sql = file_sql
        typed, joins = [], []
        for col in self.columns:
            exprs, join = self._typed(col)
            typed += exprs
            joins += [join] if join else []
        for col in self.columns:
            self._checks(col)
        if self.table.one_of:
            present = [c for c in self.table.one_of if c in self.mapping]
            cond = " AND ".join(f"v_{c} IS NULL" for c in present)
            self._finding(
                "identity_required",
                "identity_required",
                cond,
                lit(f"no identity: {' and '.join(present)} are all empty"),
                None,
            )
        finals = [f for col in self.columns for f in self._final(col)]
        derived = self._derived(finals)
        finals = [f for f in finals if f[1] not in {d[1] for d in derived}] + derived
        key = self._row_key(finals)
        errors = (
            f"list_filter([{', '.join(self.errors)}], e -> e IS NOT NULL)"
            if self.errors
            else "[]::STRUCT(rule VARCHAR, col VARCHAR, message VARCHAR)[]"
        )
        warnings = (
            f"list_filter([{', '.join(self.warnings)}], e -> e IS NOT NULL)"
            if self.warnings
            else "[]::STRUCT(rule VARCHAR, col VARCHAR, message VARCHAR)[]"
        )
        if self.line_checked:  # an unreadable line: that is its only finding
            self.rules.insert(0, "json_malformed")
            # the message never quotes the line: it may hold PII (the row keeps it, below)
            bad = (
                "[struct_pack(rule := 'json_malformed', col := NULL::VARCHAR, "
                "message := 'line is not a JSON object (' || length(_text) || ' characters; "
                "the line is kept in the quarantine row)')]"
            )
            errors = f"CASE WHEN _malformed THEN {bad} ELSE {errors} END"
            warnings = f"CASE WHEN _malformed THEN [] ELSE {warnings} END"
        malformed_raw = ""
        if self.line_checked:
            line = raw_line("_text", secret=bool(self.pii))
            malformed_raw = f"WHEN _malformed THEN {line} "
        typed_sql = ", ".join(typed) if typed else "NULL AS _none"
        select = ", ".join(f"{e} AS {ident(n)}" for e, n, _ in finals)
        sql = (
            f"WITH src AS ({self._src(file_columns, file_sql)}),\n"
            f"typed AS (SELECT src.*, {typed_sql} FROM src {' '.join(joins)}),\n"
            f"checked AS (SELECT *, {errors} AS _errors, {warnings} AS _warnings FROM typed)\n"
            f"SELECT _rec, {select}, {key} AS {Col.ROW_KEY}, _errors, _warnings, "
            f"CASE {malformed_raw}WHEN len(_errors) > 0 OR len(_warnings) > 0 THEN _raw_json "
            f"END AS _raw "
            f"FROM checked"
        )
        return Plan(
            sql=sql,
            stored=[n for _, n, _ in finals],
            dtypes={n: d for _, n, d in finals},
            rules=list(dict.fromkeys(self.rules)),
            secret=bool(self.pii),
        )

    def _row_key(self, finals: list[tuple[str, str, str]]) -> str:
        key_cols = [k for k in self.table.key if k in self.mapping]
        if len(key_cols) == len(self.table.key):
            exprs = [f"t_{k}" for k in key_cols]
        else:  # no natural key given: the whole row is its identity (exact duplicates)
            exprs = [e for e, n, _ in finals if n not in (Col.IS_RETURN, Col.IS_FEE)]
        joined = ", ".join(f"coalesce(CAST({e} AS VARCHAR), '\\N')" for e in exprs)
        return f"md5(concat_ws(chr(31), {joined}))"


_DUCK = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "json": "VARCHAR",
}


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return str(int(x)) if float(x).is_integer() else str(x)


def identifier_columns(stored: list[str]) -> list[tuple[str, str]]:
    """(identifier type, stored column) pairs present in a stored table."""
    out = []
    for c in stored:
        if c in HASHED_IDENTIFIERS:
            out.append((c, c))
        elif c.endswith("_hash") and c.removesuffix("_hash") in HASHED_IDENTIFIERS:
            out.append((c.removesuffix("_hash"), c))
    return out


def custom_plan(
    con: object, source: SourceConfig, opened: object, pii: frozenset[str] = frozenset()
) -> Plan:
    """Plan for a table that is not canonical: the file's columns with their sniffed types.

    Values that do not fit the type the rest of the column has are quarantined with rule
    ``<column>_type``; ``required`` columns must not be empty; ``key`` columns de-duplicate.
    A column named in ``pii`` is stored as ``<column>_enc`` and ``<column>_hash`` only, and the
    file columns it is read from are encrypted in the quarantine's copy of the row.
    """
    from segmint.sources import OpenedFile

    assert isinstance(opened, OpenedFile)
    types = _sniff_types(con, opened)
    expr_types: dict[str, str] = {}
    if source.columns is None:
        mapping = {_snake(c): ident(c) for c in opened.columns}
    else:
        mapping = {}
        for target, src in source.columns.items():
            if isinstance(src, ColumnExpr):
                mapping[target] = (
                    f"CAST(({src.expr}) AS VARCHAR)" if src.expr else lit(str(src.value))
                )
                if src.expr:  # the expression's own type is the stored type (cast as you need)
                    expr_types[target] = _expr_type(con, opened, src.expr)
            elif src in opened.columns:
                mapping[target] = ident(src)
            else:
                from segmint.config import _did_you_mean

                raise SchemaError(
                    f"sources[{source.name}].columns.{target}: the file has no column "
                    f"'{src}'{_did_you_mean(src, opened.columns)}; its columns are: "
                    f"{', '.join(opened.columns)}"
                )

    def stored_as(name: str) -> str:
        # key and required may name a file column as written: the column it is stored as
        if name in mapping or name not in opened.columns:
            return name
        if source.columns is None:
            return _snake(name)
        read_as = [t for t, src in source.columns.items() if src == name]
        return read_as[0] if len(read_as) == 1 else name

    required = [stored_as(n) for n in source.required]
    keys = [stored_as(n) for n in source.key] if source.key else None
    for name in (*required, *(keys or ())):
        if name not in mapping:
            raise SchemaError(
                f"sources[{source.name}]: '{name}' (in required/key) is not one of its "
                f"columns: {', '.join(mapping)}"
            )
    dtypes = {
        t: expr_types.get(t) or types.get(src.strip('"').replace('""', '"'), "VARCHAR")
        for t, src in mapping.items()
    }
    secret = [t for t in mapping if t in pii]
    if secret:
        _require_cipher(con, source, secret)
    errors, warnings, finals, rules = [], [], [], []
    stored: list[str] = []
    for t, expr in mapping.items():
        v = _clean(expr)
        if t in secret:
            finals += [
                f"segmint_encrypt({v}, {lit(t)}) AS {ident(t + '_enc')}",
                f"segmint_hmac(lower({v})) AS {ident(t + '_hash')}",
            ]
            stored += [t + "_enc", t + "_hash"]
            dtypes.pop(t)
            dtypes[t + "_enc"] = dtypes[t + "_hash"] = "VARCHAR"
            continue
        stored.append(t)
        dt = dtypes[t]
        typed = v if dt == "VARCHAR" else f"TRY_CAST({v} AS {dt})"
        finals.append(f"{typed} AS {ident(t)}")
        if dt != "VARCHAR":
            # a value written as spaces or a null marker ("NA") in a typed column is empty:
            # the row is kept and the value counted as removed
            rules.append(f"{t}_blank")
            warnings.append(
                f"CASE WHEN {v} IS NULL AND {expr} IS NOT NULL AND {expr} <> '' THEN "
                f"struct_pack(rule := {lit(t + '_blank')}, col := {lit(t)}, message := "
                f"{lit(t + ' is blank or a null marker: stored empty')}) END"
            )
            rules.append(f"{t}_type")
            errors.append(
                f"CASE WHEN {v} IS NOT NULL AND {typed} IS NULL THEN struct_pack(rule := "
                f"{lit(t + '_type')}, col := NULL, message := {lit(t + '=')} || {v} || "
                f"{lit(' is not ' + dt)}) END"
            )
        if t in required:
            rules.append(f"{t}_required")
            errors.append(
                f"CASE WHEN {v} IS NULL THEN struct_pack(rule := {lit(t + '_required')}, "
                f"col := NULL, message := {lit(t + ' is required but empty')}) END"
            )
    key_cols = [f"{k}_hash" if k in secret else k for k in (keys or list(mapping))]
    key = (
        "md5(concat_ws(chr(31), "
        + ", ".join(f"coalesce(CAST({ident(k)} AS VARCHAR), '\\N')" for k in key_cols)
        + "))"
    )
    hidden = {c for c in opened.columns if any(_reads(mapping[t], c) for t in secret)}
    pairs = ", ".join(
        f"{lit(c)}, "
        + (f"segmint_encrypt({ident(c)}, {lit('raw:' + c)})" if c in hidden else ident(c))
        for c in opened.columns
    )
    none = "[]::STRUCT(rule VARCHAR, col VARCHAR, message VARCHAR)[]"
    err = f"list_filter([{', '.join(errors)}], e -> e IS NOT NULL)" if errors else none
    warn = f"list_filter([{', '.join(warnings)}], e -> e IS NOT NULL)" if warnings else none
    sql = (
        f"WITH typed AS (SELECT _rec, {', '.join(finals)}, {err} AS _errors, {warn} AS _warnings, "
        f"json_object({pairs}) AS _json FROM ({opened.sql}))\n"
        f"SELECT _rec, {', '.join(ident(t) for t in stored)}, {key} AS {Col.ROW_KEY}, _errors, "
        f"_warnings, CASE WHEN len(_errors) > 0 OR len(_warnings) > 0 THEN _json END AS _raw "
        f"FROM typed"
    )
    return Plan(sql=sql, stored=stored, dtypes=dtypes, rules=rules, secret=bool(secret))


def raw_line(expr: str, *, secret: bool) -> str:
    """The quarantine row of a line that could not be parsed: ``{"line": ...}``.

    A source that maps PII may have any of it on that line, and no column can be told apart
    on a broken line, so the whole line is encrypted (``raw:line``); a key holder reads it back
    with ``segmint quarantine --decrypt``.
    """
    value = f"segmint_encrypt({expr}, 'raw:line')" if secret else expr
    return f"json_object('line', {value})"


def _require_cipher(con: object, source: SourceConfig, columns: list[str]) -> None:
    """Stop before reading a row when PII must be encrypted but no key was loaded."""
    try:
        con.execute("SELECT segmint_hmac('probe')")  # type: ignore[attr-defined]
    except Exception:  # duckdb: the function is registered only when a key is set
        from segmint.errors import KeyMissingError
        from segmint.privacy._crypto import KEY_HELP

        raise KeyMissingError(
            f"sources[{source.name}]: column(s) {', '.join(columns)} are PII and must be "
            f"encrypted, but no key is set (SEGMINT_KEY / SEGMINT_KEY_FILE); {KEY_HELP}"
        ) from None


def _expr_type(con: object, opened: object, expr: str) -> str:
    """The stored type of a mapping expression: what it gives over the file's text columns."""
    from segmint.sources import OpenedFile

    assert isinstance(opened, OpenedFile)
    try:
        rows = con.execute(  # type: ignore[attr-defined]
            f"DESCRIBE SELECT ({expr}) AS x FROM ({opened.sql})"
        ).fetchall()
    except Exception:  # the expression's own error is reported where it is applied
        return "VARCHAR"
    return _simple_type(str(rows[0][1]))


def _simple_type(d: str) -> str:
    simple = {"BIGINT", "INTEGER", "DOUBLE", "BOOLEAN", "TIMESTAMP", "DATE", "VARCHAR", "FLOAT"}
    if d.startswith("DECIMAL"):
        return "DOUBLE"
    if d not in simple:
        return "VARCHAR"
    return "BIGINT" if d == "INTEGER" else "DOUBLE" if d == "FLOAT" else d


def _numbers_with_blanks(con: object, opened: object, columns: list[str]) -> dict[str, str]:
    """Text columns that are numbers but for values written as spaces or null markers (DuckDB's
    sniffer reads ``" "`` as text, so the whole column was text): their number type."""
    from segmint.sources import OpenedFile

    assert isinstance(opened, OpenedFile)
    if not columns:
        return {}
    parts = []
    for i, c in enumerate(columns):
        raw, v = ident(c), _clean(ident(c))
        parts += [
            f"count({v}) AS n{i}",
            f"count(TRY_CAST({v} AS DOUBLE)) AS d{i}",
            f"count(*) FILTER (WHERE NOT regexp_full_match({v}, '[+-]?[0-9]+')) AS f{i}",
            f"count(*) FILTER (WHERE regexp_full_match({v}, '[+-]?0[0-9]+')) AS z{i}",
            f"count(*) FILTER (WHERE {v} IS NULL AND {raw} <> '') AS b{i}",
        ]
    sample = f"(SELECT * FROM ({opened.sql}) LIMIT 20480)"
    row = con.execute(  # type: ignore[attr-defined]
        f"SELECT {', '.join(parts)} FROM {sample}"
    ).fetchone()
    out = {}
    for i, c in enumerate(columns):
        n, d, f, z, b = row[5 * i : 5 * i + 5]
        # every value a number, some blank, and no zero-padded code ("0042" stays text)
        if n and d == n and b and not z:
            out[c] = "DOUBLE" if f else "BIGINT"
    return out


def _sniff_types(con: object, opened: object) -> dict[str, str]:
    """The types DuckDB's reader infers for each column of the file, with number columns
    that hold blanks written as spaces read as numbers."""
    from segmint.sources import OpenedFile

    assert isinstance(opened, OpenedFile)
    path = lit(str(opened.read_path or opened.path))
    if opened.fmt == "parquet":
        reader = f"read_parquet({path})"
    elif opened.fmt == "ndjson":
        return {c: "VARCHAR" for c in opened.columns}
    else:
        reader = f"read_csv({path}, header=true, sample_size=20480)"
    rows = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()  # type: ignore[attr-defined]
    out = {name: _simple_type(str(dtype)) for name, dtype, *_ in rows}
    if opened.fmt == "csv":
        text = [c for c, d in out.items() if d == "VARCHAR" and c in opened.columns]
        out.update(_numbers_with_blanks(con, opened, text))
    return out


def _snake(name: str) -> str:
    import re

    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_") or "column"
