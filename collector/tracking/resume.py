"""What a starting tracker takes back from an earlier run: the outages it left open, the
site outages it closed lately, each gateway's clock offset and heartbeat interval. Mixed
into ``Tracker``; no I/O, the core reads the rows and hands them in."""

from __future__ import annotations

from collector.tracking import absorption
from collector.tracking.outages import (
    DEVICE_FAULT,
    DEVICE_OFFLINE,
    PLATFORM,
    SITE_NETWORK,
    Decision,
    Outage,
)
from collector.tracking.views import DeviceView


class Resuming:
    def resume(self, outage: Outage) -> list[Decision]:
        """Take back an outage that was open when the collector stopped; returns what that
        decides (an absorbed outage whose site outage is over is released)."""
        outage.absorbed = outage.absorbed_by is not None
        self.open[outage.key] = outage
        if self.platform is not None:
            self.platform.resume(outage)
        if outage.key.kind == PLATFORM:
            self._schedule(outage)
            return []
        site = self.sites.get((outage.key.project, outage.key.site)) or \
            self._new_site(outage.key.project, outage.key.site, "unknown")
        out = absorption.on_resume(self, site, outage)
        self._schedule(outage)
        if outage.key.kind == SITE_NETWORK:
            self._set_state(site, "offline")
            site.last_seen = outage.last_seen_at or outage.started_at
        elif outage.key.kind in (DEVICE_OFFLINE, DEVICE_FAULT):
            state = "offline" if outage.key.kind == DEVICE_OFFLINE else "fault"
            site.devices[outage.key.device] = DeviceView(state, outage.fault, outage.started_at)
        return out

    def resume_clock(self, project: str, site_id: str, offset: float,
                     interval_s: float | None = None) -> None:
        """The gateway's clock offset and heartbeat interval as a previous collector run last
        stored them, so that events delivered before the first live heartbeat are placed
        right, and a site silent from the start is found (``link_restored``)."""
        site = self.sites.get((project, site_id)) or self._new_site(project, site_id, "unknown")
        site.offset = site.stored_offset = offset
        if interval_s is not None and interval_s > 0:
            site.interval_s = site.stored_interval = interval_s

    def resume_closed(self, outage: Outage) -> None:
        """A recently closed site outage, so that a late uplink record can still revise it."""
        outage.absorbed = outage.absorbed_by is not None
        site = self.sites.get((outage.key.project, outage.key.site)) or \
            self._new_site(outage.key.project, outage.key.site, "unknown")
        self._remember(site, outage)
