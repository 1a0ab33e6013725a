"""Absorption: a device or software outage that starts during its site's network outage.

While the site is down its devices' troubles are part of the site's outage: one incident
(the site's), one charge. When the site comes back, each such outage still open is
**released**: from the site's return (``released_at``) it is its own problem, and it becomes
an incident once the part of it after the site's return, as far as the collector saw it, is
longer than the threshold, dated from its own start. A device outage the collector learns of
only after the site came back (the agent's outbox replays it) is released at once; one that
turns out to have ended before the site came back (its recovery replayed too) is absorbed
again, its incident withdrawn if it had one meanwhile. The release is stored
(``outages.released_at``), so a restarted collector carries on from it, and a device outage
left absorbed by a site outage that is over (a database from before this rule) is released
when the collector resumes it. No I/O; time passed in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collector.tracking.outages import (
    PLATFORM,
    SITE_NETWORK,
    Absorbed,
    Decision,
    IncidentWithdrawn,
    Outage,
    OutageKey,
)

if TYPE_CHECKING:
    from collector.tracking.ports import Book, Site


def _site_outage_at(tracker: Book, site: Site, t: float) -> Outage | None:
    """The site's network outage that covers time ``t``, if any (open or recently closed)."""
    o = tracker.open.get(OutageKey(SITE_NETWORK, site.project, site.site))
    if o is not None and t >= o.started_at:
        return o
    for o in reversed(site.recent):
        if o.started_at <= t <= o.ended_at:
            return o
    return None


def on_start(tracker: Book, site: Site, outage: Outage) -> list[Decision]:
    """A device or software outage began: absorbed by the site outage it starts in, or,
    when that one is already over, released at once (it is still down after it)."""
    host = _site_outage_at(tracker, site, outage.started_at)
    if host is None:
        return []
    if host.ended_at is not None:
        outage.released_at = host.ended_at
        return []
    outage.absorbed = True
    return [Absorbed(outage, host)]


def release(tracker: Book, site: Site, ended: Outage) -> list[Decision]:
    """The site's outage ``ended``: the outages it absorbed that are still open are released."""
    out: list[Decision] = []
    for outage in list(tracker.open.values()):
        k = outage.key
        if k.project == site.project and k.site == site.site and outage.absorbed and \
                k.kind not in (SITE_NETWORK, PLATFORM):
            outage.absorbed, outage.released_at = False, ended.ended_at
            out.append(Absorbed(outage, None))
            tracker.schedule(outage)
    return out


def end(tracker: Book, site: Site, key: OutageKey, at: float, source: str,
        now: float) -> list[Decision]:
    """End a device or software outage; one released that ended before its site outage did
    was part of it after all."""
    out = tracker.end_outage(key, at, source, now)
    if not out:
        return out
    outage = out[-1].outage
    if outage.released_at is None:
        return out
    host = _site_outage_at(tracker, site, outage.started_at)
    if host is None or host.ended_at is None or outage.ended_at > host.ended_at:
        return out
    outage.absorbed, outage.released_at = True, None
    out.append(Absorbed(outage, host))
    if outage.incident:
        outage.incident, outage.withdrawn = False, True
        out.append(IncidentWithdrawn(outage, now))
    return out


def on_resume(tracker: Book, site: Site, outage: Outage) -> list[Decision]:
    """An open device or software outage taken back after a restart: still absorbed only
    while the site outage that absorbed it is open (resumed before it: ids grow)."""
    if not outage.absorbed or outage.key.kind in (SITE_NETWORK, PLATFORM):
        return []
    host = tracker.open.get(OutageKey(SITE_NETWORK, site.project, site.site))
    if host is not None and host.id == outage.absorbed_by:
        return []
    closed = next((o for o in site.recent if o.id == outage.absorbed_by), None)
    outage.absorbed = False
    outage.released_at = closed.ended_at if closed is not None else None
    return [Absorbed(outage, None)]
