"""The production online store: one Redis (``redis://host:port/db?prefix=name``).

Every key starts with the prefix ``p`` (``segmint`` unless the URL says otherwise):

==============================  =======  ====================================================
key                             type     holds
==============================  =======  ====================================================
``p:publish``                   hash     ``gen`` (key namespace in service), ``version``,
                                         ``info`` (PublishInfo JSON without the version)
``p:publish:gens``              string   counter that names each publish's key namespace
``p:g{gen}:pub``                hash     customer id -> Published JSON
``p:g{gen}:alias``              hash     identifier -> customer id (published links)
``p:g{gen}:members:{segment}``  zset     a publish's memberships while it is built
``p:alias:live``                hash     identifier -> customer id (live links, they win)
``p:live:doc:{customer}``       hash     ``doc`` (LiveDoc JSON), ``v`` (write count)
``p:live:ids``                  zset     customers with a live document (all scores 0)
``p:members:{segment}``         zset     members (all scores 0, so ordered by id)
``p:segments``                  set      segments that have a member zset
``p:changes:seq``               string   last change sequence number
``p:changes``                   zset     ``[seq, segment, customer, change, at, event_id]``
                                         by seq
``p:history:{segment}``         zset     the same records, one segment's
``p:event:{event_id}``          string   dedup marker (receipt time), expires in 7 days
``p:applied:{event_id}``        string   an applied event id's arrival (epoch seconds),
                                         expires when its de-duplication window ends
``p:dead``, ``p:dead:seq``      list     ``[id, received_at, item]`` newest first (capped)
``p:meta:{kind}``               hash     name -> record JSON
``p:deliveries``                hash     delivery id -> JSON
``p:deliveries:due``            zset     pending delivery ids by ``next_at``
``p:deliveries:log``            zset     delivery ids by ``created``
==============================  =======  ====================================================

A publish writes the new snapshot under a fresh namespace ``p:g{gen}``, then one Lua script
switches ``p:publish`` to it and renames its member zsets into place; readers read the
namespace in service and its keys in one MULTI/EXEC, so they see the old snapshot or the new
one, never half of each. A live commit is one Lua script that checks every document's version
and that none of the event ids it claims is held already, and only then writes, so it is all
or nothing and no event id is applied twice, whichever worker or customer it comes with.
Scripts build key names from the prefix, so the store needs one Redis node (a primary, with
replicas if you like), not Redis Cluster.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis
from redis.client import Pipeline
from redis.typing import EncodableT, FieldT

from segmint.errors import StoreUnavailable
from segmint.realtime._store import (
    DEAD_LETTER_CAP,
    Change,
    Commit,
    Conflict,
    LiveDoc,
    Published,
    PublishInfo,
    dead_letter_json,
)

TIMEOUT_S = 2.0
_CHUNK = 1_000
_SNAPSHOT_TRIES = 5
_Members = dict[str, dict[str, int]]  # segment -> {customer id: score 0}

_SWITCH = """
local p, gen = ARGV[1], ARGV[2]
local head, segs = p .. ':publish', p .. ':segments'
local prev = redis.call('HGET', head, 'gen') or ''
local version = tonumber(redis.call('HGET', head, 'version') or '0') + 1
for _, s in ipairs(redis.call('SMEMBERS', segs)) do redis.call('UNLINK', p .. ':members:' .. s) end
redis.call('DEL', segs)
for i = 4, #ARGV do
  redis.call('RENAME', p .. ':g' .. gen .. ':members:' .. ARGV[i], p .. ':members:' .. ARGV[i])
  redis.call('SADD', segs, ARGV[i])
end
redis.call('HSET', head, 'gen', gen, 'version', tostring(version), 'info', ARGV[3])
return {version, prev}
"""

# ARGV[i..i+4]: id, status, next_at ('' when none), created, JSON
_PUT_DELIVERY = """
local function put_delivery(p, i)
  local id = ARGV[i]
  redis.call('HSET', p .. ':deliveries', id, ARGV[i + 4])
  if ARGV[i + 1] == 'pending' and ARGV[i + 2] ~= '' then
    redis.call('ZADD', p .. ':deliveries:due', ARGV[i + 2], id)
  else
    redis.call('ZREM', p .. ':deliveries:due', id)
  end
  redis.call('ZADD', p .. ':deliveries:log', ARGV[i + 3], id)
