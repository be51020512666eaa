"""Reading source files as they come from shops: encodings, broken quoting, odd contents."""

from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb
import pytest

from segmint.config import load_config
from segmint.ingest import IngestReport, check_sources, ingest
from segmint.sources import error_reason

HEAD = "project: t\nwarehouse: duckdb:///.segmint/w.duckdb\ntimezone: UTC\n"
CUSTOMERS = "customer_id,email,country\nc1,ann@example.com,FR\nc2,bob@example.com,DE\n"


def project(tmp_path: Path, body: str) -> None:
    (tmp_path / "segmint.yaml").write_text(HEAD + textwrap.dedent(body))


def crm(tmp_path: Path, content: bytes, extra: str = "", pii: bool = False) -> IngestReport:
    (tmp_path / "c.csv").write_bytes(content)
    head = "pii: [email]\n" if pii else ""
    project(tmp_path, f"{head}sources:\n  - {{name: crm, path: c.csv, table: customers{extra}}}\n")
    return ingest(load_config(tmp_path))


def query(tmp_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(tmp_path / ".segmint" / "w.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_an_all_empty_pii_column_loads(tmp_path: Path, pii_key: str) -> None:
    """Issue 14 defect 3: a PII column empty in every row failed the file with an empty reason."""
    report = crm(tmp_path, b"customer_id,email,country\nc1,,FR\nc2,,DE\n", pii=True)
    (f,) = report.files
    assert (f.status, f.loaded) == ("loaded", 2), f.message
    assert query(tmp_path, "SELECT count(*) FROM customers WHERE email_hash IS NULL") == [(2,)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "Exception (the reader gave no detail)"),
        ("Invalid Input Error: ", "Invalid Input Error (Exception): the reader gave no detail"),
        ("Invalid Input Error:\nline 3 is bad", "Invalid Input Error (Exception): line 3 is bad"),
        ("Conversion Error: bad\nmore", "Conversion Error: bad"),
    ],
)
def test_an_error_reason_is_never_empty(text: str, expected: str) -> None:
    """Issue 14 defect 3: "cannot be read: Invalid Input Error: " ended with no reason."""
    assert error_reason(Exception(text)) == expected


@pytest.mark.parametrize(
    ("codec", "declared"),
    [
        ("utf-16", True),  # little-endian with a BOM
        ("utf-16-le", True),
        ("utf-16-be", True),
        ("utf-16", False),  # a BOM is enough without a declaration
        ("\ufeffutf-16-be", False),  # big-endian with a BOM
    ],
)
def test_utf16_files_are_read(tmp_path: Path, codec: str, declared: bool) -> None:
    """Issue 14 defect 4: `encoding: utf-16` (documented) was refused as "binary data"."""
    bom, codec = ("\ufeff", codec[1:]) if codec.startswith("\ufeff") else ("", codec)
    extra = ", csv: {encoding: utf-16}" if declared else ""
    report = crm(tmp_path, (bom + CUSTOMERS.replace("ann", "anné")).encode(codec), extra)
    (f,) = report.files
    assert (f.status, f.loaded, f.rejected) == ("loaded", 2, 0), f.message
    assert sorted(query(tmp_path, "SELECT customer_id, country FROM customers")) == [
        ("c1", "FR"),
        ("c2", "DE"),
    ]
    assert f.path == str(tmp_path / "c.csv")  # reported under the file's own name


def test_undeclared_utf16_without_bom_is_refused_naming_the_encoding(tmp_path: Path) -> None:
    """Issue 14 defect 4: an undeclared UTF-16 file got "binary data" with no hint."""
    (f,) = crm(tmp_path, CUSTOMERS.encode("utf-16-le")).files
    assert f.status == "failed"
    assert "UTF-16 LE" in f.message and "encoding: utf-16" in f.message


def test_an_unclosed_quote_is_csv_malformed(tmp_path: Path) -> None:
    """Issue 14 defect 5: `c2,"bob.two@…,FR` loaded silently, the quote kept in the e-mail."""
    content = (
        b'customer_id,email,country\nc1,ann@example.com,FR\nc2,"bob.two@example.com,FR\n'
        b"c3,cat@example.com,DE\n"
    )
    (f,) = crm(tmp_path, content).files
    assert (f.records, f.loaded, f.rejected) == (3, 2, 1), f.message
    assert f.rules == {"csv_malformed": {"action": "rejected", "rows": 1}} and f.balanced
    assert sorted(query(tmp_path, "SELECT customer_id FROM customers")) == [("c1",), ("c3",)]
    ((record, line),) = query(tmp_path, "SELECT record, row FROM quarantine")
    assert record == 3 and "c2," in line


def test_json_named_csv_says_it_looks_like_json(tmp_path: Path) -> None:
    """Issue 14 defect 8: a JSON file named .csv was refused for missing columns (none listed)."""
    (f,) = crm(tmp_path, b'{"customer_id": "c1", "country": "FR"}\n').files
    assert f.status == "failed" and "looks like JSON" in f.message


@pytest.mark.parametrize("content", [b"", b"customer_id,email,country\n"])
def test_empty_and_header_only_files_are_empty_for_ingest_and_validate(
    tmp_path: Path, content: bytes
) -> None:
    """Issue 14 defect 8: a header-only file was `loaded`; a 0-byte one ✗ for validate."""
    (f,) = crm(tmp_path, content).files
    assert f.status == "empty" and "empty" in f.message
    assert check_sources(load_config(tmp_path)) == []


def test_undeclared_latin1_is_read_as_latin1(tmp_path: Path) -> None:
    """Issue 14 defect 8: an undeclared latin-1 line was quarantined garbled (bytes lost)."""
    text = "customer_id,email,country,age\nc1,ann@example.com,FR,30\nc2,b@example.com,España,200\n"
    report = crm(tmp_path, text.encode("latin-1"))
    assert set(report.files[0].rules) == {"age_range"}
    ((row,),) = query(tmp_path, "SELECT row FROM quarantine")
    assert '"country":"España"' in row


def test_the_row_sum_is_not_ticked_when_a_file_failed(tmp_path: Path) -> None:
    """Issue 14 defect 8: the row-sum line showed ✓ beside a file that failed to load."""
    from rich.console import Console

    from segmint.report import print_report

    report = crm(tmp_path, b"\x00\x01\x02garbage")
    console = Console(record=True, width=200)
    print_report(report, console)
    out = console.export_text()
    assert "✓" not in out.split("input rows =")[1].splitlines()[0]
    assert "1 file(s) failed" in out


@pytest.mark.parametrize("declared", [True, False])
def test_gzipped_utf16_files_are_read(tmp_path: Path, declared: bool) -> None:
    """Issue 14 defect 4: UTF-16 inside a .csv.gz was looked for in the compressed bytes, so
    its BOM was never seen and a declared file was refused."""
    import gzip

    raw = ("\ufeff" + CUSTOMERS.replace("ann", "anné")).encode("utf-16-le")
    (tmp_path / "c.csv.gz").write_bytes(gzip.compress(raw))
    extra = ", csv: {encoding: utf-16}" if declared else ""
    project(tmp_path, f"sources:\n  - {{name: crm, path: c.csv.gz, table: customers{extra}}}\n")
    (f,) = ingest(load_config(tmp_path)).files
    assert (f.status, f.loaded, f.rejected) == ("loaded", 2, 0), f.message
    assert sorted(query(tmp_path, "SELECT customer_id, country FROM customers")) == [
        ("c1", "FR"),
        ("c2", "DE"),
    ]
