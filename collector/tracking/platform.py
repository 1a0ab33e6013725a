"""Platform incidents: many sites dropping together is the platform's fault, not theirs.

When at least ``share`` of the sites that were online (and at least ``min_sites`` of them)
lose their network within ``window_s`` of each other, the drop is one platform incident for
the operations centre; each site outage in it is absorbed (no incident of its own, not
charged to its project). No I/O, time passed in.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from collector.tracking.dropwindow import RecentDrops
from collector.tracking.outages import (
    PLATFORM,
    PLATFORM_PROJECT,
    PLATFORM_SITE,
    Absorbed,
    Decision,
    IncidentWithdrawn,
    Outage,
    OutageKey,
    OutageStarted,
)


@dataclass(frozen=True)
class PlatformRule:
    share: float = 0.3
    window_s: float = 15.0
    min_sites: int = 3


@dataclass
class PlatformDetector:
    rule: PlatformRule = field(default_factory=PlatformRule)
    recent: RecentDrops = field(init=False)  # site outages of the last window
    active: Outage | None = None
    members: dict[OutageKey, Outage] = field(default_factory=dict)
    # The members' latest start, as a max-heap of (-started_at, n, outage) checked lazily:
    # ``_near`` costs O(log n), not a scan of every member (100,000 made-up sites).
    _latest: list = field(default_factory=list, repr=False)
    _n: int = 0
    tag: str | None = None  # a partition's detector tags its outage (the key's device)

    def __post_init__(self):
        self.recent = RecentDrops(self.rule.window_s)

    def site_down(self, outage: Outage, online_now: int, now: float) -> list[Decision]:
        """A site outage was detected; ``online_now`` sites are still online."""
        if self.active is not None and self._near(outage.started_at):
            return self._join(outage, now)
        self.recent.add(outage)
        if not self._enough(len(self.recent), online_now) or \
                not self._enough(self.recent.open_count(), online_now):
            return []
        start = self.recent.earliest()
        self.active = Outage(OutageKey(PLATFORM, PLATFORM_PROJECT, PLATFORM_SITE, self.tag),
                             start, now,
                             last_seen_at=start, start_source=outage.start_source)
        out: list[Decision] = [OutageStarted(self.active)]
        for o in self.recent:
            out += self._join(o, now)
        self.recent.clear()
        return out

    def _enough(self, dropped: int, online_now: int) -> bool:
        return dropped >= self.rule.min_sites and \
            dropped >= self.rule.share * (online_now + dropped)

    def site_up(self, outage: Outage) -> Outage | None:
        """A member's outage ended; returns the platform outage when that was its last
        member (the caller ends it)."""
        self.recent.discard(outage)
        if self.members.pop(outage.key, None) is None or self.members:
            return None
        platform, self.active = self.active, None
        self._latest = []
        return platform

    def may_join(self, outage: Outage, online_now: int) -> bool:
        """Could this site outage still become part of a platform incident? Not when too
        few sites are left online for a drop to reach ``min_sites``."""
        if outage.platform_id is not None or outage.absorbed:
            return False
        near = sum(1 for o in self.recent if o.ended_at is None and
                   abs(o.started_at - outage.started_at) <= self.rule.window_s)
        return near + online_now >= self.rule.min_sites

    def resume(self, outage: Outage) -> None:
        if outage.key.kind == PLATFORM:
            self.active = outage
        elif outage.platform_id is not None:
            self.members[outage.key] = outage
            self._track(outage)

    def revised(self, outage: Outage) -> None:
        """A member's start moved (an uplink record)."""
        self.recent.revised(outage)
        if self.members.get(outage.key) is outage:
            self._track(outage)

    def _track(self, outage: Outage) -> None:
        self._n += 1
        heapq.heappush(self._latest, (-outage.started_at, self._n, outage))

    def _near(self, started_at: float) -> bool:
        """Within ``window_s`` after the latest start among the members."""
        heap = self._latest
        while heap:
            neg, _, o = heap[0]
            current = self.members.get(o.key) is o
            if current and o.started_at == -neg:
                return started_at <= -neg + self.rule.window_s
            heapq.heappop(heap)  # left, or its start moved: look at it as it is now
            if current:
                self._track(o)
        return started_at <= self.active.started_at + self.rule.window_s

    def _join(self, outage: Outage, now: float) -> list[Decision]:
        self.members[outage.key] = outage
        self._track(outage)
        outage.absorbed = True
        outage.platform_id = self.active.id
        out: list[Decision] = [Absorbed(outage, self.active)]
        if outage.incident:
            outage.incident, outage.withdrawn = False, True
            out.append(IncidentWithdrawn(outage, now))
        return out
