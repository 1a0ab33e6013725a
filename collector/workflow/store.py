"""SQLite shell of the workflow: tickets, assignments, audit, events, outbox, problems.

Every action runs load → ``lifecycle.step`` → write in one ``BEGIN IMMEDIATE`` transaction,
so the API and the worker never interleave on one incident, and an illegal action writes
nothing. Events are inserted with their unique key (``INSERT OR IGNORE``): an event that
was recorded before is not recorded, or notified, again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from collector.store import migrate, open_db
from collector.workflow import lifecycle
from collector.workflow.config import WorkflowConfig
from collector.workflow.lifecycle import Assignment, Event, Step, Ticket
from collector.workflow.notify import render, targets
from collector.workflow.problems import Proposal, Sighting
from parkwatch.core.ids import storable

TICKET_FIELDS = ("id", "project", "site", "device", "opened_at", "assessed", "kind",
                 "severity", "state", "transfers", "plan_changes", "plan", "plan_date",
                 "resolved_group", "resolved_at", "verified_at", "closed_at", "fault_report",
                 "fault_report_at", "last_progress_at", "outage_ended_at", "version")
ASSIGNMENT_FIELDS = ("group_name", "dispatched_at", "respond_s", "handle_s", "milestone",
                     "acked_at", "arrived_at", "resolved_at", "ended_at", "end_reason",
                     "reopened")
_SET_ASSIGNMENT = ", ".join(f"{k} = ?" for k in ASSIGNMENT_FIELDS)
STALE_CLAIM_S = 300.0  # a row claimed this long ago by a worker that died is taken again


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Run the migrations; a second process doing the same at once is waited out."""
    for attempt in range(50):
        try:
            migrate(db)
            return
        except sqlite3.OperationalError:
            if db.conn.in_transaction:
                db.conn.rollback()
            if attempt == 49:
                raise
            time.sleep(0.1)


