"""Events and the notification outbox: record an event once, render and queue its
notifications, and hand them to the worker (claimed by compare-and-set).

Part of ``WorkflowStore`` (collector/workflow/store.py).
"""

from __future__ import annotations

import json

from collector.workflow.lifecycle import Event
from collector.workflow.notify import render, targets
from collector.workflow.store_base import StoreBase

STALE_CLAIM_S = 300.0  # a row claimed this long ago by a worker that died is taken again


class OutboxTables(StoreBase):
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
