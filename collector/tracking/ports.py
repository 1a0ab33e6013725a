"""What the outage rules outside the tracker (uplink records, absorption) see of it.

``collector.tracking.uplink`` and ``collector.tracking.absorption`` work on the tracker's
outages and sites but do not import the tracker (which imports them): they are typed with
these protocols and change the book only through its public operations. ``Tracker``
satisfies both (``OutageBook`` gives the outage operations, the tracker the site ones).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collector.tracking.heard import HeardSpans
    from collector.tracking.outages import Decision, Outage, OutageKey
    from collector.tracking.platform import PlatformDetector


class Site(Protocol):
    """One site as the tracker keeps it (``tracker.SiteView``)."""

    project: str
    site: str
    interval_s: float
    offset: float | None  # collector clock minus gateway clock
    recent: list[Outage]  # closed site outages, newest last
    heard: HeardSpans  # live heartbeats


class Book(Protocol):
    """The open outages and what may be done to them."""

    open: dict[OutageKey, Outage]
    threshold_s: float
    silence_factor: float
    platform: PlatformDetector | None

    def end_outage(self, key: OutageKey, ended_at: float, source: str,
                   now: float) -> list[Decision]: ...

    def qualifies(self, outage: Outage, now: float) -> bool: ...

    def declare(self, outage: Outage, now: float) -> list[Decision]: ...

    def schedule(self, outage: Outage) -> None: ...

    def visible(self, outage: Outage, now: float) -> float: ...

    def set_state(self, site: Site, state: str) -> None: ...

    def remember(self, site: Site, outage: Outage) -> None: ...
