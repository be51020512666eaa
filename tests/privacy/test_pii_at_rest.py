"""No clear PII at rest: warehouse tables, the DuckDB file, the quarantine and the reports.

A small CRM export with e-mails, phones and names is ingested into a DuckDB file and, as a
second backend, a PostgreSQL schema. Every place segmint writes to is then searched for the
clear values, with a positive control (a non-PII value from the same rows) proving each search
can see clear text where there is some. The values must still be readable with the key, and
two rows of one person (the same e-mail written differently) must merge through the keyed hash.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from segmint.cli import app
from segmint.config import ProjectConfig, load_config
from segmint.errors import KeyMissingError
from segmint.ingest import IngestReport, ingest
from segmint.privacy import PiiCipher, generate_key, load_master_key
from segmint.profiles import customer_profile
from segmint.report import write_reports
from segmint.warehouse import connect
from tests.conftest import pg_base_url, write

CRM = """\
customer_id,email,phone,first_name,last_name,age,city,updated_at
c1,Zebediah.Quillfeather@Example.com,+49 30 9876 5432,Zebediah,Quillfeather,34,Berlin,2024-01-01
c2,"  zebediah.QUILLFEATHER@example.COM ",,Zebedee,Quillfeather,35,Berlin,2024-02-01
c3,ottoline.bramblewick@example.org,+44 20 7946 0991,Ottoline,Bramblewick,-4,Leeds,2024-01-05
c4,Marguerite.Vantongeren@example.net,+33 1 45 67 89 01,Marguerite,Vantongeren,29,Paris,2024-01-06
c5,wolfram-at-nowhere,12,Wolfram,Eisenhardt,41,Munich,2024-01-07
"""
#: a second source maps the e-mail through an expression from a differently named column
NEWSLETTER = """\
id,mail,age
n1,ZEBEDIAH.quillfeather@example.com,36
n2,Ignatius.Pemberton@example.com,-1
"""
PROJECT = """\
project: pii
warehouse: "{url}"
pii: [email, phone, first_name, last_name]
sources:
  - {{name: crm, path: crm.csv, table: customers}}
  - name: newsletter
    path: newsletter.csv
    table: customers
    columns: {{customer_id: id, email: {{expr: "lower(mail)"}}, age: age}}
