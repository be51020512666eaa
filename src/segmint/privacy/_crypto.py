"""Encryption and keyed hashing of PII columns.

Each PII value is stored twice, never in clear: encrypted with AES-256-GCM (so an authorised
export or erasure can read it back) and as an HMAC-SHA256 of its normalized form (so joins,
look-ups and identity resolution work on equal values without decrypting). Both keys are
derived from one master key with HKDF, so rotating the master key rotates both.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from segmint.config import Settings
from segmint.errors import DecryptionError, KeyMissingError

_PREFIX = "v1:"
KEY_HELP = (
    "create one with `segmint keys generate > segmint.key` (keep it out of version control), "
    "then `export SEGMINT_KEY_FILE=$PWD/segmint.key` or put its text in SEGMINT_KEY"
)


def generate_key() -> str:
    """A new random 256-bit master key, base64 encoded."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _decode(text: str, origin: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyMissingError(f"{origin} is not base64 text; {KEY_HELP}") from None
    if len(raw) != 32:
        raise KeyMissingError(f"{origin} holds {len(raw)} bytes, expected 32; {KEY_HELP}")
    return raw


def load_master_key(settings: Settings | None = None) -> bytes:
    """The master key from ``SEGMINT_KEY`` or the file named by ``SEGMINT_KEY_FILE``.

    Raises :class:`~segmint.errors.KeyMissingError` when neither is set: PII is never
    written in clear as a fallback.
    """
    s = settings or Settings()
    if s.key:
        return _decode(s.key, "SEGMINT_KEY")
    if s.key_file:
        if not s.key_file.is_file():
            raise KeyMissingError(f"SEGMINT_KEY_FILE={s.key_file} does not exist; {KEY_HELP}")
        origin = f"SEGMINT_KEY_FILE={s.key_file}"
        try:
            text = s.key_file.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # raw key bytes, not the base64 text `keys generate` writes
            raise KeyMissingError(f"{origin} is not base64 text; {KEY_HELP}") from None
        return _decode(text, origin)
    raise KeyMissingError(
        f"PII columns must be encrypted but no key is set (SEGMINT_KEY / SEGMINT_KEY_FILE); "
        f"{KEY_HELP}"
    )


def write_key_file(path: Path) -> Path:
    """Write a new key to ``path`` readable by its owner only; keep an existing one."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(generate_key() + "\n")
    return path


class PiiCipher:
    """Encrypts, decrypts and hashes PII values with keys derived from one master key.

    Examples
    --------
    >>> c = PiiCipher(bytes(32))
    >>> token = c.encrypt("anna@example.com", "email")
    >>> token.startswith("v1:") and c.decrypt(token, "email")
    'anna@example.com'
    >>> c.hash("anna@example.com") == c.hash("anna@example.com")
    True
    """

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError(f"master key has {len(master_key)} bytes, expected 32")
        self._aes = AESGCM(self._derive(master_key, b"segmint-pii-enc"))
        self._mac_key = self._derive(master_key, b"segmint-pii-mac")
        # keyed once: each hash copies the keyed state instead of keying HMAC again
        self._mac = hmac.new(self._mac_key, digestmod=hashlib.sha256)

    @staticmethod
    def _derive(master: bytes, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)

    def encrypt(self, value: str, column: str) -> str:
        """AES-GCM with a random nonce; the column name is bound as associated data."""
        nonce = secrets.token_bytes(12)
        ct = self._aes.encrypt(nonce, value.encode(), column.encode())
        return _PREFIX + base64.b64encode(nonce + ct).decode()

    def decrypt(self, token: str, column: str) -> str:
        """The clear value of ``token``, which must have been encrypted for ``column``.

        Raises
        ------
        DecryptionError
            If the token was made with another key or for another column, or was altered.
        """
        try:
            raw = base64.b64decode(token.removeprefix(_PREFIX), validate=True)
            return self._aes.decrypt(raw[:12], raw[12:], column.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise DecryptionError(
                f"cannot decrypt a value of '{column}': it was encrypted with another key "
                "(is SEGMINT_KEY / SEGMINT_KEY_FILE the project's key?), for another column, "
                "or altered"
            ) from None

    def hash(self, normalized: str) -> str:
        """HMAC-SHA256 hex digest of an already normalized value."""
        mac = self._mac.copy()
        mac.update(normalized.encode())
        return mac.hexdigest()

    # vectorized forms, used as DuckDB UDFs -------------------------------------------------

    def encrypt_array(self, values: pa.Array, columns: pa.Array) -> pa.Array:
        """``encrypt`` of each value for the column beside it; nulls stay null."""
        return pa.array(
            _map2(values.to_pylist(), columns.to_pylist(), self.encrypt), type=pa.string()
        )

    def hash_array(self, values: pa.Array) -> pa.Array:
        """``hash`` of each (already normalized) value; nulls stay null."""
        return pa.array(
            [None if v is None else self.hash(v) for v in values.to_pylist()], type=pa.string()
        )

    def register(self, con: Any) -> None:
        """Register ``segmint_encrypt(value, column)`` and ``segmint_hmac(value)`` in DuckDB."""
        import duckdb

        varchar = duckdb.sqltype("VARCHAR")
        for name in ("segmint_encrypt", "segmint_hmac"):
            with contextlib.suppress(duckdb.InvalidInputException):
                con.remove_function(name)
        con.create_function(
            "segmint_encrypt",
            self.encrypt_array,
            [varchar, varchar],
            varchar,
            type="arrow",
            side_effects=True,  # random nonces: never fold or cache
        )
        con.create_function("segmint_hmac", self.hash_array, [varchar], varchar, type="arrow")


def _map2(values: Iterable[Any], columns: Iterable[Any], fn: Any) -> list[str | None]:
    return [None if v is None else fn(v, c) for v, c in zip(values, columns, strict=True)]
