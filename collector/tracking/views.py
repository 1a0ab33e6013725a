"""What the tracker knows of each site and device between messages."""

from __future__ import annotations

from dataclasses import dataclass, field

from collector.tracking.heard import HeardSpans
from collector.tracking.outages import Outage


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
    stored_offset: float | None = None  # the offset as last stored (SiteClock)
    stored_interval: float | None = None  # the heartbeat interval as last stored (SiteClock)
    # known from an earlier run (a stored interval) and watched since the collector could
    # see, but not heard yet this run: its silence counts from then (link_restored)
    unheard: bool = False
    late_sample: tuple[float, float] | None = None  # a late heartbeat: (sample, received)
    devices: dict[str, DeviceView] = field(default_factory=dict)
    recent: list[Outage] = field(default_factory=list)  # closed site outages, newest last
    heard: HeardSpans = field(default_factory=HeardSpans)  # live heartbeats (heard.py)
    armed_at: float | None = None  # deadline of this site's entry in the silence heap
