"""Operator marks that exclude downtime from a project's budget, each with an audit record.

Two kinds: an outage marked customer-caused (excluded entirely), and a planned-maintenance
window of a project (the part of its outages inside the window is excluded). Every mark has
a reason and an author, is written together with its audit-log row in one transaction, and
can be revoked (with a reason, audited too); nothing is ever deleted. A request that is
wrong raises ``MarkError`` with an HTTP status and a message saying what, and changes nothing.

Each function takes a ``DowntimeStore`` (collector/downtime/store.py) or a sqlite-utils
database, which it wraps in one.
"""

from __future__ import annotations

import re

from collector.downtime.store import Db, downtime_store
from collector.tracking.outages import PLATFORM

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


def _audit(db: Db, now: float, actor: str, action: str, target: str,
           reason: str, detail: dict) -> None:
    downtime_store(db).audit(now, actor, action, target, reason, detail)


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


def exclude_outage(db: Db, outage_id: int, cause: str, reason: str, by: str,
                   now: float) -> dict:
    reason, by = _text(reason, "reason", 500), _text(by, "by", 100)
    if cause not in CAUSES:
        raise MarkError(422, f"'cause' must be one of {', '.join(CAUSES)}; got {cause!r}")
    store = downtime_store(db)
    with store.transaction():
        outage = store.outage(outage_id)
        if outage is None:
            raise MarkError(404, f"no outage {outage_id}")
        if outage["kind"] == PLATFORM:
            raise MarkError(409, f"outage {outage_id} is the platform's own; it is charged "
                                 "to no project and cannot be customer-caused")
        active = store.active_exclusion(outage_id)
        if active is not None:
            raise MarkError(409, f"outage {outage_id} is already excluded "
                                 f"(exclusion {active}); revoke that one first")
        _words(reason)
        mark_id = store.add_exclusion(outage_id, cause, reason, by, now)
        store.audit(now, by, "exclude_outage", f"outage:{outage_id}", reason,
                    {"exclusion": mark_id, "cause": cause, "project": outage["project"]})
    return get_exclusion(store, mark_id)


def revoke_exclusion(db: Db, mark_id: int, reason: str, by: str, now: float) -> dict:
    reason, by = _text(reason, "reason", 500), _text(by, "by", 100)
    store = downtime_store(db)
    with store.transaction():
        mark = get_exclusion(store, mark_id)
        if mark["revoked_at"] is not None:
            raise MarkError(409, f"exclusion {mark_id} was already revoked")
        _words(reason)
        store.revoke_exclusion(mark_id, reason, by, now)
        store.audit(now, by, "revoke_exclusion", f"outage:{mark['outage_id']}", reason,
                    {"exclusion": mark_id})
    return get_exclusion(store, mark_id)


def get_exclusion(db: Db, mark_id: int) -> dict:
    mark = downtime_store(db).exclusion(mark_id)
    if mark is None:
        raise MarkError(404, f"no exclusion {mark_id}")
    return mark


def list_exclusions(db: Db, project: str | None = None) -> list[dict]:
    return downtime_store(db).exclusions(project)


def known_project(db: Db, project: str) -> None:
    if downtime_store(db).project(project) is None:
        raise MarkError(404, f"no project {project!r} (a project is known once one of its "
                             "sites has reported, or when the collector config names it)")


def add_maintenance(db: Db, project: str, from_at: float, to_at: float, reason: str,
                    by: str, now: float) -> dict:
    reason, by = _text(reason, "reason", 500), _text(by, "by", 100)
    if to_at <= from_at:
        raise MarkError(422, "'to' must be later than 'from'")
    if to_at - from_at > MAX_MAINTENANCE_S:
        raise MarkError(422, "a maintenance window may last at most 31 days; "
                             "declare longer work as several windows")
    store = downtime_store(db)
    with store.transaction():
        known_project(store, project)
        _words(reason)
        mid = store.add_maintenance(project, from_at, to_at, reason, by, now)
        store.audit(now, by, "add_maintenance", f"project:{project}", reason,
                    {"maintenance": mid, "from_at": from_at, "to_at": to_at})
    return get_maintenance(store, mid)


def revoke_maintenance(db: Db, mid: int, reason: str, by: str, now: float) -> dict:
    reason, by = _text(reason, "reason", 500), _text(by, "by", 100)
    store = downtime_store(db)
    with store.transaction():
        m = get_maintenance(store, mid)
        if m["revoked_at"] is not None:
            raise MarkError(409, f"maintenance window {mid} was already revoked")
        _words(reason)
        store.revoke_maintenance(mid, reason, by, now)
        store.audit(now, by, "revoke_maintenance", f"project:{m['project']}", reason,
                    {"maintenance": mid})
    return get_maintenance(store, mid)


def get_maintenance(db: Db, mid: int) -> dict:
    m = downtime_store(db).maintenance(mid)
    if m is None:
        raise MarkError(404, f"no maintenance window {mid}")
    return m


def list_maintenance(db: Db, project: str) -> list[dict]:
    return downtime_store(db).maintenance_of(project)


def audit_log(db: Db, limit: int = 100) -> list[dict]:
    return downtime_store(db).audit_log(limit)