class WorkflowStore:
    def __init__(self, path: str | Path, cfg: WorkflowConfig):
        self.cfg = cfg
        self.db = open_db(path)
        self._joined = False
        try:
            ensure_schema(self.db)
        except BaseException:  # no connection left open behind a failure
            self.db.close()
            raise

    @classmethod
    def joined(cls, db: sqlite_utils.Database, cfg: WorkflowConfig) -> WorkflowStore:
        """A store on a connection whose owner keeps the transactions: every change joins
        the one the owner has open (the scenario runner's batches), and commits with it."""
        store = cls.__new__(cls)
        store.cfg, store.db, store._joined = cfg, db, True
        ensure_schema(db)
        return store

    def close(self) -> None:
        if not self._joined:
            self.db.conn.close()

    @contextmanager
    def transaction(self):
        conn = self.db.conn
        if self._joined:
            yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    # --- tickets ------------------------------------------------------------------------

    def create(self, fields: dict, now: float, who: str, note: str | None = None,
               attachments: list[dict] = (), dispatch_to: str | None = None) -> int:
        """Record a new incident (state open), its audit line and its ``opened`` event;
        dispatch it to ``dispatch_to`` in the same transaction when given."""
        with self.transaction():
            tid = self._create(fields, now, who, note, attachments)
            if dispatch_to is not None:
                self._save(lifecycle.step(self.load(tid), "dispatch", now, who,
                                          groups=self.cfg.groups, limits=self.cfg.limits,
                                          group=dispatch_to, note=note), now)
            return tid

    def _create(self, fields, now, who, note, attachments) -> int:
        row = {**fields, "state": "open", "created_at": now, "version": 0,
               "assessed": int(self.cfg.clock(fields["project"]).in_window(fields["opened_at"]))}
        tid = self._insert("wf_tickets", row)
        for a in attachments:
            self._insert("wf_attachments", {**a, "ticket_id": tid, "added_at": now})
        self._insert("wf_audit", {"ticket_id": tid, "at": now, "who": who,
                                  "action": "opened", "note": note, "from_state": None,
                                  "to_state": "open", "group_name": None})
        self._record([Event("opened", f"t{tid}:opened", now, ("seat",), tid,
                            {"source": fields["source"]})], now)
        return tid

    def add_attachment(self, tid: int, attachment: dict, now: float, who: str) -> int:
        """An attachment added after the incident was opened, with its audit line."""
        with self.transaction():
            row = self.load(tid)
            if row is None:
                raise lifecycle.NotFound(f"no incident {tid}")
            aid = self.db["wf_attachments"].insert(
                {**attachment, "ticket_id": tid, "added_at": now}).last_pk
            self.db["wf_audit"].insert({"ticket_id": tid, "at": now, "who": who,
                                        "action": "attachment", "note": attachment["name"],
                                        "from_state": row.state, "to_state": row.state,
                                        "group_name": None})
            return aid

    def load(self, tid: int) -> Ticket | None:
        if not storable(tid):
            return None
        rows = list(self.db.query(f"SELECT {', '.join(TICKET_FIELDS)}, group_name FROM "
                                  "wf_tickets WHERE id = ?", [tid]))
        if not rows:
            return None
        return self._ticket(rows[0], self._assignments([tid]).get(tid, []))

    def _ticket(self, r: dict, assignments: list[Assignment]) -> Ticket:
        t = Ticket(**{k: r[k] for k in TICKET_FIELDS if k != "assessed"},
                   assessed=bool(r["assessed"]), group=r["group_name"])
        t.assignments = assignments
        return t

    def _assignments(self, ids: list[int]) -> dict[int, list[Assignment]]:
        out: dict[int, list[Assignment]] = {}
        for r in self._where_in("SELECT * FROM wf_assignments WHERE ticket_id", ids,
                                "ORDER BY ticket_id, seq"):
            out.setdefault(r["ticket_id"], []).append(Assignment(
                group=r["group_name"], id=r["id"],
                **{k: r[k] for k in ASSIGNMENT_FIELDS if k != "group_name"}))
        return out

    def _where_in(self, sql: str, ids: list[int], tail: str = ""):
        """Rows of ``sql IN (ids)``, a chunk of ids at a time."""
        for chunk in range(0, len(ids), 500):
            part = ids[chunk:chunk + 500]
            yield from self.db.query(f"{sql} IN ({','.join('?' * len(part))}) {tail}", part)

    def tickets(self, where: str = "1", params: list = (),
                limit: int | None = None) -> list[Ticket]:
        """Tickets in id order; with ``limit``, the newest ones, newest first."""
        order = "ORDER BY id" if limit is None else f"ORDER BY id DESC LIMIT {int(limit)}"
        rows = list(self.db.query(f"SELECT {', '.join(TICKET_FIELDS)}, group_name FROM "
                                  f"wf_tickets WHERE {where} {order}", list(params)))
        by_id = self._assignments([r["id"] for r in rows])
        return [self._ticket(r, by_id.get(r["id"], [])) for r in rows]

    def act(self, tid: int, action: str, now: float, who: str, **kw) -> Ticket:
        """Apply one lifecycle action; ``lifecycle.NotFound`` for an unknown incident, and
        ``lifecycle.Conflict`` / ``lifecycle.Invalid`` with nothing written."""
        with self.transaction():
            ticket = self.load(tid)
            if ticket is None:
                raise lifecycle.NotFound(f"no incident {tid}")
            s = lifecycle.step(ticket, action, now, who, groups=self.cfg.groups,
                               limits=self.cfg.limits, **kw)
            self._save(s, now)
            return s.ticket

    def _save(self, s: Step, now: float) -> None:
        t = s.ticket
        values = {k: getattr(t, k) for k in TICKET_FIELDS if k not in ("id", "version")}
        values["assessed"] = int(t.assessed)
        values["group_name"] = t.group
        sets = ", ".join(f"{k} = ?" for k in values)
        cur = self.db.execute(f"UPDATE wf_tickets SET {sets}, version = ? "
                              "WHERE id = ? AND version = ?",
                              [*values.values(), t.version, t.id, t.version - 1])
        if cur.rowcount != 1:
            raise lifecycle.Conflict(f"incident {t.id} changed meanwhile; try again")
        for seq, a in enumerate(t.assignments):
            row = {k: getattr(a, "group" if k == "group_name" else k) for k in ASSIGNMENT_FIELDS}
            if a.id is None:
                a.id = self._insert("wf_assignments", {**row, "ticket_id": t.id, "seq": seq})
            else:
                self.db.execute(f"UPDATE wf_assignments SET {_SET_ASSIGNMENT} WHERE id = ?",
                                [*row.values(), a.id])
        au = s.audit
        self._insert("wf_audit", {"ticket_id": t.id, "at": au.at, "who": au.who,
                                  "action": au.action, "note": au.note,
                                  "from_state": au.from_state, "to_state": au.to_state,
                                  "group_name": au.group})
        self._record(list(s.events), now)

    def _insert(self, table: str, row: dict) -> int:
        """One row by a plain INSERT: sqlite-utils' ``insert`` reads the table's columns on
        every call, which was most of the cost of a ticket (a scenario makes 100,000)."""
        cur = self.db.execute(
            f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            [json.dumps(v) if isinstance(v, dict | list) else v for v in row.values()])
        return cur.lastrowid

    # --- events and the outbox ----------------------------------------------------------

    def record(self, events: list[Event], now: float) -> int:
        with self.transaction():
            return self._record(events, now)

    def _record(self, events: list[Event], now: float) -> int:
        """Store new events and queue their notifications; return how many were new."""
        new = 0
        for e in events:
            cur = self.db.execute(
                "INSERT OR IGNORE INTO wf_events (key, kind, ticket_id, at, audience, detail, "
                "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [e.key, e.kind, e.ticket_id, e.at, json.dumps(list(e.audience)),
                 json.dumps(e.detail), now])
            if cur.rowcount != 1:
                continue
            new += 1
            pairs = targets(e, self.cfg.routes)
            if not pairs:
                continue
            ticket = None
            if e.ticket_id is not None:
                ticket = next(iter(self.db.query(
                    "SELECT * FROM wf_tickets WHERE id = ?", [e.ticket_id])), None)
            tz = self.cfg.tz(ticket["project"]) if ticket else self.cfg.timezone
            title, body = render(e, ticket, tz)
            for to, url in pairs:
                self.db.execute(
                    "INSERT OR IGNORE INTO wf_outbox (event_id, route_to, url, title, body, "
                    "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [cur.lastrowid, to, url, title, body, now])
        return new

    def claim_outbox(self, now: float, limit: int) -> list[dict]:
        """Rows due for delivery, each claimed by a compare-and-set update."""
        rows = list(self.db.query(
            "SELECT * FROM wf_outbox WHERE next_attempt_at <= ? AND (state = 'pending' OR "
            "(state = 'sending' AND claimed_at < ?)) ORDER BY id LIMIT ?",
            [now, now - STALE_CLAIM_S, limit]))
        claimed = []
        for r in rows:
            cur = self.db.execute(
                "UPDATE wf_outbox SET state = 'sending', claimed_at = ? "
                "WHERE id = ? AND state = ? AND claimed_at IS ?",
                [now, r["id"], r["state"], r["claimed_at"]])
            self.db.conn.commit()
            if cur.rowcount == 1:
                claimed.append(r)
        return claimed

    def outbox_sent(self, oid: int, now: float) -> None:
        self.db.execute("UPDATE wf_outbox SET state = 'sent', sent_at = ?, "
                        "attempts = attempts + 1, last_error = NULL WHERE id = ?", [now, oid])
        self.db.conn.commit()

    def outbox_failed(self, oid: int, next_at: float, error: str) -> None:
        self.db.execute("UPDATE wf_outbox SET state = 'pending', attempts = attempts + 1, "
                        "next_attempt_at = ?, last_error = ? WHERE id = ?",
                        [next_at, error, oid])
        self.db.conn.commit()

    def outbox(self, state: str | None = None) -> list[dict]:
        sql, params = "SELECT id, event_id, route_to, title, state, attempts, next_attempt_at, " \
                      "last_error, sent_at FROM wf_outbox", []
        if state:
            sql += " WHERE state = ?"
            params.append(state)
        return list(self.db.query(sql + " ORDER BY id", params))

    # --- reading for the API ------------------------------------------------------------

    def rows(self, ids: list[int]) -> dict[int, dict]:
        """The full records (seed 002's fields and all) by id."""
        return {r["id"]: r for r in self._where_in("SELECT * FROM wf_tickets WHERE id", ids)}

    def audit(self, tid: int) -> list[dict]:
        return list(self.db.query("SELECT at, who, action, note, from_state, to_state, "
                                  "group_name FROM wf_audit WHERE ticket_id = ? ORDER BY id",
                                  [tid]))

    def events(self, tid: int) -> list[dict]:
        return [{**r, "audience": json.loads(r["audience"]), "detail": json.loads(r["detail"])}
                for r in self.db.query("SELECT key, kind, at, audience, detail FROM wf_events "
                                       "WHERE ticket_id = ? ORDER BY id", [tid])]

    def attachments(self, tid: int) -> list[dict]:
        return list(self.db.query("SELECT id, name, content_type, size, url, added_at FROM "
                                  "wf_attachments WHERE ticket_id = ? ORDER BY id", [tid]))

    def attachment(self, tid: int, aid: int) -> dict | None:
        if not (storable(tid) and storable(aid)):
            return None
        return next(iter(self.db.query("SELECT * FROM wf_attachments WHERE ticket_id = ? AND "
                                       "id = ?", [tid, aid])), None)

    def durations(self, ids: list[int], now: float) -> dict[int, float]:
        """Fault duration for the grade: the outage's for automatic incidents, report to
        resolution for the others; up to ``now`` while it lasts."""
        out = {}
        for r in self._where_in(
                "SELECT w.id, w.opened_at, w.resolved_at, w.incident_id, i.closed_at "
                "FROM wf_tickets w LEFT JOIN incidents i ON i.id = w.incident_id WHERE w.id",
                ids):
            end = r["closed_at"] if r["incident_id"] is not None else r["resolved_at"]
            out[r["id"]] = (now if end is None else end) - r["opened_at"]
        return out

    # --- common problems ----------------------------------------------------------------

    def sightings(self, since: float) -> list[Sighting]:
        return [Sighting(r["id"], r["project"], r["signature"], r["opened_at"])
                for r in self.db.query("SELECT id, project, signature, opened_at FROM "
                                       "wf_tickets WHERE signature IS NOT NULL AND "
                                       "opened_at > ?", [since])]

    def problem_memory(self) -> tuple[set[str], dict[str, float]]:
        """Signatures with a live problem, and when the others' last problem ended."""
        live, ended = set(), {}
        for r in self.db.query("SELECT signature, state, solved_at FROM wf_problems"):
            if r["state"] in ("proposed", "confirmed"):
                live.add(r["signature"])
            elif r["solved_at"] is not None:
                ended[r["signature"]] = max(ended.get(r["signature"], r["solved_at"]),
                                            r["solved_at"])
        return live, ended

    def add_problem(self, p: Proposal, now: float) -> int:
        with self.transaction():
            pid = self.db["wf_problems"].insert({
                "signature": p.signature, "state": "proposed", "projects":
                json.dumps(list(p.projects)), "tickets": json.dumps(list(p.tickets)),
                "proposed_at": now}).last_pk
            self._record([Event("problem", f"problem:{pid}", now, (self.cfg.problem_group,),
                                None, {"problem": pid, "signature": p.signature,
                                       "projects": list(p.projects)})], now)
            return pid

    PROBLEM_ACTIONS = {"confirm": ("proposed", "confirmed"), "solve": ("confirmed", "solved"),
                       "reject": ("proposed", "rejected")}

    def problem_action(self, pid: int, action: str, now: float, who: str,
                       plan_date: str | None = None, note: str | None = None) -> dict:
        if action not in self.PROBLEM_ACTIONS:
            raise lifecycle.Invalid(f"unknown action {action!r}; one of "
                                    f"{', '.join(self.PROBLEM_ACTIONS)}")
        if not who or not who.strip():
            raise lifecycle.Invalid("'who' is required")
        if action == "confirm" and not plan_date:
            raise lifecycle.Invalid("'plan_date' is required to confirm a common problem")
        allowed, to = self.PROBLEM_ACTIONS[action]
        with self.transaction():
            row = self.problem(pid)
            if row is None:
                raise lifecycle.NotFound(f"no common problem {pid}")
            if row["state"] != allowed:
                raise lifecycle.Conflict(f"cannot {action} common problem {pid}: it is "
                                         f"{row['state']} (allowed from: {allowed})")
            change = {"state": to, "note": note or row["note"]}
            if action == "confirm":
                change.update(confirmed_at=now, confirmed_by=who, plan_date=plan_date)
            else:
                change.update(solved_at=now, closed_by=who)
            self.db["wf_problems"].update(pid, change)
        return self.problem(pid)

    def problem(self, pid: int) -> dict | None:
        if not storable(pid):
            return None
        row = next(iter(self.db.query("SELECT * FROM wf_problems WHERE id = ?", [pid])), None)
        return None if row is None else _problem(row)

    def problems(self, state: str | None = None) -> list[dict]:
        sql, params = "SELECT * FROM wf_problems", []
        if state:
            sql, params = sql + " WHERE state = ?", [state]
        return [_problem(r) for r in self.db.query(sql + " ORDER BY id", params)]


def _problem(row: dict) -> dict:
    return {**row, "projects": json.loads(row["projects"]), "tickets": json.loads(row["tickets"])}
