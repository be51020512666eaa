"""Privacy controls: PII encryption and keyed hashing (consent, erasure and export follow)."""

from __future__ import annotations

from segmint.privacy._crypto import (
    KEY_HELP,
    PiiCipher,
    generate_key,
    load_master_key,
    write_key_file,
)

__all__ = ["KEY_HELP", "PiiCipher", "generate_key", "load_master_key", "write_key_file"]
