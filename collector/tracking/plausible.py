"""Plausibility at the door: what a validated message may claim before the tracker believes
it. Pure: no I/O; the collector's receive time ``now`` and the site's clock offset are
passed in. docs/security.md gives the rules and their numbers.

``wire.decode`` has already checked each field on its own (types, ranges, sizes). Here a
message is checked against what the collector knows:

- **Times within a window of the collector's clock.** An event's ``ts`` and ``since`` and an
  uplink record's ``start``/``end``, converted with the site's clock offset as the tracker
  converts them, must lie within ``max_past_s`` before ``now`` and ``max_ahead_s`` after it.
  A heartbeat's ``ts`` is the gateway's clock reading that the offset is estimated from, so
  only its devices' ``since`` are checked, against that reading: ahead of it is rejected;
  older than the window is not an error (a device can be fine for longer than a year) and is
  dropped, so the tracker dates that state by the receive time. A status's ``ts`` is never
  used for timing (the Will carries the time of its connect) and is not checked.
- **Boots.** An event whose ``boot`` is more than ``max_boot_ahead`` above the highest boot
  the site's heartbeats and statuses showed is rejected (events pre-published under a
  site's future boots would make its real ones look like duplicates). A site whose boot is
  not known yet (new, or the collector restarted) takes any.
- **A rate limit per site**: token buckets, one for heartbeats and statuses, one for events.
  A rejected QoS 1 event is acknowledged and gone, so the event bucket is sized for an
  agent replaying a full outbox after an uplink cut (see ``Rules``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from parkwatch.core import wire

YEAR_S = 365 * 86400.0


@dataclass(frozen=True)
class Rules:
    """The ``[plausibility]`` table of the collector's config (docs/collector.md)."""

    max_past_s: float = YEAR_S  # how old a time may be, after the clock-offset correction
    max_ahead_s: float = 300.0  # how far ahead of the collector's clock
    max_boot_ahead: int = 1000  # an event's boot above the site's live one
    # Heartbeats and statuses: an agent sends one heartbeat per interval (>= 0.1 s by the
    # wire's limits) plus a status and a heartbeat per connect.
    heartbeat_rate: float = 10.0  # per second and site, sustained
    heartbeat_burst: float = 50.0
    # Events: a real site makes a few per second at most (state changes, loop and intercom
    # events); after a cut the agent replays its outbox as fast as the broker takes it (50
    # in flight). The burst holds a full default outbox (64 MB of ~250-byte records), so a
    # replay is never cut however fast it comes, and it refills while the link is down.
    event_rate: float = 50.0
    event_burst: float = 250_000.0


@dataclass(frozen=True)
class Verdict:
    reason: str = ""  # a short code for counting; empty: plausible
    problem: str = ""  # what was wrong, for the log
    msg: wire.Message | None = None  # the message to handle (a heartbeat may be trimmed)

    @property
    def ok(self) -> bool:
        return not self.reason


class _Bucket:
    __slots__ = ("tokens", "at")

    def __init__(self, tokens: float, at: float):
        self.tokens, self.at = tokens, at

    def take(self, now: float, rate: float, burst: float) -> bool:
        if now > self.at:
            self.tokens = min(burst, self.tokens + (now - self.at) * rate)
            self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class _Site:
    __slots__ = ("boot", "live", "events")

    def __init__(self, rules: Rules, now: float):
        self.boot: int | None = None
        self.live = _Bucket(rules.heartbeat_burst, now)
        self.events = _Bucket(rules.event_burst, now)


