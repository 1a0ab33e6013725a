"""The incident workflow in a scenario: its ``[workflow]``, ``[responders.*]``,
``[[manual_incident]]`` and ``[[common_problem]]`` keys, and the driver that runs the
production ``WorkflowService`` beside the collector's core on the virtual clock.

Simulated people act at the moments their delays end (collector.workflow.responders), an
incident reported by hand is recorded at its ``at``, and a common problem is confirmed and
solved at the times the file gives, so a month's scores are the same whatever the runner's
step. The driver keeps a heap of the next step due on each incident: an incident nobody
answers costs nothing until the end.
"""

from __future__ import annotations

import heapq
import math
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

from collector.workflow.config import WorkflowConfig, from_section
from collector.workflow.problems import Proposal
from collector.workflow.responders import Delays, Responders
from collector.workflow.routing import KINDS, LEVELS, SEAT, device_class, route, severity_of
from collector.workflow.service import WorkflowService
from collector.workflow.store import WorkflowStore
from collector.workflow.store_batch import BatchStore
from parkwatch.core.conf import Section

CHANNELS = ("intercom", "phone", "seat", "email", "other")
SCAN_EVERY_S = 86400.0  # common problems: looked for daily (and before each confirmation)
SYNC_EVERY_S = 6 * 3600.0  # outage ends copied onto tickets (dated by the outage, not by this)


@dataclass(frozen=True)
class ManualIncident:
    """An incident a seat records from a call (seed 002's event record)."""
    index: int
    at: float
    fields: dict
    dispatch: str | None  # a group, or None: left open for the seat group


@dataclass(frozen=True)
class ProblemSteps:
    """A common problem confirmed (with a plan date) and maybe solved at given times."""
    index: int
    signature: str
    confirm_at: float
    plan_date: str
    solve_at: float | None = None


@dataclass(frozen=True)
class WorkflowPlan:
    config: WorkflowConfig = field(default_factory=WorkflowConfig)
    settings: dict = field(default_factory=dict)  # the [workflow] table as written
    groups: dict[str, Delays] = field(default_factory=dict)
    manual: tuple[ManualIncident, ...] = ()
    problems: tuple[ProblemSteps, ...] = ()


def read(top: Section, zones: dict[str, str], where: dict, time_of) -> WorkflowPlan:
    """The workflow keys of a scenario file. ``zones``: project time zones; ``where``: the
    scenario's ``PROJECT/SITE`` names; ``time_of(section, key, tz)`` reads a time."""
    from collector.workflow.responders import groups_from

    w = top.table("workflow", optional=True)
    settings = dict(w.data)
    cfg = from_section(w)
    if "timezone" not in settings:
        cfg = replace(cfg, timezone=next(iter(zones.values()), cfg.timezone))
    cfg = replace(cfg, project_timezones={**zones, **cfg.project_timezones})
    # What report monthly --db reads back: the table as written, with the zones it got.
    settings.update(timezone=cfg.timezone, project_timezones=dict(cfg.project_timezones))
    groups = groups_from(top, set(cfg.groups) | {SEAT})
    manual = tuple(_manual(i, m, cfg, zones, where, time_of)
                   for i, m in enumerate(top.tables("manual_incident", optional=True)))
    problems = tuple(_problem(i, p, cfg, time_of)
                     for i, p in enumerate(top.tables("common_problem", optional=True)))
    return WorkflowPlan(cfg, settings, groups, manual, problems)


def _manual(i: int, m: Section, cfg: WorkflowConfig, zones: dict[str, str], where: dict,
            time_of) -> ManualIncident:
    project = m.str("project")
    if project not in zones:
        raise m.error("project", f"is not a project of this scenario: {project!r}")
    site = m.str("site", None)
    if site is not None and f"{project}/{site}" not in where:
        raise m.error("site", f"is not a site of {project}: {site!r}")
    kind = m.str("kind", "unknown")
    if kind not in KINDS and kind != "unknown":
        raise m.error("kind", f"must be one of {', '.join(KINDS)} or unknown; got {kind!r}")
    device = m.str("device", None)
    impact, urgency = m.choice("impact", LEVELS, "medium"), m.choice("urgency", LEVELS, "medium")
    reporter = m.table("reporter", optional=True)
    dev_class = device_class(device, cfg.device_classes)
    dispatch = m.str("dispatch", "auto")
    if dispatch == "auto":
        target = route(cfg.rules, kind, dev_class).group
    elif dispatch == SEAT:
        target = None
    elif dispatch in cfg.groups:
        target = dispatch
    else:
        raise m.error("dispatch", f"must be auto, seat or a group ({', '.join(cfg.groups)})")
    fields = {
        "source": "manual", "channel": m.choice("channel", CHANNELS, "phone"),
        "project": project, "site": site, "device": device, "kind": kind,
        "device_class": dev_class, "signature": m.str("signature", None),
        "severity": severity_of(impact, urgency), "title": m.str("title"),
        "description": m.str("description", ""),
        "reporter_name": reporter.str("name", "caller"), "reporter_unit": reporter.str(
            "unit", None), "reporter_contact": reporter.str("contact", None),
        "reporter_role": reporter.str("role", None),
        "contract_scope": m.str("contract_scope", None), "sla_level": m.str("sla_level", None),
        "impact": impact, "urgency": urgency,
        "opened_at": time_of(m, "at", zones[project])}
    reporter.done()
    m.done()
    return ManualIncident(i, fields["opened_at"], fields, target)


