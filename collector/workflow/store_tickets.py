"""Tickets and assignments: create, load, act (load -> ``lifecycle.step`` -> save), read.

Part of ``WorkflowStore`` (collector/workflow/store.py); a save's events go through
``_record`` (collector/workflow/store_outbox.py).
"""

from __future__ import annotations

from collector.workflow import lifecycle
from collector.workflow.lifecycle import Assignment, Event, Step, Ticket
from collector.workflow.store_base import StoreBase
from parkwatch.core.ids import storable

TICKET_FIELDS = ("id", "project", "site", "device", "opened_at", "assessed", "kind",
                 "severity", "state", "transfers", "plan_changes", "plan", "plan_date",
                 "resolved_group", "resolved_at", "verified_at", "closed_at", "fault_report",
                 "fault_report_at", "last_progress_at", "outage_ended_at", "version")
ASSIGNMENT_FIELDS = ("group_name", "dispatched_at", "respond_s", "handle_s", "milestone",
                     "acked_at", "arrived_at", "resolved_at", "ended_at", "end_reason",
                     "reopened")
_SET_ASSIGNMENT = ", ".join(f"{k} = ?" for k in ASSIGNMENT_FIELDS)


class TicketTables(StoreBase):
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

    def tickets(self) -> list[Ticket]:
        """Every ticket, in id order."""
        return self._select()

    def opened_between(self, start: float, end: float) -> list[Ticket]:
        """Tickets opened in [start, end), in id order."""
        return self._select("opened_at >= ? AND opened_at < ?", [start, end])

    def clocked(self, report_grace_from: float) -> list[Ticket]:
        """Tickets whose clocks still run: not closed, or resolved after
        ``report_grace_from`` with no fault report yet (that report is still due)."""
        return self._select("state != 'closed' OR (resolved_at > ? AND fault_report_at IS NULL)",
                            [report_grace_from])

    def _select(self, where: str = "1 = 1", params: list = (),
                limit: int | None = None) -> list[Ticket]:
        """Tickets in id order; with ``limit``, the newest ones, newest first."""
        order = "ORDER BY id" if limit is None else f"ORDER BY id DESC LIMIT {int(limit)}"
        rows = list(self.db.query(f"SELECT {', '.join(TICKET_FIELDS)}, group_name FROM "
                                  f"wf_tickets WHERE {where} {order}", list(params)))
        by_id = self._assignments([r["id"] for r in rows])
        return [self._ticket(r, by_id.get(r["id"], [])) for r in rows]

    def find(self, state: str | None = None, group: str | None = None,
             project: str | None = None, limit: int | None = None) -> list[Ticket]:
        """Tickets by state (or ``live``: every state but closed), holding group and
        project; the HTTP handler names the filters, the store writes the SQL."""
        where, params = ["1 = 1"], []
        if state == "live":
            where.append("state != 'closed'")
        elif state:
            where.append("state = ?")
            params.append(state)
        for col, value in (("group_name", group), ("project", project)):
            if value:
                where.append(f"{col} = ?")
                params.append(value)
        return self._select(" AND ".join(where), params, limit=limit)

    def ticket_counts(self) -> tuple[int, int]:
        """(all tickets, closed tickets)."""
        return self.db.conn.execute(
            "SELECT count(*), count(CASE WHEN state = 'closed' THEN 1 END) FROM wf_tickets"
        ).fetchone()

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

    def rows(self, ids: list[int]) -> dict[int, dict]:
        """The full records (seed 002's fields and all) by id."""
        return {r["id"]: r for r in self._where_in("SELECT * FROM wf_tickets WHERE id", ids)}

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
