"""The scenario file (TOML, docs/scenarios.md): read and checked once, here.

Every mistake is a ``ConfigError`` naming the file, the key (``event[3].for``) and what is
wrong, like the config files'.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from collector.config import timezone as read_timezone
from collector.downtime.budget import DEFAULT_TIMEZONE
from collector.workflow.responders import Delays, delays_of
from parkwatch.core.conf import ConfigError, Section
from parkwatch.core.wire import WireError, check_id
from simulators.scenario import toml_events, workflow
from simulators.scenario.workflow import WorkflowPlan

SITE_KINDS = ("uplink_down", "device_offline", "device_fault", "software_down",
              "loop_timeout", "intercom_call")
GLOBAL_KINDS = ("collector_down", "broker_down")
KINDS = SITE_KINDS + GLOBAL_KINDS
NEEDS_DURATION = ("uplink_down", "device_offline", "device_fault", "software_down",
                  "collector_down", "broker_down")
DEVICE_KINDS = ("device_offline", "device_fault", "loop_timeout", "intercom_call")
DEFAULT_DEVICES = ("gate-1", "loop-1", "camera-1")
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*([dhms])\s*)+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A year of 100,000 sites with ten events each is about 100 MB of TOML; the 1 MB cap of a
# config file would refuse it.
MAX_SCENARIO_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Project:
    id: str
    timezone: str
    sites: tuple[str, ...]
    devices: tuple[str, ...]
    budget_minutes: float


NO_DELAYS = Delays()  # an event with no responder keys shares this one


@dataclass(frozen=True, slots=True)  # a year of 100,000 sites holds a million
class Event:
    index: int
    kind: str
    at: float
    duration_s: float
    project: str | None = None
    site: str | None = None
    device: str | None = None
    code: str | None = None
    cause: str | None = None
    delays: Delays = Delays()  # the responders' keys for the incident this event causes

    @property
    def end(self) -> float:
        return self.at + self.duration_s


@dataclass(frozen=True)
class Maintenance:
    project: str
    from_at: float
    to_at: float
    reason: str


@dataclass(frozen=True)
class Scenario:
    path: str
    start: float
    end: float
    heartbeat_interval_s: float = 10.0
    outage_threshold_s: float = 60.0
    site_silence_factor: float = 3.0
    keepalive_s: float = 30.0
    projects: tuple[Project, ...] = ()
    events: tuple[Event, ...] = ()
    maintenance: tuple[Maintenance, ...] = ()
    platform_share: float = 0.3
    platform_window_s: float = 15.0
    platform_min_sites: int = 3
    extra: dict = field(default_factory=dict)
    workflow: WorkflowPlan = field(default_factory=WorkflowPlan)

    @property
    def site_count(self) -> int:
        return sum(len(p.sites) for p in self.projects)


def parse_duration(text: str) -> float:
    """'90s', '15m', '2h', '1h30m', '1d' -> seconds."""
    if not isinstance(text, str) or not _DURATION.match(text):
        raise ValueError(f"must be a duration like '90s', '15m', '2h' or '1h30m', got {text!r}")
    return sum(float(n) * _UNIT[u] for n, u in _PART.findall(text))


def _value(section: Section, key: str, default=None):
    """A key of any type (dates, strings); missing and no default: an error."""
    if key not in section.data and default is None:
        raise section.error(key, "is missing")
    return section._raw(key, default)


def _time(section: Section, key: str, tz: str) -> float:
    raw = _value(section, key)
    if isinstance(raw, datetime):
        t = raw
    elif isinstance(raw, str):
        try:
            t = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise section.error(key, f"must be a date and time like "
                                     f"'2026-03-03T10:00:00+08:00', got {raw!r}") from None
    else:
        raise section.error(key, f"must be a date and time, got {raw!r}")
    if t.tzinfo is None:  # read in the project's (or the scenario's) time zone
        t = t.replace(tzinfo=ZoneInfo(tz))
    return t.timestamp()


def _duration(section: Section, key: str, required: bool) -> float:
    raw = _value(section, key, None if required else "0s")
    try:
        value = parse_duration(raw)
    except ValueError as e:
        raise section.error(key, str(e)) from None
    if required and value <= 0:
        raise section.error(key, "must be longer than 0s")
    return value


def load(path: str | Path) -> Scenario:
    top, event_tables = toml_events.load(path, MAX_SCENARIO_BYTES)
    start = _time(top, "start", DEFAULT_TIMEZONE)
    end = _time(top, "end", DEFAULT_TIMEZONE)
    if end <= start:
        raise top.error("end", "must be later than 'start'")
    hb = top.number("heartbeat_interval_s", 10.0, positive=True)
    threshold = top.number("outage_threshold_s", 60.0, positive=True)
    factor = top.number("site_silence_factor", 3.0, minimum=1.5)
    keepalive = top.number("keepalive_s", 30.0, positive=True)
    budget = top.number("budget_minutes", 60.0, positive=True)
    plat = top.table("platform", optional=True)
    share = plat.number("share", 0.3, positive=True)
    window = plat.number("window_s", 15.0, positive=True)
    min_sites = plat.int("min_sites", 3, minimum=1)
    plat.done()

    projects: list[Project] = []
    where: dict[str, Project] = {}
    for p in top.tables("project"):
        pid = _id(p, "id")
        if any(x.id == pid for x in projects):
            raise p.error("id", f"project {pid!r} is listed twice")
        tz = read_timezone(p, "timezone", DEFAULT_TIMEZONE)
        sites = tuple(p.strs("sites"))
        if not sites:
            raise p.error("sites", "must list at least one site")
        for s in sites:
            _check(p, "sites", s, "site")
        if len(set(sites)) != len(sites):
            raise p.error("sites", "lists a site twice")
        devices = tuple(p.strs("devices", list(DEFAULT_DEVICES)))
        for d in devices:
            _check(p, "devices", d, "device")
        if not devices or len(set(devices)) != len(devices):
            raise p.error("devices", "must list distinct device names")
        project = Project(pid, tz, sites, devices,
                          p.number("budget_minutes", budget, positive=True))
        p.done()
        projects.append(project)
        for s in sites:
            where[f"{pid}/{s}"] = project
    if not projects:
        raise top.error("project", "must list at least one [[project]]")

    events, transfers = [], []
    for i, e in enumerate(event_tables):  # a chunk of the file at a time (toml_events.py)
        events.append(_event(i, e, where, start, end))
        if events[-1].delays.transfer_to is not None:
            transfers.append((events[-1], e))  # checked against the workflow's groups below
    _no_overlaps(top, events)
    plan = workflow.read(top, {p.id: p.timezone for p in projects}, where, _time)
    known = set(plan.config.groups)
    for ev, e in transfers:
        if ev.delays.transfer_to not in (None, *known):
            raise e.error("transfer_to", f"is not a group of the workflow: "
                                         f"{ev.delays.transfer_to!r}")
    maintenance = []
    for m in top.tables("maintenance", optional=True):
        pid = m.str("project")
        project = next((p for p in projects if p.id == pid), None)
        if project is None:
            raise m.error("project", f"is not a project of this scenario: {pid!r}")
        f, t = _time(m, "from", project.timezone), _time(m, "to", project.timezone)
        if t <= f:
            raise m.error("to", "must be later than 'from'")
        reason = m.str("reason", "planned maintenance").strip()
        if not reason:
            raise m.error("reason", "must not be empty")
        maintenance.append(Maintenance(pid, f, t, reason))
        m.done()
    top.done()
    return Scenario(str(path), start, end, hb, threshold, factor, keepalive, tuple(projects),
                    tuple(sorted(events, key=lambda e: (e.at, e.index))), tuple(maintenance),
                    share, window, min_sites, workflow=plan)


def _id(section: Section, key: str) -> str:
    value = section.str(key)
    _check(section, key, value, key)
    return value


def _check(section: Section, key: str, value: str, what: str) -> None:
    try:
        check_id(value, what)
    except WireError as e:
        raise section.error(key, str(e)) from None


def _event(i: int, e: Section, where: dict[str, Project], start: float,
           end: float) -> Event:
    kind = e.choice("kind", KINDS)
    project = site = device = code = None
    tz = DEFAULT_TIMEZONE
    if kind in GLOBAL_KINDS:
        if "site" in e.data:
            raise e.error("site", f"a {kind} event takes no site")
    else:
        full = e.str("site")
        if full not in where:
            raise e.error("site", f"is not a site of this scenario: {full!r} "
                                  "(write it as 'PROJECT/SITE')")
        p = where[full]
        project, site, tz = p.id, full.split("/", 1)[1], p.timezone
        if kind in DEVICE_KINDS:
            device = e.str("device", _default_device(kind, p.devices))
            if device not in p.devices:
                raise e.error("device", f"is not a device of {full}: {device!r} "
                                        f"(devices: {', '.join(p.devices)})")
        elif "device" in e.data:
            raise e.error("device", f"a {kind} event takes no device")
    if kind == "device_fault":
        code = e.str("code", "fault")
        _check(e, "code", code, "code")
    elif "code" in e.data:
        raise e.error("code", "only a device_fault event takes a code")
    at = _time(e, "at", tz)
    if not start <= at < end:
        raise e.error("at", "must lie between the scenario's start and end")
    duration = _duration(e, "for", kind in NEEDS_DURATION)
    cause = e.choice("cause", ("customer",), None)
    if cause is not None and kind in GLOBAL_KINDS:
        raise e.error("cause", f"a {kind} event is the platform's; it takes no cause")
    delays = delays_of(e)
    if delays == NO_DELAYS:
        delays = NO_DELAYS
    elif kind in GLOBAL_KINDS:
        raise e.error("kind", f"a {kind} event causes no incident of its own; responder "
                              "keys go on site events")
    e.done()
    return Event(i, _intern(kind), at, duration, _intern(project), _intern(site),
                 _intern(device), _intern(code), cause, delays)


def _intern(text: str | None) -> str | None:
    """One string object per name, not one per event that names it."""
    return None if text is None else sys.intern(text)


def _default_device(kind: str, devices: tuple[str, ...]) -> str:
    """A loop timeout happens on a loop, anything else on the barrier: the first device
    whose name says so, else the first device."""
    hint = "loop" if kind == "loop_timeout" else "gate"
    return next((d for d in devices if hint in d), devices[0])


def _no_overlaps(top: Section, events: list[Event]) -> None:
    """Two events of one kind on one thing at once would be ambiguous: say so."""
    last: dict[tuple, Event] = {}
    for ev in sorted(events, key=lambda e: (e.at, e.index)):
        if ev.kind in ("loop_timeout", "intercom_call"):
            continue
        key = (ev.kind, ev.project, ev.site, ev.device)
        prev = last.get(key)
        if prev is not None and ev.at < prev.end:
            raise ConfigError(top.file, f"event[{ev.index}].at",
                              f"overlaps event[{prev.index}] (the same {ev.kind} "
                              f"{'of ' + ev.site if ev.site else ''} is already going on)")
        last[key] = ev
