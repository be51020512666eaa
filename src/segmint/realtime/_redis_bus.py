"""The production event bus: a Redis Stream read by one consumer group.

The stream is ``{prefix}:events``; each entry holds the event as one JSON field ``e``. The
group (``processors`` unless told otherwise) is created at the stream's start the first time
it is needed, so building the bus never needs Redis to be up.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import redis
from redis.typing import EncodableT

from segmint.errors import StoreUnavailable
from segmint.realtime._bus import Entry
from segmint.realtime._redis import TIMEOUT_S, connect, guarded, redact

T = TypeVar("T")

# A blocking read must end before the socket timeout, or it would look like a dead Redis.
_MAX_BLOCK_MS = int(TIMEOUT_S * 1000) - 500

# One round trip: take over idle entries, then read how often each has been delivered.
_CLAIM = """
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', ARGV[4])
local out = {}
for _, e in ipairs(r[2]) do
  if e[2] then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
    out[#out + 1] = {e[1], e[2], p[1] and p[1][4] or 1}
  end
end
return out
"""

# A batch of entries in one call (one command, not one per event). ARGV: maxlen, then the
# events' JSON; returns the new entries' ids.
_APPEND = """
local ids = {}
for i = 2, #ARGV do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[i])
end
return ids
"""


def _fields(raw: Any) -> dict[str, str]:
    """Entry fields as a dict, from redis-py's dict or a script's flat list."""
    if isinstance(raw, dict):
        return raw
    return dict(zip(raw[::2], raw[1::2], strict=True))


class RedisStreamBus:
    """Events in a Redis Stream, processed at least once by a consumer group.

    Parameters
    ----------
    conn_url : str
        Connection URL for redis-py (``redis://``, ``rediss://`` or ``unix://``).
    prefix : str
        Start of the stream's key (``{prefix}:events``).
    url : str, optional
        The URL the bus was configured with (``url`` attribute); ``conn_url`` if None.
    group : str
        The consumer group every worker reads in.
    stream_maxlen : int
        About how many entries the stream keeps (older ones are trimmed as new arrive).

    Examples
    --------
    >>> bus = RedisStreamBus("redis://127.0.0.1:6379/0", prefix="doc")  # doctest: +SKIP
    >>> ids = bus.append([{"event_id": "e1", "type": "page_view"}])  # doctest: +SKIP
    >>> [e.event for e in bus.read("worker-1", count=10, block_ms=0)]  # doctest: +SKIP
    [{'event_id': 'e1', 'type': 'page_view'}]
    """

    def __init__(
        self,
        conn_url: str,
        *,
        prefix: str = "segmint",
        url: str | None = None,
        group: str = "processors",
        stream_maxlen: int = 1_000_000,
    ) -> None:
        self.url = url or conn_url
        self.prefix = prefix
        self.group = group
        self.stream_maxlen = stream_maxlen
        self.key = f"{prefix}:events"
        self._what = f"event bus {redact(self.url)}"
        self._r = connect(conn_url)
        self._claim = self._r.register_script(_CLAIM)
        self._append = self._r.register_script(_APPEND)
        self._grouped = False

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` with the group in place (again if the stream was deleted meanwhile)."""
        with guarded(self._what):
            if not self._grouped:
                self._create_group()
            try:
                return fn()
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc) and "no such key" not in str(exc):
                    raise
                self._create_group()
                return fn()

    def _create_group(self) -> None:
        try:
            self._r.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._grouped = True

    def ping(self) -> None:
        """Raise StoreUnavailable unless Redis answers PING."""
        with guarded(self._what):
            self._r.ping()

    def close(self) -> None:
        """Close the Redis client and its connections."""
        self._r.close()

    def append(self, events: Sequence[Mapping[str, Any]]) -> list[str]:
        """Append events to the stream in one script call (trimmed to about ``stream_maxlen``
        entries); return their stream ids."""
        if not events:
            return []
        args: list[EncodableT] = [self.stream_maxlen]
        args += [json.dumps(e, default=str) for e in events]
        with guarded(self._what):
            return [str(i) for i in self._append(keys=[self.key], args=args)]

    def read(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """New entries for ``consumer``; waits at most 1.5 s (callers read in a loop)."""
        if count <= 0:
            return []
        block = min(block_ms, _MAX_BLOCK_MS) if block_ms > 0 else None
        reply: Any = self._call(
            lambda: self._r.xreadgroup(
                self.group, consumer, {self.key: ">"}, count=count, block=block
            )
        )
        out: list[Entry] = []
        for _stream, entries in reply or []:
            out += [Entry(i, json.loads(f["e"])) for i, f in entries if f]
        return out

    def claim(self, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
        """Up to ``count`` entries idle at least ``min_idle_ms``, taken over for ``consumer``
        (XAUTOCLAIM), each with how often it was delivered."""
        if count <= 0:
            return []
        args: list[EncodableT] = [self.group, consumer, max(0, min_idle_ms), count]
        reply: Any = self._call(lambda: self._claim(keys=[self.key], args=args))
        return [Entry(i, json.loads(_fields(f)["e"]), int(n)) for i, f, n in reply]

    def ack(self, ids: Sequence[str]) -> None:
        """Acknowledge ``ids`` in the group, so they are not delivered again."""
        if ids:
            self._call(lambda: self._r.xack(self.key, self.group, *ids))

    def lag(self) -> dict[str, int]:
        """``pending`` and ``waiting`` entries of the group (put back if it was destroyed);
        ``waiting`` is an upper bound when Redis cannot tell the lag."""
        mine = self._group_info()
        if mine is None:  # someone destroyed the group: put it back, at the stream's start
            with guarded(self._what):
                self._create_group()
            mine = self._group_info()
        if mine is None:
            raise StoreUnavailable(f"{self._what}: group {self.group!r} cannot be created")
        waiting = mine.get("lag")
        if waiting is None:
            waiting = self._waiting(mine)
        return {"pending": int(mine["pending"]), "waiting": int(waiting)}

    def _group_info(self) -> dict[str, Any] | None:
        groups = self._call(lambda: self._r.xinfo_groups(self.key))
        return next((dict(g) for g in groups if g["name"] == self.group), None)

    def _waiting(self, group: Mapping[str, Any]) -> int:
        """Redis cannot tell the lag (entries deleted after the group's position): exact
        when nothing was read yet, else an upper bound (deleted entries count as waiting)."""
        with guarded(self._what):
            stream = self._r.xinfo_stream(self.key)
        if group.get("last-delivered-id") == "0-0":
            return int(stream["length"])
        read, added = group.get("entries-read"), stream.get("entries-added")
        return 0 if read is None or added is None else max(0, int(added) - int(read))