"""
#: every clear PII value above, as lower-case fragments (names, e-mail parts, phone digits)
NEEDLES = (
    "zebediah",
    "zebedee",
    "quillfeather",
    "ottoline",
    "bramblewick",
    "marguerite",
    "vantongeren",
    "wolfram",
    "eisenhardt",
    "ignatius",
    "pemberton",
    "9876 5432",
    "98765432",
    "7946 0991",
    "79460991",
    "45 67 89 01",
    "45678901",
)


def leaks(data: str | bytes) -> set[str]:
    """The clear PII fragments found in ``data`` (case-insensitive)."""
    if isinstance(data, bytes):
        low = data.lower()
        return {n for n in NEEDLES if n.encode() in low}
    low = data.lower()
    return {n for n in NEEDLES if n in low}


@dataclass
class Loaded:
    cfg: ProjectConfig
    report: IngestReport
    key: str

    @property
    def home(self) -> Path:
        return self.cfg.home_dir


@contextmanager
def pg_schema_url() -> Iterator[str]:
    """Like conftest's ``pg_url`` (a schema of its own, dropped after), for a whole module."""
    psycopg = pytest.importorskip("psycopg")
    base = pg_base_url()
    try:
        conn = psycopg.connect(base, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {base} (make test starts one): {exc}")
    schema = f"segmint_test_{uuid.uuid4().hex[:10]}"
    try:
        yield f"{base}{'&' if '?' in base else '?'}schema={schema}"
    finally:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()


@pytest.fixture(
    scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def loaded_once(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    """One ingest per backend, shared by the module's tests (which only read)."""
    tmp_path = tmp_path_factory.mktemp(f"pii_{request.param}")
    key = generate_key()
    with ExitStack() as stack:
        url = "duckdb:///.segmint/w.duckdb"
        if request.param == "postgres":
            url = stack.enter_context(pg_schema_url())
        write(tmp_path / "crm.csv", CRM)
        write(tmp_path / "newsletter.csv", NEWSLETTER)
        write(tmp_path / "segmint.yaml", PROJECT.format(url=url))
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        mp.setenv("SEGMINT_KEY", key)
        mp.delenv("SEGMINT_KEY_FILE", raising=False)
        mp.delenv("SEGMINT_WAREHOUSE", raising=False)
        cfg = load_config(tmp_path)
        report = ingest(cfg)
        write_reports(report, cfg.home_dir / "reports")
        mp.undo()
        yield Loaded(cfg, report, key)


@pytest.fixture
def loaded(loaded_once: Loaded, monkeypatch: pytest.MonkeyPatch) -> Loaded:
    """The shared run, with its key in SEGMINT_KEY for this test."""
    monkeypatch.setenv("SEGMINT_KEY", loaded_once.key)
    return loaded_once


def text_values(table: pa.Table) -> Iterator[tuple[str, str]]:
    """(column, value) for every non-null value of every string column."""
    for name in table.column_names:
        col = table[name]
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            for v in col.to_pylist():
                if v is not None:
                    yield name, v


def test_the_run_sets_aside_the_rows_the_other_tests_inspect(loaded: Loaded) -> None:
    """The setting the other tests rely on: one rejected row per source, two format findings."""
    crm, news = loaded.report.files
    assert (crm.records, crm.loaded, crm.rejected, crm.nullified) == (5, 4, 1, 2)
    assert (news.records, news.loaded, news.rejected) == (2, 1, 1)
    assert {r: i["rows"] for r, i in crm.rules.items()} == {
        "age_range": 1,
        "email_format": 1,
        "phone_format": 1,
    }


def test_no_text_column_of_any_table_holds_clear_pii(loaded: Loaded) -> None:
    """Every string value of every warehouse table (through the warehouse API, so the same
    check runs on DuckDB and PostgreSQL) is free of clear PII; PII columns exist only as
    ``<col>_enc`` tokens and ``<col>_hash`` digests."""
    found: dict[str, set[str]] = {}
    cities: set[str] = set()
    with connect(loaded.cfg.warehouse, loaded.cfg.base_dir) as wh:
        tables = wh.list_tables()
        assert {"customer_records", "customers", "identities", "quarantine"} <= set(tables)
        for name in tables:
            data = wh.to_arrow(name)
            for col, value in text_values(data):
                if hit := leaks(value):
                    found.setdefault(f"{name}.{col}", set()).update(hit)
                if col == "city":
                    cities.add(value)
            if name in ("customer_records", "customers"):
                assert not {"email", "phone", "first_name", "last_name"} & set(data.column_names)
                for pii in ("email", "phone", "first_name", "last_name"):
                    tokens = [v for v in data[f"{pii}_enc"].to_pylist() if v is not None]
                    digests = [v for v in data[f"{pii}_hash"].to_pylist() if v is not None]
                    assert tokens and all(t.startswith("v1:") for t in tokens)
                    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in digests)
    assert found == {}
    assert cities == {"Berlin", "Paris", "Munich"}  # the scan does see clear text


def test_quarantined_rows_keep_pii_encrypted(loaded: Loaded) -> None:
    """A rejected row (negative age) and a row with a malformed e-mail keep their original
    values for inspection, but PII only as tokens that decrypt with the key.

    Regression: with ``email: {expr: "lower(mail)"}`` the file column ``mail`` was copied into
    the quarantine row (and the reports) in clear."""
    cipher = PiiCipher(load_master_key())
    with connect(loaded.cfg.warehouse, loaded.cfg.base_dir) as wh:
        rows = wh.to_arrow("quarantine").to_pylist()
    by = {(r["source"], r["rule"]): json.loads(r["row"]) for r in rows}
    assert set(by) == {
        ("crm", "age_range"),
        ("crm", "email_format"),
        ("crm", "phone_format"),
        ("newsletter", "age_range"),
    }
    assert not set().union(*(leaks(r["row"]) | leaks(r["message"]) for r in rows))
    rejected = by["crm", "age_range"]
    assert (rejected["customer_id"], rejected["age"], rejected["city"]) == ("c3", "-4", "Leeds")
    clear = {c: cipher.decrypt(rejected[c], f"raw:{c}") for c in ("email", "phone", "last_name")}
    assert clear == {
        "email": "ottoline.bramblewick@example.org",
        "phone": "+44 20 7946 0991",
        "last_name": "Bramblewick",
    }
    malformed = by["crm", "email_format"]
    assert cipher.decrypt(malformed["email"], "raw:email") == "wolfram-at-nowhere"
    news = by["newsletter", "age_range"]
    assert news["id"] == "n2" and news["age"] == "-1"
    assert news["mail"].startswith("v1:")
    assert cipher.decrypt(news["mail"], "raw:mail") == "Ignatius.Pemberton@example.com"


def test_reports_and_every_file_at_rest_hold_no_clear_pii(loaded: Loaded) -> None:
    """The JSON and HTML reports (which quote example rows), and for DuckDB the database file
    and any WAL or spill file, read as raw bytes after the run closed them."""
    reports = sorted((loaded.home / "reports").glob("ingest-*"))
    assert {p.suffix for p in reports} == {".json", ".html"}
    files = sorted(p for p in loaded.home.rglob("*") if p.is_file())
    if loaded.cfg.warehouse.startswith("duckdb"):
        assert loaded.home / "w.duckdb" in files
    found = {str(p.relative_to(loaded.home)): leaks(p.read_bytes()) for p in files}
    assert {k: v for k, v in found.items() if v} == {}
    # controls: the examples quoted in the reports, and the database, show clear non-PII text
    html = (loaded.home / "reports" / "ingest-latest.html").read_text()
    assert "age=-4 is outside 0..120" in html and "Leeds" in html
    if loaded.cfg.warehouse.startswith("duckdb"):
        assert b"Leeds" in (loaded.home / "w.duckdb").read_bytes()


def test_values_decrypt_back_and_one_person_merges(loaded: Loaded) -> None:
    """The same e-mail, differently cased and padded, in two rows and in a second source
    under another column name, hashes to one identifier: three accounts, one customer.

    Revealed with the key, the profile shows the newest non-empty values in clear."""
    cipher = PiiCipher(load_master_key())
    profile = customer_profile(loaded.cfg, "  ZEBEDIAH.quillfeather@EXAMPLE.com ", reveal=True)
    assert profile["customer_id"] == "c1"
    assert profile["n_accounts"] == 3
    ids = {(i["identifier_type"], i["identifier"]) for i in profile["identifiers"]}
    assert ids == {
        ("customer_id", "c1"),
        ("customer_id", "c2"),
        ("customer_id", "n1"),
        ("email", cipher.hash("zebediah.quillfeather@example.com")),
        ("phone", cipher.hash("+493098765432")),
    }
    # c2 is the newest record; c2 has no phone, so c1's is kept
    assert {k: profile[k] for k in ("email", "phone", "first_name", "last_name")} == {
        "email": "zebediah.QUILLFEATHER@example.COM",
        "phone": "+49 30 9876 5432",
        "first_name": "Zebedee",
        "last_name": "Quillfeather",
    }
    masked = customer_profile(loaded.cfg, "c2")
    assert masked["customer_id"] == "c1"
    assert masked["email"] == "(encrypted: --reveal to show)"
    with connect(loaded.cfg.warehouse, loaded.cfg.base_dir) as wh:
        customers = wh.to_arrow("customers")["customer_id"].to_pylist()
    assert sorted(customers) == ["c1", "c4", "c5"]  # c3 and n2 were rejected


def test_customers_show_reveals_with_the_key(loaded: Loaded) -> None:
    """`segmint customers show <e-mail> --reveal` finds the person by the hash of the e-mail
    and prints it decrypted; without --reveal the output holds no clear PII."""
    runner = CliRunner()
    config = str(loaded.cfg.base_dir / "segmint.yaml")
    shown = runner.invoke(
        app, ["customers", "show", "Marguerite.Vantongeren@EXAMPLE.net", "-c", config, "--reveal"]
    )
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.stdout)
    assert (data["customer_id"], data["first_name"], data["phone"]) == (
        "c4",
        "Marguerite",
        "+33 1 45 67 89 01",
    )
    masked = runner.invoke(app, ["customers", "show", "c4", "-c", config])
    assert masked.exit_code == 0, masked.output
    assert leaks(masked.output) == set() and "c4" in masked.output


def test_pii_in_a_table_of_your_own_is_encrypted_too(tmp_path: Path, pii_key: str) -> None:
    """Regression: a source loading a table of its own stored its PII columns in clear.

    Without `columns:` the e-mail column is found by its snake_case name; a row without the
    required age still keeps the address encrypted in the quarantine's copy of the row."""
    write(
        tmp_path / "survey.csv",
        "Respondent,Email,Age\nr1,dora@example.org,34\nr2,eve@example.org,\n",
    )
    write(
        tmp_path / "segmint.yaml",
        "project: s\npii: [email]\n"
        "sources:\n  - {name: survey, path: survey.csv, table: survey_answers, "
        "required: [age]}\n",
    )
    cfg = load_config(tmp_path / "segmint.yaml")
    report = ingest(cfg)
    assert (report.total("loaded"), report.total("rejected")) == (1, 1)
    with connect(cfg.warehouse, cfg.base_dir) as wh:
        stored = wh.to_arrow("survey_answers").to_pylist()
        quarantined = wh.to_arrow("quarantine").to_pylist()
    assert set(stored[0]) >= {"respondent", "email_enc", "email_hash", "age"}
    assert "email" not in stored[0]
    cipher = PiiCipher(load_master_key())
    assert cipher.decrypt(stored[0]["email_enc"], "email") == "dora@example.org"
    assert cipher.hash("dora@example.org") == stored[0]["email_hash"]
    row = json.loads(quarantined[0]["row"])
    assert cipher.decrypt(row["Email"], "raw:Email") == "eve@example.org"
    at_rest = (tmp_path / ".segmint" / "warehouse.duckdb").read_bytes()
    assert b"dora@example" not in at_rest and b"eve@example" not in at_rest


def test_pii_in_a_table_of_your_own_needs_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No key: the run stops with the reason instead of storing the column in clear."""
    monkeypatch.delenv("SEGMINT_KEY", raising=False)
    write(tmp_path / "survey.csv", "Respondent,Email\nr1,dora@example.org\n")
    write(
        tmp_path / "segmint.yaml",
        "project: s\npii: [email]\n"
        "sources:\n  - {name: survey, path: survey.csv, table: survey_answers}\n",
    )
    with pytest.raises(KeyMissingError, match=r"sources\[survey\]: column\(s\) email are PII"):
        ingest(load_config(tmp_path / "segmint.yaml"))
