"""Lines that cannot be parsed keep their PII encrypted, everywhere segmint writes or prints.

Regression (issue 14, defect 1): a CSV line with the wrong number of fields (``csv_malformed``)
and an NDJSON line that is not JSON (``json_malformed``) were kept verbatim in
``quarantine.row`` / ``quarantine.message``, in the ``ingest-*.json`` / ``.html`` reports, in
the terminal's data-quality example and in ``segmint quarantine``, with the line's e-mail and
phone readable. Now the whole line is encrypted (it cannot be split into columns, so no part
of it can be told apart as non-PII), shown as ``(encrypted)``, and readable back with
``segmint quarantine --decrypt``.

The scan reads every byte under the project folder (warehouse file, WAL, reports, the online
store after a publish) and every line printed by the commands a user runs, for each PII value
in any normalised form: as written, lower-cased, its e-mail's local part, a phone's digits.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from segmint.cli import app
from segmint.config import load_config
from segmint.ingest import quarantined
from segmint.privacy import generate_key
from tests.conftest import write

CRM = """\
customer_id,email,phone,city
c1,Anna.Larsson@Example.com,+46 8 123 456 78,Stockholm
c2,Bartholomew.Twofold@example.com,+44 20 7946 0000,Leeds,EXTRA,"more"
c3,carla.moreno@example.es,+34 91 123 45 67,Madrid
c4,desdemona.fairweather@example.org,+1 (212) 555-0199,New York,"x",y,z
"""
NEWS = (
    '{"customer_id":"n1","email":"dora.nilsson@example.se","phone":"+46701234567","city":"Lund"}\n'
    '{"customer_id":"n2","email":"Evander.Quibbleworth@example.se","phone":"+46 70 765 43 21" '
    '"city":"Malmo"}\n'
    "{customer_id: n3, email: florizel.mannering@example.se, city: Uppsala\n"
)
PROJECT = """\
project: malformed
pii: [email, phone]
sources:
  - {name: crm, path: crm.csv, table: customers, max_quarantined_share: 1}
  - {name: news, path: news.ndjson, table: customers, max_quarantined_share: 1}
"""
#: the PII of the malformed lines, each as written (the forms are derived below)
SECRET_EMAILS = (
    "Bartholomew.Twofold@example.com",
    "desdemona.fairweather@example.org",
    "Evander.Quibbleworth@example.se",
    "florizel.mannering@example.se",
)
SECRET_PHONES = ("+44 20 7946 0000", "+1 (212) 555-0199", "+46 70 765 43 21")


def needles() -> set[bytes]:
    """Every normalised form of the malformed lines' PII, lower-cased, as bytes."""
    out: set[str] = set()
    for email in SECRET_EMAILS:
        out |= {email.lower(), email.split("@")[0].lower()}
    for phone in SECRET_PHONES:
        digits = re.sub(r"\D", "", phone)
        out |= {phone.lower(), digits, digits[-7:], "+" + digits}
    return {n.encode() for n in out}


def leaks(data: bytes | str) -> set[bytes]:
    low = (data.encode() if isinstance(data, str) else data).lower()
    return {n for n in needles() if n in low}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    write(tmp_path / "crm.csv", CRM)
    write(tmp_path / "news.ndjson", NEWS)
    write(tmp_path / "segmint.yaml", PROJECT)
    monkeypatch.setenv("SEGMINT_KEY", generate_key())
    monkeypatch.delenv("SEGMINT_KEY_FILE", raising=False)
    monkeypatch.delenv("SEGMINT_WAREHOUSE", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def run(project: Path, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "-c", str(project / "segmint.yaml")])
    assert result.exit_code == 0, result.output
    return result.output


def test_malformed_lines_are_quarantined_encrypted_and_shown_masked(project: Path) -> None:
    """Each malformed line is counted and kept (nothing dropped), shown as ``(encrypted)``,
    and no byte written nor line printed holds its e-mail or phone in any form."""
    printed = {
        "ingest": run(project, "ingest"),
        "quarantine": run(project, "quarantine"),
        "validate": run(project, "validate"),
        "customers": run(project, "customers"),
        "publish": run(project, "publish"),
    }
    assert "csv_malformed" in printed["ingest"] and "json_malformed" in printed["ingest"]
    assert printed["quarantine"].count("line=(encrypted)") == 4
    assert {k: leaks(v) for k, v in printed.items() if leaks(v)} == {}

    home = project / ".segmint"
    written = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.suffix == ".duckdb" for p in written)
    assert any(p.name.startswith("online") for p in written)  # the published online store
    assert {p.suffix for p in (home / "reports").glob("ingest-*")} == {".json", ".html"}
    found = {str(p.relative_to(home)): leaks(p.read_bytes()) for p in written}
    assert {k: v for k, v in found.items() if v} == {}

    report = json.loads((home / "reports" / "ingest-latest.json").read_text())
    rules = {
        (src, rule): info
        for src, data in report["sources"].items()
        for rule, info in data["rules"].items()
    }
    assert rules["crm", "csv_malformed"]["rows"] == 2
    assert rules["news", "json_malformed"]["rows"] == 2
    example = rules["crm", "csv_malformed"]["examples"][0]
    assert json.loads(example["row"]) == {"line": "(encrypted)"}
    # positive control: the same scan sees clear non-PII text where there is some
    duckdb_file = next(p for p in written if p.suffix == ".duckdb")
    assert b"Stockholm" in duckdb_file.read_bytes()
    assert "Expected Number of Columns" in printed["quarantine"]


def test_a_key_holder_reads_the_line_back(project: Path) -> None:
    """``quarantined(decrypt=True)`` (``segmint quarantine --decrypt``) gives the original
    lines, byte for byte."""
    run(project, "ingest")
    rows = quarantined(load_config(project), decrypt=True)
    lines = {r["record"]: json.loads(r["row"])["line"] for r in rows if r["source"] == "crm"}
    assert lines == {3: CRM.splitlines()[2], 5: CRM.splitlines()[4]}
    news = [json.loads(r["row"])["line"] for r in rows if r["source"] == "news"]
    assert sorted(news) == sorted(NEWS.splitlines()[1:])
    assert "Bartholomew" in run(project, "quarantine", "--decrypt")


def test_without_the_key_decrypt_is_refused(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No key: a clear message that names the settings, exit 2 (the CLI's error code),
    nothing printed in clear."""
    run(project, "ingest")
    monkeypatch.delenv("SEGMINT_KEY")
    result = CliRunner().invoke(
        app, ["quarantine", "--decrypt", "-c", str(project / "segmint.yaml")]
    )
    assert result.exit_code == 2
    assert "SEGMINT_KEY" in result.output and not leaks(result.output)
