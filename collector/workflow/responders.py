"""Simulated responders for scenarios: each group acknowledges and resolves after its delay,
the seat group verifies; per-event overrides. Pure decisions, plus the small driver the
scenario runner calls on its virtual clock.

Scenario keys (docs/scenarios.md, docs/workflow.md)::

    [responders.remote-ops]          # per group
    ack_after = "5m"                 # business time after the dispatch
    resolve_after = "40m"            # business time after the acknowledgement (a group
                                     # whose clock stops on site: arrives, fixes on arrival)
    [responders.seat]
    verify_after = "10m"             # business time after the resolution; then it closes

    [[event]]                        # issue 5's events; these keys override for the
    ack_after = "20m"                # incident the event causes
    resolve_after = "3h"
    verify = "fail"                  # the first verification fails and reopens it

A group without a delay does not act, so its clocks run out. Every action is taken at the
moment its delay ends, never at the moment the runner happens to look, so a month's scores
do not depend on the runner's step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from agent.conf import Section, load_toml
from collector.workflow.business_time import BusinessClock
from collector.workflow.lifecycle import Ticket
from collector.workflow.routing import SEAT

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h)$")
_UNIT = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(s: Section, key: str) -> float | None:
    text = s.str(key, None)
    if text is None:
        return None
    m = _DURATION.match(text.strip())
    if not m:
        raise s.error(key, f"must be a duration such as 90s, 5m or 2h; got {text!r}")
    return float(m.group(1)) * _UNIT[m.group(2)]


@dataclass(frozen=True)
class Delays:
    ack_after: float | None = None
    resolve_after: float | None = None
    verify_after: float | None = None
    verify: str | None = None  # pass | fail

    def over(self, base: Delays) -> Delays:
        """These delays where set, ``base`` elsewhere."""
        return Delays(*(mine if mine is not None else theirs for mine, theirs in
                        zip(self.astuple(), base.astuple(), strict=True)))

    def astuple(self):
        return (self.ack_after, self.resolve_after, self.verify_after, self.verify)


@dataclass(frozen=True)
class Override:
    """The delays for the incident an ``[[event]]`` causes: same project, site (and device
    when given), opened between a minute before the event and its end."""
    project: str
    site: str
    device: str | None
    start: float
    end: float
    delays: Delays

    def matches(self, project: str, site: str | None, device: str | None,
                opened_at: float) -> bool:
        return (self.project, self.site) == (project, site) and \
            self.device in (None, device) and self.start - 60.0 <= opened_at <= self.end


@dataclass
class Responders:
    groups: dict[str, Delays] = field(default_factory=dict)
    overrides: list[Override] = field(default_factory=list)

    def delays(self, t: Ticket) -> Delays:
        base = self.groups.get(t.group, Delays()).over(self.groups.get(SEAT, Delays()))
        for o in self.overrides:
            if o.matches(t.project, t.site, t.device, t.opened_at):
                return o.delays.over(base)
        return base

    def due(self, t: Ticket, bc: BusinessClock) -> tuple[float, str] | None:
        """The next (moment, action) a simulated person takes on ``t``, if any."""
        cur = t.current
        if cur is None:
            return None
        d = self.delays(t)
        if t.state == "dispatched" and d.ack_after is not None:
            return bc.add(cur.dispatched_at, d.ack_after), "ack"
        if t.state == "acknowledged" and d.resolve_after is not None:
            if cur.arrived_at is not None and cur.arrived_at == t.last_progress_at:
                return cur.arrived_at, "resolve"  # fixed on arrival
            at = bc.add(t.last_progress_at, d.resolve_after)
            return at, "arrive" if cur.milestone == "arrive" and cur.arrived_at is None \
                else "resolve"
        if t.state == "resolved" and d.verify_after is not None:
            failing = d.verify == "fail" and cur.reopened == 0
            return bc.add(t.resolved_at, d.verify_after), "reopen" if failing else "verify"
        if t.state == "verified":
            return t.verified_at, "close"
        return None


def load(path: str | Path) -> Responders:
    """The responder keys of a scenario file (the rest of it is the runner's to check)."""
    top = load_toml(path)
    table = top.table("responders", optional=True)
    groups = {}
    for name in list(table.data):
        g = table.table(name)
        groups[name] = _delays(g)
        g.done()
    overrides = []
    for e in top.tables("event", optional=True):
        delays = _delays(e)
        if delays == Delays() or "site" not in e.data:
            continue
        project, _, site = e.str("site").partition("/")
        start = _time(e, "at")
        length = parse_duration(e, "for") or 0.0
        overrides.append(Override(project, site, e.data.get("device"), start, start + length,
                                  delays))
    return Responders(groups, overrides)


def _delays(s: Section) -> Delays:
    verify = s.choice("verify", ("pass", "fail"), None)
    return Delays(parse_duration(s, "ack_after"), parse_duration(s, "resolve_after"),
                  parse_duration(s, "verify_after"), verify)


def _time(s: Section, key: str) -> float:
    """A TOML date-time, or a string in ISO form; either with its UTC offset."""
    value = s.data.get(key)
    t = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:
            t = datetime.fromisoformat(value)
        except ValueError:
            pass
    if t is None or t.tzinfo is None:
        raise s.error(key, f"must be a time with its UTC offset, such as "
                      f"2026-03-03T10:00:00+08:00; got {value!r}")
    return t.timestamp()


class Simulation:
    """The workflow under a virtual clock with simulated responders. The scenario runner
    calls ``advance(now)`` after it has stored the collector's decisions up to ``now``."""

    def __init__(self, store, responders: Responders):
        from collector.workflow.service import WorkflowService

        self.store, self.responders = store, responders
        self.service = WorkflowService(store, store.cfg)

    def advance(self, now: float) -> None:
        svc = self.service
        svc.take_new_incidents()
        svc.sync_outages()
        self.respond(now)
        svc.tick(now)

    def respond(self, now: float) -> int:
        """Take every simulated action due by ``now``, each at its own moment."""
        taken = 0
        for t in self.store.tickets("state != 'closed'"):
            bc = self.store.cfg.clock(t.project)
            while (nxt := self.responders.due(t, bc)) is not None and nxt[0] <= now:
                at, action = nxt
                t = self.store.act(t.id, action, at, f"sim:{t.group or SEAT}",
                                   note="simulated responder")
                taken += 1
        return taken
