"""Each gateway's clock as the collector sees it, and heartbeats too old to prove anything.
No I/O; time passed in.

The offset (collector clock minus gateway clock) is estimated from live heartbeats: network
delay only ever adds to ``received - sent``, so the estimate stays close to the smallest
recent sample, while a real clock step gets through at once.

A heartbeat (or live event) delivered long after it was made proves that the agent ran
then, not that the site is reachable now. That happens when a path held the bytes of a
connection that was already dead (a blackhole that heals: the broker lets the old
connection's messages through, then its Will). Such a message, of the connection the site
went silent on (or an older one), must not end the site's outage. A gateway clock set
while its connection lived looks the same at first, but its heartbeats keep arriving in
real time: two of them at least half an interval apart that agree on the new offset are
believed.
"""

from __future__ import annotations

from typing import Protocol

STEP_S = 5.0          # a sample this far from the estimate is a clock step: take it at once
PERSIST_S = 0.5       # how far the estimate moves before it is stored again
AGREE_S = 1.0         # two late samples this close describe one clock step


class ClockedSite(Protocol):
    offset: float | None
    stored_offset: float | None
    late_sample: tuple[float, float] | None
    state: str
    boot: int
    interval_s: float


def update_offset(site: ClockedSite, sample: float) -> bool:
    """Fold in one live heartbeat's ``received - sent``; True when the estimate has moved
    far enough from the stored one to be stored again."""
    if site.offset is None or sample < site.offset or abs(sample - site.offset) > STEP_S:
        site.offset = sample
    else:
        site.offset += (sample - site.offset) * 0.1
    return site.stored_offset is None or abs(site.offset - site.stored_offset) > PERSIST_S


def is_step(site: ClockedSite) -> bool:
    """Is the estimate a clock step from what is stored (from zero before anything is)?
    A step is stored at once, with its heartbeat; a drift waits for the tick."""
    return abs(site.offset - (site.stored_offset or 0.0)) > STEP_S


def local_time(site: ClockedSite, t: float | None, now: float) -> float:
    """A gateway time on the collector's clock (never in the future)."""
    if t is None:
        return now
    return min(now, t + (site.offset or 0.0))


def stale_message(site: ClockedSite, boot: int, sent: float, now: float,
                    window_s: float) -> bool:
    """Is this message too old to count as live (see the module docstring)?"""
    if site.offset is None:
        return False
    sample = now - sent
    if sample - site.offset <= window_s:
        site.late_sample = None
        return False
    if not (boot < site.boot or (boot == site.boot and site.state != "online")):
        return False
    seen = site.late_sample
    if seen is not None and abs(sample - seen[0]) < AGREE_S and \
            now - seen[1] >= 0.5 * site.interval_s:
        site.late_sample = None
        site.offset = sample  # arriving in real time: the gateway's clock was set
        return False
    if seen is None or abs(sample - seen[0]) >= AGREE_S:
        site.late_sample = (sample, now)
    return True