class Gate:
    """One per collector core; ``check`` every message before the tracker sees it."""

    def __init__(self, rules: Rules | None = None):
        self.rules = rules or Rules()
        self._sites: dict[tuple[str, str], _Site] = {}

    def check(self, msg: wire.Message, now: float, offset: float | None) -> Verdict:
        """``offset``: the site's clock offset (collector minus gateway) as the tracker
        holds it, None when unknown (the tracker then takes the gateway's clock as is)."""
        r = self.rules
        key = (msg.project, msg.site)
        site = self._sites.get(key)
        if site is None:
            site = self._sites[key] = _Site(r, now)
        if isinstance(msg, wire.Event):
            if not site.events.take(now, r.event_rate, r.event_burst):
                return Verdict("rate_limited", f"more than {r.event_rate:g} events/s "
                                               f"(burst {r.event_burst:g}) from this site")
            if site.boot is not None and msg.boot > site.boot + r.max_boot_ahead:
                return Verdict("boot_ahead", f"boot {msg.boot} is more than "
                                             f"{r.max_boot_ahead} above the site's {site.boot}")
            problem = self._event_times(msg, now, offset)
            if problem:
                return Verdict("time_window", problem)
            return Verdict(msg=msg)
        if not site.live.take(now, r.heartbeat_rate, r.heartbeat_burst):
            return Verdict("rate_limited", f"more than {r.heartbeat_rate:g} heartbeats and "
                                           f"statuses/s (burst {r.heartbeat_burst:g})")
        if site.boot is None or msg.boot > site.boot:
            site.boot = msg.boot
        if isinstance(msg, wire.Heartbeat):
            return self._heartbeat(msg)
        return Verdict(msg=msg)

    def forget(self, project: str, site: str) -> None:
        self._sites.pop((project, site), None)

    def _window(self, what: str, t: float | None, shift: float, now: float) -> str:
        if t is None:
            return ""
        local = t + shift
        if local > now + self.rules.max_ahead_s:
            return f"{what} is {local - now:.0f} s ahead of the collector's clock"
        if local < now - self.rules.max_past_s:
            return f"{what} is {now - local:.0f} s in the past"
        return ""

    def _event_times(self, msg: wire.Event, now: float, offset: float | None) -> str:
        shift = offset or 0.0
        problem = self._window("ts", msg.ts, shift, now) or \
            self._window("since", msg.since, shift, now)
        if problem or msg.kind != "uplink":
            return problem
        record = msg.detail.get("offset_s")  # the tracker converts a record by its own
        shift = shift if record is None else float(record)
        return self._window("uplink start", msg.detail["start"], shift, now) or \
            self._window("uplink end", msg.detail["end"], shift, now)

    def _heartbeat(self, msg: wire.Heartbeat) -> Verdict:
        lo, hi = msg.ts - self.rules.max_past_s, msg.ts + self.rules.max_ahead_s
        old = []
        for name, rep in msg.devices.items():
            if rep.since is None:
                continue
            if rep.since > hi:
                return Verdict("time_window", f"device {name!r}: since is "
                                              f"{rep.since - msg.ts:.0f} s ahead of ts")
            if rep.since < lo:
                old.append(name)
        if not old:
            return Verdict(msg=msg)
        devices = dict(msg.devices)
        for name in old:  # older than the window: dated by the receive time instead
            devices[name] = dataclasses.replace(devices[name], since=None)
        return Verdict(msg=dataclasses.replace(msg, devices=devices))


def rules_from(section) -> Rules:
    """The ``[plausibility]`` table (an ``parkwatch.core.conf.Section``); every key is optional."""
    d = Rules()
    rules = Rules(
        max_past_s=section.number("max_past_s", d.max_past_s, positive=True),
        max_ahead_s=section.number("max_ahead_s", d.max_ahead_s, minimum=0),
        max_boot_ahead=section.int("max_boot_ahead", d.max_boot_ahead, minimum=1),
        heartbeat_rate=section.number("heartbeat_rate", d.heartbeat_rate, positive=True),
        heartbeat_burst=section.number("heartbeat_burst", d.heartbeat_burst, minimum=1),
        event_rate=section.number("event_rate", d.event_rate, positive=True),
        event_burst=section.number("event_burst", d.event_burst, minimum=1))
    section.done()
    return rules
