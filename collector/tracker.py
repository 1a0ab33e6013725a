"""Liveness of sites and devices, and the outages they go through. No I/O; time passed in.

The tracker takes validated wire messages with the collector's receive time ``now`` and
returns decisions (an outage began, ended, became an incident) for a shell to store.
Times inside messages are the gateway's clock; the tracker converts them to the
collector's clock with a per-site offset estimated from live heartbeats, so a gateway
whose clock is an hour off still yields correct outage times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent import wire

SITE_NETWORK, DEVICE_OFFLINE, DEVICE_FAULT = "site_network", "device_offline", "device_fault"


@dataclass(frozen=True)
class OutageKey:
    kind: str
    project: str
    site: str
    device: str | None = None


@dataclass
class Outage:
    key: OutageKey
    started_at: float
    detected_at: float
    fault: str | None = None
    ended_at: float | None = None
    incident: bool = False
    id: int | None = None  # set by the store


@dataclass(frozen=True)
class OutageStarted:
    outage: Outage


@dataclass(frozen=True)
class OutageEnded:
    outage: Outage


@dataclass(frozen=True)
class IncidentDeclared:
    outage: Outage
    declared_at: float


Decision = OutageStarted | OutageEnded | IncidentDeclared


@dataclass
class DeviceView:
    state: str = "unknown"
    fault: str | None = None
    since: float | None = None


@dataclass
class SiteView:
    project: str
    site: str
    state: str = "online"
    last_seen: float | None = None
    interval_s: float = 10.0
    boot: int = 0
    offset: float | None = None  # collector clock minus gateway clock
    devices: dict[str, DeviceView] = field(default_factory=dict)


class Tracker:
    """``silence_factor`` missed heartbeat intervals make a silent site down."""

    def __init__(self, threshold_s: float = 60.0, silence_factor: float = 3.0):
        self.threshold_s = threshold_s
        self.silence_factor = silence_factor
        self.sites: dict[tuple[str, str], SiteView] = {}
        self.open: dict[OutageKey, Outage] = {}

    # --- input ---------------------------------------------------------------------------

    def receive(self, msg: wire.Message, now: float) -> list[Decision]:
        site = self.sites.get((msg.project, msg.site))
        if site is None:
            site = self.sites[(msg.project, msg.site)] = SiteView(msg.project, msg.site)
        out: list[Decision] = []
        if isinstance(msg, wire.Status) and msg.state == "offline":
            site.state = "offline"
            out += self._start(OutageKey(SITE_NETWORK, msg.project, msg.site),
                               now if site.last_seen is None else site.last_seen, now)
            return out
        if not getattr(msg, "historical", False):
            site.last_seen = now
            if isinstance(msg, (wire.Heartbeat, wire.Status)):
                self._update_offset(site, now - msg.ts)
        site.boot = max(site.boot, msg.boot)
        if site.state == "offline":
            site.state = "online"
            out += self._end(OutageKey(SITE_NETWORK, msg.project, msg.site), now)
        if isinstance(msg, wire.Heartbeat):
            site.interval_s = msg.interval_s
            for name, rep in msg.devices.items():
                out += self._device(site, name, rep.state, rep.fault,
                                    self._local(site, rep.since, now), now)
        elif isinstance(msg, wire.Event) and msg.kind == "device_state":
            out += self._device(site, msg.device, msg.state, msg.fault,
                                self._local(site, msg.since, now), now)
        return out

    def tick(self, now: float) -> list[Decision]:
        """Silent sites go down; outages past the threshold become incidents."""
        out: list[Decision] = []
        for site in self.sites.values():
            if site.state == "online" and site.last_seen is not None and \
                    now - site.last_seen > self.silence_factor * site.interval_s:
                site.state = "offline"
                out += self._start(OutageKey(SITE_NETWORK, site.project, site.site),
                                   site.last_seen, now)
        for outage in self.open.values():
            if not outage.incident and now - outage.started_at > self.threshold_s:
                outage.incident = True
                out.append(IncidentDeclared(outage, now))
        return out

    def resume(self, outage: Outage) -> None:
        """Take back an outage that was open when the collector stopped."""
        self.open[outage.key] = outage
        site = self.sites.setdefault((outage.key.project, outage.key.site),
                                     SiteView(outage.key.project, outage.key.site))
        if outage.key.kind == SITE_NETWORK:
            site.state = "offline"
            site.last_seen = outage.started_at
        else:
            state = "offline" if outage.key.kind == DEVICE_OFFLINE else "fault"
            site.devices[outage.key.device] = DeviceView(state, outage.fault, outage.started_at)

    # --- internals -----------------------------------------------------------------------

    @staticmethod
    def _update_offset(site: SiteView, sample: float) -> None:
        # Network delay only ever adds to (receive - sent); keep close to the smallest
        # recent sample but let a real clock step through within a few heartbeats.
        if site.offset is None or sample < site.offset or abs(sample - site.offset) > 5.0:
            site.offset = sample
        else:
            site.offset += (sample - site.offset) * 0.1

    @staticmethod
    def _local(site: SiteView, t: float | None, now: float) -> float:
        if t is None:
            return now
        return min(now, t + (site.offset or 0.0))

    def _device(self, site: SiteView, name: str, state: str, fault: str | None,
                since: float, now: float) -> list[Decision]:
        view = site.devices.setdefault(name, DeviceView())
        if view.state == state and view.fault == fault:
            return []
        out: list[Decision] = []
        for kind in (DEVICE_OFFLINE, DEVICE_FAULT):
            out += self._end(OutageKey(kind, site.project, site.site, name), since)
        view.state, view.fault, view.since = state, fault, since
        if state == "offline":
            out += self._start(OutageKey(DEVICE_OFFLINE, site.project, site.site, name),
                               since, now)
        elif state == "fault":
            out += self._start(OutageKey(DEVICE_FAULT, site.project, site.site, name),
                               since, now, fault)
        return out

    def _start(self, key: OutageKey, started_at: float, now: float,
               fault: str | None = None) -> list[Decision]:
        if key in self.open:
            return []
        outage = self.open[key] = Outage(key, started_at, now, fault)
        return [OutageStarted(outage)]

    def _end(self, key: OutageKey, ended_at: float) -> list[Decision]:
        outage = self.open.pop(key, None)
        if outage is None:
            return []
        outage.ended_at = max(ended_at, outage.started_at)
        out: list[Decision] = []
        if not outage.incident and outage.ended_at - outage.started_at > self.threshold_s:
            # It lasted long enough but we learned of it late (a replayed event).
            outage.incident = True
            out.append(IncidentDeclared(outage, ended_at))
        out.append(OutageEnded(outage))
        return out
