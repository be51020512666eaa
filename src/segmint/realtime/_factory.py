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


def _sqlite_path(url: str, base_dir: Path | None) -> Path | None:
    """The file of a ``sqlite:///`` store (None for ``:memory:``)."""
    rest = url.removeprefix("sqlite:///")
    if rest == ":memory:":
        return None
    path = Path(rest)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def open_store(url: str, base_dir: Path | None = None) -> OnlineStore:
    """``sqlite:///relative.sqlite`` (against ``base_dir``), ``sqlite:////abs.sqlite``,
    ``sqlite:///:memory:`` or ``redis://host:port/db?prefix=name``."""
    if url.startswith("sqlite://"):
        from segmint.realtime._sqlite import SQLiteStore

        path = _sqlite_path(url, base_dir)
        return SQLiteStore(":memory:" if path is None else path, url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from segmint.realtime._redis import RedisStore

        conn, prefix = _redis_parts(url)
        return RedisStore(conn, prefix=prefix, url=url)
    raise ConfigError(f"online store '{url}' should start with sqlite:/// or redis://")


def open_existing_store(url: str, base_dir: Path | None = None) -> OnlineStore | None:
    """:func:`open_store`, or None when there is no store there yet: readers that must not
    create one (the batch path reading the API's definitions in a fresh project) use this.
    An SQLite file that does not exist (or ``:memory:``) is no store; Redis creates nothing
    until written, so a Redis store is always opened."""
    if url.startswith("sqlite://"):
        path = _sqlite_path(url, base_dir)
        if path is None or not path.is_file():
            return None
    return open_store(url, base_dir)


def open_bus(url: str) -> StreamBus | None:
    """None for ``inline``; a Redis Streams bus for ``redis://host:port/db?prefix=name``."""
    if url == "inline":
        return None
    if url.startswith(("redis://", "rediss://", "unix://")):
        from segmint.realtime._redis_bus import RedisStreamBus

        conn, prefix = _redis_parts(url)
        return RedisStreamBus(conn, prefix=prefix, url=url)
    raise ConfigError(f"event bus '{url}' should be 'inline' or start with redis://")
