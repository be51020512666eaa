"""Finding and opening source files: csv (also .gz/.zst), parquet, ndjson, zip archives.

A file is never loaded into Python memory: each is exposed to the staging DuckDB engine as a
relation of text columns plus ``_rec`` (the record's position in the file), so validation sees
exactly what was in the file. Files that cannot be read as declared (empty, binary, a
spreadsheet, the wrong format) raise :class:`~segmint.errors.SourceError` naming the file and
what was found instead.
"""

from __future__ import annotations

import codecs
import glob
import gzip
import hashlib
import io
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segmint.config import CsvOptions
from segmint.errors import EmptySourceError, SourceError
from segmint.sql import ident, lit

_MAGIC = {
    b"PAR1": "parquet",
    b"PK\x03\x04": "zip",
    b"\x1f\x8b": "gzip",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"\xd0\xcf\x11\xe0": "an old Excel/Office document",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
}


@dataclass
class OpenedFile:
    """A source file exposed to DuckDB as a relation of text columns and ``_rec``."""

    path: Path
    fmt: str
    sql: str  # SELECT producing every column as VARCHAR, plus _rec BIGINT
    columns: list[str]
    rejects_table: str | None = None  # DuckDB table of malformed CSV lines, if any
    temp_table: str | None = None  # the file's rows, when read once into a temp table
    read_path: Path | None = None  # the file actually read (a zip's extracted member)
    cleanup: list[Path] = field(default_factory=list)

    def close(self) -> None:
        """Remove the temporary folders the file was read through (an extracted zip member, a
        re-encoded copy)."""
        for p in self.cleanup:
            shutil.rmtree(p, ignore_errors=True)


def expand(pattern: Path) -> list[Path]:
    """Files matching ``pattern`` (a path or glob), sorted so ingestion order is stable."""
    text = str(pattern)
    if glob.has_magic(text):
        return sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
    return [pattern] if pattern.is_file() else []


