"""Liveness of sites and devices, and the outages they go through. No I/O; time passed in.

The tracker takes validated wire messages with the collector's receive time ``now`` and
returns decisions (an outage began, ended, was revised, became an incident, changed grade)
for a shell to store. Times inside messages are the gateway's clock; the tracker converts
them to the collector's clock with a per-site offset estimated from live heartbeats, so a
gateway whose clock is an hour off still yields correct outage times.

Deadlines (a silent site, an outage due to become an incident, a grade boundary) sit in
heaps, so ``tick`` costs only what is due: the same code serves a live collector ticking
four times a second and a year of a fleet on a virtual clock.
"""

from __future__ import annotations

import heapq

from collector.tracking import absorption
from collector.tracking.clocks import is_step, local_time, stale_message, update_offset
from collector.tracking.lifecycle import OutageBook
from collector.tracking.outages import (
    DEVICE_FAULT,
    DEVICE_OFFLINE,
    SITE_NETWORK,
    SOFTWARE_DOWN,
    Decision,
    IncidentDeclared,
    Outage,
    OutageEnded,
    OutageKey,
    OutageStarted,
    SiteClock,
    SiteEvent,
)
from collector.tracking.platform import PlatformDetector, PlatformRule
from collector.tracking.resume import Resuming
from collector.tracking.uplink import apply_uplink_record
from collector.tracking.views import DeviceView, SiteView
from parkwatch.core import wire

__all__ = ["DEVICE_FAULT", "DEVICE_OFFLINE", "SITE_NETWORK", "SOFTWARE_DOWN", "DeviceView",
           "IncidentDeclared", "Outage", "OutageEnded", "OutageKey", "OutageStarted",
           "SiteView", "Tracker"]

RECENT_CLOSED = 8  # closed site outages kept per site for late uplink records


