"""Store and forward: the agent's SQLite outbox (WAL).

Every event is written here **before** it is published and deleted only after the broker
acknowledged it (QoS 1 PUBACK), so nothing is lost to an uplink cut, a broker restart, a
power cut or ``kill -9``: the next connection replays what is left, in order.

The outbox has a cap (bytes of stored records: payload plus ``ROW_OVERHEAD`` each). When a
new record does not fit, records are dropped by ``priority`` (lowest first), oldest first
within a priority; a record never makes room by dropping one of a higher priority, so when
only more important records are left the newcomer itself is dropped. Every drop is
counted per kind (on disk, in the same transaction) until the agent reports the count in a
``dropped`` event once the link is back. Heartbeats never come here: a heartbeat is only
meaningful live.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("parkwatch.agent.outbox")

# Priorities: what is dropped first when the outbox is full.
DROP_FIRST = 0   # intercom presses, loop timeouts: operational alerts, only useful live
STATE = 1        # recoveries (a device or the software back to ok): the next heartbeat
#                  tells the collector the current state and since when
KEEP = 2         # faults, offline, software down, uplink and dropped records: last to go

ROW_OVERHEAD = 64  # bytes counted per record on top of its payload (row, index, page slack)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    size INTEGER NOT NULL,
    made_at REAL NOT NULL,
    live_boot INTEGER,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_drop_order ON outbox(priority, id);
CREATE TABLE IF NOT EXISTS dropped (
    kind TEXT PRIMARY KEY, count INTEGER NOT NULL, first_at REAL NOT NULL, last_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def priority(kind: str, state: str | None = None) -> int:
    """Where a record stands in the drop order (see the module docstring)."""
    if kind in ("uplink", "dropped"):
        return KEEP
    if kind in ("device_state", "software"):
        return KEEP if state in ("fault", "offline") else STATE
    return DROP_FIRST


@dataclass(frozen=True)
class Row:
    id: int
    kind: str
    payload: bytes
    live_boot: int | None  # the connection (boot) it was made under, None if made offline


class Outbox:
    """Thread-safe; one SQLite connection guarded by a lock."""

    def __init__(self, path: str | Path, max_bytes: int):
        self.path = Path(path)
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = self._open()
        self.depth, self.bytes = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox").fetchone()
        self.dropped_total = 0  # since this process started (the on-disk counts are per report)

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect_checked()
        except sqlite3.OperationalError:
            raise  # cannot open, read-only, locked, I/O error: not the file's fault, keep it
        except sqlite3.DatabaseError as e:
            # A damaged file (a worn SD card, a power cut mid-write, a truncated copy) must
            # not stop the agent for good: keep it for a post-mortem and start empty.
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            n = 0
            while aside.exists():  # a second one within the second: never overwrite the first
                n += 1
                aside = aside.with_name(f"{self.path.name}.corrupt-{int(time.time())}.{n}")
            reason = " ".join(str(e).split())
            log.error("outbox %s is unreadable (%s); moved it to %s and started empty",
                      self.path, reason, aside)
            self.path.rename(aside)
            for suffix in ("-wal", "-shm"):  # the log belongs to the damaged file: keep it
                side = Path(f"{self.path}{suffix}")
                if side.exists():
                    side.rename(f"{aside}{suffix}")
            return self._connect_checked()

    def _connect_checked(self) -> sqlite3.Connection:
        """Open and prove every page readable: corruption is found now, not mid-outage.

        ``quick_check`` reads the whole file; the outbox is capped, so this is bounded (a
        full 64 MB outbox: 0.2 s from the page cache, 1 s cold on a 2-core test machine;
        longer in proportion on a slow SD card)."""
        db = self._connect()
        try:
            problems = [r[0] for r in db.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("; ".join(problems)[:300])
            db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # an acknowledged insert survives a power cut
        db.execute("PRAGMA journal_size_limit=4194304")
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(SCHEMA)
        return db

    # --- writing ------------------------------------------------------------------------

    def put(self, kind: str, prio: int, payload: bytes, made_at: float,
            live_boot: int | None = None) -> int | None:
        """Store one record; returns its id, or None when it was itself dropped."""
        size = len(payload) + ROW_OVERHEAD
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if not self._make_room(size, prio, made_at):
                    self._count_dropped({kind: (1, made_at, made_at)})
                    self.db.execute("COMMIT")
                    return None
                cur = self.db.execute(
                    "INSERT INTO outbox (kind, priority, size, made_at, live_boot, payload) "
                    "VALUES (?, ?, ?, ?, ?, ?)", (kind, prio, size, made_at, live_boot, payload))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.depth += 1
            self.bytes += size
            return cur.lastrowid

    def _make_room(self, size: int, prio: int, now: float) -> bool:
        need = self.bytes + size - self.max_bytes
        if need <= 0:
            return True
        if size > self.max_bytes:
            return False
        victims, freed = [], 0
        for rid, kind, rsize, made_at in self.db.execute(
                "SELECT id, kind, size, made_at FROM outbox WHERE priority <= ? "
                "ORDER BY priority, id", (prio,)):
            victims.append((rid, kind, made_at))
            freed += rsize
            if freed >= need:
                break
        if freed < need:
            return False
        self.db.executemany("DELETE FROM outbox WHERE id = ?", [(v[0],) for v in victims])
        by_kind: dict[str, tuple[int, float, float]] = {}
        for _, kind, made_at in victims:
            n, first, last = by_kind.get(kind, (0, made_at, made_at))
            by_kind[kind] = (n + 1, min(first, made_at), max(last, made_at))
        self._count_dropped(by_kind)
        self.depth -= len(victims)
        self.bytes -= freed
        return True

    def _count_dropped(self, by_kind: dict[str, tuple[int, float, float]]) -> None:
        for kind, (n, first, last) in by_kind.items():
            self.db.execute(
                "INSERT INTO dropped VALUES (?, ?, ?, ?) ON CONFLICT(kind) DO UPDATE SET "
                "count = count + excluded.count, first_at = min(first_at, excluded.first_at), "
                "last_at = max(last_at, excluded.last_at)", (kind, n, first, last))
            before, self.dropped_total = self.dropped_total, self.dropped_total + n
            # Log the first drop and then each tenfold, not every one of a long outage.
            if len(str(before)) != len(str(self.dropped_total)) or before == 0:
                log.warning("outbox full (cap %d bytes): dropping records by priority, "
                            "%d so far (latest: %s)", self.max_bytes, self.dropped_total, kind)

    def report_dropped(self, make_payload, made_at: float, live_boot: int | None) -> dict | None:
        """Turn the drop counters into one ``dropped`` record, atomically.

        ``make_payload(summary)`` builds the event's bytes from ``{"count", "by_kind",
        "first_at", "last_at"}`` (it may be called twice: keep it free of side effects).
        The counters are cleared in the transaction that stores the record, so a crash can
        neither lose nor double the report; records dropped to make room for the report
        itself are counted in it.
        """
        with self._lock:
            first = self._dropped_summary()
            if first is None:
                return None
            self.db.execute("BEGIN IMMEDIATE")
            try:
                # Room first, for the report as it would read now plus a little (making room
                # can add a kind and some digits), then the final counts.
                guess = len(make_payload(first)) + ROW_OVERHEAD + 64
                if not self._make_room(guess, KEEP, made_at):
                    self.db.execute("ROLLBACK")
                    return None
                summary = self._dropped_summary()
                payload = make_payload(summary)
                size = len(payload) + ROW_OVERHEAD
                self.db.execute("DELETE FROM dropped")
                self.db.execute(
                    "INSERT INTO outbox (kind, priority, size, made_at, live_boot, payload) "
                    "VALUES ('dropped', ?, ?, ?, ?, ?)", (KEEP, size, made_at, live_boot, payload))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.depth += 1
            self.bytes += size
            return summary

    def _dropped_summary(self) -> dict | None:
        rows = self.db.execute("SELECT kind, count, first_at, last_at FROM dropped").fetchall()
        if not rows:
            return None
        return {"count": sum(r[1] for r in rows), "by_kind": {r[0]: r[1] for r in rows},
                "first_at": min(r[2] for r in rows), "last_at": max(r[3] for r in rows)}

    # --- reading and acknowledging ------------------------------------------------------

    def pending(self, after_id: int = 0, limit: int = 20) -> list[Row]:
        """Records after ``after_id``, oldest first."""
        with self._lock:
            rows = self.db.execute(
                "SELECT id, kind, payload, live_boot FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit)).fetchall()
        return [Row(r[0], r[1], bytes(r[2]), r[3]) for r in rows]

    def delete(self, ids: list[int]) -> None:
        """Forget records the broker acknowledged (ids already dropped are ignored)."""
        if not ids:
            return
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                marks = ",".join("?" * len(ids))
                removed, freed = self.db.execute(
                    f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM outbox WHERE id IN ({marks})",
                    ids).fetchone()
                self.db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", ids)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.depth -= removed
            self.bytes -= freed

    def pending_dropped(self) -> int:
        with self._lock:
            return self.db.execute("SELECT COALESCE(SUM(count), 0) FROM dropped").fetchone()[0]

    # --- small persistent state (the open uplink period) ---------------------------------

    def get_state(self, key: str):
        with self._lock:
            row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_state(self, key: str, value) -> None:
        with self._lock:
            if value is None:
                self.db.execute("DELETE FROM state WHERE key = ?", (key,))
            else:
                self.db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)",
                                (key, json.dumps(value)))

    def close(self) -> None:
        with self._lock:
            self.db.close()
