"""The ``segmint`` command as a user drives it: exit codes, what it prints, and no tracebacks.

Commands run in-process through Typer's ``CliRunner`` (an exception escaping a command fails
the test with its traceback, even though the runner would swallow it); two run the installed
console script, where a traceback would really reach the user's terminal.
"""

from __future__ import annotations

import base64
import json
import re
import stat
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner, Result

from segmint.cli import app
from segmint.config import Settings
from segmint.privacy import PiiCipher, load_master_key
from segmint.schema import RULES
from segmint.warehouse import connect
from tests.conftest import SHARED_EMAIL, shared_email_project, write

RUNNER = CliRunner()
#: no setting of the developer's shell reaches a command unless a test passes it
CLEAN_ENV: dict[str, str | None] = {
    "SEGMINT_WAREHOUSE": None,
    "SEGMINT_KEY": None,
    "SEGMINT_KEY_FILE": None,
}


def segmint(*args: object, code: int = 0, env: dict[str, str | None] | None = None) -> Result:
    """Run ``segmint ARGS``; check the exit code and that no exception escaped."""
    argv = [str(a) for a in args]
    result = RUNNER.invoke(app, argv, env={**CLEAN_ENV, **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        tb = "".join(traceback.format_exception(*result.exc_info))
        pytest.fail(f"`segmint {' '.join(argv)}` crashed instead of exiting with a message:\n{tb}")
    assert "Traceback" not in result.output
    assert result.exit_code == code, f"exit {result.exit_code}, expected {code}:\n{result.output}"
    return result


def flat(text: str) -> str:
    """Output with line wrapping undone, for matching sentences Rich may wrap."""
    return " ".join(text.split())


def says(output: str, *needles: str) -> None:
    """Check that ``output`` says each of ``needles``, however Rich wrapped or folded its lines
    (the error console is as wide as the terminal and folds long paths mid-word)."""
    squeezed = "".join(output.split())
    missing = [n for n in needles if "".join(n.split()) not in squeezed]
    assert not missing, f"{missing} not in the output:\n{output}"


def rows(output: str) -> list[list[str]]:
    """The body rows of the Rich tables in ``output`` (wrapped continuation lines dropped)."""
    out = []
    for line in output.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            if cells[0]:
                out.append(cells)
    return out


CRM = """\
customer_id,email,country,age,updated_at
c1,anna@example.com,DE,34,2024-01-01
c2, ANNA@Example.com ,Germany,35,2024-02-01
c3,bo@example.org,Atlantis,29,2024-01-03
c4,cy@example.net,FR,-4,2024-01-04
"""
EVENTS = """\
event_id,event_type,ts,customer_id,anonymous_id
e1,page_view,2024-03-01 10:00:00,,a1
e2,login,2024-03-01 10:01:00,c1,a1
e3,teleport,2024-03-01 10:02:00,c3,
e2,login,2024-03-01 10:01:00,c1,a1
"""
LINES = """\
order_id,product_id,quantity,unit_price,ts,customer_id
o1,p1,2,10.0,2024-03-01 10:05:00,c1
o2,p2,1,5.5,2024-03-02 10:00:00,c3
"""
PROJECT = """\
project: cli-shop
warehouse: duckdb:///.segmint/w.duckdb
pii: [email]
sources:
  - {name: crm, path: crm.csv, table: customers}
  - {name: web, path: events.csv, table: events}
  - {name: shop, path: lines.csv, table: order_lines}
"""
#: crm: c4 rejected (age), c3 loses its country; web: e3 rejected, e2 repeated
SUM_LINE = "10 input rows = 7 loaded + 1 duplicates + 2 quarantined ✓"


def make_project(folder: Path) -> Path:
    write(folder / "crm.csv", CRM)
    write(folder / "events.csv", EVENTS)
    write(folder / "lines.csv", LINES)
    return write(folder / "segmint.yaml", PROJECT)


@dataclass
class Shop:
    config: Path
    env: dict[str, str | None]
    first: Result
    again: Result
    forced: Result


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """One project ingested three times (first, unchanged, --force); tests only read it.

    Its key comes from `segmint keys generate --out`, used through SEGMINT_KEY_FILE."""
    folder = tmp_path_factory.mktemp("cli_shop")
    config = make_project(folder)
    segmint("keys", "generate", "--out", folder / "segmint.key")
    env: dict[str, str | None] = {"SEGMINT_KEY_FILE": str(folder / "segmint.key")}
    first = segmint("ingest", "-c", config, env=env)
    again = segmint("ingest", "-c", config, env=env)
    forced = segmint("ingest", "--force", "-c", config, env=env)
    yield Shop(config, env, first, again, forced)


# --- init and validate -----------------------------------------------------------------------

RETAIL = """\
InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850,United Kingdom
C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527,United Kingdom
"""


def test_init_writes_a_starter_that_validate_accepts(tmp_path: Path) -> None:
    """`init` writes the packaged starter; once its data file exists, `validate` accepts it,
    and `ingest` loads it (the starter maps no PII column, so no key is needed)."""
    out = segmint("init", tmp_path)
    starter = tmp_path / "segmint.yaml"
    template = resources.files("segmint").joinpath("templates/segmint.yaml").read_text("utf-8")
    assert starter.read_text() == template
    says(out.output, "segmint validate", "segmint keys generate")
    # before its data exists, validate points at the line of the path
    line = starter.read_text().splitlines().index("    path: data/orders.csv") + 1
    bad = segmint("validate", "-c", starter, code=1)
    says(bad.output, f"segmint.yaml:{line}: sources[0].path: no file matches")
    write(tmp_path / "data" / "orders.csv", RETAIL)
    ok = segmint("validate", "-c", starter)
    says(ok.output, "✓ my-shop: 1 source(s), 2 rule segment(s)")
    loaded = segmint("ingest", "-c", starter)
    says(loaded.output, "2 input rows = 2 loaded + 0 duplicates + 0 quarantined ✓")


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    """An edited project file is never replaced by accident; --force replaces it."""
    segmint("init", tmp_path)
    target = tmp_path / "segmint.yaml"
    target.write_text("project: mine\n")
    refused = segmint("init", tmp_path, code=2)
    says(refused.output, "exists (use --force to overwrite)")
    assert target.read_text() == "project: mine\n"
    segmint("init", tmp_path, "--force")
    assert target.read_text().startswith("# segmint project file")


HEAD = "project: v\nwarehouse: duckdb:///.segmint/w.duckdb\n"


@pytest.mark.parametrize(
    ("body", "code", "needle"),
    [
        (
            "sources:\n  - name: crm\n    path: crm.csv\n    table: customers\n"
            "    colums: {customer_id: customer_id}\n",
            2,
            "segmint.yaml:7: sources[0].colums: unknown key (did you mean 'columns'?)",
        ),
        (
            "sourcez: []\n",
            2,
            "segmint.yaml:3: sourcez: unknown key (did you mean 'sources'?)",
        ),
        (
            "sources:\n  - name: crm\n    path: crm.csv\n    table: customers\n"
            "    columns: {customer_id: customer_id, emial: email}\n",
            2,
            "segmint.yaml:7: sources[0].columns: 'emial' is not a column of canonical table "
            "'customers' (did you mean 'email'?)",
        ),
        (
            "sources:\n  - name: crm\n    path: crm.csv\n    table: customers\n"
            "    columns: {customer_id: customer_id, city: town}\n",
            1,
            "segmint.yaml:7: sources[crm].columns: the file has no column 'town' (for city)",
        ),
        (
            "sources:\n  - name: crm\n    path: crm.csv\n    table: customers\n"
            "    columns: {customer_id: customer_id, country: Country}\n",
            1,
            "the file has no column 'Country' (for country) (did you mean 'country'?)",
        ),
        (
            "sources:\n  - name: web\n    path: logs/*.csv\n    table: events\n",
            1,
            "segmint.yaml:5: sources[0].path: no file matches",
        ),
        ("timezone: Mars/Olympus\n", 2, "'Mars/Olympus' is not an IANA time zone"),
    ],
    ids=[
        "unknown-key",
        "unknown-top-key",
        "unknown-canonical-column",
        "unknown-file-column",
        "file-column-case",
        "no-file",
        "bad-zone",
    ],
)
def test_validate_names_the_line_and_the_key(
    tmp_path: Path, body: str, code: int, needle: str
) -> None:
    """A bad project file exits non-zero (2: the file itself, 1: its sources) and says where."""
    write(tmp_path / "crm.csv", "customer_id,country\nc1,DE\n")
    config = write(tmp_path / "segmint.yaml", HEAD + body)
    result = segmint("validate", "-c", config, code=code)
    says(result.output, needle)


def test_validate_a_missing_project_file(tmp_path: Path) -> None:
    result = segmint("validate", "-c", tmp_path / "nope.yaml", code=2)
    says(result.output, "nope.yaml: no such project file (create one with `segmint init`)")


# --- ingest ----------------------------------------------------------------------------------


def test_ingest_prints_the_row_sum_and_writes_the_reports(shop: Shop) -> None:
    """Exit 0, the per-file table, the rules that fired, the row sum, and two report paths
    that exist and agree with the printed sum."""
    out = flat(shop.first.output)
    assert SUM_LINE in out
    assert "(1 rows kept with a value removed)" in out
    files = {r[1]: r[2:8] for r in rows(shop.first.output) if r[2:3] == ["loaded"]}
    assert files == {
        "crm.csv": ["loaded", "4", "3", "0", "1", "1"],
        "events.csv": ["loaded", "4", "2", "1", "1", "0"],
        "lines.csv": ["loaded", "2", "2", "0", "0", "0"],
    }
    for rule in ("age_range", "country_unknown", "event_type_allowed"):
        assert rule in out
    m = re.search(r"report: (\S+\.html) \(JSON: (\S+\.json)\)", out)
    assert m, out
    html, js = Path(m.group(1)), Path(m.group(2))
    assert html.is_file() and js.is_file()
    assert html.parent == shop.config.parent / ".segmint" / "reports"
    totals = json.loads(js.read_text())["totals"]
    assert totals == {"records": 10, "loaded": 7, "duplicates": 1, "rejected": 2, "nullified": 1}


def test_rerun_says_nothing_new_and_force_rereads(shop: Shop) -> None:
    """Unchanged files are skipped with a one-line message; --force reads them again and finds
    every valid row already loaded (nothing doubles)."""
    says(shop.again.output, "Nothing new: all 3 file(s) were loaded before with the same content")
    assert "input rows =" not in shop.again.output
    forced = flat(shop.forced.output)
    assert "10 input rows = 0 loaded + 8 duplicates + 2 quarantined ✓" in forced
    with connect("duckdb:///.segmint/w.duckdb", shop.config.parent) as wh:
        counts = {t: wh.count(t) for t in ("events", "customer_records", "quarantine")}
    assert counts == {"events": 2, "customer_records": 3, "quarantine": 3}


def test_ingest_with_a_failed_file_exits_1_and_still_reports(tmp_path: Path) -> None:
    """A file that cannot be read fails alone: the others load, the reason is printed, the
    reports are written, and the exit code tells a script that something failed."""
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "a.csv").write_bytes(b"\x00\x01\x02garbage")
    write(tmp_path / "ev" / "b.csv", "event_id,event_type,ts,customer_id\nx,search,2024-01-01,c\n")
    config = write(
        tmp_path / "segmint.yaml",
        HEAD + "sources:\n  - name: web\n    path: ev/*.csv\n    table: events\n"
        "    columns: {event_id: event_id, event_type: event_type, ts: ts, "
        "customer_id: customer_id}\n",
    )
    result = segmint("ingest", "-c", config, code=1)
    says(result.output, "✗ web:", "binary data")
    says(result.output, "1 input rows = 1 loaded + 0 duplicates + 0 quarantined")
    assert (tmp_path / ".segmint" / "reports" / "ingest-latest.html").is_file()


def test_ingest_without_a_key_is_a_clear_error(tmp_path: Path) -> None:
    """PII mapped and no key: exit 2 with how to make one; nothing is written."""
    config = make_project(tmp_path)
    result = segmint("ingest", "-c", config, code=2)
    says(result.output, "error: PII columns must be encrypted but no key is set")
    says(result.output, "segmint keys generate")
    assert not (tmp_path / ".segmint" / "w.duckdb").exists()
    bad = segmint("ingest", "-c", config, code=2, env={"SEGMINT_KEY": "c2hvcnQ="})
    says(bad.output, "error: SEGMINT_KEY holds 5 bytes, expected 32")


# --- looking at the results ----------------------------------------------------------------


def test_rules_lists_every_rule_kind_with_its_action() -> None:
    listed = {r[0]: r[1] for r in rows(segmint("rules").output)}
    assert listed == {kind: action for kind, (action, _meaning) in RULES.items()}


def test_tables_lists_every_table_with_its_row_count(shop: Shop) -> None:
    """The counts printed are the warehouse's own (checked through the warehouse API)."""
    result = segmint("tables", "-c", shop.config, env=shop.env)
    assert "warehouse: duckdb:///.segmint/w.duckdb" in result.output
    printed = {r[0]: int(r[1].replace(",", "")) for r in rows(result.output)}
    with connect("duckdb:///.segmint/w.duckdb", shop.config.parent) as wh:
        actual = {t: wh.count(t) for t in wh.list_tables()}
    assert printed == actual
    assert printed["customers"] == 2 and printed["events"] == 2 and printed["quarantine"] == 3


def test_quarantine_shows_rows_and_filters_them(shop: Shop) -> None:
    """Every set-aside row with its rule and original values (PII as tokens only);
    --rule, --source and --limit narrow it down."""

    def shown(*opts: object) -> list[tuple[str, str, str]]:
        result = segmint("quarantine", "-c", shop.config, *opts, env=shop.env)
        assert "cy@example.net" not in result.output and "bo@example.org" not in result.output
        return sorted((r[0], r[2], r[3]) for r in rows(result.output))

    everything = [
        ("crm", "3", "country_unknown"),
        ("crm", "4", "age_range"),
        ("web", "3", "event_type_allowed"),
    ]
    assert shown() == everything
    assert shown("--rule", "age_range") == [("crm", "4", "age_range")]
    assert shown("--source", "web") == [("web", "3", "event_type_allowed")]
    assert shown("--source", "crm", "--rule", "event_type_allowed") == []
    assert len(shown("--limit", "1")) == 1
    detail = flat(segmint("quarantine", "-c", shop.config, "--rule", "age_range").output)
    assert "age=-4 is outside 0..120" in detail and "customer_id=c4" in detail
    assert "email=(encrypted)" in detail and "v1:" not in detail  # masked for display


def test_customers_summary(shop: Shop) -> None:
    """c1 and c2 share an e-mail (written differently): one person; c4 was rejected."""
    result = segmint("customers", "-c", shop.config, env=shop.env)
    says(
        result.output,
        "2 customers (2 with an account, 0 anonymous visitors); 2 accounts merged into 1 people.",
    )
    table = rows(result.output)
    assert ["DE", "1", "1", "20.00"] in table
    assert ["(unknown)", "1", "1", "5.50"] in table
    top = [r for r in table if r[0] in ("c1", "c3")]
    assert [(r[0], r[4]) for r in top] == [("c1", "20.00"), ("c3", "5.50")]


@pytest.mark.parametrize("identifier", ["c1", "c2", "a1", " Anna@EXAMPLE.com "])
def test_customers_show_finds_the_person_by_any_identifier(shop: Shop, identifier: str) -> None:
    """Account id, merged account, anonymous cookie or e-mail (looked up by its keyed hash)."""
    result = segmint("customers", "show", identifier, "-c", shop.config, env=shop.env)
    profile = json.loads(result.stdout)
    assert profile["customer_id"] == "c1"
    assert profile["email"] == "(encrypted: --reveal to show)"
    assert {(i["identifier_type"], i["identifier"]) for i in profile["identifiers"]} >= {
        ("customer_id", "c1"),
        ("customer_id", "c2"),
        ("anonymous_id", "a1"),
    }


def test_customers_show_reveal_decrypts_with_the_key(shop: Shop) -> None:
    result = segmint("customers", "show", "c2", "--reveal", "-c", shop.config, env=shop.env)
    assert json.loads(result.stdout)["email"] == "ANNA@Example.com"  # the newest record's


def test_unknown_customer_is_a_clear_error(shop: Shop) -> None:
    result = segmint("customers", "show", "zz-nobody", "-c", shop.config, env=shop.env, code=2)
    assert result.stdout == ""
    says(result.output, "error: no customer has the identifier 'zz-nobody'")


def test_looking_before_any_ingest_is_a_clear_error(tmp_path: Path) -> None:
    """Regression: `segmint customers` on a fresh project crashed with NotFoundError."""
    config = make_project(tmp_path)
    summary = segmint("customers", "-c", config, code=2)
    says(summary.output, "error: no customers table yet: run `segmint ingest` first")
    show = segmint("customers", "show", "c1", "-c", config, code=2)
    says(show.output, "error: no identities yet: run `segmint ingest` first")


@pytest.mark.parametrize(
    "args",
    [["tables"], ["quarantine"], ["customers"], ["customers", "show", "c1"], ["ingest"]],
    ids=lambda a: "-".join(a),
)
def test_an_unreachable_warehouse_is_a_clear_error(tmp_path: Path, args: list[str]) -> None:
    """Regression: `tables`, `quarantine` and `customers` crashed with StoreUnavailable when
    the PostgreSQL warehouse was down, instead of saying so."""
    config = make_project(tmp_path)
    key = segmint("keys", "generate").stdout.strip()
    env = {"SEGMINT_WAREHOUSE": "postgresql://segmint@127.0.0.1:1/none", "SEGMINT_KEY": key}
    result = segmint(*args, "-c", config, code=2, env=env)
    assert result.output.strip().startswith("error:"), result.output
    # the reason: the server does not answer (or, without psycopg, the missing extra)
    reason = "cannot reach PostgreSQL at postgresql://segmint@127.0.0.1:1/none"
    if "postgres extra" not in result.output:
        says(result.output, reason)


# --- keys and generate -----------------------------------------------------------------------


def test_keys_generate_prints_a_key_usable_as_segmint_key() -> None:
    first = segmint("keys", "generate").stdout
    second = segmint("keys", "generate").stdout
    assert first != second and first.endswith("\n")
    key = first.strip()
    assert len(base64.b64decode(key, validate=True)) == 32
    assert load_master_key(Settings(key=key)) == base64.b64decode(key)


def test_keys_generate_out_writes_a_private_file_once(tmp_path: Path) -> None:
    path = tmp_path / "segmint.key"
    result = segmint("keys", "generate", "--out", path)
    says(result.output, f"export SEGMINT_KEY_FILE={path.resolve()}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text()
    again = segmint("keys", "generate", "--out", path, code=2)
    says(again.output, "exists; segmint never overwrites a key")
    assert path.read_text() == key
    assert len(load_master_key(Settings(key_file=path))) == 32


def test_generate_then_ingest_the_generated_project(tmp_path: Path) -> None:
    """The synthetic shop ingests as written: every generated row is accounted for."""
    out = tmp_path / "shop"
    gen = segmint("generate", "--customers", 300, "--days", 20, "--seed", 3, "--out", out)
    counts = {r[0]: int(r[1].replace(",", "")) for r in rows(gen.output)}
    assert counts["customers"] == 300
    assert set(counts) == {"customers", "products", "events", "orders", "order_lines", "survey"}
    config = out / "segmint.yaml"
    says(gen.output, f"next: segmint ingest -c {config}")
    key = segmint("keys", "generate").stdout.strip()
    segmint("validate", "-c", config, env={"SEGMINT_KEY": key})
    result = segmint("ingest", "-c", config, env={"SEGMINT_KEY": key})
    m = re.search(r"([\d,]+) input rows = .* quarantined ✓", flat(result.output))
    assert m, result.output
    assert int(m.group(1).replace(",", "")) == sum(counts.values())
    summary = segmint("customers", "-c", config, env={"SEGMINT_KEY": key})
    known = re.search(r"customers \(([\d,]+) with an account", flat(summary.output))
    assert known, summary.output
    assert 0 < int(known.group(1).replace(",", "")) <= 300


def test_generate_refuses_bad_arguments_and_writes_nothing(tmp_path: Path) -> None:
    result = segmint("generate", "--dirty-rate", 0.5, "--out", tmp_path / "shop", code=2)
    says(result.output, "error: dirty_rate must be between 0 and 0.2 (got 0.5)")
    assert not (tmp_path / "shop").exists()


# --- the installed console script ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["customers"], "error: no customers table yet"),
        (["ingest"], "error: PII columns must be encrypted but no key is set"),
    ],
    ids=["customers-before-ingest", "ingest-without-key"],
)
def test_console_script_errors_without_traceback(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    """The real `segmint` process: a one-line error on stderr, exit 2, no traceback."""
    exe = Path(sys.executable).with_name("segmint")
    if not exe.exists():
        pytest.skip(f"console script not installed beside {sys.executable}")
    config = make_project(tmp_path)
    proc = subprocess.run(
        [str(exe), *args, "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    says(proc.stderr, needle)


def test_a_shared_placeholder_email_is_reported_and_no_customer(tmp_path: Path) -> None:
    """Regression (issue 14, defect 6): an e-mail shared by more accounts than
    identity.max_accounts_per_identifier became a phantom customer ``email:<hash>`` that
    `customers show` returned, and only the JSON report listed it. Now there is one customer
    per account, the terminal and both reports list it (hashed), and a look-up says why."""
    config = shared_email_project(tmp_path)
    segmint("keys", "generate", "--out", tmp_path / "segmint.key")
    env: dict[str, str | None] = {"SEGMINT_KEY_FILE": str(tmp_path / "segmint.key")}
    result = segmint("ingest", "-c", config, env=env)
    key = load_master_key(Settings(key_file=tmp_path / "segmint.key"))
    shared_hash = PiiCipher(key).hash(SHARED_EMAIL)
    assert "noreply" not in result.output
    says(result.output, "5 customers", "Identifiers not used for linking", shared_hash[:16])
    assert ["email", shared_hash[:16] + "…", "4"] in rows(result.output)
    reports = tmp_path / ".segmint" / "reports"
    noisy = json.loads((reports / "ingest-latest.json").read_text())["identity"]["noisy"]
    assert noisy == [{"identifier_type": "email", "identifier": shared_hash, "accounts": 4}]
    html = (reports / "ingest-latest.html").read_text()
    assert shared_hash in html and "noreply" not in html
    with connect("duckdb:///.segmint/w.duckdb", tmp_path) as wh:
        ids = {r["customer_id"] for r in wh.to_arrow(wh.table("identities")).to_pylist()}
        customers = wh.to_arrow(wh.table("customers").select("customer_id")).to_pylist()
    assert ids == {"s1", "s2", "s3", "s4", "s5"}
    assert sorted(c["customer_id"] for c in customers) == ["s1", "s2", "s3", "s4", "s5"]
    show = segmint("customers", "show", SHARED_EMAIL, "-c", config, env=env, code=2)
    assert show.stdout == "" and "noreply" not in show.output
    says(show.output, "error: the email given is shared by 4 accounts", "not linked to one")


WHITESPACE_HISTORY = (
    "00001 19970101  1  11.77\n"
    "00002 19970112  1  12.00\n"
    "00002 19970112  5  77.00\n"
    "00003 19970102  2  20.76\n"
)


def whitespace_project(root: Path, delimiter: str) -> Path:
    write(root / "history.txt", WHITESPACE_HISTORY)
    return write(
        root / "segmint.yaml",
        "project: ws\nwarehouse: duckdb:///.segmint/w.duckdb\nsources:\n"
        "  - name: history\n    path: history.txt\n    table: orders\n"
        f"    csv: {{delimiter: {delimiter}, header: false}}\n"
        "    timestamp_format: '%Y%m%d'\n"
        "    columns:\n"
        "      order_id: {expr: \"column0 || '-' || column1 || '-' || column2\"}\n"
        "      customer_id: column0\n      ts: column1\n      total: column3\n",
    )


@pytest.mark.parametrize("delimiter", ['" "', "whitespace"])
def test_a_whitespace_separated_file_loads(tmp_path: Path, delimiter: str) -> None:
    """Regression (issue 22, defect 4): `csv: {delimiter: " "}` on an order history written
    with runs of spaces loaded 0 of its rows with exit 0. Runs of spaces separate fields."""
    config = whitespace_project(tmp_path, delimiter)
    segmint("validate", "-c", config)
    result = segmint("ingest", "-c", config)
    says(result.output, "4 input rows = 4 loaded")
    with duckdb.connect(str(tmp_path / ".segmint" / "w.duckdb"), read_only=True) as con:
        got = con.execute("SELECT customer_id, total FROM orders ORDER BY 1, 2").fetchall()
    assert got == [("00001", 11.77), ("00002", 12.0), ("00002", 77.0), ("00003", 20.76)]


def test_a_file_mostly_quarantined_fails_in_validate_and_ingest(tmp_path: Path) -> None:
    """Regression (issue 22, defect 4): a wrong option quarantined every row, `validate` said
    ✓ and `ingest` exited 0. Now validate reads a sample with the declared options, and a file
    with more than max_quarantined_share of its rows quarantined fails, loading nothing."""
    write(
        tmp_path / "history.txt",
        "id;when;total\n1;2024-01-01;3\n" + "".join(f"{i};the {i}th;{i}\n" for i in range(2, 6)),
    )
    config = write(
        tmp_path / "segmint.yaml",
        "project: q\nwarehouse: duckdb:///.segmint/w.duckdb\nsources:\n"
        "  - name: history\n    path: history.txt\n    table: orders\n"
        "    csv: {delimiter: ';'}\n"
        "    columns: {order_id: id, customer_id: id, ts: when, total: total}\n",
    )
    checked = segmint("validate", "-c", config, code=1)
    says(checked.output, "4 of 5 rows (80%) would be quarantined", "max_quarantined_share 50%")
    result = segmint("ingest", "-c", config, code=1)
    says(result.output, "nothing of this file was loaded")
    with duckdb.connect(str(tmp_path / ".segmint" / "w.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM quarantine").fetchone() == (4,)
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        assert "order_records" not in tables or con.execute(
            "SELECT count(*) FROM order_records"
        ).fetchone() == (0,)
    # the threshold is the user's to raise
    raised = config.read_text().replace(
        "table: orders\n", "table: orders\n    max_quarantined_share: 0.9\n"
    )
    config.write_text(raised)
    segmint("validate", "-c", config)
    says(segmint("ingest", "-c", config).output, "5 input rows = 1 loaded")
