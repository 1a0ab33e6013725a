"""The sightings of common problems, read a new ticket at a time (the scenario runner's).

``WorkflowStore.sightings(since)`` reads every signed ticket opened after ``since``: a
scenario's daily scan over a 30-day window of a large fleet's tickets, each row a lookup
from the ``opened_at`` index into the table, was a twelfth of a year's run. A ticket's id,
project, signature and opening time never change once it is stored (``lifecycle.step``
keeps them; ``_save`` writes them back as they are), so ``SightingWindow`` remembers the
signed tickets it has read and reads only those stored since, by the primary key. It gives
the rows the query gives, in id order: ``problems.propose`` does not depend on the order.
"""

from __future__ import annotations

import sqlite3

from collector.workflow.problems import Sighting


class SightingWindow:
    def __init__(self):
        self._read_to = 0  # tickets up to this id have been read
        self._kept: list[Sighting] = []  # the signed ones opened after ``_dropped_to``
        self._dropped_to = float("-inf")

    def sightings(self, conn: sqlite3.Connection, since: float) -> list[Sighting]:
        """As ``WorkflowStore.sightings(since)`` on ``conn`` (whose writes are all stored)."""
        if since < self._dropped_to:  # earlier than a look before (not the scenario's way)
            self.__init__()
        top = conn.execute("SELECT max(id) FROM wf_tickets").fetchone()[0] or 0
        if top > self._read_to:
            self._kept += [Sighting(*r) for r in conn.execute(
                "SELECT id, project, signature, opened_at FROM wf_tickets WHERE id > ? AND "
                "id <= ? AND signature IS NOT NULL ORDER BY id", [self._read_to, top])]
            self._read_to = top
        self._kept = [s for s in self._kept if s.opened_at > since]
        self._dropped_to = since
        return list(self._kept)
