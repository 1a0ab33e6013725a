"""The collector's cores wired together: tracker decisions applied to the store.

One object owns the tracker and the database connection; the MQTT shell (``ingest``) and
the scenario runner both drive it, so a year on a virtual clock runs the very code a live
collector runs. Every method takes ``now``.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from collector.config import CollectorConfig
from collector.fleet.partitions import partition_of
from collector.fleet.registry import RELOAD_S, Fleet, config_sites
from collector.storage_guard import sound_outage
from collector.store import Store
from collector.tracking.lag import BEHIND, CAUGHT_UP, LagRule
from collector.tracking.outages import PLATFORM, Decision, Outage, SiteClock
from collector.tracking.plausible import Gate
from collector.tracking.tracker import Tracker
from collector.tracking.uplink import record_period
from parkwatch.core import wire

RESUME_CLOSED_S = 2 * 86400  # closed site outages a late uplink record may still revise
log = logging.getLogger("parkwatch.collector")


def _sound(outages: list[Outage]) -> list[Outage]:
    """Outages to resume; one whose stored times are poison (-1e13, a string) is logged and
    left out, so it cannot stop the collector from starting."""
    out = []
    for o in outages:
        if sound_outage(o):
            out.append(o)
        else:
            log.error("not resuming outage %s: its stored times cannot be used (started_at "
                      "%r, ended_at %r)", o.id, o.started_at, o.ended_at)
    return out


@dataclass(frozen=True)
class Partition:
    """The partition a core acts for: ``number`` of ``count``, under lease ``epoch``."""

    number: int
    count: int
    epoch: int

    def holds(self, project: str, site: str) -> bool:
        return partition_of(project, site, self.count) == self.number

    @property
    def tag(self) -> str:
        return f"partition-{self.number}"


def _ours(outage: Outage, partition: Partition | None) -> bool:
    k = outage.key
    if k.kind == PLATFORM:  # one per partition, tagged with it (or none: the whole fleet)
        return k.device == (partition.tag if partition else None)
    return partition is None or partition.holds(k.project, k.site)


class Core:
    def __init__(self, cfg: CollectorConfig, store: Store, now: float, live: bool = True,
                 reject=None, partition: Partition | None = None):
        """``live``: a real process, which may die at any moment, so it vouches for its
        sight every ``alive_interval_s`` and at every decision. A simulated collector stops
        only when told, and records its sight exactly then. ``reject(source, problem,
        code)`` counts a refused message: one of a site the fleet registry does not know,
        or one the plausibility gate turned away (by default into ``self.rejected``, by
        code). ``partition``: this core acts for that partition's sites only (their open
        outages, clocks and sight; a run of its own under the lease's epoch)."""
        self.gate = Gate(cfg.plausibility)
        self.partition = partition
        mine = partition.holds if partition else (lambda project, site: True)
        self.cfg = cfg
        self.live = live
        self.store = store
        self.tracker = Tracker(cfg.outage_threshold_s, cfg.site_silence_factor, cfg.platform)
        if partition and self.tracker.platform:  # each partition's mass drop is its own
            self.tracker.platform.tag = partition.tag
        self.received = 0
        self.duplicates = 0
        self._next_alive = 0.0
        self.lag = LagRule()  # behind what it was sent: unknown time (tracking/lag.py)
        self._linked = False  # connected to the broker (link_up, link_down)
        # Clock offsets to store, written by the next tick in its one transaction: not a
        # commit per heartbeat (an offset only places events before the first heartbeat
        # after a restart; one tick's worth lost to a crash is re-learnt at once).
        self._clocks: dict[tuple[str, str], SiteClock] = {}
        # Only sites of the fleet registry are heard (collector/fleet/registry.py).
        self.fleet = Fleet(store.db, config_sites(cfg))
        self._next_fleet = now + RELOAD_S
        self.rejected: Counter[str] = Counter()
        self._reject = reject or (lambda source, problem, code: self.rejected.update([code]))
        for name, p in cfg.projects.items():
            store.ensure_project(name, p.timezone, p.budget_minutes, cfg.outage_threshold_s,
                                 replace=True)
        self._projects = store.project_names()
        # Blind until connected; what it saw before (earlier runs) still counts as seen.
        self.tracker.blind = True
        number = partition.number if partition else None
        self.tracker.seen = store.sight_since(now - RESUME_CLOSED_S, number)
        for project, site, offset, interval_s in store.site_clocks():
            if mine(project, site):  # (a site gone from the fleet is not watched for)
                self.tracker.resume_clock(project, site, offset, interval_s if
                                          (project, site) in self.fleet.sites else None)
        for outage in _sound(store.recent_site_outages(now - RESUME_CLOSED_S)):
            if mine(outage.key.project, outage.key.site):
                self.tracker.resume_closed(outage)
        resumed = []  # what taking them back decides (a release), stored at once
        for outage in _sound(store.open_outages()):
            if _ours(outage, partition):
                resumed += self.tracker.resume(outage)
        store.apply(resumed)
        self.run_id = store.begin_run(now, number, partition.epoch if partition else None)

    def handle(self, msg: wire.Message, now: float, shed: int = 0) -> list[Decision]:
        """One validated message received at ``now``; duplicates of events are dropped.
        ``shed``: heartbeats of the site the inbox replaced by this one (collector/tracking/lag.py).

        An event's delivery mark and the decisions it caused are one transaction: a
        collector killed in between has stored neither, so the broker's redelivery (the
        shell acknowledges a message only after this returns) is not taken for a copy.
        An implausible message (collector/tracking/plausible.py) changes nothing and is counted.
        """
        msg = self.fleet.admit(msg, self._reject)  # first: made-up sites get no state at all
        if msg is None:
            return []
        site = self.tracker.sites.get((msg.project, msg.site))
        if self.live and site is not None and site.state == "online" and \
                not isinstance(msg, wire.Status) and not getattr(msg, "historical", False):
            # A gap in an online site's numbers is a lost message (collector/tracking/lag.py); one
            # back from an outage had its own reasons.
            self.lag.heard((msg.project, msg.site), msg.boot, msg.seq, shed)
        verdict = self.gate.check(msg, now, site.offset if site is not None else None)
        if not verdict.ok:
            self._reject(f"{msg.project}/{msg.site}", verdict.problem, verdict.reason)
            return []
        msg = verdict.msg
        if isinstance(msg, wire.Event) and msg.kind == "uplink" and site is not None and \
                record_period(site, msg, now) is None:
            self._reject(f"{msg.project}/{msg.site}", "uplink record covers only time the "
                         "collector heard the site's heartbeats", "uplink_heard")
            return []
        self.received += 1
        if msg.project not in self._projects:
            p = self.cfg.project(msg.project)
            self.store.ensure_project(msg.project, p.timezone, p.budget_minutes,
                                      self.cfg.outage_threshold_s)
            self._projects.add(msg.project)
        if isinstance(msg, wire.Event):
            with self.store.transaction():
                if not self.store.first_delivery(msg.project, msg.site, msg.boot, msg.seq,
                                                 now):
                    self.duplicates += 1
                    return []
                return self._decide(msg, now)
        return self._decide(msg, now)  # the hot path: heartbeats decide nothing mostly

    def _decide(self, msg: wire.Message, now: float) -> list[Decision]:
        decisions = self.tracker.receive(msg, now)
        if not decisions:
            return decisions
        rest = decisions
        if self.live and type(decisions[0]) is SiteClock:  # the tracker puts it first
            clock = decisions[0]
            if clock.step:  # a gateway clock set: stored now, or a kill -9 before the next
                self._clocks.pop((clock.project, clock.site), None)  # tick would lose it
            else:
                self._clocks[(clock.project, clock.site)] = clock  # stored by the next tick
                rest = decisions[1:]
                if not rest:
                    return decisions  # the hot path's only write, now one per tick
        with self.store.transaction():
            self.store.apply(rest)
            if self.live:
                self._alive(now)  # what it decided, it saw: vouch for it at once
        return decisions

    def tick(self, now: float, read_to: float | None = None,
             unread: int = 0) -> list[Decision]:
        """``read_to``: the time up to which every message received has been handled (the
        oldest one waiting was received then; default ``now``), ``unread`` the bytes
        waiting unread in the socket. Silence counts only up to ``read_to``, and while the
        collector is behind (collector/tracking/lag.py) it is unknown time, as without the
        broker."""
        read_to = now if read_to is None else min(now, read_to)
        if self.live and now >= self._next_fleet:  # sites added or removed meanwhile
            self._next_fleet = now + RELOAD_S
            self.fleet.reload()
        with self.store.transaction():  # one commit per tick, whatever it stores
            if self.live:  # a simulated collector is never behind
                self._lag(now, read_to, unread)
            decisions = self.tracker.tick(read_to)
            self.store.apply(decisions)
            if self._clocks:
                self.store.apply(list(self._clocks.values()))
                self._clocks.clear()
            if self.live and (decisions or now >= self._next_alive):
                self._alive(read_to)  # it vouches only for what it has read
        return decisions

    def _lag(self, now: float, read_to: float, unread: int) -> None:
        change = self.lag.check(now, read_to, unread)
        if change is None or not self._linked:
            return
        if change == BEHIND:
            log.warning("the collector is %.1f s behind (%d bytes unread): unknown time "
                        "from %.3f until it catches up", self.lag.lag_s, unread, read_to)
            self.store.link_down(self.run_id, read_to)
            self.tracker.link_lost(read_to)
        elif change == CAUGHT_UP:
            log.warning("the collector caught up; seeing again from %.3f", read_to)
            self.store.link_up(self.run_id, read_to)
            self.tracker.link_restored(read_to)

    def _alive(self, now: float) -> None:
        self.store.alive(self.run_id, now)
        self._next_alive = now + self.cfg.alive_interval_s

    def link_up(self, now: float) -> None:
        self._linked = True
        self.lag.reset()  # a new connection: judged afresh from now
        self.store.link_up(self.run_id, now)
        self.tracker.link_restored(now)

    def link_down(self, now: float) -> None:
        self.tick(now)
        self._linked = False
        self.store.link_down(self.run_id, now)
        self.tracker.link_lost(now)

    def stalled(self, since: float, now: float) -> None:
        """The process was frozen from ``since`` to ``now``: what it could not see is unknown
        time, and every site gets a fresh silence allowance, as after a lost broker."""
        if self.tracker.blind:
            return
        with self.store.transaction():
            self._stall(since, now)

    def _stall(self, since: float, now: float) -> None:
        self.store.link_down(self.run_id, since)
        self.tracker.link_lost(since)
        self.store.link_up(self.run_id, now)
        self.tracker.link_restored(now)

    def stop(self, now: float) -> None:
        self.tick(now)
        self.store.end_run(self.run_id, now)  # vouches up to now
