"""What happened to one incident: its audit lines, events and attachments.

Part of ``WorkflowStore`` (collector/workflow/store.py).
"""

from __future__ import annotations

import json

from collector.workflow import lifecycle
from collector.workflow.store_base import StoreBase
from parkwatch.core.ids import storable


class HistoryTables(StoreBase):
    def add_attachment(self, tid: int, attachment: dict, now: float, who: str) -> int:
        """An attachment added after the incident was opened, with its audit line."""
        with self.transaction():
            row = self.load(tid)
            if row is None:
                raise lifecycle.NotFound(f"no incident {tid}")
            aid = self._insert("wf_attachments",
                               {**attachment, "ticket_id": tid, "added_at": now})
            self._insert("wf_audit", {"ticket_id": tid, "at": now, "who": who,
                                      "action": "attachment", "note": attachment["name"],
                                      "from_state": row.state, "to_state": row.state,
                                      "group_name": None})
            return aid

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
