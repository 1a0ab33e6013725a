"""What the downtime budget reads and its marks write: exclusions, maintenance windows and
the audit log, and the projects, outages and sight a budget is counted from.

``DowntimeStore`` takes plain values and returns plain values and dicts, so another
backend can offer the same methods; the rules (who may mark what) stay in ``marks``.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager

import sqlite_utils

from parkwatch.core.ids import storable

_EXCLUSION = ("SELECT e.*, o.project, o.site FROM exclusions e JOIN outages o "
              "ON o.id = e.outage_id")


class DowntimeStore:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        self.conn = db.conn

    def transaction(self) -> AbstractContextManager:
        """One transaction around what is inside: committed at its end, rolled back on error."""
        return self.conn

    def _rows(self, sql: str, params=()) -> list[dict]:
        return list(self.db.query(sql, params))

    # --- projects --------------------------------------------------------------------------

    def projects(self) -> list[dict]:
        """Every project with its budget rules, by name."""
        return self._rows("SELECT * FROM projects ORDER BY project")

    def project(self, project: str) -> dict | None:
        """One project's row (timezone, budget_minutes, threshold_s), or None."""
        rows = self._rows("SELECT * FROM projects WHERE project = ?", [project])
        return rows[0] if rows else None

    # --- exclusions ------------------------------------------------------------------------

    def outage(self, outage_id: int) -> dict | None:
        """An outage's ``id``, ``kind`` and ``project``, or None."""
        if not storable(outage_id):
            return None
        rows = self._rows("SELECT id, kind, project FROM outages WHERE id = ?", [outage_id])
        return rows[0] if rows else None

    def active_exclusion(self, outage_id: int) -> int | None:
        """The id of the outage's exclusion that is not revoked, or None."""
        rows = self._rows("SELECT id FROM exclusions WHERE outage_id = ? AND "
                          "revoked_at IS NULL", [outage_id])
        return rows[0]["id"] if rows else None

    def add_exclusion(self, outage_id: int, cause: str, reason: str, by: str,
                      now: float) -> int:
        """Insert an exclusion of an outage; returns its id."""
        return self.conn.execute(
            "INSERT INTO exclusions (outage_id, cause, reason, created_by, created_at) "
            "VALUES (?, ?, ?, ?, ?)", (outage_id, cause, reason, by, now)).lastrowid

    def revoke_exclusion(self, mark_id: int, reason: str, by: str, now: float) -> None:
        """Mark an exclusion revoked at ``now`` by ``by``, saying why."""
        self.conn.execute("UPDATE exclusions SET revoked_at = ?, revoked_by = ?, "
                          "revoke_reason = ? WHERE id = ?", (now, by, reason, mark_id))

    def exclusion(self, mark_id: int) -> dict | None:
        """An exclusion with its outage's project and site, or None."""
        if not storable(mark_id):
            return None
        rows = self._rows(_EXCLUSION + " WHERE e.id = ?", [mark_id])
        return rows[0] if rows else None

    def exclusions(self, project: str | None = None) -> list[dict]:
        """Exclusions (of one project, or all) with their outages' project and site, by id."""
        if project:
            return self._rows(_EXCLUSION + " WHERE o.project = ? ORDER BY e.id", [project])
        return self._rows(_EXCLUSION + " ORDER BY e.id")

    # --- maintenance windows ---------------------------------------------------------------

    def add_maintenance(self, project: str, from_at: float, to_at: float, reason: str,
                        by: str, now: float) -> int:
        """Insert a maintenance window of a project; returns its id."""
        return self.conn.execute(
            "INSERT INTO maintenance (project, from_at, to_at, reason, created_by, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (project, from_at, to_at, reason, by, now)).lastrowid

    def revoke_maintenance(self, mid: int, reason: str, by: str, now: float) -> None:
        """Mark a maintenance window revoked at ``now`` by ``by``, saying why."""
        self.conn.execute("UPDATE maintenance SET revoked_at = ?, revoked_by = ?, "
                          "revoke_reason = ? WHERE id = ?", (now, by, reason, mid))

    def maintenance(self, mid: int) -> dict | None:
        """One maintenance window, or None."""
        if not storable(mid):
            return None
        rows = self._rows("SELECT * FROM maintenance WHERE id = ?", [mid])
        return rows[0] if rows else None

    def maintenance_of(self, project: str) -> list[dict]:
        """A project's maintenance windows, revoked ones too, by start."""
        return self._rows("SELECT * FROM maintenance WHERE project = ? ORDER BY from_at",
                          [project])

    # --- the audit log ---------------------------------------------------------------------

    def audit(self, now: float, actor: str, action: str, target: str, reason: str,
              detail: dict) -> None:
        """Append one audit record (``detail`` is stored as JSON)."""
        self.conn.execute(
            "INSERT INTO audit_log (at, actor, action, target, reason, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)", (now, actor, action, target, reason,
                                          json.dumps(detail)))

    def audit_log(self, limit: int) -> list[dict]:
        """The newest ``limit`` audit records, newest first, ``detail`` decoded."""
        rows = self._rows("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [limit])
        for r in rows:
            r["detail"] = json.loads(r["detail"])
        return rows

    # --- what a budget is counted from -----------------------------------------------------

    def last_alive(self) -> float | None:
        """The last moment any collector run vouched for, or None before the first run."""
        rows = self._rows("SELECT max(alive_at) AS t FROM collector_runs")
        return rows[0]["t"] if rows else None

    def budget_outages(self, project: str, from_at: float, to_at: float) -> list[dict]:
        """The project's site outages overlapping [from_at, to_at) that count on their own
        (not merged into another, unless into a platform outage): ``id``, ``site``,
        ``started_at``, ``ended_at``, ``platform_id`` and ``customer`` (1 when an active
        exclusion marks it customer-caused)."""
        return self._rows(
            "SELECT o.id, o.site, o.started_at, o.ended_at, o.platform_id, "
            "CAST(EXISTS (SELECT 1 FROM exclusions e WHERE e.outage_id = o.id AND "
            "e.cause = 'customer' AND e.revoked_at IS NULL) AS INTEGER) AS customer "
            "FROM outages o WHERE o.project = ? AND o.kind = 'site_network' AND "
            # merged into another outage of the same period: that one counts
            "(o.absorbed_by IS NULL OR o.platform_id IS NOT NULL) AND "
            "o.started_at < ? AND (o.ended_at IS NULL OR o.ended_at > ?)",
            [project, to_at, from_at])

    def active_maintenance(self, project: str, from_at: float,
                           to_at: float) -> list[tuple[float, float]]:
        """(from_at, to_at) of the project's unrevoked windows overlapping [from_at, to_at)."""
        return [(r["from_at"], r["to_at"]) for r in self._rows(
            "SELECT from_at, to_at FROM maintenance WHERE project = ? AND revoked_at IS NULL "
            "AND from_at < ? AND to_at > ?", [project, to_at, from_at])]

    def sight(self, from_at: float, to_at: float) -> list[dict]:
        """Sight periods starting before ``to_at`` and ending at or after ``from_at``:
        ``run_id``, ``from_at``, ``to_at``, ``open`` (1 while its run still sees) and
        ``partition`` (None: a run for the whole fleet)."""
        return self._rows("SELECT s.run_id, s.from_at, s.to_at, s.open, r.partition FROM sight s "
                          "JOIN collector_runs r ON r.id = s.run_id "
                          "WHERE s.from_at < ? AND s.to_at >= ?", [to_at, from_at])


Db = DowntimeStore | sqlite_utils.Database  # what the marks and the report take


def downtime_store(db: Db) -> DowntimeStore:
    """``db`` as a ``DowntimeStore``: one already, or a sqlite-utils database to wrap."""
    return db if isinstance(db, DowntimeStore) else DowntimeStore(db)
