"""Run a scenario: simulated sites and the collector's cores, connected in memory under a
virtual clock, leaving the collector's database behind for the reports.

The collector side is the production code: ``Core`` (tracker + store), its restart path
(``Core`` built anew on the same database resumes the open outages), the marks module for
customer-caused outages and maintenance windows. The runner plays the broker: it delivers
each message at its virtual time when the collector is up and connected, keeps each site's
retained status, queues QoS 1 events for the collector's persistent session while it is
down, and publishes a site's Will 1.5 keepalives after its link was lost.
"""

from __future__ import annotations

import heapq
import math
import time
from array import array
from collections import Counter
from pathlib import Path

from agent.device import Reading
from collector.config import CollectorConfig, ProjectConfig
from collector.core import Core
from collector.downtime import marks
from collector.downtime.store import DowntimeStore
from collector.store import Store
from collector.tracking.platform import PlatformRule
from collector.workflow.responders import Override
from collector.workflow.store_batch import BatchStore
from parkwatch.core import wire
from parkwatch.core.broker import Broker
from simulators.scenario import collection, results
from simulators.scenario.people import IndexedResponders
from simulators.scenario.sites import OFFLINE_AFTER, POLL_S, SimSite
from simulators.scenario.spec import GLOBAL_KINDS, NO_DELAYS, Event, Scenario
from simulators.scenario.workflow import Simulation

TICK_S = 0.25  # the live collector ticks four times a second; so does the virtual one
BATCH = 20000  # happenings per database transaction
ONE_SHOT = ("loop_timeout", "intercom_call")  # events of one moment: one happening
WORKFLOW_STEP_S = 3600.0  # the workflow looks at least this often (its steps keep their times)


