"""An incident's clocks: due times, remaining time, breaches, reminders. Pure; ``now`` in.

Response and handling clocks belong to each assignment (one dispatch to one group) and run
in business time from the dispatch. Only assessed incidents (opened inside the window) have
breaches. ``evaluate`` returns every event whose moment has come; each has a key that is
unique for all time, so the shell stores it once and it is notified once however often
``evaluate`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.workflow.business_time import BusinessClock
from collector.workflow.lifecycle import ACTIVE, Assignment, Event, Ticket
from collector.workflow.routing import SEAT


@dataclass(frozen=True)
class Escalation:
    after_s: float  # business seconds after the breach
    notify: tuple[str, ...]


@dataclass(frozen=True)
class ClockSettings:
    reminder_s: float = 60 * 60.0  # business time between progress updates (seed 003)
    report_due_s: float = 48 * 3600.0  # calendar time from resolution to the fault report
    escalations: tuple[Escalation, ...] = (Escalation(30 * 60.0, (SEAT,)),)


@dataclass(frozen=True)
class Clock:
    """One clock of one assignment, as the API and the reports show it."""
    name: str  # response | handling
    due: float
    done_at: float | None

    def state(self, now: float) -> str:
        if self.done_at is not None:
            return "met" if self.done_at <= self.due else "late"
        return "breached" if now >= self.due else "running"


def clocks(a: Assignment, bc: BusinessClock) -> list[Clock]:
    out = []
    if a.respond_s is not None:
        out.append(Clock("response", bc.add(a.dispatched_at, a.respond_s), a.responded_at))
    if a.handle_s is not None:
        out.append(Clock("handling", bc.add(a.dispatched_at, a.handle_s), a.handled_at))
    return out


def describe(t: Ticket, bc: BusinessClock, now: float) -> list[dict]:
    """Each assignment's clocks with due time, state and business seconds remaining."""
    out = []
    for a in t.assignments:
        for c in clocks(a, bc):
            out.append({"assignment": a.id, "group": a.group, "clock": c.name, "due": c.due,
                        "done_at": c.done_at,
                        "state": c.state(now) if t.assessed else "not assessed",
                        "remaining_s": None if c.done_at is not None
                        else round(bc.remaining(c.due, now), 1)})
    return out


def evaluate(t: Ticket, bc: BusinessClock, s: ClockSettings, now: float) -> list[Event]:
    events: list[Event] = []
    if t.assessed:
        for a in t.assignments:
            for c in clocks(a, bc):
                events += _breach(t, a, c, bc, s, now)
    if t.state in ACTIVE and t.current is not None:
        events += _reminder(t, bc, s, now)
    if t.resolved_at is not None and t.fault_report_at is None:
        due = t.resolved_at + s.report_due_s
        if now >= due:
            events.append(Event("report_overdue", f"report:{t.id}:{t.resolved_at:.3f}", due,
                                (t.resolved_group, SEAT), t.id,
                                {"group": t.resolved_group, "due": due}))
    return events


def _breach(t: Ticket, a: Assignment, c: Clock, bc: BusinessClock, s: ClockSettings,
            now: float) -> list[Event]:
    late = c.done_at > c.due if c.done_at is not None else now >= c.due
    if not late:
        return []
    detail = {"group": a.group, "clock": c.name, "due": c.due}
    out = [Event("breach", f"breach:{a.id}:{c.name}", c.due, (a.group, SEAT), t.id, detail)]
    if c.done_at is None:  # escalate only what is still outstanding
        for level, e in enumerate(s.escalations, 1):
            at = bc.add(c.due, e.after_s)
            if now >= at:
                out.append(Event("escalation", f"escalation:{a.id}:{c.name}:{level}", at,
                                 e.notify, t.id, {**detail, "level": level}))
    return out


def _reminder(t: Ticket, bc: BusinessClock, s: ClockSettings, now: float) -> list[Event]:
    """The latest progress-update moment that has passed since the last step, if any."""
    base = max(t.current.dispatched_at, t.last_progress_at or 0.0)
    periods = int(bc.elapsed(base, now) // s.reminder_s)
    if periods < 1:
        return []
    due = bc.add(base, periods * s.reminder_s)
    return [Event("reminder", f"reminder:{t.id}:{due:.3f}", due, (t.group,), t.id,
                  {"group": t.group, "since": base})]
