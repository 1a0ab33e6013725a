"""The workflow store with write-behind batches, for the scenario runner.

A year of a fleet makes a hundred thousand tickets; created, dispatched and told of their
outage's end one by one through ``WorkflowStore`` they cost about a millisecond each, most
of it SQL statements issued one at a time. Inside ``deferred()``, ``create``, ``act`` and
``load`` keep the tickets they touch in memory and every row they would have written is
queued; ``flush()`` (and the end of the block) writes them with one ``executemany`` per
table and kind of row. The rows, their ids and their order are the ones the one-by-one path
writes: ticket and assignment ids are the next ones SQLite would give, the other tables get
theirs in the order of the queue.

Only what the store itself reads is kept: a query of its own (``tickets()``, the service's
SQL) sees the database, so a caller flushes before one. With notification routes configured
an event's outbox row renders the ticket as stored at that moment, so the store then writes
at once, as ``WorkflowStore`` does. The live collector keeps ``WorkflowStore``.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from contextlib import contextmanager
from itertools import groupby
from operator import attrgetter

import sqlite_utils

from collector.workflow import lifecycle
from collector.workflow.config import WorkflowConfig
from collector.workflow.lifecycle import Assignment, Step, Ticket
from collector.workflow.problems import Sighting
from collector.workflow.store import (
    _SET_ASSIGNMENT,
    ASSIGNMENT_FIELDS,
    TICKET_FIELDS,
    WorkflowStore,
)
from collector.workflow.store_sightings import SightingWindow
from parkwatch.core.ids import storable

_DEFAULTS = {"transfers": 0, "plan_changes": 0, "version": 0}  # the schema's defaults
_TICKET_COLUMNS = (*TICKET_FIELDS, "group_name")
_AUDIT = ("ticket_id", "at", "who", "action", "note", "from_state", "to_state", "group_name")
_EVENT = ("key", "kind", "ticket_id", "at", "audience", "detail", "recorded_at")
RECENT = 20000  # tickets kept in memory after they were written (about 20 MB)
_SAVED = tuple(k for k in TICKET_FIELDS if k not in ("id", "version"))


class _Pending:
    """What a deferred block has changed and not yet written."""

    def __init__(self):
        self.next_ticket = self.next_assignment = 0  # 0: not looked up yet
        self.tickets: dict[int, Ticket] = {}  # every ticket touched, as it is now
        self.new: dict[int, dict] = {}  # tickets created: the row as inserted
        self.stored: dict[int, int] = {}  # tickets of the database: the version stored
        self.saved: dict[int, tuple] = {}  # and their columns as stored (``_columns``)
        self.before: dict[int, dict[int, tuple]] = {}  # their assignments' rows as loaded
        self.rows: list[tuple[str, tuple[str, ...], tuple]] = []  # inserts, in order


class BatchStore(WorkflowStore):
    _pending: _Pending | None = None

    @classmethod
    def joined(cls, db: sqlite_utils.Database, cfg: WorkflowConfig) -> BatchStore:
        store = super().joined(db, cfg)
        # Tickets written by the last blocks and not closed, newest last: the outage's end
        # and the next responder's step come soon after, and need not be read back.
        store._recent: OrderedDict[int, Ticket] = OrderedDict()
        store._sighting_window = SightingWindow()
        return store

    @contextmanager
    def deferred(self):
        """Queue the writes of ``create`` and ``act`` inside; write them at the end."""
        if self._pending is not None or self.cfg.routes:
            yield self
            return
        self._pending = _Pending()
        try:
            yield self
            self.flush()
        finally:
            self._pending = None

    def _next_ids(self) -> _Pending:
        """The pending writes, with the next ticket and assignment ids SQLite would give."""
        p = self._pending
        if not p.next_ticket:
            top = self.db.execute("SELECT (SELECT max(id) FROM wf_tickets), "
                                  "(SELECT max(id) FROM wf_assignments)").fetchone()
            p.next_ticket, p.next_assignment = (top[0] or 0) + 1, (top[1] or 0) + 1
        return p

    # --- the store's own calls, kept in memory -----------------------------------------

    def create(self, fields: dict, now: float, who: str, note: str | None = None,
               attachments: list[dict] = (), dispatch_to: str | None = None) -> int:
        p = self._pending
        if p is None:
            return super().create(fields, now, who, note, attachments, dispatch_to)
        tid = self._next_ids().next_ticket
        queued = [("wf_attachments", tuple(r), tuple(json.dumps(v) if isinstance(v, dict | list)
                                                     else v for v in r.values()))
                  for r in ({**a, "ticket_id": tid, "added_at": now} for a in attachments)]
        row = {**fields, "state": "open", "created_at": now, "version": 0,
               "assessed": int(self.cfg.clock(fields["project"]).in_window(fields["opened_at"]))}
        ticket = Ticket(id=tid, **{k: row.get(k, _DEFAULTS.get(k)) for k in TICKET_FIELDS
                                   if k not in ("id", "assessed")},
                        assessed=bool(row["assessed"]), group=row.get("group_name"))
        queued.append(("wf_audit", _AUDIT, (tid, now, who, "opened", note, None, "open", None)))
        queued += self._events([lifecycle.Event("opened", f"t{tid}:opened", now, ("seat",), tid,
                                                {"source": fields["source"]})], now)
        step = None
        if dispatch_to is not None:  # may refuse: then nothing at all is queued
            step = lifecycle.step(ticket, "dispatch", now, who, groups=self.cfg.groups,
                                  limits=self.cfg.limits, group=dispatch_to, note=note)
        p.next_ticket += 1
        p.new[tid], p.tickets[tid] = row, ticket
        p.rows += queued
        if step is not None:
            self._keep(step, now)
        return tid

    def load(self, tid: int) -> Ticket | None:
        p = self._pending
        if p is not None:
            if tid in p.tickets:
                return p.tickets[tid]
            if tid in self._recent:
                return self._recent[tid]
        if not storable(tid):
            return None
        found = self._by_ids([tid])
        return found[0] if found else None

    def act(self, tid: int, action: str, now: float, who: str, **kw) -> Ticket:
        p = self._pending
        if p is None:
            self._recent.pop(tid, None)  # written at once: read back when next wanted
            return super().act(tid, action, now, who, **kw)
        ticket = self.load(tid)
        if ticket is None:
            raise lifecycle.NotFound(f"no incident {tid}")
        s = lifecycle.step(ticket, action, now, who, groups=self.cfg.groups,
                           limits=self.cfg.limits, **kw)
        if tid not in p.tickets:  # first touched here: remember the stored state
            p.stored[tid], p.saved[tid] = ticket.version, _columns(ticket)
            p.before[tid] = {a.id: _assignment_row(a) for a in ticket.assignments}
        self._keep(s, now)
        return s.ticket

    def _keep(self, s: Step, now: float) -> None:
        """What ``_save`` writes, kept: the ticket as it is now, the rows queued."""
        p, t = self._pending, s.ticket
        for a in t.assignments:
            if a.id is None:
                self._next_ids()  # inserted at the flush with the id SQLite would give it
                a.id = p.next_assignment
                p.next_assignment += 1
        p.tickets[t.id] = t
        au = s.audit
        p.rows.append(("wf_audit", _AUDIT, (t.id, au.at, au.who, au.action, au.note,
                                            au.from_state, au.to_state, au.group)))
        p.rows += self._events(s.events, now)

    def _events(self, events, now: float) -> list[tuple[str, tuple, tuple]]:
        return [("wf_events", _EVENT, (e.key, e.kind, e.ticket_id, e.at,
                                       _json(e.audience), _json(e.detail), now))
                for e in events]

    # --- writing ------------------------------------------------------------------------

    def flush(self) -> None:
        """Write everything queued; the block carries on with nothing pending."""
        p = self._pending
        if p is None or not (p.tickets or p.rows):
            return
        conn = self.db.conn
        new_assignments, changed_assignments = [], []
        updates: dict[tuple[int, ...], list] = {}  # by the columns they change
        for tid, t in p.tickets.items():
            values = _columns(t)
            if tid in p.new:
                row = {**p.new[tid], **dict(zip(_COLUMNS, values, strict=True)),
                       "version": t.version, "id": tid}
                p.rows.append(("wf_tickets", tuple(row), tuple(row.values())))
            else:
                # Only the columns that changed: the same row, and the indexes on the
                # others are left alone (an outage's end changes one of twenty).
                old = p.saved[tid]
                changed = tuple(i for i, v in enumerate(values)
                                if v != old[i] or type(v) is not type(old[i]))
                updates.setdefault(changed, []).append(
                    [*(values[i] for i in changed), t.version, tid, p.stored[tid]])
            before = p.before.get(tid, {})
            for seq, a in enumerate(t.assignments):
                row = _assignment_row(a)
                if a.id not in before:
                    new_assignments.append((*row, tid, seq, a.id))
                elif before[a.id] != row:
                    changed_assignments.append((*row, a.id))
        # Each table's rows in the order they were queued: ids come out as one by one.
        p.rows.sort(key=lambda r: r[0])  # stable: the order within a table is kept
        for (table, cols), group in groupby(p.rows, key=lambda r: (r[0], r[1])):
            verb = "INSERT OR IGNORE" if table == "wf_events" else "INSERT"
            conn.executemany(f"{verb} INTO {table} ({', '.join(cols)}) VALUES "
                             f"({', '.join('?' * len(cols))})", [r[2] for r in group])
        if new_assignments:
            conn.executemany(f"INSERT INTO wf_assignments ({', '.join(ASSIGNMENT_FIELDS)}, "
                             f"ticket_id, seq, id) VALUES "
                             f"({', '.join('?' * (len(ASSIGNMENT_FIELDS) + 3))})",
                             new_assignments)
        if changed_assignments:
            conn.executemany(f"UPDATE wf_assignments SET {_SET_ASSIGNMENT} WHERE id = ?",
                             changed_assignments)
        done = 0
        for changed, rows in updates.items():
            sets = "".join(f"{_COLUMNS[i]} = ?, " for i in changed)
            done += conn.executemany(f"UPDATE wf_tickets SET {sets}version = ? WHERE id = ? "
                                     "AND version = ?", rows).rowcount
        if done != sum(map(len, updates.values())):
            raise lifecycle.Conflict("an incident changed meanwhile; try again")
        recent = self._recent
        for tid, t in p.tickets.items():
            if t.state == "closed":
                recent.pop(tid, None)
            else:
                recent[tid] = t
                recent.move_to_end(tid)
        while len(recent) > RECENT:
            recent.popitem(last=False)
        self._pending = _Pending()

    def sightings(self, since: float) -> list[Sighting]:
        """As ``WorkflowStore.sightings``, reading only the tickets stored since the last
        look (collector/workflow/store_sightings.py; it runs daily over a window of
        tickets). Like the query, it sees what is stored, not what is pending."""
        return self._sighting_window.sightings(self.db.conn, since)

    def _by_ids(self, ids: list[int]) -> list[Ticket]:
        """``load`` of each, in id order, by plain cursors (sqlite-utils' ``query`` costs
        more than the two lookups)."""
        conn, out = self.db.conn, []
        for chunk in range(0, len(ids), 500):
            part = ids[chunk:chunk + 500]
            marks = ",".join("?" * len(part))
            rows = [dict(zip(_TICKET_COLUMNS, r, strict=True)) for r in conn.execute(
                f"SELECT {', '.join(_TICKET_COLUMNS)} FROM wf_tickets WHERE id IN ({marks}) "
                "ORDER BY id", part)]
            assignments: dict[int, list[Assignment]] = {}
            for r in conn.execute(f"SELECT ticket_id, id, {', '.join(ASSIGNMENT_FIELDS)} FROM "
                                  f"wf_assignments WHERE ticket_id IN ({marks}) "
                                  "ORDER BY ticket_id, seq", part):
                a = dict(zip(ASSIGNMENT_FIELDS, r[2:], strict=True))
                assignments.setdefault(r[0], []).append(
                    Assignment(group=a.pop("group_name"), id=r[1], **a))
            out += [self._ticket(r, assignments.get(r["id"], [])) for r in rows]
        return out


_COLUMNS = (*_SAVED, "group_name")  # what a ticket's save writes, but its version
_ticket_columns = attrgetter(*("group" if k == "group_name" else k for k in _COLUMNS))
_ASSESSED = _COLUMNS.index("assessed")


def _columns(t: Ticket) -> tuple:
    """The values of ``_COLUMNS`` as a save writes them (``assessed`` a 0 or 1)."""
    values = _ticket_columns(t)
    return (*values[:_ASSESSED], int(t.assessed), *values[_ASSESSED + 1:])


_assignment_row = attrgetter(*("group" if k == "group_name" else k for k in ASSIGNMENT_FIELDS))
_JSON: dict = {}


def _json(value: tuple | dict) -> str:
    """``json.dumps`` of an event's audience (a tuple, stored as a list) or detail; the few
    there are, remembered (a hundred thousand tickets say the same few things)."""
    try:
        # with each value's type: True and 1 are equal keys but not the same JSON
        if isinstance(value, dict):
            key = (type(value), tuple(value.items()), tuple(map(type, value.values())))
        else:
            key = (type(value), tuple(value), tuple(map(type, value)))
        text = _JSON.get(key)
    except TypeError:  # a list or dict inside: not remembered
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    if text is None:
        text = json.dumps(list(value) if isinstance(value, tuple) else value)
        if len(_JSON) < 10000:
            _JSON[key] = text
    return text
