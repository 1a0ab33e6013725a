"""Simulated responders for scenarios: each group acknowledges, plans, goes on site, hands on
and resolves after its delays, the seat group verifies; per-event overrides. Pure decisions,
plus the small driver the scenario runner calls on its virtual clock.

Scenario keys (docs/scenarios.md, docs/workflow.md)::

    [responders.remote-ops]          # per group; delays are business time
    ack_after = "5m"                 # after the dispatch
    transfer_to = "branch-after-sales"   # hand it on (at most once per group and incident)
    transfer_after = "10m"           # after the acknowledgement (or the dispatch, with no ack)
    plan_after = "20m"               # a solution plan, after the acknowledgement ...
    plan_changes = 1                 # ... changed this many times, each plan_after later
    arrive_after = "1h"              # on site (groups whose clock stops there), then
    resolve_after = "40m"            # fixed this long after the last step (without
                                     # arrive_after an on-site group fixes on arrival)
    never_answer = false             # true: this group takes no step at all
    [responders.seat]
    verify_after = "10m"             # business time after the resolution; then it closes

    [[event]]                        # scenario events; these keys override for the
    ack_after = "20m"                # incident the event causes
    verify = "fail"                  # the first verification fails and reopens it

A group without a delay for a step does not take it, so its clocks run out. Every action is
taken at the moment its delay ends, never at the moment the runner happens to look, so a
month's scores do not depend on the runner's step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path

from collector.workflow.business_time import BusinessClock
from collector.workflow.lifecycle import Ticket
from collector.workflow.routing import SEAT
from parkwatch.core.conf import Section, load_toml

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
    arrive_after: float | None = None
    transfer_to: str | None = None
    transfer_after: float | None = None
    plan_after: float | None = None
    plan_changes: int | None = None
    never_answer: bool | None = None

    def over(self, base: Delays) -> Delays:
        """These delays where set, ``base`` elsewhere."""
        return Delays(*(mine if mine is not None else theirs for mine, theirs in
                        zip(self.astuple(), base.astuple(), strict=True)))

    def astuple(self):
        return tuple(getattr(self, f.name) for f in fields(self))


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

    def due(self, t: Ticket, bc: BusinessClock) -> tuple[float, str, dict] | None:
        """The next (moment, action, arguments) a simulated person takes on ``t``, if any."""
        cur = t.current
        if cur is None:
            return None
        d = self.delays(t)
        if t.state in ("dispatched", "acknowledged") and d.never_answer:
            return None
        hand_on = self._hand_on(t, d)
        if t.state == "dispatched":
            if d.ack_after is not None:
                return bc.add(cur.dispatched_at, d.ack_after), "ack", {}
            if hand_on:
                return bc.add(cur.dispatched_at, d.transfer_after or 0.0), "transfer", hand_on
            return None
        if t.state == "acknowledged":
            if hand_on:
                return bc.add(cur.acked_at, d.transfer_after or 0.0), "transfer", hand_on
            plans = (t.plan is not None) + t.plan_changes
            if d.plan_after is not None and plans < 1 + (d.plan_changes or 0):
                at = bc.add(t.last_progress_at, d.plan_after)
                return at, "plan", {"plan": f"plan {plans + 1} of {cur.group}",
                                    "plan_date": bc.local_date(at + 7 * 86400).isoformat()}
            if cur.milestone == "arrive" and cur.arrived_at is None:
                if d.arrive_after is not None:
                    return bc.add(t.last_progress_at, d.arrive_after), "arrive", {}
                if d.resolve_after is not None:  # on site and fixed at the same moment
                    return bc.add(t.last_progress_at, d.resolve_after), "arrive", {}
                return None
            if d.resolve_after is None:
                return None
            if d.arrive_after is None and cur.arrived_at is not None and \
                    cur.arrived_at == t.last_progress_at:
                return cur.arrived_at, "resolve", {}  # fixed on arrival
            return bc.add(t.last_progress_at, d.resolve_after), "resolve", {}
        if t.state == "resolved" and d.verify_after is not None:
            failing = d.verify == "fail" and cur.reopened == 0
            return bc.add(t.resolved_at, d.verify_after), "reopen" if failing else "verify", {}
        if t.state == "verified":
            return t.verified_at, "close", {}
        return None

    @staticmethod
    def _hand_on(t: Ticket, d: Delays) -> dict:
        """The transfer the current group makes, if it has one left: a group hands an
        incident on at most once, so two groups that name each other do not loop."""
        target = d.transfer_to
        if not target or target == t.group:
            return {}
        if any(a.group == t.group and a.end_reason == "transferred" for a in t.assignments):
            return {}
        return {"group": target}


def load(path: str | Path) -> Responders:
    """The responder keys of a scenario file (the rest of it is the runner's to check)."""
    top = load_toml(path)
    groups = groups_from(top)
    overrides = []
    for e in top.tables("event", optional=True):
        delays = delays_of(e)
        if delays == Delays() or "site" not in e.data:
            continue
        project, _, site = e.str("site").partition("/")
        start = _time(e, "at")
        length = parse_duration(e, "for") or 0.0
        overrides.append(Override(project, site, e.data.get("device"), start, start + length,
                                  delays))
    return Responders(groups, overrides)


def delays_of(s: Section) -> Delays:
    """The responder keys of one table: a ``[responders.<group>]`` or an ``[[event]]``."""
    verify = s.choice("verify", ("pass", "fail"), None)
    target = s.str("transfer_to", None)
    if target is not None and not target.strip():
        raise s.error("transfer_to", "must name a group")
    return Delays(parse_duration(s, "ack_after"), parse_duration(s, "resolve_after"),
                  parse_duration(s, "verify_after"), verify,
                  arrive_after=parse_duration(s, "arrive_after"), transfer_to=target,
                  transfer_after=parse_duration(s, "transfer_after"),
                  plan_after=parse_duration(s, "plan_after"),
                  plan_changes=s.int("plan_changes", None, minimum=0),
                  never_answer=s.bool("never_answer", None))


def groups_from(top: Section, known: set[str] | None = None) -> dict[str, Delays]:
    """The ``[responders.<group>]`` tables; ``known`` groups, when given, are checked."""
    table = top.table("responders", optional=True)
    groups = {}
    for name in list(table.data):
        if known is not None and name not in known:
            raise table.error(name, f"is not a group of the workflow "
                                    f"(groups: {', '.join(sorted(known))})")
        g = table.table(name)
        groups[name] = delays_of(g)
        if known is not None and groups[name].transfer_to not in (None, *known):
            raise g.error("transfer_to", f"is not a group of the workflow: "
                                         f"{groups[name].transfer_to!r}")
        g.done()
    table.done()
    return groups


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
