"""A gate fault made during an uplink cut (docs/architecture.md, Absorption): part of the
site's outage while the site is down; its own incident, dated from its own start, a
threshold after the site came back if it is still on then, across a collector kill -9; no
incident of its own if it recovered during the cut."""

from __future__ import annotations

import time

from tests.faults.checks import Case
from tests.faults.rig import THRESHOLD_S
from tests.helpers import wait_for

TOLERANCE_S = 1.0


def api_outages(rig, kind: str, after_id: int) -> list[dict]:
    """The outages as an operator reads them: ``GET /api/outages``."""
    return [o for o in rig.api.get("/api/outages").json()
            if o["kind"] == kind and o["id"] > after_id]


def fault_incidents(rig, after_id: int) -> list[dict]:
    return [i for i in rig.incidents(after_outage=after_id) if i["kind"] == "device_fault"]


def cut_with_a_fault(case: Case, length_s: float) -> tuple[float, float]:
    """Cut the uplink, fault the gate at once, heal after ``length_s``; return when the
    fault began and when the link came back (the agent connected again)."""
    rig = case.rig
    n = rig.connections()
    t0 = rig.cut("drop")
    at = rig.set_gate_fault("motor")
    time.sleep(max(0.0, t0 + length_s - time.time()))  # the cut's length
    t1 = rig.heal()
    case.add_cut(t0, t1)
    wait_for(lambda: rig.connections() > n, 15, 0.1, what="the agent to connect again")
    return at, t1


def released(rig, after_id: int) -> dict:
    """The fault outage once the collector has it and has released it (the site is back)."""
    def get():
        faults = api_outages(rig, "device_fault", after_id)
        return faults[0] if faults and faults[0].get("released_at") is not None else None
    return wait_for(get, 15, 0.1, what="the fault to be released by the site's return")


def check_incident(rig, case: Case, at: float) -> dict:
    [fault] = api_outages(rig, "device_fault", case.before)
    [incident] = fault_incidents(rig, case.before)
    assert fault["incident_id"] == incident["id"] and fault["absorbed_by"] is None, fault
    assert abs(incident["opened_at"] - at) <= 0.5, (incident, at)  # dated from its start
    return incident


def test_a_fault_made_during_a_cut_and_still_on_becomes_an_incident_after_it(rig):
    case = Case(rig, "fault during a cut, still on after")
    at, _ = cut_with_a_fault(case, THRESHOLD_S + 1.5)
    released(rig, case.before)
    wait_for(lambda: fault_incidents(rig, case.before), 3 * THRESHOLD_S + 10, 0.1,
             what="the fault's own incident")
    incident = check_incident(rig, case, at)
    case.faults.append((at, rig.set_gate_fault(None)))
    got = case.finish(incidents_expected=1)  # the site's own incident, for the cut
    assert len(fault_incidents(rig, case.before)) == 1
    # Released when the site came back; an incident a threshold later (a loaded machine
    # may tick late, and time it did not see does not count).
    [site_outage] = got["outages"]
    [fault] = api_outages(rig, "device_fault", case.before)
    assert abs(fault["released_at"] - site_outage["ended_at"]) <= TOLERANCE_S, \
        (fault, site_outage)
    own = incident["declared_at"] - fault["released_at"]
    assert THRESHOLD_S <= own <= THRESHOLD_S + 2 * TOLERANCE_S, (incident, fault)


def test_a_fault_still_on_after_a_cut_survives_a_collector_kill(rig):
    case = Case(rig, "fault after a cut, collector kill -9")
    at, _ = cut_with_a_fault(case, 1.0)
    released(rig, case.before)
    rig.kill_collector()  # before the fault is due
    rig.start_collector()
    wait_for(lambda: fault_incidents(rig, case.before), 3 * THRESHOLD_S + 15, 0.1,
             what="the fault's own incident after the restart")
    check_incident(rig, case, at)
    case.faults.append((at, rig.set_gate_fault(None)))
    case.finish(incidents_expected=0, injected=2)  # a cut and a kill
    assert len(fault_incidents(rig, case.before)) == 1


def test_a_fault_recovered_during_the_cut_has_no_incident_of_its_own(rig):
    case = Case(rig, "fault during a cut, recovered in it")
    n = rig.connections()
    t0 = rig.cut("drop")
    at = rig.set_gate_fault("motor")
    # Faulted longer than the threshold, but all of it inside the cut.
    time.sleep(max(0.0, at + THRESHOLD_S + 1.0 - time.time()))
    back = rig.set_gate_fault(None)
    time.sleep(max(0.0, back + 0.5 - time.time()))
    t1 = rig.heal()
    case.add_cut(t0, t1)
    wait_for(lambda: rig.connections() > n, 15, 0.1, what="the agent to connect again")
    case.faults.append((at, back))
    got = case.finish(incidents_expected=1)
    # Past the time its own incident would have been due, as the collector vouches.
    due = time.time() + THRESHOLD_S + 1.0
    wait_for(lambda: rig.query("SELECT MAX(alive_at) AS t FROM collector_runs")[0]["t"] > due,
             3 * THRESHOLD_S + 10, 0.1, what="the collector to vouch past the fault's due time")
    [fault] = api_outages(rig, "device_fault", case.before)
    [site_outage] = got["outages"]
    assert fault["absorbed_by"] == site_outage["id"] and fault["incident_id"] is None, fault
    assert not fault_incidents(rig, case.before)
