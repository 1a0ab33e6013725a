"""The life of an outage once it is open: when it becomes an incident, how its grade
moves, how it ends. No I/O; time passed in.

Deadlines (an outage due to become an incident, a grade boundary) sit in a heap, so a tick
costs only what is due. Time the collector could not see (``seen``) makes no incident: an
outage becomes one when the part of it the collector saw is longer than the threshold.
"""

from __future__ import annotations

import heapq

from collector.tracking.outages import (
    GRADE_EDGES_S,
    Decision,
    GradeChanged,
    IncidentDeclared,
    Outage,
    OutageEnded,
    OutageKey,
    grade,
)


class OutageBook:
    def __init__(self, threshold_s: float = 60.0):
        self.threshold_s = threshold_s
        self.open: dict[OutageKey, Outage] = {}
        # When the collector could see (running and connected), as [from, to or None];
        # None means always. Time outside is unknown: it makes no outage an incident.
        self.seen: list[list] | None = None
        self._due: list[tuple[float, int, str, Outage]] = []
        self._n = 0

    def _tick_outages(self, now: float) -> list[Decision]:
        out: list[Decision] = []
        due = self._due
        while due and due[0][0] < now:
            when, _, what, outage = heapq.heappop(due)
            if outage.ended_at is not None or self.open.get(outage.key) is not outage:
                continue
            if what == "declare":
                out += self._maybe_declare(outage, now)
            elif what == "grade" and outage.incident:
                out += self._regrade(outage, now)
        return out

    def _end(self, key: OutageKey, ended_at: float, source: str,
             now: float) -> list[Decision]:
        outage = self.open.pop(key, None)
        if outage is None:
            return []
        outage.ended_at = max(ended_at, outage.started_at)
        outage.end_source = source
        out: list[Decision] = []
        if self._qualifies(outage, outage.ended_at):
            # It lasted long enough but we learned of it late (a replayed event).
            out += self._declare(outage, now)
        elif outage.incident:
            g = grade(outage.duration(outage.ended_at))
            if g != outage.grade:
                outage.grade = g
                out.append(GradeChanged(outage, g))
        out.append(OutageEnded(outage))
        return out

    def visible(self, outage: Outage, now: float) -> float:
        """How much of the outage's own time the collector saw; unknown time makes no
        incident (nor does the part of it its site outage absorbed)."""
        end = outage.ended_at if outage.ended_at is not None else now
        start = outage.own_start()
        if self.seen is None:
            return max(0.0, end - start)
        total = 0.0
        for a, b in self.seen:
            lo, hi = max(a, start), min(end if b is None else b, end)
            if hi > lo:
                total += hi - lo
        return total

    def _qualifies(self, outage: Outage, now: float) -> bool:
        return (not outage.incident and not outage.absorbed
                and self.visible(outage, now) > self.threshold_s)

    def _declare(self, outage: Outage, now: float) -> list[Decision]:
        outage.incident, outage.withdrawn = True, False
        outage.declared_at = now
        outage.grade = grade(outage.duration(now))
        self._schedule_grade(outage, now)
        return [IncidentDeclared(outage, now)]

    def _regrade(self, outage: Outage, now: float) -> list[Decision]:
        g = grade(outage.duration(now))
        self._schedule_grade(outage, now)
        if g == outage.grade:
            return []
        outage.grade = g
        return [GradeChanged(outage, g)]

    def _schedule(self, outage: Outage) -> None:
        if outage.incident:
            self._schedule_grade(outage, outage.declared_at or outage.started_at)
        elif not outage.absorbed:
            self._push(outage.own_start() + self.threshold_s, "declare", outage)

    # The book's operations as rules outside it apply them (collector/tracking/ports.py).
    end_outage, qualifies, declare, schedule = _end, _qualifies, _declare, _schedule

    def _schedule_grade(self, outage: Outage, now: float) -> None:
        for edge in GRADE_EDGES_S:
            if outage.started_at + edge >= now:
                self._push(outage.started_at + edge, "grade", outage)
                return

    def _push(self, when: float, what: str, outage: Outage) -> None:
        self._n += 1
        heapq.heappush(self._due, (when, self._n, what, outage))

    def _maybe_declare(self, outage: Outage, now: float) -> list[Decision]:
        if not self._qualifies(outage, now):
            if not outage.incident and not outage.absorbed:  # unknown time: look again
                self._push(now + self.threshold_s - self.visible(outage, now), "declare",
                           outage)
            return []
        return self._declare(outage, now)
