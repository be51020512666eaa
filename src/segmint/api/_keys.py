"""API keys: random tokens shown once, stored only as a hash, each with its scopes.

A token is ``sgm_<key id>_<secret>``; the store keeps the key id, the SHA-256 of the secret
(32 random bytes, so a fast hash is enough: there is nothing to guess), its scopes, when it
was made and whether it was revoked. Every replica reads keys from the online store.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from segmint.errors import ConfigError, NotFoundError
from segmint.realtime import OnlineStore

KEYS = "keys"
SCOPES: dict[str, str] = {
    "events:write": "send events (POST /v1/events)",
    "profiles:read": "read customers, their segments and recommendations",
    "segments:read": "list segments, their members and history",
    "segments:admin": "define, change and delete rule segments",
    "admin": "everything, including the dead letters and webhook deliveries",
}


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: str
    revoked_at: str | None = None

    def allows(self, scope: str) -> bool:
        """Whether the key may use ``scope``: not revoked, and holding it or ``admin``."""
        return self.revoked_at is None and (scope in self.scopes or "admin" in self.scopes)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(store: OnlineStore, name: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Make a key; returns it and its token (shown once, never stored)."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ConfigError(
            f"unknown scope {', '.join(unknown) or '(none given)'}; scopes are: {', '.join(SCOPES)}"
        )
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(key_id, name, tuple(dict.fromkeys(scopes)), datetime.now(UTC).isoformat())
    store.put_meta(KEYS, key_id, {**_record(key), "hash": _digest(secret)})
    return key, f"sgm_{key_id}_{secret}"


def _record(key: ApiKey) -> dict[str, Any]:
    return {
        "name": key.name,
        "scopes": list(key.scopes),
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


def list_keys(store: OnlineStore) -> list[ApiKey]:
    """Every stored key, oldest first (revoked ones included)."""
    return [
        ApiKey(kid, r["name"], tuple(r["scopes"]), r["created_at"], r.get("revoked_at"))
        for kid, r in sorted(store.get_meta(KEYS).items(), key=lambda kv: kv[1]["created_at"])
    ]


def revoke_key(store: OnlineStore, key_id: str) -> ApiKey:
    """Mark key ``key_id`` revoked (a second revoke keeps the first time) and return it;
    NotFoundError when there is no such key."""
    rec = store.get_meta(KEYS).get(key_id)
    if rec is None:
        raise NotFoundError(f"no API key has the id {key_id!r} (see `segmint keys list`)")
    rec["revoked_at"] = rec.get("revoked_at") or datetime.now(UTC).isoformat()
    store.put_meta(KEYS, key_id, rec)
    return ApiKey(key_id, rec["name"], tuple(rec["scopes"]), rec["created_at"], rec["revoked_at"])


def check_token(records: dict[str, dict[str, Any]], token: str) -> ApiKey | None:
    """The key ``token`` belongs to, or None when it is malformed, unknown or wrong."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "sgm":
        return None
    rec = records.get(parts[1])
    if rec is None or not hmac.compare_digest(rec.get("hash", ""), _digest(parts[2])):
        return None
    return ApiKey(
        parts[1], rec["name"], tuple(rec["scopes"]), rec["created_at"], rec.get("revoked_at")
    )