class Tracker(Resuming, OutageBook):
    """Sites and devices from messages to outages. ``silence_factor`` missed heartbeat
    intervals make a silent site down."""

    def __init__(self, threshold_s: float = 60.0, silence_factor: float = 3.0,
                 platform: PlatformRule | None = None):
        super().__init__(threshold_s)
        self.silence_factor = silence_factor
        self.platform = PlatformDetector(platform) if platform else None
        self.sites: dict[tuple[str, str], SiteView] = {}
        self.online = 0  # sites currently online
        self.blind = False  # the collector cannot see the broker: silence means nothing
        # When it last could see again: silence counts from here at the earliest, also for
        # a message received before and handled after (a site new then, say).
        self._restored = float("-inf")
        self._silence: list[tuple[float, tuple[str, str]]] = []

    # --- input ---------------------------------------------------------------------------

    def receive(self, msg: wire.Message, now: float) -> list[Decision]:
        site = self.sites.get((msg.project, msg.site))
        if site is None:
            site = self._new_site(msg.project, msg.site, "unknown")
        if isinstance(msg, wire.Status) and msg.state == "offline":
            if msg.boot < site.boot:
                return []  # the Will of a connection a newer one already replaced
            return self._site_down(site, now, "will")
        out: list[Decision] = []
        clock = step = False  # a SiteClock to store, first of the decisions
        historical = getattr(msg, "historical", False)
        if not historical and (site.state != "online" or msg.boot < site.boot) and \
                not isinstance(msg, wire.Status) and stale_message(
                    site, msg.boot, msg.ts, now, self.silence_factor * site.interval_s):
            historical = True  # made while the site was cut off, let through late
        if not historical:
            if site.last_seen is None or now > site.last_seen:  # one handled late: older
                site.last_seen = now
            site.unheard = False
            if isinstance(msg, wire.Heartbeat):
                site.heard.add(msg.boot, now, 2 * msg.interval_s)
            # A retained status may be old: only heartbeats tell the gateway's clock.
            if isinstance(msg, wire.Heartbeat) and update_offset(site, now - msg.ts):
                step = is_step(site)
                site.stored_offset = site.offset
                clock = True
        if msg.boot > site.boot:
            site.boot = msg.boot
        if site.state != "online" and not historical:
            out += self._site_up(site, now, msg.boot)
        if isinstance(msg, wire.Heartbeat):
            if msg.interval_s != site.interval_s:
                site.interval_s = msg.interval_s
                self._arm_silence(site)
            if not historical and site.stored_interval != msg.interval_s and \
                    site.offset is not None:
                clock = True
            devices = site.devices
            for name, rep in msg.devices.items():
                view = devices.get(name)
                if view is None or view.state != rep.state or view.fault != rep.fault:
                    out += self._device(site, name, rep.state, rep.fault,
                                        self._local(site, rep.since, now), now)
        elif isinstance(msg, wire.Event):
            out += self._event(site, msg, now)
        if clock:
            site.stored_interval = site.interval_s
            out.insert(0, SiteClock(site.project, site.site, site.offset, site.interval_s,
                                    step))
        return out

    def tick(self, now: float) -> list[Decision]:
        """Silent sites go down; outages past the threshold become incidents; grades move."""
        out: list[Decision] = []
        heap = self._silence
        while heap and not self.blind and heap[0][0] < now:
            when, key = heapq.heappop(heap)
            site = self.sites[key]
            if site.armed_at != when:
                continue  # superseded by a later entry
            site.armed_at = None
            if site.state != "online" or site.last_seen is None:
                continue
            if now - max(site.last_seen, self._restored) > \
                    self.silence_factor * site.interval_s:
                out += self._site_down(site, now, "silence")
            else:
                self._arm_silence(site)
        return out + self._tick_outages(now)

    def link_lost(self, now: float) -> None:
        """The collector lost the broker: from now on silence is unknown, not down."""
        self.blind = True
        if self.seen and self.seen[-1][1] is None:
            self.seen[-1][1] = now

    def link_restored(self, now: float) -> None:
        """Back on the broker: every site gets a fresh silence allowance from now."""
        self.blind = False
        self._restored = now
        if self.seen is not None:
            self.seen.append([now, None])
            del self.seen[:-64]
        for site in self.sites.values():
            if site.state == "unknown" and site.last_seen is None and \
                    site.stored_interval is not None:
                # known to an earlier run, not down then, not heard yet: watched from now,
                # so one that fell silent while nobody watched is down after its allowance
                self._set_state(site, "online")
                site.unheard = True
                site.last_seen = now
                self._arm_silence(site)
            elif site.state == "online" and site.last_seen is not None:
                site.last_seen = max(site.last_seen, now)
                self._arm_silence(site)

    def next_deadline(self) -> float | None:
        """The earliest time at which ``tick`` could decide something."""
        due, silence = self._due, self._silence
        d = due[0][0] if due else None
        if silence and not self.blind and (d is None or silence[0][0] < d):
            d = silence[0][0]
        return d

    # --- sites ---------------------------------------------------------------------------

    def _new_site(self, project: str, site_id: str, state: str) -> SiteView:
        site = self.sites[(project, site_id)] = SiteView(project, site_id, state)
        if state == "online":
            self.online += 1
        return site

    def _set_state(self, site: SiteView, state: str) -> None:
        if site.state == state:
            return
        self.online += (state == "online") - (site.state == "online")
        site.state = state

    def _arm_silence(self, site: SiteView) -> None:
        if site.last_seen is None or site.state != "online":
            return
        deadline = max(site.last_seen, self._restored) + self.silence_factor * site.interval_s
        if site.armed_at is None or deadline < site.armed_at:
            site.armed_at = deadline
            heapq.heappush(self._silence, (deadline, (site.project, site.site)))

    def _site_down(self, site: SiteView, now: float, detected_by: str) -> list[Decision]:
        self._set_state(site, "offline")
        site.armed_at = None
        key = OutageKey(SITE_NETWORK, site.project, site.site)
        if key in self.open:
            return []
        if site.last_seen is None:  # never heard since the collector started: unknown before
            start, source = now, "collector_start"
        elif site.unheard:  # watched from the start, never heard: unknown before the start
            start, source = site.last_seen, "collector_start"
        else:
            start, source = site.last_seen, "last_message"
        outage = Outage(key, start, now, last_seen_at=None if site.unheard else site.last_seen,
                        start_source=source)
        outage.detected_by = detected_by
        out = self._start(outage)
        if self.platform is not None:
            found = self.platform.site_down(outage, self.online, now)
            for d in found:
                if isinstance(d, OutageStarted):  # a platform incident began
                    self.open[d.outage.key] = d.outage
                    self._schedule(d.outage)
            out += found
        return out

    def _site_up(self, site: SiteView, now: float, boot: int | None = None) -> list[Decision]:
        self._set_state(site, "online")
        self._arm_silence(site)
        key = OutageKey(SITE_NETWORK, site.project, site.site)
        out = self._end(key, now, "message", now)
        if out:
            ended = out[-1].outage
            ended.end_boot = boot  # the connection whose uplink record will describe it
            self._remember(site, ended)
            out += absorption.release(self, site, ended)
            platform = self.platform.site_up(ended) if self.platform else None
            if platform is not None:
                out += self._end(platform.key, ended.ended_at, "message", now)
        return out

    def _remember(self, site: SiteView, outage: Outage) -> None:
        site.recent.append(outage)
        if len(site.recent) > RECENT_CLOSED:
            del site.recent[0]

    set_state, remember = _set_state, _remember  # for the rules in ports.Book's terms

    # --- events and devices ----------------------------------------------------------------

    def _event(self, site: SiteView, msg: wire.Event, now: float) -> list[Decision]:
        if msg.kind == "device_state":
            return self._device(site, msg.device, msg.state, msg.fault,
                                self._local(site, msg.since, now), now)
        if msg.kind == "software":
            key = OutageKey(SOFTWARE_DOWN, site.project, site.site,
                            _process_id(msg.detail.get("process")))
            at = self._local(site, msg.since if msg.since is not None else msg.ts, now)
            if msg.state == "ok":
                return absorption.end(self, site, key, at, "device_event", now)
            return self._start(Outage(key, at, now, fault=msg.fault, last_seen_at=at,
                                      start_source="device_event"), site)
        at = self._local(site, msg.since if msg.since is not None else msg.ts, now)
        out: list[Decision] = [SiteEvent(site.project, site.site, msg.kind, at, msg.device,
                                         dict(msg.detail))]
        if msg.kind == "uplink":
            out += apply_uplink_record(self, site, msg, now)
        return out

    def _device(self, site: SiteView, name: str, state: str, fault: str | None,
                since: float, now: float) -> list[Decision]:
        view = site.devices.setdefault(name, DeviceView())
        if view.state == state and view.fault == fault:
            return []
        out: list[Decision] = []
        for kind in (DEVICE_OFFLINE, DEVICE_FAULT):
            out += absorption.end(self, site, OutageKey(kind, site.project, site.site, name),
                                  since, "device_event", now)
        view.state, view.fault, view.since = state, fault, since
        if state in ("offline", "fault"):
            kind = DEVICE_OFFLINE if state == "offline" else DEVICE_FAULT
            out += self._start(Outage(OutageKey(kind, site.project, site.site, name), since,
                                      now, fault, last_seen_at=since,
                                      start_source="device_event"), site)
        return out

    # --- outages ---------------------------------------------------------------------------

    def _start(self, outage: Outage, site: SiteView | None = None) -> list[Decision]:
        if outage.key in self.open:
            return []
        self.open[outage.key] = outage
        out: list[Decision] = [OutageStarted(outage)]
        if site is not None:  # a device or software outage: its site may be down
            out += absorption.on_start(self, site, outage)
        self._schedule(outage)
        return out

    def _maybe_declare(self, outage: Outage, now: float) -> list[Decision]:
        if not self._qualifies(outage, now):
            return super()._maybe_declare(outage, now)
        if outage.key.kind == SITE_NETWORK and self.platform is not None and \
                now - outage.detected_at <= self.platform.rule.window_s and \
                self.platform.may_join(outage, self.online):
            self._push(outage.detected_at + self.platform.rule.window_s, "declare", outage)
            return []  # give the platform detector its window first
        return self._declare(outage, now)

    @staticmethod
    def _local(site: SiteView, t: float | None, now: float) -> float:
        return local_time(site, t, now)


def _process_id(name) -> str:
    """A software outage is keyed by its process name, as a device would be."""
    return str(name or "software")[:64]
