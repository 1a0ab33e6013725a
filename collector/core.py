"""The collector's cores wired together: tracker decisions applied to the store.

One object owns the tracker and the database connection; the MQTT shell (``ingest``) and
the scenario runner both drive it, so a year on a virtual clock runs the very code a live
collector runs. Every method takes ``now``.
"""

from __future__ import annotations

import logging

from agent import wire
from collector.config import CollectorConfig
from collector.outages import Decision, Outage
from collector.storage_guard import sound_outage
from collector.store import Store
from collector.tracker import Tracker

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
    def __init__(self, cfg: CollectorConfig, store: Store, now: float, live: bool = True):
        """``live``: a real process, which may die at any moment, so it vouches for its
        sight every ``alive_interval_s`` and at every decision. A simulated collector stops
        only when told, and records its sight exactly then."""
        self.cfg = cfg
        self.live = live
        self.store = store
        self.tracker = Tracker(cfg.outage_threshold_s, cfg.site_silence_factor, cfg.platform)
        self.received = 0
        self.duplicates = 0
        self._next_alive = 0.0
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
        for outage in _sound(store.open_outages()):
            self.tracker.resume(outage)
        self.run_id = store.begin_run(now)

    def handle(self, msg: wire.Message, now: float) -> list[Decision]:
        """One validated message received at ``now``; duplicates of events are dropped.

        An event's delivery mark and the decisions it caused are one transaction: a
        collector killed in between has stored neither, so the broker's redelivery (the
        shell acknowledges a message only after this returns) is not taken for a copy.
        """
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