def sha256(path: Path) -> str:
    """The SHA-256 hex digest of the file's bytes, read a megabyte at a time."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def detect_format(path: Path, declared: str | None, encoding: str = "utf-8") -> str:
    """``csv``, ``parquet``, ``ndjson`` or ``zip`` from the declaration, name and content."""
    with path.open("rb") as fh:
        head = fh.read(8192)
    if not head:
        raise EmptySourceError(f"{path}: the file is empty (0 bytes)")
    magic = next((kind for m, kind in _MAGIC.items() if head.startswith(m)), None)
    name = path.name.lower()
    if magic == "zip":
        if name.endswith((".xlsx", ".xlsm")) or b"xl/" in head:
            raise SourceError(f"{path}: this is an Excel workbook, not CSV; export it as CSV")
        return "zip"
    if magic == "parquet":
        return "parquet"
    if magic in ("gzip", "zstd"):
        return declared or _format_from_name(name.rsplit(".", 1)[0]) or "csv"
    if magic is not None:
        raise SourceError(f"{path}: this is {magic}, not a data file segmint can read")
    nul = head.find(b"\x00")
    if nul >= 0:
        utf16 = _utf16_pattern(head)
        if utf16:
            raise SourceError(
                f"{path}: this looks like {utf16} text without a byte-order mark; declare "
                f"it with `csv: {{encoding: utf-16}}`"
            )
        raise SourceError(
            f"{path}: binary data at byte {nul}: this is not a text CSV/NDJSON file "
            f"(read as {encoding})"
        )
    fmt = declared or _format_from_name(name) or "csv"
    if fmt == "csv" and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        raise SourceError(
            f"{path}: this looks like JSON, not CSV; name it .ndjson or declare `format: ndjson`"
        )
    if fmt == "parquet":
        raise SourceError(f"{path}: declared parquet but the file is text")
    return fmt


def _format_from_name(name: str) -> str | None:
    for suffix, fmt in ((".parquet", "parquet"), (".ndjson", "ndjson"), (".jsonl", "ndjson")):
        if name.endswith(suffix):
            return fmt
    if name.endswith(".json"):
        return "ndjson"
    if name.endswith((".csv", ".tsv", ".txt")):
        return "csv"
    return None


def open_file(
    con: Any,
    path: Path,
    declared: str | None,
    csv: CsvOptions,
    tag: str,
    *,
    materialize: bool = False,
) -> OpenedFile:
    """Expose ``path`` to the DuckDB connection ``con``; ``tag`` names its temp objects.

    With ``materialize`` a CSV file is read once into a temp table (dropped by the caller,
    ``temp_table``), so that record numbers come from row ids and the checks that follow run
    on every core; a streamed ``row_number()`` would hold the whole query to one thread.
    """
    codec = _utf16_codec(path, csv.encoding)
    if codec is not None:
        return _open_transcoded(con, path, declared, csv, tag, materialize, codec)
    fmt = detect_format(path, declared, csv.encoding)
    if fmt == "zip":
        return _open_zip(con, path, declared, csv, tag, materialize)
    if fmt == "parquet":
        return _open_parquet(con, path)
    if fmt == "ndjson":
        return _open_ndjson(con, path, tag)
    if fmt == "csv" and _undeclared_latin1(path, csv):
        csv = csv.model_copy(update={"encoding": "latin-1"})
    if fmt == "csv" and csv.delimiter in WHITESPACE:
        return _open_whitespace(con, path, csv, tag, materialize)
    return _open_csv(con, path, csv, tag, materialize)


#: ``csv.delimiter`` values that mean "separated by runs of spaces or tabs"
WHITESPACE = (" ", "whitespace")
_RUN = re.compile(r"[ \t]+")


def _open_whitespace(
    con: Any, path: Path, csv: CsvOptions, tag: str, materialize: bool
) -> OpenedFile:
    """Read whitespace-separated text (fields split by runs of spaces or tabs, as fixed-width
    exports and many research datasets are written) through a tab-separated copy, one line for
    each line, so record numbers stay those of the file. Such files have no quoting."""
    tmp = Path(tempfile.mkdtemp(prefix="segmint-ws-"))
    packed = _is_gzip(path)
    target = tmp / (path.name.removesuffix(".gz") if packed else path.name)
    codec = "latin-1" if csv.encoding == "latin-1" else "utf-8"
    n = 0
    try:
        with (
            gzip.open(path, "rb") if packed else path.open("rb") as raw,
            io.TextIOWrapper(raw, encoding=codec, newline="") as src,
            target.open("w", encoding="utf-8", newline="") as dst,
        ):
            for line in src:  # streamed, never held whole
                n += 1
                body = line.rstrip("\r\n")
                dst.write(_RUN.sub("\t", body.strip(" \t")) + line[len(body) :])
    except UnicodeDecodeError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SourceError(
            f"{path}: not valid {codec} text near line {n + 1}: {exc.reason}; declare "
            "`csv: {encoding: ...}`"
        ) from None
    options = csv.model_copy(update={"delimiter": "\t", "quote": "", "encoding": "utf-8"})
    try:
        opened = _open_csv(con, target, options, tag, materialize)
    except SourceError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SourceError(str(exc).replace(str(target), str(path))) from None
    opened.path, opened.read_path = path, target
    opened.cleanup.append(tmp)
    return opened


_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")


def _undeclared_latin1(path: Path, csv: CsvOptions) -> bool:
    """True when no encoding was declared and the file's start is latin-1, not UTF-8.

    Text with bytes that are not UTF-8 and no UTF-8 character sequence at all is what
    spreadsheets export as latin-1 (Windows-1252); read as UTF-8, its lines would be refused.
    """
    if "encoding" in csv.model_fields_set:
        return False
    with path.open("rb") as fh:
        head = fh.read(1 << 20)
    try:
        head.decode("utf-8")
        return False
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut by the sample's end
            return False
    return _UTF8_MULTIBYTE.search(head) is None


def _open_zip(
    con: Any, path: Path, declared: str | None, csv: CsvOptions, tag: str, materialize: bool
) -> OpenedFile:
    with zipfile.ZipFile(path) as zf:
        members = [m for m in zf.infolist() if not m.is_dir() and not m.filename.startswith("__")]
        if len(members) != 1:
            names = ", ".join(m.filename for m in members[:5])
            raise SourceError(f"{path}: a zip source must hold exactly one file, it holds: {names}")
        tmp = Path(tempfile.mkdtemp(prefix="segmint-zip-"))
        target = tmp / Path(members[0].filename).name
        with zf.open(members[0]) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)  # streamed to disk, never held in memory
    opened = open_file(con, target, declared, csv, tag, materialize=materialize)
    opened.path, opened.read_path = path, target
    opened.cleanup.append(tmp)
    return opened


_BOMS = {b"\xff\xfe": "UTF-16 LE", b"\xfe\xff": "UTF-16 BE"}


def _utf16_pattern(head: bytes) -> str | None:
    """``UTF-16 LE``/``BE`` when most ASCII characters of ``head`` come with a NUL byte."""
    pairs = len(head) // 2
    if pairs < 2:
        return None
    even = head[0 : pairs * 2 : 2].count(0)
    odd = head[1 : pairs * 2 : 2].count(0)
    if odd >= 0.3 * pairs and even < 0.05 * pairs:
        return "UTF-16 LE"
    if even >= 0.3 * pairs and odd < 0.05 * pairs:
        return "UTF-16 BE"
    return None


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _text_head(path: Path, size: int = 8192) -> bytes:
    """The first ``size`` bytes of the text in ``path``, inside a gzip file if it is one."""
    with gzip.open(path, "rb") if _is_gzip(path) else path.open("rb") as fh:
        try:
            return fh.read(size)
        except (OSError, EOFError):  # a damaged gzip stream is the CSV reader's to report
            return b""


def _utf16_codec(path: Path, encoding: str) -> str | None:
    """The Python codec to transcode ``path`` with, when it is UTF-16 (by BOM or declaration),
    also inside a gzip file. zstd needs a library the standard one lacks: a UTF-16 zstd file is
    refused with what to do."""
    with path.open("rb") as fh:
        zstd = fh.read(4) == b"\x28\xb5\x2f\xfd"
    if zstd:
        if encoding == "utf-16":
            raise SourceError(
                f"{path}: UTF-16 text inside zstd cannot be read; compress it with gzip, or "
                "re-encode it as UTF-8"
            )
        return None
    head = _text_head(path)
    if head[:2] in _BOMS:
        return "utf-16"  # reads the byte order from the BOM and drops it
    if encoding != "utf-16":
        return None
    return "utf-16-be" if _utf16_pattern(head) == "UTF-16 BE" else "utf-16-le"


def _open_transcoded(
    con: Any,
    path: Path,
    declared: str | None,
    csv: CsvOptions,
    tag: str,
    materialize: bool,
    codec: str,
) -> OpenedFile:
    """Read a UTF-16 file (plain or gzip) through a UTF-8 copy (DuckDB's readers do not
    decode UTF-16)."""
    tmp = Path(tempfile.mkdtemp(prefix="segmint-utf16-"))
    packed = _is_gzip(path)
    target = tmp / (path.name.removesuffix(".gz") if packed else path.name)
    decoder = codecs.getincrementaldecoder(codec)("strict")
    done = 0
    try:
        with (
            gzip.open(path, "rb") if packed else path.open("rb") as src,
            target.open("w", encoding="utf-8", newline="") as dst,
        ):
            for chunk in iter(lambda: src.read(1 << 20), b""):
                dst.write(decoder.decode(chunk))  # streamed in 1 MB chunks, never held whole
                done += len(chunk)
            dst.write(decoder.decode(b"", final=True))
        opened = open_file(
            con,
            target,
            declared,
            csv.model_copy(update={"encoding": "utf-8"}),
            tag,
            materialize=materialize,
        )
    except UnicodeDecodeError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        name = codec.upper().replace("UTF-16-", "UTF-16 ")
        raise SourceError(
            f"{path}: not valid {name} text at byte {done + exc.start}: {exc.reason}"
        ) from None
    except SourceError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SourceError(str(exc).replace(str(target), str(path))) from None
    opened.path, opened.read_path = path, target
    opened.cleanup.append(tmp)
    return opened


def _csv_args(csv: CsvOptions) -> str:
    args = [
        "all_varchar=true",
        f"header={'true' if csv.header else 'false'}",
        "null_padding=false",
        "strict_mode=true",
        f"skip={csv.skip}",
        f"encoding={lit(csv.encoding)}",
    ]
    if csv.delimiter is not None:
        args.append(f"delim={lit(csv.delimiter)}")
    if csv.quote is not None:
        args.append(f"quote={lit(csv.quote)}")
    return ", ".join(args)


def _open_csv(
    con: Any, path: Path, csv: CsvOptions, tag: str, materialize: bool = False
) -> OpenedFile:
    rejects = f"_rejects_{tag}"
    scans = f"_rejscan_{tag}"
    reader = (
        f"read_csv({lit(str(path))}, {_csv_args(csv)}, store_rejects=true, "
        f"rejects_table={lit(rejects)}, rejects_scan={lit(scans)})"
    )
    try:
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]
    except Exception as exc:  # duckdb raises several types; the message is what matters
        raise SourceError(f"{path}: cannot be read as CSV: {_first_line(exc)}") from None
    if not cols or (cols == ["column0"] and _only_blank(path)):
        raise EmptySourceError(f"{path}: the file is empty: no header and no rows")
    select = ", ".join(ident(c) for c in cols)
    if not materialize:
        sql = f"SELECT {select}, row_number() OVER () AS _rec FROM {reader}"
        return OpenedFile(path, "csv", sql, cols, rejects_table=rejects)
    table = f"_file_{tag}"
    try:
        # read in file order (insertion order is preserved), so rowid + 1 is the record number
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {select} FROM {reader}")
    except Exception as exc:  # an encoding error deep in the file, say
        raise SourceError(f"{path}: cannot be read as CSV: {_first_line(exc)}") from None
    _reject_unclosed_quotes(con, path, csv, reader, table, rejects, cols)
    _faithful_rejected_lines(con, path, csv, rejects)
    if (
        not con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        and not (con.execute(f"SELECT count(*) FROM {rejects}").fetchone()[0])
    ):
        raise EmptySourceError(f"{path}: the file is empty: a header and no rows")
    sql = f"SELECT {select}, rowid + 1 AS _rec FROM {table}"
    return OpenedFile(path, "csv", sql, cols, rejects_table=rejects, temp_table=table)


def _reject_unclosed_quotes(
    con: Any, path: Path, csv: CsvOptions, reader: str, table: str, rejects: str, cols: list[str]
) -> None:
    """Move rows with a value that opens a quote and never closes it to the malformed lines.

    When a file's quoting is broken, DuckDB's sniffer reads it with no quote character at all,
    so ``c2,"bob@example.com,FR`` loads with the quote kept in the value. Such rows are taken
    out of ``table`` and logged in ``rejects`` (as ``csv_malformed``) with their line number
    and text as found by reading the file's lines again (only when such a row exists).
    """
    q = csv.quote or '"'
    if csv.quote is None:
        sniffed = _sniff(con, path, csv)
        if sniffed is None or sniffed[1] not in ("(empty)", "", "\x00"):
            return  # a quote character is in use: DuckDB rejects unclosed quotes itself
    elif csv.quote:
        return
    bad = " OR ".join(
        f"(starts_with({ident(c)}, {lit(q)}) AND NOT (length({ident(c)}) > 1 "
        f"AND ends_with({ident(c)}, {lit(q)})))"
        for c in cols
    )
    rowids = [
        r[0] for r in con.execute(f"SELECT rowid FROM {table} WHERE {bad} ORDER BY 1").fetchall()
    ]
    if not rowids:
        return
    rejected = {r[0] for r in con.execute(f"SELECT DISTINCT line FROM {rejects}").fetchall()}
    delim = csv.delimiter or (_sniff(con, path, csv) or (",", ""))[0]
    lines = [
        (n, text)
        for n, text in _physical_lines(path, csv)
        if n not in rejected and _unclosed(text, delim, q)
    ]
    if len(lines) != len(rowids):  # cannot pair them: say where the row was read instead
        first = csv.skip + (2 if csv.header else 1)
        lines = [(first + r, None) for r in rowids]
    for (n, text), rowid in zip(lines, rowids, strict=True):
        con.execute(
            f"INSERT INTO {rejects} (line, error_type, csv_line, error_message) "
            f"SELECT ?, 'UNQUOTED VALUE', coalesce(?, concat_ws({lit(delim)}, "
            f"{', '.join(ident(c) for c in cols)})), ? FROM {table} WHERE rowid = ?",
            [n, text, f"a value opens a quote ({q}) that is never closed", rowid],
        )
    con.execute(f"DELETE FROM {table} WHERE {bad}")
    # rowid + 1 is the record number: renumber the rows that are left
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM {table} ORDER BY rowid")


def _sniff(con: Any, path: Path, csv: CsvOptions) -> tuple[str, str] | None:
    """DuckDB's ``(delimiter, quote)`` for ``path`` read as declared; None if it cannot tell."""
    args = [f"encoding={lit(csv.encoding)}", f"skip={csv.skip}", "ignore_errors=true"]
    if csv.delimiter is not None:
        args.append(f"delim={lit(csv.delimiter)}")
    try:
        row = con.execute(
            f"SELECT Delimiter, Quote FROM sniff_csv({lit(str(path))}, {', '.join(args)})"
        ).fetchone()
    except Exception:  # duckdb raises several types; the check is then left to the reader
        return None
    return (row[0], row[1]) if row else None


