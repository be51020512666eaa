"""The embedded online store: one SQLite file (WAL mode), no server.

A publish is one transaction, so in WAL mode every reader keeps seeing the old snapshot until
it commits. Live writes take the write lock (``BEGIN IMMEDIATE``) and check each document's
version and that none of the event ids they claim is held already (table ``applied``, by
arrival and expiry time), so two processes applying events cannot lose an update or both
apply one event.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from segmint.errors import StoreUnavailable
from segmint.realtime._store import (
    DEAD_LETTER_CAP,
    Commit,
    Conflict,
    LiveDoc,
    Published,
    PublishInfo,
    dead_letter_json,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (kind TEXT, name TEXT, record TEXT, PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS published (customer_id TEXT PRIMARY KEY, doc TEXT);
CREATE TABLE IF NOT EXISTS aliases (
    identifier TEXT, source TEXT, customer_id TEXT, PRIMARY KEY (identifier, source));
CREATE TABLE IF NOT EXISTS live (customer_id TEXT PRIMARY KEY, doc TEXT, version INTEGER);
CREATE TABLE IF NOT EXISTS members (
    segment TEXT, customer_id TEXT, entered_at TEXT, PRIMARY KEY (segment, customer_id));
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, segment TEXT, customer_id TEXT, change TEXT,
    at TEXT, event_id TEXT);
CREATE INDEX IF NOT EXISTS changes_segment ON changes (segment, seq);
CREATE TABLE IF NOT EXISTS event_log (event_id TEXT PRIMARY KEY, received_at TEXT, event TEXT);
CREATE TABLE IF NOT EXISTS applied (event_id TEXT PRIMARY KEY, arrived REAL, expires REAL);
CREATE INDEX IF NOT EXISTS applied_expires ON applied (expires);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT, item TEXT);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY, doc TEXT, status TEXT, next_at REAL, created REAL);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_at);
"""
_PUBLISH_INFO = ("publish", "info")


