"""The workflow on the collector core's real tracker and store, on a virtual clock: automatic
dispatch, the outage side closing by itself, common problems, and a month of simulated
responders whose scores do not depend on the runner's step."""

from __future__ import annotations

import json

import pytest

from collector.store import Store
from collector.tracking.tracker import Tracker
from collector.workflow.config import Route, WorkflowConfig
from collector.workflow.report import monthly_report
from collector.workflow.responders import Delays, Override, Responders
from collector.workflow.service import WorkflowService
from collector.workflow.store import WorkflowStore
from parkwatch.core import wire
from simulators.scenario.workflow import Simulation
from tests.workflow.test_business_time import MIN, ts

EVERYONE = ("seat", "remote-ops", "branch-after-sales", "technical-liaison",
            "operations-centre", "site-patrol")
# Routes to a port nobody listens on: the outbox fills, nothing is sent in these tests.
ROUTES = tuple(Route(g, (f"json://127.0.0.1:9/{g}",)) for g in EVERYONE)


class Feed:
    """Wire messages into the core's real Tracker and Store, each at its own moment."""

    def __init__(self, path):
        self.store, self.tracker, self.seq = Store(path), Tracker(threshold_s=60), 0
        self.ops: list[tuple[float, int, tuple]] = []

    def _msg(self, project, site, t, device, state, fault=None):
        self.seq += 1
        return wire.Event(project, site, 1, self.seq, t, "device_state", device=device,
                          state=state, fault=fault, since=t)

    def outage(self, project, site, device, start, seconds, fault=None):
        """A device down from ``start`` for ``seconds`` (fault code: a fault, else offline)."""
        n = len(self.ops)
        hb = wire.Heartbeat(project, site, 1, 0, start - 5, 1e7, {})
        self.ops += [(start - 5, n, ("msg", hb)),
                     (start, n + 1, ("msg", self._msg(project, site, start, device,
                                                      "fault" if fault else "offline",
                                                      fault))),
                     (start + 61, n + 2, ("tick",)),
                     (start + seconds, n + 3, ("msg", self._msg(project, site, start + seconds,
                                                                device, "ok")))]

    def run_until(self, now):
        self.ops.sort()
        while self.ops and self.ops[0][0] <= now:
            t, _, op = self.ops.pop(0)
            decisions = self.tracker.receive(op[1], t) if op[0] == "msg" else \
                self.tracker.tick(t)
            self.store.apply(decisions)


def test_an_automatic_incident_is_dispatched_by_the_routing_table_and_waits_for_verification(
        new_database):
    db = new_database("c")
    feed = Feed(db)
    start = ts("2026-03-02 10:00")
    feed.outage("P1", "S1", "gate-in", start, 300, fault="motor_overheat")
    feed.run_until(start + 100)  # declared, still down
    store = WorkflowStore(db, WorkflowConfig(routes=ROUTES))
    svc = WorkflowService(store, store.cfg)
    svc.tick(start + 100)
    (t,) = store.tickets()
    assert (t.kind, t.state, t.group, t.severity) == ("device_fault", "dispatched",
                                                      "branch-after-sales", 2)
    assert t.assignments[0].dispatched_at == start + 61  # at its declaration
    row = store.rows([t.id])[t.id]
    assert row["signature"] == "device_fault:motor_overheat"
    assert row["device_class"] == "barrier" and row["source"] == "auto"
    assert [(a["who"], a["action"]) for a in store.audit(t.id)] == [
        ("system", "opened"), ("system", "dispatch")]
    svc.tick(start + 101)
    assert len(store.tickets()) == 1  # taken once
    feed.run_until(start + 400)  # the device is back: the core closes its incident
    svc.tick(start + 400)
    t = store.load(t.id)
    assert t.outage_ended_at == start + 300
    assert t.state == "dispatched"  # the outage side is over; the workflow is not
    kinds = [e["kind"] for e in store.events(t.id)]
    assert kinds == ["opened", "dispatched", "outage_ended"]
    svc.tick(start + 401)
    assert [e["kind"] for e in store.events(t.id)] == kinds  # each event once
    outbox = store.outbox()
    assert sorted(r["route_to"] for r in outbox) == [
        "branch-after-sales", "branch-after-sales", "seat", "seat"]


def test_a_flapping_outage_under_the_threshold_notifies_nobody(new_database):
    db = new_database("c")
    feed = Feed(db)
    start = ts("2026-03-02 10:00")
    for i in range(5):  # five 30-second drops
        feed.outage("P1", "S1", "gate-in", start + i * 120, 30)
    feed.run_until(start + 3600)
    feed.store.apply(feed.tracker.tick(start + 3600))
    store = WorkflowStore(db, WorkflowConfig(routes=ROUTES))
    WorkflowService(store, store.cfg).tick(start + 3600)
    assert len(list(store.db.query("SELECT * FROM outages"))) == 5
    assert store.tickets() == [] and store.outbox() == []


def test_automatic_dispatch_can_be_left_to_the_seat_group(new_database):
    db = new_database("c")
    feed = Feed(db)
    start = ts("2026-03-02 10:00")
    feed.outage("P1", "S1", "cam-1", start, 600)
    feed.run_until(start + 100)
    store = WorkflowStore(db, WorkflowConfig(auto_dispatch=False))
    WorkflowService(store, store.cfg).tick(start + 100)
    (t,) = store.tickets()
    assert (t.state, t.group, t.assignments) == ("open", None, [])


