"""Build the online store and the event bus from their URLs (``serve:`` in segmint.yaml)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

from segmint.errors import ConfigError
from segmint.realtime._bus import StreamBus
from segmint.realtime._store import OnlineStore


def _redis_parts(url: str) -> tuple[str, str]:
    """The connection URL without segmint's ``prefix`` parameter, and the prefix."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    prefix = query.pop("prefix", ["segmint"])[0]
    rest = "&".join(f"{k}={v[0]}" for k, v in query.items())
    return parsed._replace(query=rest).geturl(), prefix


def open_store(url: str, base_dir: Path | None = None) -> OnlineStore:
    """``sqlite:///relative.sqlite`` (against ``base_dir``), ``sqlite:////abs.sqlite``,
    ``sqlite:///:memory:`` or ``redis://host:port/db?prefix=name``."""
    if url.startswith("sqlite://"):
        from segmint.realtime._sqlite import SQLiteStore

        rest = url.removeprefix("sqlite:///")
        if rest == ":memory:":
            return SQLiteStore(":memory:", url)
        path = Path(rest)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return SQLiteStore(path, url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from segmint.realtime._redis import RedisStore

        conn, prefix = _redis_parts(url)
        return RedisStore(conn, prefix=prefix, url=url)
    raise ConfigError(f"online store '{url}' should start with sqlite:/// or redis://")


def open_bus(url: str) -> StreamBus | None:
    """None for ``inline``; a Redis Streams bus for ``redis://host:port/db?prefix=name``."""
    if url == "inline":
        return None
    if url.startswith(("redis://", "rediss://", "unix://")):
        from segmint.realtime._redis_bus import RedisStreamBus

        conn, prefix = _redis_parts(url)
        return RedisStreamBus(conn, prefix=prefix, url=url)
    raise ConfigError(f"event bus '{url}' should be 'inline' or start with redis://")
