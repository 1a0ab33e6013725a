"""What the workflow reads of the core's tables: incidents not yet ticketed, and the ends of
ticketed incidents' outages. The only place the workflow touches ``incidents`` and
``outages`` (it never writes them)."""

from __future__ import annotations

from collector.db.connection import columns
from collector.workflow.store_base import StoreBase


class CoreReads(StoreBase):
    _outage_extra: str | None = None  # optional outage columns, looked up once

    def untaken_incidents(self, limit: int = 1000) -> list[dict]:
        """Core incidents newer than the newest ticketed one, oldest first, with their
        outage's fault (and the device's profile and class where the core records them)."""
        conn = self.db.conn  # plain cursors: sqlite-utils' ``query`` costs more than these
        hwm = conn.execute("SELECT COALESCE(MAX(incident_id), 0) FROM wf_tickets").fetchone()[0]
        if self._outage_extra is None:
            self._outage_extra = "".join(f", o.{c}" for c in ("profile", "device_class")
                                         if c in columns(self.db, "outages"))
        cur = conn.execute(
            "SELECT i.id, i.project, i.site, i.device, i.kind, i.opened_at, i.declared_at, "
            f"o.fault{self._outage_extra} "
            "FROM incidents i LEFT JOIN outages o ON o.id = i.outage_id WHERE i.id > ? "
            f"ORDER BY i.id LIMIT {int(limit)}", [hwm])
        names = [c[0] for c in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]

    def newest_incident(self) -> int:
        """The highest core incident id (0 before the first): has the core declared more?"""
        return self.db.conn.execute("SELECT max(id) FROM incidents").fetchone()[0] or 0

    def ended_outages(self) -> list[dict]:
        """Tickets of automatic incidents whose outage has closed, not yet recorded as such:
        ``id`` (the ticket) and ``closed_at`` (the incident's end)."""
        return list(self.db.query(
            "SELECT w.id, i.closed_at FROM wf_tickets w JOIN incidents i ON "
            "i.id = w.incident_id WHERE w.outage_ended_at IS NULL AND "
            "w.incident_id IS NOT NULL AND i.closed_at IS NOT NULL"))
