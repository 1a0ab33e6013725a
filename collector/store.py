"""The collector's SQLite database (sqlite-utils, WAL): outages, incidents, the collector's
own run periods, and what the tracker's decisions change in them.

Each ``apply`` is one transaction, so a crash (kill -9) leaves either all of a decision batch
or none of it; ``UNIQUE(incidents.outage_id)`` makes a second incident for one outage
impossible, whatever happens around a restart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import sqlite_utils

from collector.db.connection import open_db, target
from collector.db.migrations import migrate
from collector.store_runs import RunTables
from collector.store_scenario import ScenarioTables
from collector.tracking.outages import (
    PLATFORM,
    Absorbed,
    Decision,
    GradeChanged,
    IncidentDeclared,
    IncidentWithdrawn,
    Outage,
    OutageEnded,
    OutageKey,
    OutageRevised,
    OutageStarted,
    SiteClock,
    SiteEvent,
)
from parkwatch.core.ids import storable

_CLOCK_ROW = ("INSERT OR REPLACE INTO site_clocks (project, site, offset_s, interval_s) "
              "VALUES (?, ?, ?, ?)")
_OUTAGE_COLUMNS = ("kind, project, site, device, fault, started_at, detected_at, ended_at, "
                   "last_seen_at, detected_by, start_source, end_source, released_at")


class Store(RunTables, ScenarioTables):
    """The core's tables on one connection: decisions and deliveries here, the collector's
    runs and sight in ``store_runs``, what a scenario run adds in ``store_scenario``."""

    def __init__(self, path: str | Path):
        self.path: Path | str | None = target(path)
        db = open_db(self.path)
        try:
            migrate(db)
        except BaseException:
            db.close()
            raise
        self._attach(db)

    @classmethod
    def on(cls, db: sqlite_utils.Database) -> Store:
        """A store on a connection its owner opened and migrated (the API's, per request)."""
        store = cls.__new__(cls)
        store.path = None
        store._attach(db)
        return store

    def _attach(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.conn = db.conn
        self._batch = False
        self._depth = 0  # open ``transaction()`` blocks; only the outermost commits
        self._joined = nullcontext(self)  # a block inside a ``batch``
        # A partition's store (collector/partitioned.py): called first in every transaction,
        # it raises ``FenceLost`` once the partition's lease is no longer this collector's.
        self.fence: Callable[[], None] | None = None

    # --- decisions -------------------------------------------------------------------------

    @contextmanager
    def batch(self):
        """Group many ``apply`` calls into one transaction (the scenario runner's speed)."""
        self._batch = True
        try:
            with self.conn:
                yield self
        finally:
            self._batch = False

    def transaction(self) -> AbstractContextManager:
        """One transaction around everything inside (nested blocks join the outer one), so
        that, say, an event's delivery mark and what it changed are stored together or not
        at all. Inside a ``batch`` there is nothing to do: the batch's transaction holds it
        all (the scenario runner's hot path takes no generator per message)."""
        return self._joined if self._batch else self._transaction()

    @contextmanager
    def _transaction(self):
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._depth = 1
        try:
            with self.conn:
                if self.fence is not None:
                    self.fence()
                yield self
        finally:
            self._depth = 0

    def apply(self, decisions: list[Decision]) -> None:
        if not decisions:
            return
        if self._batch:
            self._apply(decisions)
            return
        with self.transaction():
            self._apply(decisions)

    def _apply(self, decisions: list[Decision]) -> None:
        clocks = None
        for d in decisions:
            if type(d) is SiteClock:  # a tick stores many: one statement for them all
                (clocks := clocks or []).append((d.project, d.site, d.offset, d.interval_s))
                continue
            handler = _HANDLERS[type(d)]
            handler(self, d)
        if clocks:
            self.conn.executemany(_CLOCK_ROW, clocks)

    def _started(self, d: OutageStarted) -> None:
        o, k = d.outage, d.outage.key
        o.id = self.conn.execute(
            f"INSERT INTO outages ({_OUTAGE_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (k.kind, k.project, k.site, k.device, o.fault, o.started_at, o.detected_at,
             o.ended_at, o.last_seen_at, o.detected_by, o.start_source,
             o.end_source, o.released_at)).lastrowid

    def _declared(self, d: IncidentDeclared) -> None:
        o, k = d.outage, d.outage.key
        # UNIQUE(outage_id) makes a second incident for the same outage impossible; an
        # incident withdrawn earlier and now due again is reinstated, not duplicated.
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO incidents (outage_id, project, site, device, kind, "
            "opened_at, declared_at, state, grade) VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?)",
            (o.id, k.project, k.site, k.device, k.kind, o.started_at, d.declared_at, o.grade))
        if cur.rowcount:
            self.conn.execute("UPDATE outages SET incident_id = ?, declared_at = ? "
                              "WHERE id = ?", (cur.lastrowid, d.declared_at, o.id))
        else:
            self.conn.execute("UPDATE incidents SET state = 'open', withdrawn_at = NULL, "
                              "grade = ? WHERE outage_id = ? AND state = 'withdrawn'",
                              (o.grade, o.id))
        if o.ended_at is not None:
            self._close_incident(o)

    def _ended(self, d: OutageEnded) -> None:
        o = d.outage
        self.conn.execute("UPDATE outages SET ended_at = ?, end_source = ?, end_boot = ? "
                          "WHERE id = ?", (o.ended_at, o.end_source, o.end_boot, o.id))
        self._close_incident(o)

    def _close_incident(self, o: Outage) -> None:
        self.conn.execute(
            "UPDATE incidents SET closed_at = ?, duration_s = ?, grade = ?, state = 'closed' "
            "WHERE outage_id = ? AND state != 'withdrawn'",
            (o.ended_at, o.ended_at - o.started_at, o.grade, o.id))

    def _revised(self, d: OutageRevised) -> None:
        o = d.outage
        self.conn.execute(
            "UPDATE outages SET started_at = ?, ended_at = ?, start_source = ?, "
            "end_source = ? WHERE id = ?",
            (o.started_at, o.ended_at, o.start_source, o.end_source, o.id))
        self.conn.execute("UPDATE incidents SET opened_at = ? WHERE outage_id = ?",
                          (o.started_at, o.id))
        if o.ended_at is not None:
            self._close_incident(o)

    def _withdrawn(self, d: IncidentWithdrawn) -> None:
        self.conn.execute("UPDATE incidents SET state = 'withdrawn', withdrawn_at = ? "
                          "WHERE outage_id = ?", (d.at, d.outage.id))

    def _graded(self, d: GradeChanged) -> None:
        self.conn.execute("UPDATE incidents SET grade = ? WHERE outage_id = ?",
                          (d.grade, d.outage.id))

    def _absorbed(self, d: Absorbed) -> None:
        into = d.into
        o = d.outage
        if into is None:  # released: its own problem from ``released_at``
            o.absorbed_by = None
            self.conn.execute("UPDATE outages SET absorbed_by = NULL, released_at = ? "
                              "WHERE id = ?", (o.released_at, o.id))
            return
        o.absorbed_by = into.id
        if into.key.kind == PLATFORM:
            o.platform_id = into.id
        self.conn.execute("UPDATE outages SET absorbed_by = ?, platform_id = ?, "
                          "released_at = ? WHERE id = ?",
                          (into.id, o.platform_id, o.released_at, o.id))

    def _site_event(self, d: SiteEvent) -> None:
        self.conn.execute(
            "INSERT INTO site_events (project, site, kind, device, at, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (d.project, d.site, d.kind, d.device, d.at, json.dumps(d.detail)))


    def site_clocks(self) -> list[tuple[str, str, float, float | None]]:
        return [(r["project"], r["site"], r["offset_s"], r["interval_s"])
                for r in self.db.query("SELECT * FROM site_clocks")]

    # --- deliveries ------------------------------------------------------------------------

    def first_delivery(self, project: str, site: str, boot: int, seq: int, now: float) -> bool:
        """Record an event's identity; False when it was seen before (a duplicate).

        At-least-once on the wire becomes exactly-once here, across collector restarts.
        Inside a ``transaction()`` the mark is stored with what the event changed.
        """
        with self.transaction():
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO seen_events VALUES (?, ?, ?, ?, ?)",
                (project, site, boot, seq, now))
        return cur.rowcount == 1

    # --- resuming --------------------------------------------------------------------------

    def open_outages(self) -> list[Outage]:
        return [_outage(r) for r in self.db.query(
            f"{_SELECT} WHERE o.ended_at IS NULL ORDER BY o.id")]

    def recent_site_outages(self, since: float) -> list[Outage]:
        """Closed site outages that ended after ``since``, oldest first."""
        return [_outage(r) for r in self.db.query(
            f"{_SELECT} WHERE o.kind = 'site_network' AND o.ended_at >= ? "
            "ORDER BY o.ended_at", [since])]


_SELECT = ("SELECT o.*, i.grade AS grade, i.state AS incident_state FROM outages o "
           "LEFT JOIN incidents i ON i.id = o.incident_id")


def _outage(r: dict) -> Outage:
    incident = r["incident_id"] is not None and r["incident_state"] != "withdrawn"
    return Outage(OutageKey(r["kind"], r["project"], r["site"], r["device"]),
                  r["started_at"], r["detected_at"], r["fault"], ended_at=r["ended_at"],
                  incident=incident, id=r["id"], last_seen_at=r["last_seen_at"],
                  start_source=r["start_source"] or "last_message",
                  end_source=r["end_source"], detected_by=r["detected_by"],
                  end_boot=r["end_boot"], released_at=r["released_at"],
                  declared_at=r["declared_at"], absorbed_by=r["absorbed_by"],
                  platform_id=r["platform_id"], grade=r["grade"],
                  withdrawn=r["incident_state"] == "withdrawn")


_HANDLERS = {
    OutageStarted: Store._started, IncidentDeclared: Store._declared,
    OutageEnded: Store._ended, OutageRevised: Store._revised,
    IncidentWithdrawn: Store._withdrawn, GradeChanged: Store._graded,
    Absorbed: Store._absorbed, SiteEvent: Store._site_event,
}


def list_incidents(db: sqlite_utils.Database, state: str | None = None) -> list[dict]:
    sql = ("SELECT id, outage_id, project, site, device, kind, opened_at, declared_at, "
           "closed_at, duration_s, state, grade, withdrawn_at FROM incidents")
    params: list = []
    if state:
        sql += " WHERE state = ?"
        params.append(state)
    return list(db.query(sql + " ORDER BY id", params))


def incident_by_id(db: sqlite_utils.Database, incident_id: int) -> dict | None:
    """One incident as ``list_incidents`` gives it, or None."""
    if not storable(incident_id):
        return None
    return next(iter(db.query(
        "SELECT id, outage_id, project, site, device, kind, opened_at, declared_at, "
        "closed_at, duration_s, state, grade, withdrawn_at FROM incidents WHERE id = ?",
        [incident_id])), None)


def list_outages(db: sqlite_utils.Database, project: str | None = None) -> list[dict]:
    if project:
        return list(db.query("SELECT * FROM outages WHERE project = ? ORDER BY id", [project]))
    return list(db.query("SELECT * FROM outages ORDER BY id"))