end
"""

_RECORD_ATTEMPTS = (
    _PUT_DELIVERY + "for i = 2, #ARGV, 5 do put_delivery(ARGV[1], i) end\nreturn false\n"
)

# ARGV: prefix, then how many docs, deleted, aliases, changes, deliveries and event ids, then
# each part flat: event ids (id, arrival, expiry in ms since 1970), docs (id, version read,
# JSON), deleted (id, version read), aliases (identifier, id), changes (segment, id, change,
# JSON array without seq), deliveries (see above). Returns false, or what conflicted:
# {'doc', customer id} or {'event', event id}.
_COMMIT = (
    _PUT_DELIVERY
    + """
local p = ARGV[1]
local eids = 8
local docs = eids + 3 * tonumber(ARGV[7])
local dels = docs + 3 * tonumber(ARGV[2])
local als = dels + 2 * tonumber(ARGV[3])
local chs = als + 2 * tonumber(ARGV[4])
local dls = chs + 4 * tonumber(ARGV[5])
local function version(id)
  return tonumber(redis.call('HGET', p .. ':live:doc:' .. id, 'v') or '0')
end
for i = docs, dels - 1, 3 do
  if version(ARGV[i]) ~= tonumber(ARGV[i + 1]) then return {'doc', ARGV[i]} end
end
for i = dels, als - 1, 2 do
  if version(ARGV[i]) ~= tonumber(ARGV[i + 1]) then return {'doc', ARGV[i]} end
end
for i = eids, docs - 1, 3 do
  if redis.call('EXISTS', p .. ':applied:' .. ARGV[i]) == 1 then return {'event', ARGV[i]} end
end
for i = eids, docs - 1, 3 do
  redis.call('SET', p .. ':applied:' .. ARGV[i], ARGV[i + 1], 'PXAT', ARGV[i + 2])
end
for i = dels, als - 1, 2 do
  redis.call('DEL', p .. ':live:doc:' .. ARGV[i])
  redis.call('ZREM', p .. ':live:ids', ARGV[i])
end
for i = docs, dels - 1, 3 do
  local v = tostring(tonumber(ARGV[i + 1]) + 1)
  redis.call('HSET', p .. ':live:doc:' .. ARGV[i], 'doc', ARGV[i + 2], 'v', v)
  redis.call('ZADD', p .. ':live:ids', 0, ARGV[i])
end
for i = als, chs - 1, 2 do redis.call('HSET', p .. ':alias:live', ARGV[i], ARGV[i + 1]) end
for i = chs, dls - 1, 4 do
  local seg, id = ARGV[i], ARGV[i + 1]
  if ARGV[i + 2] == 'entered' then
    redis.call('ZADD', p .. ':members:' .. seg, 0, id)
    redis.call('SADD', p .. ':segments', seg)
  else
    redis.call('ZREM', p .. ':members:' .. seg, id)
  end
  local seq = redis.call('INCR', p .. ':changes:seq')
  local rec = '[' .. seq .. ',' .. string.sub(ARGV[i + 3], 2)
  redis.call('ZADD', p .. ':changes', seq, rec)
  redis.call('ZADD', p .. ':history:' .. seg, seq, rec)
end
for i = dls, #ARGV, 5 do put_delivery(p, i) end
return false
"""
)

# ARGV: prefix, how many alias keys, the alias keys (in order), then ids tried as they are.
# Returns {customer id, published JSON, live JSON, live version} (false where missing), or
# {false} when nobody has any of them: a read of one customer in one round trip.
_CUSTOMER = """
local p, n = ARGV[1], tonumber(ARGV[2])
local gen = redis.call('HGET', p .. ':publish', 'gen') or '0'
local pub, alias = p .. ':g' .. gen .. ':pub', p .. ':g' .. gen .. ':alias'
local cid = false
for i = 3, 2 + n do
  cid = redis.call('HGET', p .. ':alias:live', ARGV[i]) or redis.call('HGET', alias, ARGV[i])
  if cid then break end
end
if not cid then
  for i = 3 + n, #ARGV do
    if redis.call('HEXISTS', pub, ARGV[i]) == 1
       or redis.call('EXISTS', p .. ':live:doc:' .. ARGV[i]) == 1 then
      cid = ARGV[i]
      break
    end
  end
