"""An incident's life as the seat group runs it: a pure state machine, time passed in.

    open ─dispatch─▶ dispatched ─ack─▶ acknowledged ─resolve─▶ resolved ─verify─▶ verified
     │                ▲    │            │    ▲                  │    ▲                │
     │                └────┴─transfer───┘    └─────reopen───────┴────┼─────reopen─────┤
     │                                                                                ▼
     └──────────── close (the seat group solved it itself) ───────────────────────▶ closed

``step(ticket, action, ...)`` returns the changed copy, the audit line and the events to
notify; an action the state does not allow raises ``Conflict`` and changes nothing. The
table ``ALLOWED`` is the machine (docs/workflow.md draws the same diagram) and the table
``EFFECTS`` what each action does to the ticket.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.workflow.routing import SEAT, Group

STATES = ("open", "dispatched", "acknowledged", "resolved", "verified", "closed")
ACTIVE = ("dispatched", "acknowledged")  # a group is working on it

# action -> (states it is allowed from, state it leads to; None keeps the state)
ALLOWED: dict[str, tuple[tuple[str, ...], str | None]] = {
    "dispatch": (("open",), "dispatched"),
    "ack": (("dispatched",), "acknowledged"),
    "transfer": (ACTIVE, "dispatched"),
    "arrive": (("acknowledged",), None),
    "plan": (("acknowledged",), None),
    "resolve": (("acknowledged",), "resolved"),
    "verify": (("resolved",), "verified"),
    "reopen": (("resolved", "verified"), "acknowledged"),
    "report": (("resolved", "verified", "closed"), None),
    "close": (("open", "verified"), "closed"),
    "note": (STATES, None),
    "outage_ended": (STATES, None),  # the collector's own record: the outage side is over
}
ACTIONS = tuple(a for a in ALLOWED if a != "outage_ended")


class Conflict(Exception):
    """The action is not allowed in the incident's state (HTTP 409)."""


class Invalid(Exception):
    """The action's arguments are wrong (HTTP 422)."""


class NotFound(LookupError):
    """No such incident or common problem (HTTP 404)."""


@dataclass
class Assignment:
    """One dispatch of an incident to one group, with the standards in force then."""
    group: str
    dispatched_at: float
    respond_s: float | None
    handle_s: float | None
    milestone: str = "resolve"
    acked_at: float | None = None
    arrived_at: float | None = None
    resolved_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None  # transferred | resolved
    reopened: int = 0
    id: int | None = None

    @property
    def responded_at(self) -> float | None:
        """The group's first answer: acknowledging, or handing it on straight away."""
        if self.acked_at is not None:
            return self.acked_at
        return self.ended_at if self.end_reason == "transferred" else None

    @property
    def handled_at(self) -> float | None:
        """When the handling clock stopped: resolved, on site (for "arrive"), or handed on."""
        if self.milestone == "arrive" and self.arrived_at is not None:
            return self.arrived_at
        if self.resolved_at is not None:
            return self.resolved_at
        return self.ended_at if self.end_reason == "transferred" else None


@dataclass
class Ticket:
    """The workflow's view of one incident (automatic or reported by hand)."""
    id: int
    project: str
    opened_at: float
    assessed: bool
    site: str | None = None
    device: str | None = None
    kind: str = "unknown"
    severity: int = 3
    state: str = "open"
    group: str | None = None
    transfers: int = 0
    plan_changes: int = 0
    plan: str | None = None
    plan_date: str | None = None
    resolved_group: str | None = None
    resolved_at: float | None = None
    verified_at: float | None = None
    closed_at: float | None = None
    fault_report: str | None = None
    fault_report_at: float | None = None
    last_progress_at: float | None = None
    outage_ended_at: float | None = None
    version: int = 0
    assignments: list[Assignment] = field(default_factory=list)

    @property
    def current(self) -> Assignment | None:
        return self.assignments[-1] if self.assignments else None


@dataclass(frozen=True)
class Event:
    """Something to notify, once: ``key`` is unique for all time."""
    kind: str
    key: str
    at: float
    audience: tuple[str, ...]
    ticket_id: int | None = None
    detail: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Audit:
    at: float
    who: str
    action: str
    note: str | None
    from_state: str
    to_state: str
    group: str | None


@dataclass(frozen=True)
class Step:
    ticket: Ticket
    audit: Audit
    events: tuple[Event, ...]


@dataclass(frozen=True)
class Limits:
    transfers: int = 5
    plan_changes: int = 2


