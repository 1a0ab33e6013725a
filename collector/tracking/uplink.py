"""The agent's uplink record replaces the collector's estimate of a site outage.

An ``uplink`` event (docs/wire.md) is the agent's own journal of a period it could not reach
the broker, sent after it reconnected: ``detail.start``/``detail.end`` on the gateway clock,
``detail.cause``, optionally ``detail.offset_s`` (true time minus gateway clock). It is better
evidence than anything the collector inferred from silence, so it replaces the start and end
of the matching site outage, even one closed long ago, and may turn it into an incident or
below the threshold. A record nobody noticed (too short for silence detection, or while the
collector was away) becomes an outage of its own. No I/O, time passed in.

Which outage a record describes: first the one the record's own connection ended (the
record is sent under the ``boot`` of the connection that ended the period, and so was the
first message the collector heard after it); otherwise the one it overlaps most, within a
slack of a few heartbeat intervals. An outage another record already explains is matched
only by a record that truly overlaps it: the uplink flapping while the collector was away
gives one outage per cut, not one outage moved to the last cut.

How a record changes the outage: an outage still carrying the collector's estimates takes
the record's times. One already refined by a record (the agent restarted during the outage
and sent one record per process) grows to cover both. A record's start is exact only when
the agent saw its connection end (``detail.lost``); a record that begins at the agent's own
start never moves the collector's earlier start later. A record of a process that died
(``detail.interrupted``) ends at its last failed attempt, so its end only ever extends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collector.tracking.outages import (
    SITE_NETWORK,
    Absorbed,
    Decision,
    GradeChanged,
    IncidentWithdrawn,
    Outage,
    OutageEnded,
    OutageKey,
    OutageRevised,
    OutageStarted,
    grade,
)
from parkwatch.core import wire

if TYPE_CHECKING:
    from collector.tracking.ports import Book, Site

SOURCE = "uplink_record"


def record_period(site: Site, msg: wire.Event, now: float) -> tuple[float, float] | None:
    """The record's period on the collector's clock (never in the future), without the time
    the collector heard the site's live heartbeats (collector/tracking/heard.py); None when that
    leaves nothing of it."""
    offset = msg.detail.get("offset_s")
    if offset is None:
        offset = site.offset or 0.0
    start = min(float(msg.detail["start"]) + offset, now)
    end = min(float(msg.detail["end"]) + offset, now)
    return site.heard.clip(start, max(start, end))


def _match(tracker: Book, site: Site, boot: int, start: float,
           end: float) -> Outage | None:
    """The site outage the record describes (see the module docstring), or None."""
    candidates = list(site.recent)
    current = tracker.open.get(OutageKey(SITE_NETWORK, site.project, site.site))
    if current is not None:
        candidates.append(current)
    slack = tracker.silence_factor * site.interval_s + 5.0

    def overlap(o: Outage) -> float:  # negative: the gap between them
        o_end = o.ended_at if o.ended_at is not None else float("inf")
        return min(end, o_end) - max(start, o.started_at)

    candidates = [o for o in candidates if not merged(o)]
    for o in reversed(candidates):  # its connection came up when the record ends
        if o.end_boot == boot and o.ended_at is not None and end <= o.ended_at + slack:
            return o
    best, best_overlap = None, -slack
    for o in candidates:
        overlap_s = overlap(o)
        explained = o.start_source == SOURCE or (o.end_boot is not None and o.end_boot != boot)
        if explained and overlap_s <= 0:
            continue  # another connection's period: this record is a different outage
        if overlap_s >= best_overlap:
            best, best_overlap = o, overlap_s
    return best


def apply_uplink_record(tracker: Book, site: Site, msg: wire.Event,
                        now: float) -> list[Decision]:
    period = record_period(site, msg, now)
    if period is None or period[1] <= period[0]:
        return []
    start, end = period
    outage = _match(tracker, site, msg.boot, start, end)
    if outage is None:
        return _new_outage(tracker, site, msg.boot, start, end, now)
    outage, out = _merge(tracker, site, outage, start, end, now)
    # ``lost: null`` (not just absent): the agent never had the connection in this process
    exact_start = "lost" not in msg.detail or msg.detail["lost"] is not None
    exact_end = not msg.detail.get("interrupted")
    if (exact_start and outage.start_source != SOURCE) or start < outage.started_at:
        outage.started_at, outage.start_source = start, SOURCE
        if tracker.platform is not None:
            tracker.platform.revised(outage)
    if outage.ended_at is None:  # the link was back at ``end``: the outage is over
        out += tracker.end_outage(outage.key, end, SOURCE, now)
        outage.end_boot = msg.boot
        tracker.set_state(site, "online")
        tracker.remember(site, outage)
        out.insert(0, OutageRevised(outage))
        return out
    if (exact_end and outage.end_source != SOURCE) or end > outage.ended_at:
        outage.ended_at, outage.end_source = max(end, outage.started_at), SOURCE
    out.append(OutageRevised(outage))
    return out + _reassess(tracker, outage, now)


def merged(outage: Outage) -> bool:
    """Absorbed into another site outage of the same period (not into a platform's)."""
    return outage.absorbed and outage.platform_id is None


def _merge(tracker: Book, site: Site, outage: Outage, start: float, end: float,
           now: float) -> tuple[Outage, list[Decision]]:
    """The record is one period without a connection: every other site outage inside it is
    the same outage, however the collector came to split it (a healed blackhole lets the
    dead connection's last messages through, then the broker's Will). The one the
    collector saw first stays, with the record's times; the others are absorbed into it
    (no incident of their own, not counted twice)."""
    current = tracker.open.get(outage.key)
    others = {id(o): o for o in [*site.recent, *([current] if current else [])]
              if o is not outage and not o.absorbed and o.key == outage.key
              and min(end, o.ended_at if o.ended_at is not None else now)
              - max(start, o.started_at) > 0}
    if not others:
        return outage, []
    group = sorted([outage, *others.values()], key=lambda o: (o.detected_at, o.started_at))
    keep, out = group[0], []
    keep.end_boot = outage.end_boot
    for o in group[1:]:
        o.absorbed = True
        if o.ended_at is None:
            out += tracker.end_outage(o.key, end, SOURCE, now)
            tracker.remember(site, o)
        out.append(Absorbed(o, keep))
        if o.incident:
            o.incident, o.withdrawn = False, True
            out.append(IncidentWithdrawn(o, now))
    return keep, out


def _reassess(tracker: Book, outage: Outage, now: float) -> list[Decision]:
    """A closed outage's length changed: declare it, withdraw it, or regrade it."""
    if tracker.qualifies(outage, now):
        return tracker.declare(outage, now)
    if outage.incident and tracker.visible(outage, now) <= tracker.threshold_s:
        outage.incident, outage.withdrawn = False, True
        return [IncidentWithdrawn(outage, now)]
    if outage.incident:
        g = grade(outage.duration(now))
        if g != outage.grade:
            outage.grade = g
            return [GradeChanged(outage, g)]
    return []


def _new_outage(tracker: Book, site: Site, boot: int, start: float, end: float,
                now: float) -> list[Decision]:
    outage = Outage(OutageKey(SITE_NETWORK, site.project, site.site), start, now,
                    last_seen_at=start, start_source=SOURCE, detected_by=SOURCE,
                    ended_at=end, end_source=SOURCE, end_boot=boot)
    tracker.remember(site, outage)
    out: list[Decision] = [OutageStarted(outage)]
    if tracker.qualifies(outage, now):
        out += tracker.declare(outage, now)
    out.append(OutageEnded(outage))
    return out