def _faithful_rejected_lines(con: Any, path: Path, csv: CsvOptions, rejects: str) -> None:
    """Give lines refused for their encoding as they are in the file (DuckDB garbles them)."""
    bad = {
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT line FROM {rejects} WHERE error_type = 'INVALID ENCODING'"
        ).fetchall()
    }
    if not bad:
        return
    for n, text in _physical_lines(path, csv, first=1):
        if n in bad:
            con.execute(f"UPDATE {rejects} SET csv_line = ? WHERE line = ?", [text, n])


def _physical_lines(path: Path, csv: CsvOptions, first: int | None = None) -> Any:
    """``(line number, text)`` of each non-blank data line of ``path``, streamed.

    Bytes that are not text in the file's encoding are kept as ``\\xNN`` escapes.
    """
    first = csv.skip + (2 if csv.header else 1) if first is None else first
    codec = "latin-1" if csv.encoding == "latin-1" else "utf-8"
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            text = raw.rstrip(b"\r\n").decode(codec, errors="backslashreplace")
            if n >= first and text.strip():
                yield n, text


def _unclosed(line: str, delim: str, quote: str) -> bool:
    return any(
        f.startswith(quote) and not (len(f) > 1 and f.endswith(quote)) for f in line.split(delim)
    )


def _only_blank(path: Path) -> bool:
    with path.open("rb") as fh:
        return not fh.read(4096).strip()