end
if not cid then return {false} end
local live = redis.call('HMGET', p .. ':live:doc:' .. cid, 'doc', 'v')
return {cid, redis.call('HGET', pub, cid) or false, live[1] or false, live[2] or false}
"""

# KEYS: the snapshot head, a snapshot's hash; ARGV: HSCAN cursor, count. Returns the next
# cursor, the page's customer ids (without their documents) and the namespace in service.
_PUBLISHED_IDS = """
local page = redis.call('HSCAN', KEYS[2], ARGV[1], 'COUNT', ARGV[2])
local ids = {}
for i = 1, #page[2], 2 do ids[#ids + 1] = page[2][i] end
return {page[1], ids, redis.call('HGET', KEYS[1], 'gen') or '0'}
"""

# KEYS: the list, its id counter; ARGV: the cap, then JSON arrays [received_at, item]
_DEAD_LETTER = """
for i = 2, #ARGV do
  local id = redis.call('INCR', KEYS[2])
  redis.call('LPUSH', KEYS[1], '[' .. id .. ',' .. string.sub(ARGV[i], 2))
end
local over = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[1])
if over > 0 then
  redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[1]) - 1)
  redis.call('INCRBY', KEYS[3], over)
end
return false
"""

# KEYS: a zset of ids, the hash of their JSON; ARGV: 'due', now, limit | 'newest', stop
# The dedup markers of a batch in one call: per event, 1 when its marker was set now (not
# seen in the window) and it was not applied before. KEYS: marker and applied key, by event.
_LOG_EVENTS = """
local out = {}
for i = 1, #KEYS, 2 do
  local new = redis.call('SET', KEYS[i], ARGV[1], 'NX', 'EX', ARGV[2])
  out[#out + 1] = (new and redis.call('EXISTS', KEYS[i + 1]) == 0) and 1 or 0
end
return out
"""

_ZSET_DOCS = """
local ids
if ARGV[1] == 'due' then
  ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])
else
  ids = redis.call('ZREVRANGE', KEYS[1], 0, ARGV[2])