def _copy(obj):
    """``copy.copy`` of a plain dataclass (a ``__dict__``, no ``__copy__``), without its
    ``__reduce_ex__`` round trip: a year of tickets takes a copy at every step."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    return new


def step(ticket: Ticket, action: str, now: float, who: str, *, note: str | None = None,
         groups: dict[str, Group], limits: Limits = Limits(), group: str | None = None,
         plan: str | None = None, plan_date: str | None = None,
         report: str | None = None) -> Step:
    if action not in ALLOWED:
        raise Invalid(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if not who or not who.strip():
        raise Invalid("'who' is required: every step is audited with who did it")
    allowed_from, to_state = ALLOWED[action]
    if ticket.state not in allowed_from:
        raise Conflict(f"cannot {action} incident {ticket.id}: it is {ticket.state} "
                       f"(allowed from: {', '.join(allowed_from)})")
    t = _copy(ticket)  # every field is a scalar but the assignments, copied below
    t.assignments = [_copy(a) for a in ticket.assignments]
    before = t.state
    t.version += 1
    events: list[Event] = []

    def event(kind: str, audience: tuple[str | None, ...], **detail) -> None:
        events.append(Event(kind, f"t{t.id}:v{t.version}:{kind}", now,
                            tuple(a for a in audience if a), t.id, detail))

    EFFECTS[action](t, t.current, now, _Asked(event, groups, limits, group, plan, plan_date,
                                              report))

    if to_state is not None:
        t.state = to_state
    if action != "outage_ended":
        t.last_progress_at = now
    return Step(t, Audit(now, who, action, note, before, t.state, t.group), tuple(events))


@dataclass(frozen=True)
class _Asked:
    """What an action was given, and how it tells of an event."""
    event: object
    groups: dict[str, Group]
    limits: Limits
    group: str | None
    plan: str | None
    plan_date: str | None
    report: str | None


def _assign(t: Ticket, now: float, a: _Asked, action: str) -> None:
    target = _group(a.groups, a.group, action)
    if action == "transfer":
        if target.name == t.group:
            raise Invalid(f"incident {t.id} is already with {target.name}")
        cur = t.current
        cur.ended_at, cur.end_reason = now, "transferred"
        t.transfers += 1
        if t.transfers > a.limits.transfers:
            a.event("limit", (SEAT,), what="transfers", count=t.transfers,
                    limit=a.limits.transfers)
    t.assignments.append(Assignment(target.name, now, target.respond_s, target.handle_s,
                                    target.handle_milestone))
    t.group = target.name
    a.event("dispatched", (target.name,), group=target.name)


def _arrive(t: Ticket, cur: Assignment, now: float, a: _Asked) -> None:
    if cur.arrived_at is not None:
        raise Conflict(f"incident {t.id}: {cur.group} already arrived on site")
    cur.arrived_at = now


def _plan(t: Ticket, cur: Assignment, now: float, a: _Asked) -> None:
    if not a.plan:
        raise Invalid("'plan' is required: the solution plan")
    if t.plan is not None:
        t.plan_changes += 1
        if t.plan_changes > a.limits.plan_changes:
            a.event("limit", (SEAT,), what="plan changes", count=t.plan_changes,
                    limit=a.limits.plan_changes)
    t.plan, t.plan_date = a.plan, a.plan_date


def _resolve(t: Ticket, cur: Assignment, now: float, a: _Asked) -> None:
    cur.resolved_at = cur.ended_at = now
    cur.end_reason = "resolved"
    t.resolved_group, t.resolved_at = cur.group, now
    a.event("resolved", (SEAT,), group=cur.group)


def _reopen(t: Ticket, cur: Assignment, now: float, a: _Asked) -> None:
    # A failed verification goes back to the group that resolved it; its assignment
    # carries on, so its handling time runs to the fix that holds.
    cur.resolved_at = cur.ended_at = cur.end_reason = None
    cur.reopened += 1
    t.group = cur.group
    t.resolved_at = t.verified_at = None
    a.event("reopened", (cur.group,), group=cur.group)


def _report(t: Ticket, cur: Assignment, now: float, a: _Asked) -> None:
    if not a.report:
        raise Invalid("'report' is required: the fault report text")
    t.fault_report = a.report
    t.fault_report_at = t.fault_report_at or now


def _outage_ended(t: Ticket, cur: Assignment, now: float, a: _Asked) -> None:
    t.outage_ended_at = now
    if t.state != "closed":
        a.event("outage_ended", (t.group, SEAT), group=t.group)


def _set(attribute: str, of_assignment: bool = False):
    def effect(t: Ticket, cur: Assignment, now: float, a: _Asked) -> None:
        setattr(cur if of_assignment else t, attribute, now)
    return effect


# action -> what it does to the ticket (the ``ALLOWED`` table says from where and to what)
EFFECTS = {
    "dispatch": lambda t, cur, now, a: _assign(t, now, a, "dispatch"),
    "ack": _set("acked_at", of_assignment=True),
    "transfer": lambda t, cur, now, a: _assign(t, now, a, "transfer"),
    "arrive": _arrive,
    "plan": _plan,
    "resolve": _resolve,
    "verify": _set("verified_at"),
    "reopen": _reopen,
    "report": _report,
    "close": _set("closed_at"),
    "note": lambda t, cur, now, a: None,
    "outage_ended": _outage_ended,
}
assert set(EFFECTS) == set(ALLOWED)


def _group(groups: dict[str, Group], name: str | None, action: str) -> Group:
    if not name:
        raise Invalid(f"'group' is required to {action}")
    if name not in groups:
        raise Invalid(f"unknown group {name!r}; known: {', '.join(sorted(groups))}")
    return groups[name]
