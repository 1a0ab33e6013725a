"""The simulated responders' delays, looked up in constant time for a year of a fleet.

``Responders.delays`` merges a group's delays with the seat group's and scans every
per-event override for each step; a year of 10,000 sites asks it half a million times.
``IndexedResponders`` gives the same answers from the overrides indexed by site and the
merged delays computed once per group (and per override and group).
"""

from __future__ import annotations

from collector.workflow.lifecycle import Ticket
from collector.workflow.responders import Delays, Override, Responders
from collector.workflow.routing import SEAT


class IndexedResponders(Responders):
    def __init__(self, groups: dict[str, Delays], overrides: list[Override]):
        super().__init__(groups, overrides)
        self._by_site: dict[tuple[str, str], list[tuple[int, Override]]] = {}
        for i, o in enumerate(overrides):  # in their order: the first that matches wins
            self._by_site.setdefault((o.project, o.site), []).append((i, o))
        self._merged: dict[tuple[int, str | None], Delays] = {}

    def delays(self, t: Ticket) -> Delays:
        for i, o in self._by_site.get((t.project, t.site), ()):
            if o.matches(t.project, t.site, t.device, t.opened_at):
                return self._merge(i, t.group)
        return self._merge(-1, t.group)

    def _merge(self, i: int, group: str | None) -> Delays:
        key = (i, group)
        d = self._merged.get(key)
        if d is None:
            base = self.groups.get(group, Delays()).over(self.groups.get(SEAT, Delays()))
            d = self._merged[key] = base if i < 0 else self.overrides[i].delays.over(base)
        return d
