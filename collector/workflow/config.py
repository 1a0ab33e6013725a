"""The ``[workflow]`` table of the collector's TOML config, validated once, here.

Every key is optional: without a ``[workflow]`` table the defaults of domain.md apply. A
wrong key stops the collector with one line naming the file and the key (parkwatch.core.conf).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from collector.workflow.business_time import ALL_DAYS, BusinessClock, parse_hhmm, zone
from collector.workflow.clocks import ClockSettings, Escalation
from collector.workflow.lifecycle import Limits
from collector.workflow.routing import (
    DEFAULT_DEVICE_CLASSES,
    DEFAULT_GROUPS,
    DEFAULT_RULES,
    KINDS,
    MILESTONES,
    SCORE_KINDS,
    SEAT,
    Group,
    Rule,
)
from collector.workflow.scores import DEFAULT_TIERS, GRADES, Tier
from parkwatch.core.conf import ConfigError, Section, load_toml

EVENTS = ("opened", "dispatched", "breach", "escalation", "reminder", "resolved", "reopened",
          "report_overdue", "limit", "outage_ended", "problem", "plan_overdue")
NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Route:
    """Notifications for one audience (a group, ``seat`` or a contact) to apprise URLs."""
    to: str
    urls: tuple[str, ...]
    events: tuple[str, ...] = EVENTS


@dataclass(frozen=True)
class Outbox:
    attempts: int = 3  # tries per delivery pass (tenacity), then the row waits
    retry_wait_s: float = 1.0  # between those tries
    backoff_max_s: float = 600.0  # longest wait before the next pass at a failing row


@dataclass(frozen=True)
class WorkflowConfig:
    timezone: str = "Asia/Shanghai"
    window_start: str = "08:00"
    window_end: str = "22:00"
    days: tuple[int, ...] = ALL_DAYS
    project_timezones: dict[str, str] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=lambda: dict(DEFAULT_GROUPS))
    rules: tuple[Rule, ...] = DEFAULT_RULES
    device_classes: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_DEVICE_CLASSES))
    clocks: ClockSettings = ClockSettings()
    limits: Limits = Limits()
    tiers: tuple[Tier, ...] = DEFAULT_TIERS
    problem_group: str = "technical-liaison"
    problem_projects: int = 3
    problem_window_s: float = 30 * 86400.0
    routes: tuple[Route, ...] = ()
    outbox: Outbox = Outbox()
    tick_s: float = 5.0
    auto_dispatch: bool = True

    def clock(self, project: str | None = None) -> BusinessClock:
        tz = self.project_timezones.get(project, self.timezone) if project else self.timezone
        return _clock(tz, self.window_start, self.window_end, self.days)

    def tz(self, project: str) -> str:
        return self.project_timezones.get(project, self.timezone)


@lru_cache(maxsize=256)
def _clock(tz: str, start: str, end: str, days: tuple[int, ...]) -> BusinessClock:
    return BusinessClock(tz, parse_hhmm(start), parse_hhmm(end), days)


def load(path: str | Path) -> WorkflowConfig:
    """Read only the ``[workflow]`` table of a collector config file."""
    return from_section(load_toml(path).table("workflow", optional=True))


def from_section(w: Section) -> WorkflowConfig:
    """Build the workflow config from the ``[workflow]`` table (maybe empty)."""
    cfg = WorkflowConfig()
    tz = _tz(w, "timezone", cfg.timezone)
    hours = w.str("business_hours", "08:00-22:00")
    start, sep, end = hours.partition("-")
    try:
        if not sep:
            raise ValueError("must look like HH:MM-HH:MM")
        _clock(tz, start.strip(), end.strip(), ALL_DAYS)
    except ValueError as e:
        raise w.error("business_hours", f"{e} (got {hours!r})") from None
    days = _days(w)
    ptz = w.table("project_timezones", optional=True)
    project_timezones = {p: _tz(ptz, p) for p in list(ptz.data)}
    ptz.done()

    groups = _groups(w, cfg.groups)
    classes = _classes(w, cfg.device_classes)
    rules = _rules(w, groups, classes) or cfg.rules
    tiers = _tiers(w) or cfg.tiers
    names = set(groups) | {SEAT}
    routes = _routes(w)
    names |= {r.to for r in routes}
    escalations = _escalations(w, names)
    clocks = ClockSettings(
        reminder_s=w.number("reminder_every_min", 60, positive=True) * 60.0,
        report_due_s=w.number("fault_report_due_h", 48, positive=True) * 3600.0,
        escalations=cfg.clocks.escalations if escalations is None else escalations)
    limits = Limits(transfers=w.int("transfer_limit", 5, minimum=0),
                    plan_changes=w.int("plan_change_limit", 2, minimum=0))
    problem_group = w.str("common_problem_group", cfg.problem_group)
    if problem_group not in groups:
        raise w.error("common_problem_group", f"names no group: {problem_group!r}")
    ob = w.table("outbox", optional=True)
    outbox = Outbox(attempts=ob.int("attempts", 3, minimum=1),
                    retry_wait_s=ob.number("retry_wait_s", 1.0, minimum=0),
                    backoff_max_s=ob.number("backoff_max_s", 600.0, positive=True))
    ob.done()
    out = replace(
        cfg, timezone=tz, window_start=start.strip(), window_end=end.strip(), days=days,
        project_timezones=project_timezones, groups=groups, rules=rules,
        device_classes=classes, clocks=clocks, limits=limits, tiers=tiers,
        problem_group=problem_group,
        problem_projects=w.int("common_problem_projects", 3, minimum=2),
        problem_window_s=w.number("common_problem_window_days", 30, positive=True) * 86400.0,
        routes=routes, outbox=outbox, tick_s=w.number("tick_s", 5.0, positive=True),
        auto_dispatch=w.bool("auto_dispatch", True))
    w.done()
    return out


def _tz(s: Section, key: str, default=None) -> str:
    name = s.str(key) if default is None else s.str(key, default)
    try:
        zone(name)
    except ValueError as e:
        raise s.error(key, str(e)) from None
    return name


DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _days(w: Section) -> tuple[int, ...]:
    names = w.strs("business_days", list(DAY_NAMES))
    bad = [n for n in names if n.lower() not in DAY_NAMES]
    if bad or not names:
        raise w.error("business_days", f"must list days among {', '.join(DAY_NAMES)}; "
                      f"got {names!r}")
    return tuple(sorted({DAY_NAMES.index(n.lower()) + 1 for n in names}))


def _minutes(s: Section, key: str, default: float | None) -> float | None:
    """A standard in minutes; 0 means the group has none."""
    value = s.number(key, None if default is None else default / 60.0, minimum=0)
    return value * 60.0 if value else None


def _groups(w: Section, defaults: dict[str, Group]) -> dict[str, Group]:
    groups = dict(defaults)
    table = w.table("groups", optional=True)
    for name in list(table.data):
        if not NAME.match(name) or name == SEAT:
            raise table.error(name, "a group name is 1-64 letters, digits, '_', '.', '-' "
                              f"and not {SEAT!r}")
        g = table.table(name)
        base = groups.get(name, Group(name))
        groups[name] = Group(
            name,
            respond_s=_minutes(g, "respond_min", base.respond_s),
            handle_s=_minutes(g, "handle_min", base.handle_s),
            handle_milestone=g.choice("handle_milestone", MILESTONES, base.handle_milestone),
            score=g.choice("score", SCORE_KINDS, base.score),
            base=g.number("base", base.base, minimum=0),
            k3=g.number("k3", base.k3, minimum=0),
            penalty=g.number("penalty", base.penalty, minimum=0))
        g.done()
    table.done()
    return groups


def _classes(w: Section, defaults) -> dict[str, tuple[str, ...]]:
    table = w.table("device_classes", optional=True)
    if not table.data:
        table.done()
        return dict(defaults)
    classes = {name: tuple(table.strs(name)) for name in list(table.data)}
    table.done()
    return classes


def _rules(w: Section, groups: dict[str, Group], classes) -> tuple[Rule, ...]:
    rules = []
    for r in w.tables("route", optional=True):
        kind = r.str("kind")
        if not NAME.match(kind):
            raise r.error("kind", f"must be a name such as {', '.join(KINDS)}; got {kind!r}")
        group = r.str("group")
        if group not in groups:
            raise r.error("group", f"names no group: {group!r} (known: "
                          f"{', '.join(sorted(groups))})")
        severity = r.int("severity", 3, minimum=1)
        if severity > 3:
            raise r.error("severity", f"must be 1, 2 or 3, got {severity}")
        dev_class = r.str("device_class", None)
        if dev_class is not None and dev_class not in classes:
            raise r.error("device_class", f"names no class of [workflow.device_classes]: "
                          f"{dev_class!r}")
        rules.append(Rule(kind, group, severity, dev_class))
        r.done()
    return tuple(rules)


def _counts(s: Section, key: str) -> dict[str, int]:
    table = s.table(key, optional=True)
    out = {}
    for g in list(table.data):
        if g not in GRADES:
            raise table.error(g, f"is not a grade; grades are {', '.join(GRADES)}")
        out[g] = table.int(g, minimum=0)
    table.done()
    return out


def _tiers(w: Section) -> tuple[Tier, ...]:
    tiers = []
    for t in w.tables("tier", optional=True):
        tiers.append(Tier(t.str("name"), t.number("amount"), _counts(t, "at_most"),
                          _counts(t, "at_least")))
        t.done()
    return tuple(tiers)


def _routes(w: Section) -> tuple[Route, ...]:
    import apprise  # only the collector extra has it; a gateway never reads this

    routes = []
    for r in w.tables("notify", optional=True):
        to = r.str("to")
        urls = r.strs("urls")
        for i, url in enumerate(urls):
            if apprise.Apprise.instantiate(url) is None:
                raise r.error(f"urls[{i}]", "is not a notification URL apprise can use "
                              "(see https://github.com/caronc/apprise/wiki)")
        events = r.strs("events", list(EVENTS))
        for e in events:
            if e not in EVENTS:
                raise r.error("events", f"{e!r} is not an event; events are "
                              f"{', '.join(EVENTS)}")
        routes.append(Route(to, tuple(urls), tuple(events)))
        r.done()
    return tuple(routes)


def _escalations(w: Section, names: set[str]) -> tuple[Escalation, ...] | None:
    if "escalation" not in w.data:
        return None
    out = []
    for e in w.tables("escalation"):
        notify = e.strs("notify")
        for n in notify:
            if n not in names:
                raise e.error("notify", f"{n!r} is neither a group, {SEAT!r}, nor the 'to' of "
                              "a [[workflow.notify]] route")
        out.append(Escalation(e.number("after_min", minimum=0) * 60.0, tuple(notify)))
        e.done()
    return tuple(out)


__all__ = ["ConfigError", "Route", "WorkflowConfig", "from_section", "load"]
