"""A simulated site: its agent's cores (DeviceMonitor per device, boot and sequence numbers,
an outbox while the link is down, the uplink journal) making real wire messages.

Heartbeats are where a year of a fleet would drown: a healthy site says the same thing every
``interval`` seconds. Between two happenings at a site the runner sends one heartbeat that
announces the next one at the end of the quiet stretch (its ``interval_s`` spans it), and
real heartbeats at their real times and interval around every happening, so the collector
detects silence exactly as it would live (docs/scenarios.md).
"""

from __future__ import annotations

import math
from array import array
from dataclasses import replace

from agent.device import Change, DeviceMonitor, Reading
from parkwatch.core import wire

POLL_S = 1.0  # the agent's default poll interval
OFFLINE_AFTER = 3  # and its default missed polls before a device is offline


class SimSite:
    def __init__(self, project: str, site: str, devices: tuple[str, ...], interval_s: float,
                 phase: float, start: float):
        self.project, self.site = project, site
        self.interval_s, self.phase = interval_s, phase
        self.boot, self.seq = 1, 0
        self.monitors = {d: DeviceMonitor(d, OFFLINE_AFTER) for d in devices}
        for m in self.monitors.values():
            m.observe(start, Reading("ok"))
        self.down: set[str] = set()  # why the link is down: "uplink", "broker"
        self.lost_at: float | None = None  # the uplink journal's open record
        self.outbox: list[wire.Event] = []
        self.changes = array("d")  # happening times at this site (and global ones), sorted
        self.plan = array("q")  # the positions of its events in the scenario's (by start)
        self.plan_i = 0  # the next of them to make happenings of
        self.pending: list[tuple] = []  # a heap of its happenings made and not yet due
        self._ci = 0
        self.beat_gen = 0
        self._reports: dict[str, wire.DeviceReport] | None = None
        self.loss_token = 0

    @property
    def connected(self) -> bool:
        return not self.down

    def next_change(self, t: float) -> float:
        while self._ci < len(self.changes) and self.changes[self._ci] <= t:
            self._ci += 1
        return self.changes[self._ci] if self._ci < len(self.changes) else math.inf

    def beat_before(self, t: float) -> float:
        """The last time on this site's heartbeat grid strictly before ``t``."""
        return self.phase + (math.ceil((t - self.phase) / self.interval_s) - 1) * self.interval_s

    def beat_after(self, t: float) -> float:
        """The first time on the grid strictly after ``t``."""
        return self.phase + (math.floor((t - self.phase) / self.interval_s) + 1) * self.interval_s

    # --- messages ----------------------------------------------------------------------

    def _seq(self) -> int:
        self.seq += 1
        return self.seq

    def heartbeat(self, t: float, interval_s: float) -> wire.Heartbeat:
        devices = self._reports  # the same until a device changes (nothing alters them)
        if devices is None:
            devices = self._reports = {n: wire.DeviceReport(m.state, m.fault, m.since)
                                       for n, m in self.monitors.items()}
        return wire.Heartbeat(self.project, self.site, self.boot, self._seq(), t, interval_s,
                              devices)

    def status(self, state: str, reason: str, t: float) -> wire.Status:
        return wire.Status(self.project, self.site, state, self.boot, t, reason)

    def event(self, t: float, kind: str, **fields) -> wire.Event:
        return wire.Event(self.project, self.site, self.boot, self._seq(), t, kind, **fields)

    def device_change(self, t: float, device: str, reading: Reading | None) -> wire.Event | None:
        """Feed the device's monitor as its poller would; an event if its state changed."""
        monitor = self.monitors[device]
        self._reports = None
        outputs = []
        if reading is None:  # the device stops answering: offline after N missed polls
            for i in range(OFFLINE_AFTER):
                outputs += monitor.observe(t - (OFFLINE_AFTER - 1 - i) * POLL_S, None)
        else:
            outputs += monitor.observe(t, reading)
        changes = [o for o in outputs if isinstance(o, Change)]
        if not changes:
            return None
        change = changes[-1]
        return self.event(t, "device_state", device=device, state=change.state,
                          prev=change.prev, fault=change.fault, since=change.since)

    def reconnect(self, t: float, cause: str) -> list[wire.Message]:
        """Back on the broker: status, a heartbeat, the uplink record, then the outbox."""
        self.boot += 1
        self.seq = 0
        out: list[wire.Message] = [self.status("online", "connect", t),
                                   self.heartbeat(t, self.interval_s)]
        if self.lost_at is not None and t > self.lost_at:
            out.append(self.event(t, "uplink", historical=True, detail={
                "start": self.lost_at, "end": t, "cause": cause,
                "duration_s": t - self.lost_at}))
        self.lost_at = None
        out += [replace(e, historical=True) for e in self.outbox]
        self.outbox = []
        return out