def _open_parquet(con: Any, path: Path) -> OpenedFile:
    reader = f"read_parquet({lit(str(path))}, file_row_number=true)"
    try:
        desc = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
    except Exception as exc:
        raise SourceError(f"{path}: cannot be read as Parquet: {_first_line(exc)}") from None
    cols = [r[0] for r in desc if r[0] != "file_row_number"]
    nested = {r[0] for r in desc if re.match(r"(STRUCT|MAP|.*\[\])", str(r[1]))}
    exprs = [
        f"to_json({ident(c)})::VARCHAR AS {ident(c)}"
        if c in nested
        else f"CAST({ident(c)} AS VARCHAR) AS {ident(c)}"
        for c in cols
    ]
    sql = f"SELECT {', '.join(exprs)}, file_row_number + 1 AS _rec FROM {reader}"
    return OpenedFile(path, "parquet", sql, cols)


def _open_ndjson(con: Any, path: Path, tag: str) -> OpenedFile:
    # Read each line as text so one malformed line is quarantined, not fatal to the file.
    lines = (
        f"read_csv({lit(str(path))}, columns={{'_line': 'VARCHAR'}}, header=false, "
        f"delim={lit(chr(1))}, quote='', escape='', auto_detect=false)"
    )
    base = f"SELECT _line, row_number() OVER () AS _rec FROM {lines} WHERE trim(_line) <> ''"
    try:
        keys = con.execute(
            f"SELECT DISTINCT unnest(json_keys(_line)) FROM (SELECT _line FROM ({base}) "
            f"WHERE json_valid(_line) LIMIT 10000)"
        ).fetchall()
    except Exception as exc:
        raise SourceError(f"{path}: cannot be read as NDJSON: {_first_line(exc)}") from None
    cols = sorted(k[0] for k in keys)
    if not cols:
        raise SourceError(f"{path}: no JSON object found in the first lines: is it NDJSON?")
    exprs = [
        f"CASE WHEN json_valid(_line) THEN json_extract_string(_line, {lit('$.' + _json_key(c))})"
        f" END AS {ident(c)}"
        for c in cols
    ]
    view = f"_ndjson_{tag}"
    con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS {base}")
    sql = (
        f"SELECT {', '.join(exprs)}, _rec, NOT json_valid(_line) AS _malformed, "
        f"_line AS _text FROM {view}"
    )
    return OpenedFile(path, "ndjson", sql, cols)


def _json_key(name: str) -> str:
    return '"' + name.replace('"', '\\"') + '"'


def error_reason(exc: BaseException) -> str:
    """A one-line reason for ``exc`` that is never empty.

    DuckDB sometimes raises with a bare prefix (``Invalid Input Error: ``) and no detail; the
    exception type and the next non-blank line of the message are given instead.
    """
    name = type(exc).__name__
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if not lines:
        return f"{name} (the reader gave no detail)"
    first = lines[0].rstrip(":").strip()
    if first != lines[0]:  # a bare "Invalid Input Error:" prefix
        detail = lines[1] if len(lines) > 1 else "the reader gave no detail"
        return f"{first} ({name}): {detail}"
    return first


_first_line = error_reason
