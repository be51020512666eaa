"""Privacy controls: PII encryption and keyed hashing (consent, erasure and export follow)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from segmint._lazy import exports

if TYPE_CHECKING:
    from segmint.privacy._crypto import (
        KEY_HELP,
        PiiCipher,
        generate_key,
        load_master_key,
        write_key_file,
    )
    from segmint.privacy._live import (
        LivePrivacy,
        encodable,
        identifier_hash,
        identifier_kind,
        live_privacy,
        normalize_email,
        normalize_phone,
    )

__all__ = [
    "KEY_HELP",
    "LivePrivacy",
    "PiiCipher",
    "encodable",
    "generate_key",
    "identifier_hash",
    "identifier_kind",
    "live_privacy",
    "load_master_key",
    "normalize_email",
    "normalize_phone",
    "write_key_file",
]
__getattr__, __dir__ = exports(__name__, __file__, __all__)
