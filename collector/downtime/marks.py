"""Operator marks that exclude downtime from a project's budget, each with an audit record.

Two kinds: an outage marked customer-caused (excluded entirely), and a planned-maintenance
window of a project (the part of its outages inside the window is excluded). Every mark has
a reason and an author, is written together with its audit-log row in one transaction, and
can be revoked (with a reason, audited too); nothing is ever deleted. A request that is
wrong raises ``MarkError`` with an HTTP status and a message saying what, and changes nothing.
"""

from __future__ import annotations

import json
import re

import sqlite_utils

from collector.tracking.outages import PLATFORM
from parkwatch.core.ids import storable

CAUSES = ("customer",)
MAX_MAINTENANCE_S = 31 * 86400
# A reason is words: at least three letters (any script), so "0" or "." is refused.
MIN_REASON_LETTERS = 3
REASON_PATTERN = r"[^\W\d_][\s\S]*[^\W\d_][\s\S]*[^\W\d_]"


class MarkError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _audit(db: sqlite_utils.Database, now: float, actor: str, action: str, target: str,
           reason: str, detail: dict) -> None:
    db.conn.execute(
        "INSERT INTO audit_log (at, actor, action, target, reason, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)", (now, actor, action, target, reason, json.dumps(detail)))


def _text(value: str, what: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise MarkError(422, f"'{what}' must not be empty")
    if len(value) > limit:
        raise MarkError(422, f"'{what}' is longer than {limit} characters")
    return value


def _words(reason: str) -> None:
    """Checked last, once the target is known to exist and to allow the mark."""
    if not re.search(REASON_PATTERN, reason):
        raise MarkError(422, f"'reason' must say why in words (at least "
                             f"{MIN_REASON_LETTERS} letters); got {reason!r}")


def exclude_outage(db: sqlite_utils.Database, outage_id: int, cause: str, reason: str,
                   by: str, now: float) -> dict:
    reason, by = _text(reason, "reason", 500), _text(by, "by", 100)
    if cause not in CAUSES:
        raise MarkError(422, f"'cause' must be one of {', '.join(CAUSES)}; got {cause!r}")
    with db.conn:
        rows = list(db.query("SELECT id, kind, project FROM outages WHERE id = ?",
                             [outage_id])) if storable(outage_id) else []
        if not rows:
            raise MarkError(404, f"no outage {outage_id}")
        if rows[0]["kind"] == PLATFORM:
            raise MarkError(409, f"outage {outage_id} is the platform's own; it is charged "
                                 "to no project and cannot be customer-caused")
        active = list(db.query("SELECT id FROM exclusions WHERE outage_id = ? AND "
                               "revoked_at IS NULL", [outage_id]))
        if active:
            raise MarkError(409, f"outage {outage_id} is already excluded "
                                 f"(exclusion {active[0]['id']}); revoke that one first")
        _words(reason)
        mark_id = db.conn.execute(
            "INSERT INTO exclusions (outage_id, cause, reason, created_by, created_at) "
            "VALUES (?, ?, ?, ?, ?)", (outage_id, cause, reason, by, now)).lastrowid
        _audit(db, now, by, "exclude_outage", f"outage:{outage_id}", reason,
               {"exclusion": mark_id, "cause": cause, "project": rows[0]["project"]})
    return get_exclusion(db, mark_id)


def revoke_exclusion(db: sqlite_utils.Database, mark_id: int, reason: str, by: str,
                     now: float) -> dict:
    reason, by = _text(reason, "reason", 500), _text(by, "by", 100)
    with db.conn:
        mark = get_exclusion(db, mark_id)
        if mark["revoked_at"] is not None:
            raise MarkError(409, f"exclusion {mark_id} was already revoked")
        _words(reason)
        db.conn.execute("UPDATE exclusions SET revoked_at = ?, revoked_by = ?, "
                        "revoke_reason = ? WHERE id = ?", (now, by, reason, mark_id))
        _audit(db, now, by, "revoke_exclusion", f"outage:{mark['outage_id']}", reason,
               {"exclusion": mark_id})
    return get_exclusion(db, mark_id)


def get_exclusion(db: sqlite_utils.Database, mark_id: int) -> dict:
    rows = list(db.query("SELECT e.*, o.project, o.site FROM exclusions e JOIN outages o "
                         "ON o.id = e.outage_id WHERE e.id = ?", [mark_id])
                ) if storable(mark_id) else []
    if not rows:
        raise MarkError(404, f"no exclusion {mark_id}")
    return rows[0]


def list_exclusions(db: sqlite_utils.Database, project: str | None = None) -> list[dict]:
    sql = ("SELECT e.*, o.project, o.site FROM exclusions e JOIN outages o "
           "ON o.id = e.outage_id")
    if project:
        return list(db.query(sql + " WHERE o.project = ? ORDER BY e.id", [project]))
    return list(db.query(sql + " ORDER BY e.id"))


def known_project(db: sqlite_utils.Database, project: str) -> None:
    if not list(db.query("SELECT 1 FROM projects WHERE project = ?", [project])):
        raise MarkError(404, f"no project {project!r} (a project is known once one of its "
                             "sites has reported, or when the collector config names it)")


def add_maintenance(db: sqlite_utils.Database, project: str, from_at: float, to_at: float,
                    reason: str, by: str, now: float) -> dict:
    reason, by = _text(reason, "reason", 500), _text(by, "by", 100)
    if to_at <= from_at:
        raise MarkError(422, "'to' must be later than 'from'")
    if to_at - from_at > MAX_MAINTENANCE_S:
        raise MarkError(422, "a maintenance window may last at most 31 days; "
                             "declare longer work as several windows")
    with db.conn:
        known_project(db, project)
        _words(reason)
        mid = db.conn.execute(
            "INSERT INTO maintenance (project, from_at, to_at, reason, created_by, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (project, from_at, to_at, reason, by, now)).lastrowid
        _audit(db, now, by, "add_maintenance", f"project:{project}", reason,
               {"maintenance": mid, "from_at": from_at, "to_at": to_at})
    return get_maintenance(db, mid)


def revoke_maintenance(db: sqlite_utils.Database, mid: int, reason: str, by: str,
                       now: float) -> dict:
    reason, by = _text(reason, "reason", 500), _text(by, "by", 100)
    with db.conn:
        m = get_maintenance(db, mid)
        if m["revoked_at"] is not None:
            raise MarkError(409, f"maintenance window {mid} was already revoked")
        _words(reason)
        db.conn.execute("UPDATE maintenance SET revoked_at = ?, revoked_by = ?, "
                        "revoke_reason = ? WHERE id = ?", (now, by, reason, mid))
        _audit(db, now, by, "revoke_maintenance", f"project:{m['project']}", reason,
               {"maintenance": mid})
    return get_maintenance(db, mid)


def get_maintenance(db: sqlite_utils.Database, mid: int) -> dict:
    rows = list(db.query("SELECT * FROM maintenance WHERE id = ?", [mid])
                ) if storable(mid) else []
    if not rows:
        raise MarkError(404, f"no maintenance window {mid}")
    return rows[0]


def list_maintenance(db: sqlite_utils.Database, project: str) -> list[dict]:
    return list(db.query("SELECT * FROM maintenance WHERE project = ? ORDER BY from_at",
                         [project]))


def audit_log(db: sqlite_utils.Database, limit: int = 100) -> list[dict]:
    rows = list(db.query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", [limit]))
    for r in rows:
        r["detail"] = json.loads(r["detail"])
    return rows
