"""Shared fixtures: real-data slices, a PII key, isolated PostgreSQL schemas."""

from __future__ import annotations

import gzip
import itertools
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from segmint.config import ProjectConfig, parse_config
from segmint.privacy import generate_key

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path | None:
    """The public datasets: $SEGMINT_DATA, else ../shared/data beside the repo."""
    env = os.environ.get("SEGMINT_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def datasets() -> Path:
    d = data_dir()
    if d is None:
        pytest.skip("real datasets not found: set SEGMINT_DATA to the folder holding them")
    return d


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real dataset file missing: {path} (see README: Datasets)")
    return path


@pytest.fixture(scope="session")
def online_retail(datasets: Path) -> Path:
    return _need(datasets / "online_retail" / "online_retail.csv.gz")


@pytest.fixture(scope="session")
def online_retail_slice(online_retail: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 5,000 invoice lines of the real Online Retail file, as plain CSV."""
    out = tmp_path_factory.mktemp("retail") / "online_retail_head.csv"
    with gzip.open(online_retail, "rt", encoding="utf-8") as src, out.open("w") as dst:
        dst.writelines(itertools.islice(src, 5001))
    return out


@pytest.fixture(scope="session")
def online_shoppers(datasets: Path) -> Path:
    return _need(datasets / "online_shoppers" / "online_shoppers_intention.csv")


@pytest.fixture(scope="session")
def clickstream_zip(datasets: Path) -> Path:
    return _need(datasets / "clickstream" / "clickstream+data+for+online+shopping.zip")


@pytest.fixture
def pii_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh master key in SEGMINT_KEY for the test."""
    key = generate_key()
    monkeypatch.setenv("SEGMINT_KEY", key)
    monkeypatch.delenv("SEGMINT_KEY_FILE", raising=False)
    return key


@pytest.fixture(autouse=True)
def _no_stray_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests choose their own warehouse and key; the developer's environment must not leak."""
    for var in ("SEGMINT_WAREHOUSE", "SEGMINT_KEY", "SEGMINT_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)


def pg_base_url() -> str:
    return os.environ.get("SEGMINT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL warehouse URL in a schema of its own, dropped after the test."""
    psycopg = pytest.importorskip("psycopg")
    base = pg_base_url()
    try:
        conn = psycopg.connect(base, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {base} (make test starts one): {exc}")
    schema = f"segmint_test_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}schema={schema}"
    finally:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()


def redis_url() -> str:
    """The test Redis: SEGMINT_TEST_REDIS_URL, else the machine's usual one."""
    return os.environ.get("SEGMINT_TEST_REDIS_URL") or os.environ.get(
        "SEGMINT_TEST_REDIS", "redis://127.0.0.1:6379/0"
    )


def redis_where() -> str:
    """A URL of the test Redis with a key prefix of its own (``?prefix=segmint-test-…``), or
    a skip saying none answers; the caller deletes its keys (``drop_all``)."""
    import uuid

    redis = pytest.importorskip("redis")
    url = redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis answers at {url} (make test starts one): {exc}")
    return f"{url}?prefix=segmint-test-{uuid.uuid4().hex[:10]}"


SHARED_EMAIL = "noreply@example.com"


def shared_email_project(root: Path) -> Path:
    """A CRM where four accounts share a placeholder e-mail (over the limit of 2) and one has
    its own; returns the project file. The shape of issue 14, defect 6."""
    rows = [f"s{i},{SHARED_EMAIL}" for i in range(1, 5)] + ["s5,own@example.com"]
    write(root / "crm.csv", "customer_id,email\n" + "\n".join(rows) + "\n")
    return write(
        root / "segmint.yaml",
        "project: shared\nwarehouse: duckdb:///.segmint/w.duckdb\npii: [email]\n"
        "identity: {max_accounts_per_identifier: 2}\n"
        "sources:\n  - {name: crm, path: crm.csv, table: customers}\n",
    )


def write(path: Path, text: str) -> Path:
    """Write a small test file (dedented by the caller), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pg_wh() -> Iterator[object]:
    """A PostgreSQL warehouse in a schema of its own, shared by a module's tests."""
    psycopg = pytest.importorskip("psycopg")
    from segmint.warehouse import connect

    base = pg_base_url()
    try:
        conn = psycopg.connect(base, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {base} (make test starts one): {exc}")
    schema = f"segmint_test_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in base else "?"
    try:
        with connect(f"{base}{sep}schema={schema}") as wh:
            yield wh
    finally:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()


def copy_example(name: str, dest: Path) -> Path:
    """A copy of ``examples/<name>`` at ``dest``, without the ``.segmint`` folder a ``make demo``
    or an example run leaves there.

    Regression: copied with it, a test read the demo's warehouse (RFM rows of other dates)
    and failed only on machines where ``make demo`` had run first.
    """
    shutil.copytree(REPO / "examples" / name, dest, ignore=shutil.ignore_patterns(".segmint"))
    return dest


def retail_project(warehouse: str, retail: Path, base: Path, extra: str = "") -> ProjectConfig:
    """A project over an Online Retail file (or slice) at ``retail``: its one transactions
    source mapped as the example maps it; ``extra`` is appended verbatim (indented source
    keys such as ``    fees: ...``, then any top-level section)."""
    text = f"""\
project: fees
warehouse: {warehouse}
timezone: Europe/London
sources:
  - name: transactions
    path: {retail}
    table: order_lines
    columns: {{order_id: InvoiceNo, product_id: StockCode, quantity: Quantity, title: Description,
              unit_price: UnitPrice, ts: InvoiceDate, customer_id: CustomerID, country: Country}}
    returns: {{order_id_prefix: C}}
{extra}"""
    return parse_config(text, base_dir=base)


def fee_rule(codes: Iterable[str], revenue: str | None = None) -> str:
    """A source's ``fees:`` line naming ``codes`` (and ``revenue:`` when given)."""
    listed = ", ".join(f'"{c}"' for c in codes)
    return (
        f"    fees: {{product_ids: [{listed}]"
        + (f", revenue: {revenue}" if revenue else "")
        + "}\n"
    )


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A warehouse URL on each backend: a DuckDB file in tmp_path, an isolated PostgreSQL
    schema."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"duckdb:///{tmp_path / 'wh.duckdb'}"