def _problem(i: int, p: Section, cfg: WorkflowConfig, time_of) -> ProblemSteps:
    signature = p.str("signature")
    confirm_at = time_of(p, "confirm_at", cfg.timezone)
    plan_date = p.str("plan_date")
    solve_at = time_of(p, "solve_at", cfg.timezone) if "solve_at" in p.data else None
    if solve_at is not None and solve_at < confirm_at:
        raise p.error("solve_at", "must not be before confirm_at")
    p.done()
    return ProblemSteps(i, signature, confirm_at, plan_date, solve_at)


class Simulation:
    """The workflow under a virtual clock with simulated responders. The scenario runner
    calls ``advance(now)`` with the collector's decisions up to ``now`` stored."""

    def __init__(self, store: WorkflowStore, responders: Responders,
                 manual: tuple[ManualIncident, ...] = (),
                 problems: tuple[ProblemSteps, ...] = ()):
        self.store, self.responders = store, responders
        self.service = WorkflowService(store, store.cfg)
        self.taken = 0
        self._due: list[tuple[float, int]] = []  # (when, ticket id): the next step due
        self._seeded = False
        self._plans: list[tuple[float, int, str, object]] = []
        for m in manual:
            self._plans.append((m.at, len(self._plans), "manual", m))
        for p in problems:
            self._plans.append((p.confirm_at, len(self._plans), "confirm", p))
            if p.solve_at is not None:
                self._plans.append((p.solve_at, len(self._plans), "solve", p))
        heapq.heapify(self._plans)
        self._next_scan = self._next_sync = -math.inf
        self._incidents_seen = 0  # the highest core incident id already taken in

    def advance(self, now: float, last: bool = False) -> None:
        """Everything due by ``now``; ``last``: the end of the run (outage ends synced,
        common problems looked for)."""
        svc = self.service
        if last:
            self._next_sync = self._next_scan = -math.inf
        if not self._seeded:
            self._seeded = True
            for t in self.store.find(state="live"):
                self._schedule(t)
        new = []
        top = self.store.newest_incident()
        if top > self._incidents_seen:  # the core declared something since the last look
            while True:  # it takes a thousand at a time, written in one batch
                with self._deferred():
                    batch = svc.take_new_incidents()
                    new += [self.store.load(tid) for tid in batch]
                if not batch:
                    break
            self._incidents_seen = top
        for t in new:
            self._schedule(t)
        if now >= self._next_sync:
            with self._deferred():
                svc.sync_outages()
            self._next_sync = now + SYNC_EVERY_S
        with self._deferred():
            self.respond(now)
        if new and now >= self._next_scan:
            svc.scan_problems(now)
            self._next_scan = now + SCAN_EVERY_S
        # No clock notifications (breaches, reminders, escalations): a scenario has nobody
        # to send them to, and the scores come from the tickets' own times. Evaluating every
        # open ticket's clocks each step was most of a year's run time.

    def _deferred(self):
        """The store's write-behind batch (collector/workflow/store_batch.py) if it has one."""
        return self.store.deferred() if isinstance(self.store, BatchStore) else nullcontext()

    def respond(self, now: float) -> int:
        """Take every step due by ``now`` (simulated people, reports by hand, common
        problems), each at its own moment and in the order of those moments."""
        taken, due, plans = 0, self._due, self._plans
        while True:
            step_at = due[0][0] if due else math.inf
            plan_at = plans[0][0] if plans else math.inf
            if min(step_at, plan_at) > now:
                return taken
            if plan_at <= step_at:
                if isinstance(self.store, BatchStore):
                    self.store.flush()  # the plan's queries see every step before it
                at, _, what, item = heapq.heappop(plans)
                self._plan(at, what, item)
                continue
            at, tid = heapq.heappop(due)
            t = self.store.load(tid)
            nxt = self.responders.due(t, self.store.cfg.clock(t.project))
            if nxt is None:
                continue
            if nxt[0] > now:
                heapq.heappush(due, (nxt[0], tid))
                continue
            at, action, kw = nxt
            t = self.store.act(tid, action, at, f"sim:{t.group or SEAT}",
                               note="simulated responder", **kw)
            taken += 1
            self.taken += 1
            self._schedule(t)

    def _schedule(self, t) -> None:
        nxt = self.responders.due(t, self.store.cfg.clock(t.project))
        if nxt is not None:
            heapq.heappush(self._due, (nxt[0], t.id))

    def _plan(self, at: float, what: str, item) -> None:
        store = self.store
        if what == "manual":
            tid = store.create(dict(item.fields), at, "sim:seat",
                               note=f"manual_incident[{item.index}]",
                               dispatch_to=item.dispatch)
            self._schedule(store.load(tid))
            return
        self.service.scan_problems(at)  # what the liaison would have seen by then
        if what == "confirm":
            found = [p for p in store.problems("proposed") if p["signature"] == item.signature]
            pid = found[0]["id"] if found else store.add_problem(
                Proposal(item.signature, (), (), at), at)  # reported by the liaison by hand
            store.problem_action(pid, "confirm", at, f"sim:{store.cfg.problem_group}",
                                 plan_date=item.plan_date,
                                 note=f"common_problem[{item.index}]")
        else:
            found = [p for p in store.problems("confirmed") if p["signature"] == item.signature]
            if found:
                store.problem_action(found[0]["id"], "solve", at,
                                     f"sim:{store.cfg.problem_group}")