end
local out = {}
for i, id in ipairs(ids) do out[i] = redis.call('HGET', KEYS[2], id) end
return out
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def redact(url: str) -> str:
    """``url`` without its password, to name it in messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def connect(conn_url: str) -> redis.Redis:
    """A client with short timeouts: a Redis that is down fails a call, never hangs it."""
    return redis.Redis.from_url(
        conn_url,
        decode_responses=True,
        socket_timeout=TIMEOUT_S,
        socket_connect_timeout=TIMEOUT_S,
        health_check_interval=30,
    )


@contextmanager
def guarded(what: str) -> Iterator[None]:
    """Raise :class:`StoreUnavailable` naming ``what`` for any Redis error in the block."""
    try:
        yield
    except redis.RedisError as exc:
        raise StoreUnavailable(f"{what} is unavailable: {type(exc).__name__}: {exc}") from exc


def _stop(limit: int) -> int:
    return -1 if limit < 0 else limit - 1  # SQLite's negative LIMIT means all


def _lex_min(after: str | None) -> str:
    return "-" if after is None else f"({after}"


class RedisStore:
    """The online store in Redis (see the module docstring for the key layout).

    Parameters
    ----------
    conn_url : str
        Connection URL for redis-py (``redis://``, ``rediss://`` or ``unix://``).
    prefix : str
        Start of every key, so several stores can share one Redis.
    url : str, optional
        The URL the store was configured with (``url`` attribute); ``conn_url`` if None.

    Examples
    --------
    >>> store = RedisStore("redis://127.0.0.1:6379/0", prefix="doc")  # doctest: +SKIP
    >>> store.put_meta("segments", "vip", {"rule": "spend > 100"})  # doctest: +SKIP
    >>> store.get_meta("segments")  # doctest: +SKIP
    {'vip': {'rule': 'spend > 100'}}
    """

    dead_letter_cap = DEAD_LETTER_CAP
    #: how long an event id's arrival marker lives: the de-duplication window, which
    #: Runtime.open sets from serve.dedup_days (a marker outliving it answered `duplicate`
    #: to a retry the worker then applied)
    event_ttl_s: float = 7 * 24 * 3600.0

    def __init__(self, conn_url: str, *, prefix: str = "segmint", url: str | None = None) -> None:
        self.url = url or conn_url
        self.prefix = prefix
        self._what = f"online store {redact(self.url)}"
        self._r = connect(conn_url)
        self._gen = "0"  # the namespace in service when last read; checked on every read
        self._switch = self._r.register_script(_SWITCH)
        self._commit = self._r.register_script(_COMMIT)
        self._attempts = self._r.register_script(_RECORD_ATTEMPTS)
        self._dead = self._r.register_script(_DEAD_LETTER)
        self._zset_docs = self._r.register_script(_ZSET_DOCS)
        self._published_page = self._r.register_script(_PUBLISHED_IDS)
        self._customer = self._r.register_script(_CUSTOMER)
        self._log = self._r.register_script(_LOG_EVENTS)

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _guard(self) -> AbstractContextManager[None]:
        return guarded(self._what)

    def ping(self) -> None:
        """Raise StoreUnavailable unless Redis answers PING."""
        with self._guard():
            self._r.ping()

    def close(self) -> None:
        """Close the Redis client and its connections."""
        self._r.close()

    def drop_all(self) -> int:
        """Delete every key under the prefix (tests, a store being retired); return how many."""
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + ":*"
        with self._guard():
            keys = list(self._r.scan_iter(match=pattern, count=_CHUNK))
            return sum(self._r.unlink(*keys[i : i + _CHUNK]) for i in range(0, len(keys), _CHUNK))

    # --- published ---------------------------------------------------------------------
    def publish(
        self, customers: Iterable[Published], aliases: Mapping[str, str], info: PublishInfo
    ) -> PublishInfo:
        """Build the snapshot under a fresh ``p:g{gen}``, switch to it in one script and unlink the
        old one; return it with its new version. A failed build is removed."""
        with self._guard():
            gen = str(self._r.incr(self._k("publish", "gens")))
        segments: set[str] = set()
        try:
            n = self._build(gen, customers, aliases, segments)
            done = PublishInfo(0, info.as_of, info.cut, _now(), n)
            fields = {k: v for k, v in asdict(done).items() if k != "version"}
            with self._guard():
                version, prev = self._switch(
                    args=[self.prefix, gen, json.dumps(fields), *sorted(segments)]
                )
        except BaseException:
            self._discard(gen, segments)
            raise
        self._gen = gen
        if prev:
            with suppress(StoreUnavailable), self._guard():
                # readers read the namespace and its keys in one transaction: none is mid-read
                self._r.unlink(self._k(f"g{prev}", "pub"), self._k(f"g{prev}", "alias"))
        return replace(done, version=int(version))

    def _build(
        self, gen: str, customers: Iterable[Published], aliases: Mapping[str, str], segs: set[str]
    ) -> int:
        """Write a snapshot under ``p:g{gen}``, a round trip per chunk; return its size."""
        pub, n = self._k(f"g{gen}", "pub"), 0
        rows: dict[FieldT, EncodableT] = {}
        members: _Members = defaultdict(dict)
        with self._guard():
            pipe = self._r.pipeline(transaction=False)
            for c in customers:
                n += 1
                rows[c.customer_id] = orjson.dumps(c.to_json()).decode()
                for s in c.segments:
                    members[s][c.customer_id] = 0
                if len(rows) >= _CHUNK:
                    self._flush(pipe, pub, rows, members, gen, segs)
            self._flush(pipe, pub, rows, members, gen, segs)
            items = list(aliases.items())
            for i in range(0, len(items), _CHUNK):
                pipe.hset(self._k(f"g{gen}", "alias"), mapping=dict(items[i : i + _CHUNK]))
            pipe.execute()
        return n

    def _flush(
        self,
        pipe: Pipeline,
        pub: str,
        rows: dict[FieldT, EncodableT],
        members: _Members,
        gen: str,
        segs: set[str],
    ) -> None:
        if rows:
            pipe.hset(pub, mapping=rows)
        for s, ids in members.items():
            pipe.zadd(self._k(f"g{gen}", "members", s), ids)
        segs.update(members)
        pipe.execute()
        rows.clear()
        members.clear()

    def _discard(self, gen: str, segments: set[str]) -> None:
        """Remove a failed publish's keys, unless it is in service after all (a reply lost)."""
        with suppress(StoreUnavailable), self._guard():
            if self._r.hget(self._k("publish"), "gen") == gen:
                return
            keys = [self._k(f"g{gen}", "members", s) for s in segments]
            self._r.unlink(self._k(f"g{gen}", "pub"), self._k(f"g{gen}", "alias"), *keys)

    def info(self) -> PublishInfo:
        """The snapshot in service, from ``p:publish``; ``PublishInfo()`` before the first
        publish."""
        with self._guard():
            version, fields = self._r.hmget(self._k("publish"), ["version", "info"])
        if fields is None or version is None:
            return PublishInfo()
        return PublishInfo(int(version), **json.loads(fields))

    def _snapshot(self, queue: Callable[[Pipeline, str], object]) -> list[Any]:
        """Run the reads ``queue`` adds for a namespace in the one in service, atomically."""
        gen = self._gen
        with self._guard():
            for _ in range(_SNAPSHOT_TRIES):
                pipe = self._r.pipeline(transaction=True)
                pipe.hget(self._k("publish"), "gen")
                queue(pipe, gen)
                current, *results = pipe.execute()
                if (current or "0") == gen:
                    return results
                gen = self._gen = current or "0"
        raise StoreUnavailable(f"{self._what}: publishes follow each other too fast to read")

    def published(self, customer_ids: Sequence[str]) -> dict[str, Published]:
        """The published record of each of ``customer_ids`` the snapshot in service holds, read in
        one transaction."""
        ids = list(customer_ids)
        if not ids:
            return {}
        (docs,) = self._snapshot(lambda pipe, gen: pipe.hmget(self._k(f"g{gen}", "pub"), ids))
        return {
            cid: Published.from_json(cid, orjson.loads(doc))
            for cid, doc in zip(ids, docs, strict=True)
            if doc is not None
        }

    def resolve(self, identifiers: Sequence[str]) -> dict[str, str]:
        """Canonical customer id of each identifier that has one (a live link wins over a published
        one), read in one transaction."""
        idents = list(identifiers)
        if not idents:
            return {}

        def queue(pipe: Pipeline, gen: str) -> None:
            pipe.hmget(self._k(f"g{gen}", "alias"), idents)
            pipe.hmget(self._k("alias", "live"), idents)

        published, live = self._snapshot(queue)
        out: dict[str, str] = {}
        for ident, pub, own in zip(idents, published, live, strict=True):
            if own is not None or pub is not None:
                out[ident] = own if own is not None else pub
        return out

    def customer(
        self, keys: Sequence[str], ids: Sequence[str]
    ) -> tuple[str, Published | None, LiveDoc | None] | None:
        """Who has the first of ``keys`` (live links first), else the first of ``ids`` published or
        live, with their published record and live document; None when nobody. One script: one
        round trip."""
        with self._guard():
            row = self._customer(args=[self.prefix, len(keys), *keys, *ids])
        if not row or not row[0]:
            return None
        cid = _text(row[0])
        pub = Published.from_json(cid, orjson.loads(row[1])) if row[1] else None
        doc = LiveDoc.from_json(cid, orjson.loads(row[2]), int(row[3])) if row[2] else None
        return cid, pub, doc

    # --- live ----------------------------------------------------------------------------
    def live(self, customer_ids: Sequence[str]) -> dict[str, LiveDoc]:
        """The live documents that exist, each with the version it was read at (one pipelined round
        trip)."""
        ids = list(customer_ids)
        with self._guard():
            pipe = self._r.pipeline(transaction=False)
            for cid in ids:
                pipe.hmget(self._k("live", "doc", cid), ["doc", "v"])
            rows = pipe.execute() if ids else []
        return {
            cid: LiveDoc.from_json(cid, orjson.loads(doc), int(v))
            for cid, (doc, v) in zip(ids, rows, strict=True)
            if doc is not None
        }

    def commit(self, commit: Commit) -> None:
        """Write it all or nothing in one Lua script; raise :class:`Conflict` when a document moved
        on or an event id is held. On success each of ``commit.docs`` has its ``version``
        advanced to the one written."""
        args: list[Any] = [self.prefix]
        args += [len(commit.docs), len(commit.deleted), len(commit.aliases)]
        args += [len(commit.changes), len(commit.deliveries), len(commit.event_ids)]
        for eid, at in commit.event_ids.items():
            # a window already over expires the claim at once (Redis deletes the key)
            args += [eid, repr(float(at)), max(1, int((at + commit.remember_s) * 1000))]
        for d in commit.docs:
            args += [d.customer_id, d.version, orjson.dumps(d.to_json()).decode()]
        for d in commit.deleted:
            args += [d.customer_id, d.version]
        for item in commit.aliases.items():
            args += item
        for c in commit.changes:
            args += [c.segment, c.customer_id, c.change, _change_json(c)]
        args += _delivery_args(commit.deliveries)
        with self._guard():
            moved = self._commit(args=args)
        if moved:
            kind, name = _texts(moved)
            if kind == "event":
                raise Conflict(f"event {name!r} was applied by another commit")
            raise Conflict(f"live document {name!r} changed since read")
        for d in commit.docs:
            d.version += 1

    def applied(self, event_ids: Sequence[str]) -> dict[str, float]:
        """Of ``event_ids``, those whose ``p:applied:{event_id}`` key has not expired, with their
        arrival time (epoch seconds)."""
        ids = list(dict.fromkeys(event_ids))
        out: dict[str, float] = {}
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            with self._guard():
                rows = self._r.mget([self._k("applied", eid) for eid in chunk])
            out.update({eid: float(at) for eid, at in zip(chunk, rows, strict=True) if at})
        return out

    def live_ids(self) -> Iterator[str]:
        """Every customer with a live document, in id order (like SQLite), a page at a time."""
        after: str | None = None
        while True:
            with self._guard():
                page = self._r.zrangebylex(
                    self._k("live", "ids"), _lex_min(after), "+", start=0, num=_CHUNK
                )
            yield from _texts(page)
            if len(page) < _CHUNK:
                return
            after = _text(page[-1])

    def customer_ids(self) -> Iterator[str]:
        """Every customer of the snapshot or with a live document, in id order (like SQLite's
        UNION, all are collected before the first is yielded)."""
        ids = set(self.live_ids())
        ids.update(self._published_ids())
        yield from sorted(ids)

    def _published_ids(self) -> set[str]:
        """The ids of one snapshot, a page at a time (again from the start if it is replaced)."""
        head = self._k("publish")
        with self._guard():
            for _ in range(_SNAPSHOT_TRIES):
                gen = _text(self._r.hget(head, "gen") or "0")
                keys, ids, cursor = [head, self._k(f"g{gen}", "pub")], set(), "0"
                while True:
                    cursor, page, now = self._published_page(keys=keys, args=[cursor, _CHUNK])
                    if now != gen:
                        break
                    ids.update(page)
                    if str(cursor) == "0":
                        return ids
        raise StoreUnavailable(f"{self._what}: publishes follow each other too fast to read")

    # --- memberships ------------------------------------------------------------------
    def members(self, segment: str, after: str | None, limit: int) -> list[str]:
        """Up to ``limit`` members of ``segment`` in id order, after the cursor ``after`` (None:
        from the first)."""
        if limit == 0:
            return []
        with self._guard():
            ids = self._r.zrangebylex(
                self._k("members", segment), _lex_min(after), "+", start=0, num=limit
            )
        return _texts(ids)

    def size(self, segment: str) -> int:
        """How many members ``segment`` has now (the ZCARD of its member zset)."""
        with self._guard():
            return int(self._r.zcard(self._k("members", segment)))

    def history(self, segment: str, limit: int) -> list[dict[str, Any]]:
        """The latest ``limit`` changes of ``segment``, newest first, each with its ``seq``."""
        if limit == 0:
            return []
        with self._guard():
            recs = self._r.zrevrange(self._k("history", segment), 0, _stop(limit))
        keys = ("seq", "customer_id", "change", "at", "event_id")
        return [dict(zip(keys, (r[0], *r[2:]), strict=True)) for r in _json(recs)]

    def notifications(self, after: int, limit: int) -> list[dict[str, Any]]:
        """At most ``limit`` enter/exit notifications with ``seq`` after ``after``, oldest first."""
        if limit == 0:
            return []
        with self._guard():
            recs = self._r.zrangebyscore(
                self._k("changes"), f"({int(after)}", "+inf", start=0, num=limit
            )
        keys = ("seq", "type", "segment", "customer_id", "at", "event_id")
        return [
            dict(zip(keys, (seq, f"segment.{change}", seg, cid, at, eid), strict=True))
            for seq, seg, cid, change, at, eid in _json(recs)
        ]

    # --- event log and dead letters ------------------------------------------------------
    def log_events(self, events: Sequence[Mapping[str, Any]]) -> list[bool]:
        """Mark each ``event_id`` as seen for ``event_ttl_s``; per event, whether it was new
        (not marked, nor applied and still remembered).

        Only a marker is kept: in Redis mode the event bus stream is the durable log.
        """
        if not events:
            return []
        keys: list[str] = []
        for e in events:
            eid = str(e["event_id"])
            keys += (self._k("event", eid), self._k("applied", eid))
        with self._guard():  # one call, not two commands per event: intake's hot path
            rows = self._log(keys=keys, args=[_now(), max(1, int(self.event_ttl_s))])
        return [bool(r) for r in rows]

    def dead_letter(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Keep items that could not be applied (the newest ``dead_letter_cap``)."""
        if not items:
            return
        now = _now()
        rows = [f"[{json.dumps(now)},{dead_letter_json(i)}]" for i in items]
        keys = [self._k("dead"), self._k("dead", "seq"), self._k("dead", "dropped")]
        with self._guard():
            self._dead(keys=keys, args=[self.dead_letter_cap, *rows])

    def dead_letters_dropped(self) -> int:
        """How many dead letters were trimmed, oldest first, to keep the cap."""
        with self._guard():
            return int(self._r.get(self._k("dead", "dropped")) or 0)

    def dead_letters(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` dead letters, newest first, each with its ``id`` and
        ``received_at``."""
        if limit == 0:
            return []
        with self._guard():
            rows = self._r.lrange(self._k("dead"), 0, _stop(limit))
        return [{"id": i, "received_at": at, **item} for i, at, item in _json(rows)]

    # --- definitions and keys --------------------------------------------------------------
    def get_meta(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every record of ``kind`` ('segments', 'keys', 'webhooks') by name, from the hash
        ``p:meta:{kind}``."""
        with self._guard():
            rows = self._r.hgetall(self._k("meta", kind))
        return {_text(name): json.loads(rec) for name, rec in rows.items()}

    def put_meta(self, kind: str, name: str, record: Mapping[str, Any] | None) -> None:
        """Write (or with None delete) the record ``name`` in the hash ``p:meta:{kind}``."""
        with self._guard():
            if record is None:
                self._r.hdel(self._k("meta", kind), name)
            else:
                self._r.hset(self._k("meta", kind), name, json.dumps(record))

    # --- webhook deliveries --------------------------------------------------------------
    def due_deliveries(self, now: float, limit: int) -> list[dict[str, Any]]:
        """At most ``limit`` pending deliveries whose ``next_at`` is at or before ``now`` (epoch
        seconds), soonest first."""
        if limit == 0:
            return []
        keys = [self._k("deliveries", "due"), self._k("deliveries")]
        with self._guard():
            docs = self._zset_docs(keys=keys, args=["due", repr(float(now)), limit])
        return [json.loads(d) for d in docs if d is not None]

    def record_attempt(self, delivery: Mapping[str, Any]) -> None:
        """Store a delivery's state after an attempt; it leaves the due set unless it is still
        pending."""
        with self._guard():
            self._attempts(args=[self.prefix, *_delivery_args([delivery])])

    def deliveries(self, limit: int) -> list[dict[str, Any]]:
        """The ``limit`` most recently created deliveries, newest first."""
        if limit == 0:
            return []
        keys = [self._k("deliveries", "log"), self._k("deliveries")]
        with self._guard():
            docs = self._zset_docs(keys=keys, args=["newest", _stop(limit)])
        return [json.loads(d) for d in docs if d is not None]


def _text(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode()


def _texts(values: Iterable[bytes | str]) -> list[str]:
    return [_text(v) for v in values]


def _json(values: Iterable[Any]) -> list[Any]:
    return [json.loads(v) for v in values]


def _change_json(c: Change) -> str:
    """The change as a JSON array the commit script prefixes with its sequence number."""
    return json.dumps([c.segment, c.customer_id, c.change, c.at, c.event_id])


def _score(value: Any) -> str:
    return "" if value is None else repr(float(value))


def _delivery_args(deliveries: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The script arguments of deliveries (``created`` defaults to now, like SQLite)."""
    args: list[Any] = []
    for d in deliveries:
        created = d.get("created", time.time())
        args += [d["id"], d["status"], _score(d["next_at"])]
        args += [_score(created) or "-inf", json.dumps(dict(d))]
    return args