@contextmanager
def _guard(path: str) -> Iterator[None]:
    """sqlite3's errors (locked, disk full, unreadable) as StoreUnavailable."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreUnavailable(f"online store {path}: {exc}") from exc


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


#: how long a statement waits on another writer's lock before the store is unavailable
#: (a 503 after about a second, not a request hung for 30 s)
_BUSY_TIMEOUT = 1.0


class SQLiteStore:
    """The online store in one SQLite file (``sqlite:///path`` or ``sqlite:///:memory:``)."""

    dead_letter_cap = DEAD_LETTER_CAP

    def __init__(self, path: str | Path, url: str | None = None) -> None:
        self.path = str(path)
        self.url = url or f"sqlite:///{self.path}"
        self._local = threading.local()
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._shared = self._open() if self.path == ":memory:" else None
        self._conn().executescript(_SCHEMA)

    def _open(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open the online store {self.path}: {exc}") from exc
        return con

    def _conn(self) -> sqlite3.Connection:
        if self._shared is not None:
            return self._shared
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._local.con = self._open()
        return con

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"online store {self.path}: {exc}") from exc

    def ping(self) -> None:
        """Raise StoreUnavailable unless a ``SELECT 1`` on this thread's connection answers."""
        self._read("SELECT 1")

    def close(self) -> None:
        """Close this thread's connection (a later call opens another); ``:memory:``'s shared one
        stays open."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    # --- published ---------------------------------------------------------------------
    def publish(
        self, customers: Iterable[Published], aliases: Mapping[str, str], info: PublishInfo
    ) -> PublishInfo:
        """Replace the snapshot in one ``BEGIN IMMEDIATE`` transaction (readers see the old one
        until it commits); return it with its new version."""
        with _guard(self.path):
            return self._publish(customers, aliases, info)

    def _publish(
        self, customers: Iterable[Published], aliases: Mapping[str, str], info: PublishInfo
    ) -> PublishInfo:
        con = self._conn()
        con.execute("BEGIN IMMEDIATE")
        try:
            version = self.info().version + 1
            con.execute("DELETE FROM published")
            con.execute("DELETE FROM members")
            con.execute("DELETE FROM aliases WHERE source = 'published'")
            n = 0
            rows: list[tuple[str, str]] = []
            members: list[tuple[str, str, str]] = []
            for c in customers:
                n += 1
                rows.append((c.customer_id, json.dumps(c.to_json())))
                members.extend((s, c.customer_id, at) for s, at in c.segments.items())
                if len(rows) >= 5_000:
                    self._flush(con, rows, members)
            self._flush(con, rows, members)
            con.executemany("INSERT INTO aliases VALUES (?, 'published', ?)", list(aliases.items()))
            done = PublishInfo(version, info.as_of, info.cut, _now(), n)
            con.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?, ?)",
                (*_PUBLISH_INFO, json.dumps(done.__dict__)),
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return done

    @staticmethod
    def _flush(
        con: sqlite3.Connection, rows: list[tuple[str, str]], members: list[tuple[str, str, str]]
    ) -> None:
        con.executemany("INSERT OR REPLACE INTO published VALUES (?, ?)", rows)
        con.executemany("INSERT OR REPLACE INTO members VALUES (?, ?, ?)", members)
        rows.clear()
        members.clear()

    def info(self) -> PublishInfo:
        """The snapshot in service, from table ``meta``; ``PublishInfo()`` before the first
        publish."""
        rows = self._read("SELECT record FROM meta WHERE kind = ? AND name = ?", _PUBLISH_INFO)
        return PublishInfo(**json.loads(rows[0][0])) if rows else PublishInfo()

    def published(self, customer_ids: Sequence[str]) -> dict[str, Published]:
        """The published record of each of ``customer_ids`` the snapshot holds, 500 ids a query."""
        out: dict[str, Published] = {}
        for chunk in _chunks(customer_ids):
            marks = ",".join("?" * len(chunk))
            for cid, doc in self._read(
                f"SELECT customer_id, doc FROM published WHERE customer_id IN ({marks})", chunk
            ):
                out[cid] = Published.from_json(cid, json.loads(doc))
        return out

    def resolve(self, identifiers: Sequence[str]) -> dict[str, str]:
        """Canonical customer id of each identifier that has one; a live link wins over a published
        one."""
        out: dict[str, str] = {}
        for chunk in _chunks(identifiers):
            marks = ",".join("?" * len(chunk))
            # read last, a live link made by a login wins over the published one
            rows = self._read(
                f"SELECT identifier, customer_id FROM aliases WHERE identifier IN ({marks}) "
                "ORDER BY source DESC",
                chunk,
            )
            out.update(dict(rows))
        return out

    def customer(
        self, keys: Sequence[str], ids: Sequence[str]
    ) -> tuple[str, Published | None, LiveDoc | None] | None:
        """Who has the first of ``keys`` (live links first), else the first of ``ids`` published or
        live, with their published record and live document; None when nobody (a few queries, not
        one transaction)."""
        found = self.resolve(keys)
        cid = next((found[k] for k in keys if k in found), None)
        for candidate in ids if cid is None else ():
            if self.published([candidate]) or self.live([candidate]):
                cid = candidate
                break
        if cid is None:
            return None
        return cid, self.published([cid]).get(cid), self.live([cid]).get(cid)

    # --- live ----------------------------------------------------------------------------
    def live(self, customer_ids: Sequence[str]) -> dict[str, LiveDoc]:
        """The live documents that exist, each with the version it was read at."""
        out: dict[str, LiveDoc] = {}
        for chunk in _chunks(customer_ids):
            marks = ",".join("?" * len(chunk))
            for cid, doc, version in self._read(
                f"SELECT customer_id, doc, version FROM live WHERE customer_id IN ({marks})",
                chunk,
            ):
                out[cid] = LiveDoc.from_json(cid, json.loads(doc), version)
        return out

    def commit(self, commit: Commit) -> None:
        """Write it all or nothing in one ``BEGIN IMMEDIATE`` transaction; raise :class:`Conflict`
        when a document moved on or an event id is held. On success each of ``commit.docs`` has
        its ``version`` advanced to the one written."""
        with _guard(self.path):
            self._commit(commit)
        for d in commit.docs:
            d.version += 1

    def applied(self, event_ids: Sequence[str]) -> dict[str, float]:
        """Of ``event_ids``, those in table ``applied`` whose window has not ended, with their
        arrival time (epoch seconds)."""
        out: dict[str, float] = {}
        now = time.time()
        for chunk in _chunks(event_ids):
            marks = ",".join("?" * len(chunk))
            rows = self._read(
                f"SELECT event_id, arrived FROM applied WHERE event_id IN ({marks}) "
                "AND expires > ?",
                [*chunk, now],
            )
            out.update(rows)
        return out

    @staticmethod
    def _claim(con: sqlite3.Connection, commit: Commit) -> None:
        """Claim the commit's event ids (Conflict when one is held and still remembered);
        forget the ids whose window has passed."""
        if not commit.event_ids:
            return
        now = time.time()
        for chunk in _chunks(list(commit.event_ids)):
            marks = ",".join("?" * len(chunk))
            row = con.execute(
                f"SELECT event_id FROM applied WHERE event_id IN ({marks}) AND expires > ? LIMIT 1",
                [*chunk, now],
            ).fetchone()
            if row is not None:
                raise Conflict(f"event {row[0]!r} was applied by another commit")
        con.execute("DELETE FROM applied WHERE expires <= ?", (now,))
        con.executemany(
            "INSERT OR REPLACE INTO applied VALUES (?, ?, ?)",
            [(eid, at, at + commit.remember_s) for eid, at in commit.event_ids.items()],
        )

    def _commit(self, commit: Commit) -> None:
        con = self._conn()
        con.execute("BEGIN IMMEDIATE")
        try:
            for doc in [*commit.docs, *commit.deleted]:
                row = con.execute(
                    "SELECT version FROM live WHERE customer_id = ?", (doc.customer_id,)
                ).fetchone()
                if (row[0] if row else 0) != doc.version:
                    raise Conflict(f"live document {doc.customer_id!r} changed since read")
            self._claim(con, commit)
            for doc in commit.deleted:
                con.execute("DELETE FROM live WHERE customer_id = ?", (doc.customer_id,))
            con.executemany(
                "INSERT OR REPLACE INTO live VALUES (?, ?, ?)",
                [(d.customer_id, json.dumps(d.to_json()), d.version + 1) for d in commit.docs],
            )
            con.executemany(
                "INSERT OR REPLACE INTO aliases VALUES (?, 'live', ?)", commit.aliases.items()
            )
            for ch in commit.changes:
                if ch.change == "entered":
                    con.execute(
                        "INSERT OR REPLACE INTO members VALUES (?, ?, ?)",
                        (ch.segment, ch.customer_id, ch.at),
                    )
                else:
                    con.execute(
                        "DELETE FROM members WHERE segment = ? AND customer_id = ?",
                        (ch.segment, ch.customer_id),
                    )
            con.executemany(
                "INSERT INTO changes (segment, customer_id, change, at, event_id) "
                "VALUES (?, ?, ?, ?, ?)",
                [(c.segment, c.customer_id, c.change, c.at, c.event_id) for c in commit.changes],
            )
            self._put_deliveries(con, commit.deliveries)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def live_ids(self) -> Iterator[str]:
        """Every customer with a live document, in id order."""
        for (cid,) in self._read("SELECT customer_id FROM live ORDER BY customer_id"):
            yield cid

    def customer_ids(self) -> Iterator[str]:
        """Every customer of the published snapshot or with a live document, in id order."""
        for (cid,) in self._read(
            "SELECT customer_id FROM published UNION SELECT customer_id FROM live ORDER BY 1"
        ):
            yield cid

    # --- memberships ------------------------------------------------------------------
    def members(self, segment: str, after: str | None, limit: int) -> list[str]:
        """Up to ``limit`` members of ``segment`` in id order, after the cursor ``after`` (None:
        from the first)."""
        rows = self._read(
            "SELECT customer_id FROM members WHERE segment = ? AND customer_id > ? "
            "ORDER BY customer_id LIMIT ?",
            (segment, after or "", limit),
        )
        return [r[0] for r in rows]

    def size(self, segment: str) -> int:
        """How many members ``segment`` has now."""
        return int(self._read("SELECT count(*) FROM members WHERE segment = ?", (segment,))[0][0])

    def history(self, segment: str, limit: int) -> list[dict[str, Any]]:
        """The latest ``limit`` changes of ``segment``, newest first, each with its ``seq``."""
        rows = self._read(
            "SELECT seq, customer_id, change, at, event_id FROM changes WHERE segment = ? "
            "ORDER BY seq DESC LIMIT ?",
            (segment, limit),
        )
        keys = ("seq", "customer_id", "change", "at", "event_id")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def notifications(self, after: int, limit: int) -> list[dict[str, Any]]:
        """At most ``limit`` enter/exit notifications with ``seq`` after ``after``, oldest first."""
        rows = self._read(
            "SELECT seq, segment, customer_id, change, at, event_id FROM changes "
            "WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        )
        return [
            {
                "seq": r[0],
                "type": f"segment.{r[3]}",
                "segment": r[1],
                "customer_id": r[2],
                "at": r[4],
                "event_id": r[5],
            }
            for r in rows
        ]

    # --- event log and dead letters ------------------------------------------------------
    def log_events(self, events: Sequence[Mapping[str, Any]]) -> list[bool]:
        """Insert each event into table ``event_log`` unless its ``event_id`` is there; per event,
        whether it was new: neither logged before nor applied and still remembered."""
        with _guard(self.path):
            return self._log_events(events)

    def _log_events(self, events: Sequence[Mapping[str, Any]]) -> list[bool]:
        con = self._conn()
        now = _now()
        held = self.applied([str(e["event_id"]) for e in events])
        con.execute("BEGIN IMMEDIATE")
        try:
            new = [
                con.execute(
                    "INSERT OR IGNORE INTO event_log VALUES (?, ?, ?)",
                    (e["event_id"], now, json.dumps(e, default=str)),
                ).rowcount
                == 1
                and str(e["event_id"]) not in held
                for e in events
            ]
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return new

    def dead_letter(self, items: Sequence[Mapping[str, Any]]) -> None:
        """Append items to table ``dead_letter``, each as :func:`dead_letter_json` writes it; past
        ``dead_letter_cap`` rows the oldest are deleted, and counted."""
        if not items:
            return
        now = _now()
        rows = [(now, dead_letter_json(i)) for i in items]
        con = self._conn()
        with _guard(self.path):
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany("INSERT INTO dead_letter (received_at, item) VALUES (?, ?)", rows)
                dropped = con.execute(
                    "DELETE FROM dead_letter WHERE id <= (SELECT max(id) FROM dead_letter) - ?",
                    (self.dead_letter_cap,),
                ).rowcount
                if dropped > 0:
                    con.execute(
                        "INSERT INTO meta VALUES ('dead_letter', 'dropped', "
                        "json_object('count', ?)) ON CONFLICT (kind, name) DO UPDATE SET "
                        "record = json_object('count', json_extract(record, '$.count') + ?)",
                        (dropped, dropped),
                    )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def dead_letters_dropped(self) -> int:
        """How many dead letters were deleted, oldest first, to keep the cap."""
        rows = self._read("SELECT record FROM meta WHERE kind = 'dead_letter' AND name = 'dropped'")
        return int(json.loads(rows[0][0])["count"]) if rows else 0

    def dead_letters(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` dead letters, newest first, each with its ``id`` and
        ``received_at``."""
        rows = self._read(
            "SELECT id, received_at, item FROM dead_letter ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [{"id": r[0], "received_at": r[1], **json.loads(r[2])} for r in rows]

    # --- definitions and keys --------------------------------------------------------------
    def get_meta(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every record of ``kind`` ('segments', 'keys', 'webhooks') by name."""
        rows = self._read("SELECT name, record FROM meta WHERE kind = ?", (kind,))
        return {name: json.loads(rec) for name, rec in rows}

    def put_meta(self, kind: str, name: str, record: Mapping[str, Any] | None) -> None:
        """Write (or with None delete) the record ``name`` of ``kind``."""
        con = self._conn()
        with _guard(self.path):
            if record is None:
                con.execute("DELETE FROM meta WHERE kind = ? AND name = ?", (kind, name))
            else:
                con.execute(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?, ?)",
                    (kind, name, json.dumps(record)),
                )

    # --- webhook deliveries --------------------------------------------------------------
    @staticmethod
    def _put_deliveries(con: sqlite3.Connection, deliveries: Sequence[Mapping[str, Any]]) -> None:
        con.executemany(
            "INSERT OR REPLACE INTO deliveries VALUES (?, ?, ?, ?, ?)",
            [
                (d["id"], json.dumps(d), d["status"], d["next_at"], d.get("created", time.time()))
                for d in deliveries
            ],
        )

    def due_deliveries(self, now: float, limit: int) -> list[dict[str, Any]]:
        """At most ``limit`` pending deliveries whose ``next_at`` is at or before ``now`` (epoch
        seconds), soonest first."""
        rows = self._read(
            "SELECT doc FROM deliveries WHERE status = 'pending' AND next_at <= ? "
            "ORDER BY next_at LIMIT ?",
            (now, limit),
        )
        return [json.loads(r[0]) for r in rows]

    def record_attempt(self, delivery: Mapping[str, Any]) -> None:
        """Store a delivery's state after an attempt (its row is replaced)."""
        with _guard(self.path):
            self._put_deliveries(self._conn(), [delivery])

    def deliveries(self, limit: int) -> list[dict[str, Any]]:
        """The ``limit`` most recently created deliveries, newest first."""
        rows = self._read("SELECT doc FROM deliveries ORDER BY created DESC LIMIT ?", (limit,))
        return [json.loads(r[0]) for r in rows]


def _chunks(items: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    items = list(items)
    for i in range(0, len(items), size):
        yield items[i : i + size]