class Runner:
    def __init__(self, scenario: Scenario, db_path: str | Path):
        self.sc = scenario
        self.cfg = CollectorConfig(
            broker=Broker("scenario", 0), database=Path(db_path),
            outage_threshold_s=scenario.outage_threshold_s,
            site_silence_factor=scenario.site_silence_factor,
            platform=PlatformRule(scenario.platform_share, scenario.platform_window_s,
                                  scenario.platform_min_sites),
            # the scenario's sites are its fleet: registered, as a live collector's are
            projects={p.id: ProjectConfig(p.timezone, p.budget_minutes, tuple(p.sites))
                      for p in scenario.projects})
        self.store = Store(db_path)
        # One connection builds the database, and a run that fails is run again into a new
        # one: it trades durability for speed (collector/store_scenario.py), left in WAL
        # mode at the end, as opened.
        self.store.tune_for_batch()
        self.downtime = DowntimeStore(self.store.db)
        plan = scenario.workflow
        responders = IndexedResponders(plan.groups, [
            Override(ev.project, ev.site, ev.device, ev.at, ev.end, ev.delays)
            for ev in scenario.events if ev.delays != NO_DELAYS])
        # The workflow shares the collector's connection and its batches' transactions.
        self.workflow = Simulation(BatchStore.joined(self.store.db, plan.config),
                                   responders, plan.manual, plan.problems)
        self._next_workflow = scenario.start
        self.core: Core | None = None
        self.broker_up = True
        self.queued: list[wire.Event] = []  # the collector's session while it is down
        self.retained: dict[tuple[str, str], wire.Status] = {}
        self.stats: Counter[str] = Counter()
        self._heap: list = []
        self._n = 0
        self.sites: dict[tuple[str, str], SimSite] = {}
        i = 0
        for p in scenario.projects:
            for s in p.sites:
                phase = (i * 7.919) % scenario.heartbeat_interval_s
                self.sites[(p.id, s)] = SimSite(p.id, s, p.devices,
                                                scenario.heartbeat_interval_s, phase,
                                                scenario.start)
                i += 1

    # --- the virtual clock -------------------------------------------------------------

    def at(self, t: float, fn, *args) -> None:
        self._n += 1
        heapq.heappush(self._heap, (t, self._n, fn, args))

    def run(self) -> dict:
        wall = time.perf_counter()
        sc = self.sc
        self._plan()
        self.core = Core(self.cfg, self.store, sc.start, live=False)
        self.core.link_up(sc.start)
        for m in sc.maintenance:
            marks.add_maintenance(self.downtime, m.project, m.from_at, m.to_at, m.reason,
                                  "scenario", sc.start)
        heap = self._heap
        with collection.quiet() as batch_done:  # simulators/scenario/collection.py
            while heap and heap[0][0] <= sc.end:
                with self.store.batch():
                    for _ in range(BATCH):
                        if not heap or heap[0][0] > sc.end:
                            break
                        t = heap[0][0]
                        self._tick_until(t)
                        if t >= self._next_workflow:
                            self.workflow.advance(t)
                            self._next_workflow = t + WORKFLOW_STEP_S
                        _, _, fn, args = heapq.heappop(heap)
                        fn(t, *args)
                        self.stats["happenings"] += 1
                batch_done()
        with self.store.batch():
            self._tick_until(sc.end)
            if self.core is not None:
                self.core.stop(sc.end)
            self.workflow.advance(sc.end, last=True)
            self.store.save_setting("workflow", self.sc.workflow.settings)
        results.mark_causes(self.sc, self.store, self.downtime)
        self.store.tune_for_service()
        return results.summary(self, time.perf_counter() - wall)

    def _tick_until(self, t: float) -> None:
        core = self.core
        if core is None:
            return
        while True:
            d = core.tracker.next_deadline()
            if d is None or d >= t:
                return
            tick_at = (math.floor(d / TICK_S) + 1) * TICK_S
            if tick_at > t:
                return  # the happening at ``t`` comes first
            core.tick(tick_at)

    # --- planning ----------------------------------------------------------------------

    def _plan(self) -> None:
        """Each site's events become happenings one at a time (``_arm``): the heap holds a
        site's next one, not its year. Every happening keeps the sequence number it would
        have had with the year planned at once, so ties fall the same way."""
        sc = self.sc
        global_times = []
        positions: dict[tuple[str, str], list[int]] = {}
        self._bases = array("q")  # per event: the sequence number before its happenings
        for pos, ev in enumerate(sc.events):
            self._bases.append(self._n)
            if ev.kind in GLOBAL_KINDS:
                global_times += [ev.at, ev.end]
                self.at(ev.at, getattr(self, f"_{ev.kind}"), ev, True)
                self.at(ev.end, getattr(self, f"_{ev.kind}"), ev, False)
                continue
            positions.setdefault((ev.project, ev.site), []).append(pos)
            self._n += 1 if ev.kind in ONE_SHOT else 2
        events = sc.events
        for key, site in self.sites.items():
            mine = positions.pop(key, [])
            site.plan = array("q", mine)
            site.changes = array("d", sorted([x for p in mine for x in (events[p].at,
                                                                        events[p].end)]
                                             + global_times + [sc.end]))
            self.at(site.beat_after(sc.start), self._beat, site, site.beat_gen)
        for site in self.sites.values():
            self._arm(site)

    def _happenings(self, pos: int) -> list[tuple]:
        """The (time, sequence number, handler, arguments) an event makes at its site."""
        ev, n = self.sc.events[pos], self._bases[pos]
        fn = getattr(self, f"_{ev.kind}")
        if ev.kind == "device_offline":  # noticed after the agent's missed polls
            return [(ev.at + (OFFLINE_AFTER - 1) * POLL_S, n + 1, fn, (ev, True)),
                    (max(ev.end, ev.at + OFFLINE_AFTER * POLL_S), n + 2, fn, (ev, False))]
        if ev.kind in ONE_SHOT:
            return [(ev.at, n + 1, fn, (ev,))]
        return [(ev.at, n + 1, fn, (ev, True)), (ev.end, n + 2, fn, (ev, False))]

    def _arm(self, site: SimSite) -> None:
        """Put the site's next planned happening on the heap. Its events come in order of
        their start, and nothing an event makes comes before its start."""
        pending, plan, events = site.pending, site.plan, self.sc.events
        while site.plan_i < len(plan) and (
                not pending or events[plan[site.plan_i]].at <= pending[0][0]):
            for h in self._happenings(plan[site.plan_i]):
                heapq.heappush(pending, h)
            site.plan_i += 1
        if pending:
            heapq.heappush(self._heap, (pending[0][0], pending[0][1], self._planned, (site,)))

    def _planned(self, t: float, site: SimSite) -> None:
        _, _, fn, args = heapq.heappop(site.pending)
        fn(t, *args)
        self._arm(site)

    # --- the broker --------------------------------------------------------------------

    def deliver(self, t: float, msg: wire.Message) -> None:
        if not self.broker_up:
            return
        if isinstance(msg, wire.Status):
            self.retained[(msg.project, msg.site)] = msg
        if self.core is None:
            if isinstance(msg, wire.Event):
                self.queued.append(msg)
            return
        self.stats["messages"] += 1
        self.core.handle(msg, t)

    def _beat(self, t: float, site: SimSite, gen: int) -> None:
        if gen != site.beat_gen or not site.connected:
            return
        last_real = site.beat_before(min(site.next_change(t), self.sc.end))
        if last_real - t > site.interval_s:  # a quiet stretch: one heartbeat spans it
            interval, nxt = last_real - t, last_real
        else:
            interval, nxt = site.interval_s, t + site.interval_s
        self.stats["heartbeats"] += 1
        self.deliver(t, site.heartbeat(t, interval))
        if nxt <= self.sc.end:
            self.at(nxt, self._beat, site, gen)

    def _lose_link(self, t: float, site: SimSite, why: str, will: bool) -> None:
        was = site.connected
        site.down.add(why)
        if not was:
            return
        site.lost_at = t
        site.beat_gen += 1
        site.loss_token += 1
        if will:
            self.at(t + 1.5 * self.sc.keepalive_s, self._will, site, site.loss_token)

    def _regain_link(self, t: float, site: SimSite, why: str, cause: str) -> None:
        site.down.discard(why)
        if not site.connected:
            return
        for msg in site.reconnect(t, cause):
            self.deliver(t, msg)
        site.beat_gen += 1
        self.at(site.beat_after(t), self._beat, site, site.beat_gen)

    def _will(self, t: float, site: SimSite, token: int) -> None:
        if token == site.loss_token and not site.connected and self.broker_up:
            self.deliver(t, site.status("offline", "will", t))

    def _emit(self, t: float, site: SimSite, event: wire.Event | None) -> None:
        if event is None:
            return
        if site.connected:
            self.deliver(t, event)
        else:
            site.outbox.append(event)

    # --- scenario events ---------------------------------------------------------------

    def _site(self, ev: Event) -> SimSite:
        return self.sites[(ev.project, ev.site)]

    def _uplink_down(self, t: float, ev: Event, begins: bool) -> None:
        if begins:
            site = self._site(ev)
            if site.connected:
                # Its last word gets through at the instant of the drop, so that the
                # collector's own estimate of the start (its last message) is the scenario's
                # time even when no uplink record comes before the end.
                self.deliver(t, site.heartbeat(t, site.interval_s))
            self._lose_link(t, site, "uplink", will=True)
        else:
            self._regain_link(t, self._site(ev), "uplink", "keepalive_loss")

    def _device_offline(self, t: float, ev: Event, begins: bool) -> None:
        site = self._site(ev)
        self._emit(t, site, site.device_change(t, ev.device, None if begins else Reading("ok")))

    def _device_fault(self, t: float, ev: Event, begins: bool) -> None:
        site = self._site(ev)
        reading = Reading("fault", ev.code) if begins else Reading("ok")
        self._emit(t, site, site.device_change(t, ev.device, reading))

    def _software_down(self, t: float, ev: Event, begins: bool) -> None:
        site = self._site(ev)
        self._emit(t, site, site.event(t, "software", state="fault" if begins else "ok",
                                       fault="crashed" if begins else None, since=t,
                                       detail={"process": "parking"}))

    def _loop_timeout(self, t: float, ev: Event) -> None:
        site = self._site(ev)
        self._emit(t, site, site.event(t, "loop_timeout", device=ev.device, since=t,
                                       detail={"lane": "lane-1", "waited_s": ev.duration_s}))

    def _intercom_call(self, t: float, ev: Event) -> None:
        site = self._site(ev)
        self._emit(t, site, site.event(t, "intercom", device=ev.device,
                                       detail={"lane": "lane-1"}))

    def _collector_down(self, t: float, ev: Event, begins: bool) -> None:
        if begins:
            if self.core is not None:
                self.core.stop(t)
            self.core = None
            return
        self.core = Core(self.cfg, self.store, t, live=False)
        if self.broker_up:
            self.core.link_up(t)
            for status in list(self.retained.values()):
                self.deliver(t, status)
            queued, self.queued = self.queued, []
            for msg in queued:
                self.deliver(t, msg)

    def _broker_down(self, t: float, ev: Event, begins: bool) -> None:
        if begins:
            if self.core is not None:
                self.core.link_down(t)
            for site in self.sites.values():
                self._lose_link(t, site, "broker", will=False)
            self.broker_up = False
            return
        self.broker_up = True
        if self.core is not None:
            self.core.link_up(t)
        for site in self.sites.values():  # agents come back within a few seconds
            self.at(t + 0.5 + site.phase / 4, self._regain_link, site, "broker",
                    "tcp_connect")

def run(scenario: Scenario, db_path: str | Path) -> dict:
    return Runner(scenario, db_path).run()