RESPONDERS = Responders(
    groups={"remote-ops": Delays(ack_after=5 * MIN, resolve_after=30 * MIN),
            "branch-after-sales": Delays(ack_after=10 * MIN, resolve_after=90 * MIN),
            "seat": Delays(verify_after=10 * MIN)},
    overrides=[Override("P1", "S1", None, ts("2026-03-12 21:55"), ts("2026-03-12 22:00"),
                        Delays(ack_after=35 * MIN)),
               Override("P3", "S1", "cam-1", ts("2026-03-20 11:00"), ts("2026-03-20 11:03"),
                        Delays(ack_after=20 * MIN, verify="fail"))])


def simulate_march(db, step_s):
    feed = Feed(db)
    feed.outage("P1", "S1", "gate-in", ts("2026-03-02 10:00"), 600)
    feed.outage("P2", "S1", "gate-in", ts("2026-03-05 14:00"), 1200, fault="motor_overheat")
    feed.outage("P3", "S1", "gate-in", ts("2026-03-09 09:00"), 2400, fault="motor_overheat")
    feed.outage("P1", "S1", "gate-in", ts("2026-03-12 21:55"), 300, fault="motor_overheat")
    feed.outage("P2", "S1", "cam-1", ts("2026-03-15 23:30"), 1800)
    feed.outage("P3", "S1", "cam-1", ts("2026-03-20 11:00"), 180)
    feed.outage("P1", "S1", "gate-in", ts("2026-03-22 10:00"), 30)  # a blip: no incident
    store = WorkflowStore(db, WorkflowConfig(routes=ROUTES))
    sim = Simulation(store, RESPONDERS)
    now, end = ts("2026-03-01 00:00"), ts("2026-04-01 00:00")
    while now < end:
        now = min(now + step_s, end)
        feed.run_until(now)
        sim.advance(now)
    return store


@pytest.fixture
def march(new_database):
    return simulate_march(new_database("march"), 1800)


def test_a_simulated_month_scores_as_worked_out_by_hand(march):
    rep = monthly_report(march, "2026-03", ts("2026-04-05 10:00"))
    groups = {g["group"]: g for g in rep["groups"]}
    assert (rep["incidents"], rep["not_assessed"]) == (6, 1)
    ro = groups["remote-ops"]
    # P1 gate offline: ack 5 min, resolved 35 min. P3 camera: ack 20 min (late), resolved at
    # 50 min, verification failed, resolved again 30 min later (90 min): on time.
    # The P2 camera at 23:30 is not assessed.
    assert (ro["dispatched"], ro["assessed"]) == (3, 2)
    assert (ro["responded_on_time"], ro["handled_on_time"]) == (1, 2)
    assert (ro["k1"], ro["k2"], ro["score"]) == (25.0, 50.0, 75.0)
    assert (ro["response_median_min"], ro["response_p90_min"]) == (12.5, 20.0)
    assert (ro["handling_median_min"], ro["handling_p90_min"]) == (62.5, 90.0)
    af = groups["branch-after-sales"]
    # Two on time; the 21:55 fault: answered 35 business minutes later, on site at 125.
    assert (af["late_responses"], af["late_arrivals"], af["penalty_total"]) == (1, 1, 100)
    assert [p["item"] for p in af["penalty_items"]] == ["late response", "late arrival"]
    assert all(t.state == "closed" for t in march.tickets())


def test_the_month_does_not_depend_on_the_runners_step(march, new_database):
    coarse = simulate_march(new_database("coarse"), 6 * 3600)
    now = ts("2026-04-05 10:00")
    assert json.dumps(monthly_report(coarse, "2026-03", now)) == \
        json.dumps(monthly_report(march, "2026-03", now))


def test_the_same_fault_at_three_projects_is_proposed_as_a_common_problem(march):
    (p,) = march.problems()
    assert (p["signature"], p["state"], p["projects"]) == (
        "device_fault:motor_overheat", "proposed", ["P1", "P2", "P3"])
    confirmed = march.problem_action(p["id"], "confirm", ts("2026-03-13 10:00"), "liaison-li",
                                     plan_date="2026-04-01", note="firmware 2.3 fixes it")
    assert confirmed["state"] == "confirmed" and confirmed["plan_date"] == "2026-04-01"
    march.problem_action(p["id"], "solve", ts("2026-04-20 10:00"), "liaison-li")
    rep = monthly_report(march, "2026-03", ts("2026-05-05 10:00"))
    liaison = next(g for g in rep["groups"] if g["group"] == "technical-liaison")
    assert liaison["k3"] == 10.0  # solved more than a month after it was confirmed
    assert liaison["score"] == 90.0  # K1 40 + K2 40 with nothing dispatched, + K3 10
    svc = WorkflowService(march, march.cfg)
    assert svc.scan_problems(ts("2026-04-21 00:00")) == []  # the old sightings do not count


def test_two_collectors_workers_on_one_database_ticket_each_incident_once(new_database):
    """Partitioned collectors each run the workflow worker against the shared database:
    whichever takes an incident first tickets it; the other finds it taken, quietly."""
    db = new_database("c")
    feed = Feed(db)
    start = ts("2026-03-02 10:00")
    for i in range(4):
        feed.outage("P1", f"S{i}", "gate-in", start + i, 300, fault="motor_overheat")
    feed.run_until(start + 100)
    stores = [WorkflowStore(db, WorkflowConfig()) for _ in range(2)]
    services = [WorkflowService(s, s.cfg) for s in stores]
    # Both read the same untaken incidents before either writes (the race, made certain).
    rows = [s.untaken_incidents() for s in stores]
    assert len(rows[0]) == len(rows[1]) == 4
    for svc, taken in zip(services, rows, strict=True):
        svc.store.untaken_incidents = lambda limit=1000, taken=taken: taken
        svc.take_new_incidents()
    tickets = stores[0].tickets()
    assert sorted(t.site for t in tickets) == ["S0", "S1", "S2", "S3"]  # once each
    assert not services[1]._poison  # the other's were taken, not poison
    for s in stores:
        s.close()
