"""PII encryption and keyed hashing: round trips, failure modes, and where the key comes from."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from pathlib import Path

import duckdb
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.config import Settings, load_config
from segmint.errors import ConfigError, DecryptionError, KeyMissingError
from segmint.ingest import check_sources, ingest
from segmint.privacy import PiiCipher, generate_key, load_master_key, write_key_file
from tests.conftest import write

KEY = bytes(range(32))
CIPHER = PiiCipher(KEY)
PII = ("email", "phone", "first_name", "last_name")


def flip(token: str, at: int) -> str:
    """``token`` with one bit of its decoded bytes changed at position ``at``."""
    raw = bytearray(base64.b64decode(token.removeprefix("v1:")))
    raw[at] ^= 0x01
    return "v1:" + base64.b64encode(bytes(raw)).decode()


# --- encryption ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("email", "Anna.Schmidt+news@Example.com"),
        ("phone", "+49 (30) 1234-567"),
        ("first_name", "Zoë"),
        ("last_name", "O'Connor-Łukasiewicz 王"),
        ("email", ""),
    ],
)
def test_each_column_round_trips(column: str, value: str) -> None:
    """What was encrypted for a column decrypts to the same text, unicode and empty included."""
    token = CIPHER.encrypt(value, column)
    assert token.startswith("v1:")
    assert value == "" or value not in token
    assert CIPHER.decrypt(token, column) == value


@settings(max_examples=60, deadline=None)
@given(value=st.text(max_size=200), column=st.sampled_from(PII))
def test_any_unicode_text_round_trips(value: str, column: str) -> None:
    """Arbitrary text (any script, control characters) survives encrypt -> decrypt.

    The token is 12 bytes of nonce + the UTF-8 text + a 16-byte tag, base64 behind ``v1:``."""
    token = CIPHER.encrypt(value, column)
    assert CIPHER.decrypt(token, column) == value
    raw = base64.b64decode(token.removeprefix("v1:"), validate=True)
    assert len(raw) == 12 + len(value.encode()) + 16


def test_tokens_differ_per_call_but_each_decrypts() -> None:
    """A random nonce per call: equal values must not give equal tokens (no frequency leak)."""
    tokens = {CIPHER.encrypt("anna@example.com", "email") for _ in range(50)}
    assert len(tokens) == 50
    nonces = {base64.b64decode(t.removeprefix("v1:"))[:12] for t in tokens}
    assert len(nonces) == 50
    assert {CIPHER.decrypt(t, "email") for t in tokens} == {"anna@example.com"}


def test_hash_is_deterministic_keyed_and_column_independent() -> None:
    """Joins and look-ups need one hash per value: same key -> same hash, in any column.

    Checked against an independent HMAC-SHA256 under HKDF(master, 'segmint-pii-mac'), so hashes
    stored by earlier runs keep matching; another key gives another hash, and the hash is
    neither a plain SHA-256 nor an HMAC under the master key itself."""
    value = "anna@example.com"
    again = PiiCipher(KEY)
    assert CIPHER.hash(value) == again.hash(value) == CIPHER.hash(value)
    mac_key = HKDF(hashes.SHA256(), length=32, salt=None, info=b"segmint-pii-mac").derive(KEY)
    expected = hmac.new(mac_key, value.encode(), hashlib.sha256).hexdigest()
    assert CIPHER.hash(value) == expected
    assert CIPHER.hash(value) != PiiCipher(bytes(32)).hash(value)
    assert CIPHER.hash(value) != hashlib.sha256(value.encode()).hexdigest()
    assert CIPHER.hash(value) != hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()
    assert CIPHER.hash("anna@example.org") != CIPHER.hash(value)


def test_tampered_token_is_refused_not_garbage() -> None:
    """GCM authenticates: any changed bit (nonce, ciphertext or tag) is a DecryptionError."""
    token = CIPHER.encrypt("anna@example.com", "email")
    size = len(base64.b64decode(token.removeprefix("v1:")))
    for at in (0, 11, 12, size - 17, size - 1):  # nonce, first/last ciphertext byte, tag
        with pytest.raises(DecryptionError, match="cannot decrypt a value of 'email'"):
            CIPHER.decrypt(flip(token, at), "email")


@pytest.mark.parametrize(
    "token",
    ["v1:", "v1:not base64!!", "v1:" + base64.b64encode(b"short").decode(), "anna@example.com"],
    ids=["empty", "not-base64", "truncated", "clear-text"],
)
def test_malformed_tokens_are_a_decryption_error(token: str) -> None:
    """A value that is not a token at all (clear text stored by mistake) is refused, not shown."""
    with pytest.raises(DecryptionError, match="or altered"):
        CIPHER.decrypt(token, "email")


def test_wrong_key_or_wrong_column_is_a_clear_error() -> None:
    """The column is bound as associated data: a phone token cannot be read back as an e-mail,
    and another key fails with a message pointing at SEGMINT_KEY."""
    token = CIPHER.encrypt("anna@example.com", "email")
    with pytest.raises(DecryptionError, match=r"encrypted with another key \(is SEGMINT_KEY"):
        PiiCipher(bytes(32)).decrypt(token, "email")
    with pytest.raises(DecryptionError, match="for another column"):
        CIPHER.decrypt(token, "phone")


def test_cipher_refuses_a_key_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="master key has 31 bytes, expected 32"):
        PiiCipher(bytes(31))


def test_sql_functions_use_a_fresh_nonce_per_row() -> None:
    """Regression guard: the DuckDB UDF must not be constant-folded or cached.

    Encrypting a constant over many rows must still give one nonce per row (GCM with a
    repeated nonce leaks the XOR of the plain texts); NULL stays NULL; the SQL hash equals
    the Python one. Registering twice (a second file in one run) must work."""
    con = duckdb.connect()
    CIPHER.register(con)
    CIPHER.register(con)
    rows = con.execute(
        "SELECT segmint_encrypt('anna@example.com', 'email') AS a, "
        "segmint_encrypt(v, 'email') AS b, segmint_hmac(v) AS h, "
        "segmint_encrypt(NULL, 'email') AS n, segmint_hmac(NULL) AS nh "
        "FROM (SELECT 'anna@example.com' AS v FROM range(200))"
    ).fetchall()
    tokens = [r[0] for r in rows] + [r[1] for r in rows]
    assert len(set(tokens)) == 400
    assert len({base64.b64decode(t[3:])[:12] for t in tokens}) == 400
    assert {CIPHER.decrypt(t, "email") for t in tokens} == {"anna@example.com"}
    assert {r[2] for r in rows} == {CIPHER.hash("anna@example.com")}
    assert {(r[3], r[4]) for r in rows} == {(None, None)}


# --- the key -------------------------------------------------------------------------------


def test_key_from_segmint_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    monkeypatch.setenv("SEGMINT_KEY", f"  {key}\n")  # pasted with blanks: still read
    assert load_master_key() == base64.b64decode(key)
    assert len(base64.b64decode(key)) == 32
    assert generate_key() != key


def test_key_from_segmint_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_key_file(tmp_path / "keys" / "segmint.key")
    monkeypatch.setenv("SEGMINT_KEY_FILE", str(path))
    assert load_master_key() == base64.b64decode(path.read_text())
    # an explicit Settings object is honoured the same way
    assert load_master_key(Settings(key_file=path)) == load_master_key()


def test_segmint_key_wins_over_the_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = generate_key()
    monkeypatch.setenv("SEGMINT_KEY", key)
    monkeypatch.setenv("SEGMINT_KEY_FILE", str(write_key_file(tmp_path / "other.key")))
    assert load_master_key() == base64.b64decode(key)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("not base64 at all!", "SEGMINT_KEY is not base64 text"),
        ("ключ", "SEGMINT_KEY is not base64 text"),
        (base64.b64encode(bytes(16)).decode(), "SEGMINT_KEY holds 16 bytes, expected 32"),
        (base64.b64encode(bytes(64)).decode(), "SEGMINT_KEY holds 64 bytes, expected 32"),
    ],
)
def test_malformed_segmint_key_names_the_setting(
    text: str, needle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad key is a KeyMissingError (a ConfigError) naming the setting and how to fix it."""
    monkeypatch.setenv("SEGMINT_KEY", text)
    with pytest.raises(KeyMissingError) as exc:
        load_master_key()
    assert needle in str(exc.value)
    assert "segmint keys generate" in str(exc.value)
    assert isinstance(exc.value, ConfigError)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"hello\n", "is not base64 text"),
        (base64.b64encode(bytes(8)) + b"\n", "holds 8 bytes, expected 32"),
        (b"\xff\xfe" + os.urandom(30), "is not base64 text"),
        (b"", "holds 0 bytes, expected 32"),
    ],
    ids=["text", "short", "raw-bytes", "empty"],
)
def test_malformed_key_file_names_the_setting_and_the_file(
    content: bytes, needle: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a key file holding raw bytes (``head -c 32 /dev/urandom > key``) raised
    UnicodeDecodeError, which the CLI showed as a traceback."""
    path = tmp_path / "segmint.key"
    path.write_bytes(content)
    monkeypatch.setenv("SEGMINT_KEY_FILE", str(path))
    with pytest.raises(KeyMissingError) as exc:
        load_master_key()
    assert f"SEGMINT_KEY_FILE={path}" in str(exc.value)
    assert needle in str(exc.value)


def test_missing_key_file_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.key"
    monkeypatch.setenv("SEGMINT_KEY_FILE", str(missing))
    with pytest.raises(KeyMissingError, match=f"SEGMINT_KEY_FILE={missing} does not exist"):
        load_master_key()


def test_no_key_at_all_names_both_settings() -> None:
    with pytest.raises(KeyMissingError) as exc:
        load_master_key()
    msg = str(exc.value)
    assert "no key is set" in msg and "SEGMINT_KEY" in msg and "SEGMINT_KEY_FILE" in msg


def test_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    """The key file is created with mode 0600 and an existing key is kept (losing the key
    loses every encrypted value)."""
    path = write_key_file(tmp_path / "sub" / "segmint.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert len(base64.b64decode(first.strip())) == 32
    assert write_key_file(path) == path
    assert path.read_text() == first


# --- no clear-text fallback ------------------------------------------------------------------

CRM = "customer_id,email,city\nc1,anna@example.com,Berlin\n"


def _project(tmp_path: Path, sources: str) -> Path:
    write(tmp_path / "crm.csv", CRM)
    write(tmp_path / "ev.csv", "event_id,event_type,ts,customer_id\ne1,search,2024-01-01,c1\n")
    return write(
        tmp_path / "segmint.yaml",
        "project: k\nwarehouse: duckdb:///.segmint/w.duckdb\npii: [email, phone]\n"
        f"sources:\n{sources}",
    )


@pytest.mark.parametrize(
    "source",
    [
        "  - {name: crm, path: crm.csv, table: customers}\n",
        "  - {name: crm, path: crm.csv, table: customers, columns: {customer_id: customer_id,"
        " email: email}}\n",
    ],
    ids=["same-names", "mapped"],
)
def test_ingest_without_a_key_refuses_before_writing(tmp_path: Path, source: str) -> None:
    """PII mapped but no key: KeyMissingError before anything is written (no clear-text
    fallback, no half-loaded warehouse); `validate` reports the same problem."""
    _project(tmp_path, source)
    cfg = load_config(tmp_path)
    with pytest.raises(KeyMissingError, match="PII columns must be encrypted but no key is set"):
        ingest(cfg)
    assert not (tmp_path / ".segmint" / "w.duckdb").exists()
    problems = check_sources(cfg)
    assert len(problems) == 1 and "no key is set" in problems[0]


def test_a_key_is_needed_only_when_a_source_maps_pii(tmp_path: Path) -> None:
    """Declaring PII columns does not demand a key for sources that carry none (events), nor
    for a CRM source whose mapping leaves the PII columns out."""
    _project(
        tmp_path,
        "  - {name: web, path: ev.csv, table: events}\n"
        "  - {name: crm, path: crm.csv, table: customers, columns: {customer_id: customer_id,"
        " city: city}}\n",
    )
    report = ingest(load_config(tmp_path))
    assert [(f.source, f.loaded) for f in report.files] == [("crm", 1), ("web", 1)]
    assert check_sources(load_config(tmp_path)) == []
