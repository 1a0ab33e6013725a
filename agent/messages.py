"""The agent's messages (pure): status, heartbeats and events built from the pollers' state.

No I/O and no locks: the caller gives the sequence number, the gateway's health reading
and its own counters; ``emit`` in ``agent/service.py`` stamps an event's boot and seq.
"""

from __future__ import annotations

from agent.boot import PersistentCounter
from agent.device import Change, IntercomCall, LoopTimeout, Output
from agent.poller import DevicePoller
from agent.procwatch import SoftwareChange
from agent.uplink import ClockOffset, UplinkPeriod
from parkwatch.core import wire


class Messages:
    def __init__(self, project: str, site: str, heartbeat_interval_s: float,
                 boot: PersistentCounter, offset: ClockOffset, clock):
        self.project = project
        self.site = site
        self.heartbeat_interval_s = heartbeat_interval_s
        self.boot = boot
        self.offset = offset
        self.clock = clock

    def status(self, state: str, reason: str) -> wire.Status:
        return wire.Status(self.project, self.site, state, self.boot.value, self.clock(), reason)

    def health_extra(self, pollers: list[DevicePoller], **counters) -> dict:
        """The heartbeat's health fields besides the gateway's own: ``counters`` (outbox,
        errors), the clock offset when known, and the pollers' recent errors."""
        extra = dict(counters)
        if self.offset.value is not None:
            extra["clock_offset_s"] = round(self.offset.value, 3)
        errors = {p.dev.name: e for p in pollers if (e := p.errors())}
        if errors:
            extra["poll_errors"] = errors
        return extra

    def heartbeat(self, seq: int, pollers: list[DevicePoller], health: dict) -> wire.Heartbeat:
        devices = {p.dev.name: wire.DeviceReport(**p.monitor.report()) for p in pollers}
        return wire.Heartbeat(self.project, self.site, self.boot.value, seq, self.clock(),
                              self.heartbeat_interval_s, devices, health=health)

    def event(self, kind: str, **fields) -> wire.Event:
        """An event to hand to ``emit``, which gives it its boot and seq."""
        return wire.Event(self.project, self.site, 0, 0, self.clock(), kind, **fields)

    def device_event(self, out: Output) -> wire.Event:
        """The event for one output of a device's monitor (a change, a loop timeout, a call)."""
        if isinstance(out, LoopTimeout):
            detail = {"lane": out.lane, "occupied_s": round(out.at - out.since, 3)}
            if out.channel is not None:
                detail["channel"] = out.channel
            return self.event("loop_timeout", device=out.device, since=out.since,
                              detail=detail)
        if isinstance(out, IntercomCall):
            detail = {"lane": out.lane, "at": out.at}
            if out.channel is not None:
                detail["channel"] = out.channel
            return self.event("intercom", device=out.device, since=out.at, detail=detail)
        change: Change = out
        return self.event("device_state", device=change.device, state=change.state,
                          prev=change.prev, fault=change.fault, since=change.since,
                          severity=change.severity,
                          detail={"channel": change.channel} if change.channel else {})

    def software_event(self, change: SoftwareChange) -> wire.Event:
        return self.event("software", state=change.state, prev=change.prev,
                          since=change.since, detail=change.detail)

    def uplink_event(self, period: UplinkPeriod, **extra) -> wire.Event:
        return self.event("uplink", since=period.start,
                          detail={**period.detail(self.offset.value), **extra})
