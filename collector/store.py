"""The collector's SQLite database (sqlite-utils, WAL): outages and incidents."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from collector import auth
from collector.tracker import (
    Decision,
    IncidentDeclared,
    Outage,
    OutageEnded,
    OutageKey,
    OutageStarted,
)

MIGRATIONS: list[tuple[str, str]] = [
    ("001_outages_incidents", """
        CREATE TABLE outages (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL, project TEXT NOT NULL, site TEXT NOT NULL, device TEXT,
            fault TEXT, started_at REAL NOT NULL, detected_at REAL NOT NULL, ended_at REAL,
            incident_id INTEGER
        );
        CREATE INDEX outages_open ON outages(ended_at) WHERE ended_at IS NULL;
        CREATE TABLE incidents (
            id INTEGER PRIMARY KEY,
            outage_id INTEGER NOT NULL UNIQUE REFERENCES outages(id),
            project TEXT NOT NULL, site TEXT NOT NULL, device TEXT, kind TEXT NOT NULL,
            opened_at REAL NOT NULL, declared_at REAL NOT NULL, closed_at REAL,
            duration_s REAL, state TEXT NOT NULL
        );
    """),
    ("002_seen_events", """
        CREATE TABLE seen_events (
            project TEXT NOT NULL, site TEXT NOT NULL, boot INTEGER NOT NULL,
            seq INTEGER NOT NULL, received_at REAL NOT NULL,
            PRIMARY KEY (project, site, boot, seq)
        ) WITHOUT ROWID;
    """),
]


MIGRATIONS += auth.MIGRATIONS


def open_db(path: str | Path) -> sqlite_utils.Database:
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    return db


def migrate(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    done = {r["name"] for r in db.query("SELECT name FROM migrations")}
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        db.conn.executescript(f"BEGIN; {sql}; "
                              f"INSERT INTO migrations VALUES ('{name}', datetime('now')); "
                              "COMMIT;")


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.db = open_db(self.path)
        migrate(self.db)

    def apply(self, decisions: list[Decision]) -> None:
        with self.db.conn:
            for d in decisions:
                if isinstance(d, OutageStarted):
                    self._started(d.outage)
                elif isinstance(d, IncidentDeclared):
                    self._declared(d.outage, d.declared_at)
                elif isinstance(d, OutageEnded):
                    self._ended(d.outage)

    def _started(self, o: Outage) -> None:
        k = o.key
        o.id = self.db["outages"].insert({
            "kind": k.kind, "project": k.project, "site": k.site, "device": k.device,
            "fault": o.fault, "started_at": o.started_at, "detected_at": o.detected_at,
            "ended_at": None, "incident_id": None}).last_pk

    def _declared(self, o: Outage, declared_at: float) -> None:
        k = o.key
        # UNIQUE(outage_id) makes a second declaration of the same outage impossible.
        cur = self.db.execute(
            "INSERT OR IGNORE INTO incidents (outage_id, project, site, device, kind, "
            "opened_at, declared_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, 'open')",
            [o.id, k.project, k.site, k.device, k.kind, o.started_at, declared_at])
        if cur.rowcount:
            self.db.execute("UPDATE outages SET incident_id = ? WHERE id = ?",
                            [cur.lastrowid, o.id])

    def _ended(self, o: Outage) -> None:
        self.db.execute("UPDATE outages SET ended_at = ? WHERE id = ?", [o.ended_at, o.id])
        self.db.execute(
            "UPDATE incidents SET closed_at = ?, duration_s = ? - opened_at, state = 'closed' "
            "WHERE outage_id = ? AND closed_at IS NULL", [o.ended_at, o.ended_at, o.id])

    def first_delivery(self, project: str, site: str, boot: int, seq: int, now: float) -> bool:
        """Record an event's identity; False when it was seen before (a duplicate).

        At-least-once on the wire becomes exactly-once here, across collector restarts.
        """
        cur = self.db.execute(
            "INSERT OR IGNORE INTO seen_events VALUES (?, ?, ?, ?, ?)",
            [project, site, boot, seq, now])
        self.db.conn.commit()
        return cur.rowcount == 1

    def open_outages(self) -> list[Outage]:
        rows = self.db.query("SELECT * FROM outages WHERE ended_at IS NULL ORDER BY id")
        return [Outage(OutageKey(r["kind"], r["project"], r["site"], r["device"]),
                       r["started_at"], r["detected_at"], r["fault"],
                       incident=r["incident_id"] is not None, id=r["id"]) for r in rows]


def list_incidents(db: sqlite_utils.Database, state: str | None = None) -> list[dict]:
    sql = ("SELECT id, project, site, device, kind, opened_at, declared_at, closed_at, "
           "duration_s, state FROM incidents")
    params: list = []
    if state:
        sql += " WHERE state = ?"
        params.append(state)
    return list(db.query(sql + " ORDER BY id", params))


def list_outages(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query("SELECT * FROM outages ORDER BY id"))
