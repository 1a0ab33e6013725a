"""The collector's cores wired together: tracker decisions applied to the store.

One object owns the tracker and the database connection; the MQTT shell (``ingest``) and
the scenario runner both drive it, so a year on a virtual clock runs the very code a live
collector runs. Every method takes ``now``.
"""

from __future__ import annotations

import logging
from collections import Counter

from collector.config import CollectorConfig
from collector.fleet.registry import RELOAD_S, Fleet, config_sites
from collector.storage_guard import sound_outage
from collector.store import Store
from collector.tracking.outages import Decision, Outage
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


class Core:
    def __init__(self, cfg: CollectorConfig, store: Store, now: float, live: bool = True,
                 reject=None):
        """``live``: a real process, which may die at any moment, so it vouches for its
        sight every ``alive_interval_s`` and at every decision. A simulated collector stops
        only when told, and records its sight exactly then. ``reject(source, problem,
        code)`` counts a refused message: one of a site the fleet registry does not know,
        or one the plausibility gate turned away (by default into ``self.rejected``, by
        code)."""
        self.gate = Gate(cfg.plausibility)
        self.cfg = cfg
        self.live = live
        self.store = store
        self.tracker = Tracker(cfg.outage_threshold_s, cfg.site_silence_factor, cfg.platform)
        self.received = 0
        self.duplicates = 0
        self._next_alive = 0.0
        # Only sites of the fleet registry are heard (collector/fleet/registry.py).
        self.fleet = Fleet(store.db, config_sites(cfg))
        self._next_fleet = now + RELOAD_S
        self.rejected: Counter[str] = Counter()
        self._reject = reject or (lambda source, problem, code: self.rejected.update([code]))
        for name, p in cfg.projects.items():
            store.ensure_project(name, p.timezone, p.budget_minutes, cfg.outage_threshold_s,
                                 replace=True)
        self._projects = {r["project"] for r in store.db.query("SELECT project FROM projects")}
        # Blind until connected; what it saw before (earlier runs) still counts as seen.
        self.tracker.blind = True
        self.tracker.seen = [[r["from_at"], r["to_at"]] for r in store.db.query(
            "SELECT from_at, to_at FROM sight WHERE to_at >= ? ORDER BY from_at",
            [now - RESUME_CLOSED_S])]
        for project, site, offset in store.site_clocks():
            self.tracker.resume_clock(project, site, offset)
        for outage in _sound(store.recent_site_outages(now - RESUME_CLOSED_S)):
            self.tracker.resume_closed(outage)
        resumed = []  # what taking them back decides (a release), stored at once
        for outage in _sound(store.open_outages()):
            resumed += self.tracker.resume(outage)
        store.apply(resumed)
        self.run_id = store.begin_run(now)

    def handle(self, msg: wire.Message, now: float) -> list[Decision]:
        """One validated message received at ``now``; duplicates of events are dropped.

        An event's delivery mark and the decisions it caused are one transaction: a
        collector killed in between has stored neither, so the broker's redelivery (the
        shell acknowledges a message only after this returns) is not taken for a copy.
        An implausible message (collector/tracking/plausible.py) changes nothing and is counted.
        """
        msg = self.fleet.admit(msg, self._reject)  # first: made-up sites get no state at all
        if msg is None:
            return []
        site = self.tracker.sites.get((msg.project, msg.site))
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
        if decisions:
            self.store.apply(decisions)
            if self.live:
                self._alive(now)  # what it decided, it saw: vouch for it at once
        return decisions

    def tick(self, now: float) -> list[Decision]:
        if self.live and now >= self._next_fleet:  # sites added or removed meanwhile
            self._next_fleet = now + RELOAD_S
            self.fleet.reload()
        decisions = self.tracker.tick(now)
        self.store.apply(decisions)
        if self.live and (decisions or now >= self._next_alive):
            self._alive(now)
        return decisions

    def _alive(self, now: float) -> None:
        self.store.alive(self.run_id, now)
        self._next_alive = now + self.cfg.alive_interval_s

    def link_up(self, now: float) -> None:
        self.store.link_up(self.run_id, now)
        self.tracker.link_restored(now)

    def link_down(self, now: float) -> None:
        self.tick(now)
        self.store.link_down(self.run_id, now)
        self.tracker.link_lost(now)

    def stalled(self, since: float, now: float) -> None:
        """The process was frozen from ``since`` to ``now``: what it could not see is unknown
        time, and every site gets a fresh silence allowance, as after a lost broker."""
        if self.tracker.blind:
            return
        self.store.link_down(self.run_id, since)
        self.tracker.link_lost(since)
        self.store.link_up(self.run_id, now)
        self.tracker.link_restored(now)

    def stop(self, now: float) -> None:
        self.tick(now)
        self.store.end_run(self.run_id, now)  # vouches up to now
