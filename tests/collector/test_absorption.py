"""Device and software outages that start during their site's network outage (absorption,
docs/architecture.md): part of the site's outage while it lasts, their own problem once the
site is back. The pure tracker on a virtual clock, then the core on a real SQLite file
across collector restarts."""

from collector.config import CollectorConfig
from collector.core import Core
from collector.store import Store, list_incidents, list_outages
from collector.tracking.outages import (
    DEVICE_FAULT,
    SITE_NETWORK,
    SOFTWARE_DOWN,
    Absorbed,
    IncidentDeclared,
    IncidentWithdrawn,
    Outage,
    OutageEnded,
    OutageKey,
    OutageStarted,
)
from collector.tracking.tracker import Tracker
from parkwatch.core import wire
from parkwatch.core.broker import Broker
from tests.helpers import fleet

# A site heard at 0 s, silent from then on (heartbeat every 10 s, down after 30 s), back at
# CUT_END; a gate fault made at FAULT during the cut reaches the collector once it is back.
CUT_END, FAULT = 100.0, 50.0


def hb(ts, interval=10.0, boot=1):
    return wire.Heartbeat("p", "s", boot, 1, ts, interval, {})


def will(ts):
    return wire.Status("p", "s", "offline", 1, ts, "will")


def gate(ts, state, since, seq=5, historical=True):
    return wire.Event("p", "s", 1, seq, ts, "device_state", device="gate", state=state,
                      fault="motor" if state == "fault" else None, since=since,
                      historical=historical)


def software(ts, state, since, seq=7):
    return wire.Event("p", "s", 1, seq, ts, "software", state=state, since=since,
                      fault="crashed" if state == "down" else None, historical=True,
                      detail={"process": "parkd"})


def of(decisions, kind):
    return [d for d in decisions if isinstance(d, kind)]


def own(decisions):
    """Incidents declared for device or software outages (not the site's own)."""
    return [d for d in of(decisions, IncidentDeclared) if d.outage.key.kind != SITE_NETWORK]


def ticks(tracker, start, end, step=0.25):
    out, t = [], start
    while t <= end:
        out += tracker.tick(t)
        t += step
    return out


def cut_and_back(t: Tracker) -> Outage:
    """The site goes silent after 0 s and is back (a live heartbeat) at CUT_END; from then
    on its heartbeats are too rare for silence to matter."""
    t.receive(hb(0.0), 0.0)
    [site_outage] = [d.outage for d in ticks(t, 0.25, 31.0) if isinstance(d, OutageStarted)]
    t.receive(hb(CUT_END, interval=1e9), CUT_END)
    assert site_outage.ended_at == CUT_END
    return site_outage


def test_a_fault_made_during_a_cut_and_still_on_is_an_incident_a_threshold_after():
    t = Tracker(threshold_s=60)
    cut_and_back(t)
    # The outbox replays the fault once the site is back: the site outage is over.
    out = t.receive(gate(FAULT, "fault", FAULT), CUT_END + 0.1)
    [fault] = [d.outage for d in of(out, OutageStarted)]
    assert not fault.absorbed and fault.released_at == CUT_END
    assert not own(ticks(t, CUT_END + 0.25, CUT_END + 59.75))
    declared = own(ticks(t, CUT_END + 60.0, CUT_END + 200.0))
    assert [d.outage for d in declared] == [fault]
    assert CUT_END + 60 < declared[0].declared_at <= CUT_END + 60.25
    assert fault.started_at == FAULT  # dated from its own start
    # A later cut and return change nothing about it: it had its one incident.
    assert of(t.receive(will(CUT_END + 200.0), CUT_END + 200.0), OutageStarted)
    later = t.receive(hb(CUT_END + 400.0, interval=1e9), CUT_END + 400.0)
    assert not own(later + ticks(t, CUT_END + 400.25, CUT_END + 500.0))


def test_a_fault_absorbed_while_the_site_was_down_is_released_when_it_comes_back():
    t = Tracker(threshold_s=60)
    t.receive(hb(0.0), 0.0)
    ticks(t, 0.25, 31.0)
    out = t.receive(gate(FAULT, "fault", FAULT), 60.0)  # the site still down
    [fault] = [d.outage for d in of(out, OutageStarted)]
    assert fault.absorbed and not own(ticks(t, 60.25, CUT_END - 0.25))
    back = t.receive(hb(CUT_END, interval=1e9), CUT_END)
    assert [d.into for d in of(back, Absorbed)] == [None] and fault.released_at == CUT_END
    [declared] = own(ticks(t, CUT_END, CUT_END + 61.0))
    assert declared.outage is fault and declared.declared_at > CUT_END + 60


def test_a_fault_recovered_during_the_cut_stays_absorbed():
    t = Tracker(threshold_s=60)
    site_outage = cut_and_back(t)
    out = t.receive(gate(FAULT, "fault", FAULT), CUT_END + 0.1)
    out += t.receive(gate(FAULT + 40, "ok", FAULT + 40, seq=6), CUT_END + 0.2)
    [fault] = [d.outage for d in of(out, OutageStarted)]
    assert of(out, Absorbed)[-1].into is site_outage and fault.absorbed
    assert fault.ended_at == FAULT + 40
    # One incident (the site's), one charge: none of the fault's own, ever.
    assert not own(out + ticks(t, CUT_END + 0.25, CUT_END + 300.0))


def test_a_fault_that_ends_within_a_threshold_of_the_site_coming_back_is_no_incident():
    t = Tracker(threshold_s=60)
    cut_and_back(t)
    t.receive(gate(FAULT, "fault", FAULT), CUT_END + 0.1)
    ticks(t, CUT_END + 0.25, CUT_END + 30.0)
    # 80 s down in all, but only 30 s of it after the site came back: its own time.
    out = t.receive(gate(CUT_END + 30, "ok", CUT_END + 30, seq=6, historical=False),
                    CUT_END + 30.1)
    assert of(out, OutageEnded) and not own(out)
    assert not own(ticks(t, CUT_END + 30.25, CUT_END + 200.0))


def test_learned_late_its_own_evidence_makes_it_an_incident_at_once():
    t = Tracker(threshold_s=60)
    cut_and_back(t)
    ticks(t, CUT_END + 0.25, 400.0, step=1.0)
    # Both ends arrive long after (delivered late): down 150 s after the site came back.
    out = t.receive(gate(FAULT, "fault", FAULT), 400.1)
    out += t.receive(gate(CUT_END + 150, "ok", CUT_END + 150, seq=6), 400.2)
    [declared] = own(out)
    assert declared.outage.started_at == FAULT and declared.outage.ended_at == CUT_END + 150


def test_an_incident_made_before_the_recovery_arrived_is_withdrawn_by_it():
    t = Tracker(threshold_s=60)
    site_outage = cut_and_back(t)
    ticks(t, CUT_END + 0.25, 400.0, step=1.0)
    out = t.receive(gate(FAULT, "fault", FAULT), 400.1)
    out += t.tick(400.2)  # still down 300 s after the site came back, as far as it knows
    [declared] = own(out)
    out = t.receive(gate(FAULT + 40, "ok", FAULT + 40, seq=6), 400.3)  # it was not
    assert [d.outage for d in of(out, IncidentWithdrawn)] == [declared.outage]
    assert of(out, Absorbed)[-1].into is site_outage


def test_software_outages_follow_the_same_rule():
    t = Tracker(threshold_s=60)
    cut_and_back(t)
    out = t.receive(software(FAULT, "down", FAULT), CUT_END + 0.1)
    [crash] = [d.outage for d in of(out, OutageStarted)]
    assert crash.key.kind == SOFTWARE_DOWN and crash.released_at == CUT_END
    [declared] = own(ticks(t, CUT_END + 0.25, CUT_END + 61.0))
    assert declared.outage is crash


# --- across collector restarts, on a real database --------------------------------------

def core_at(db, now: float) -> Core:
    cfg = CollectorConfig(broker=Broker("127.0.0.1", 1), database=db,
                          projects=fleet("p/s"))
    core = Core(cfg, Store(cfg.database), now, live=False)
    core.link_up(now)
    return core


def run(core: Core, start: float, end: float, step: float = 0.25) -> list:
    out, t = [], start
    while t <= end:
        out += core.tick(t)
        t += step
    return out


def faults_in(db) -> list[dict]:
    return [o for o in list_outages(db) if o["kind"] == DEVICE_FAULT]


def test_a_restart_after_the_site_came_back_still_makes_the_one_incident(db_target):
    core = core_at(db_target, 0.0)
    core.handle(hb(0.0), 0.0)
    run(core, 0.25, 31.0)
    core.handle(hb(CUT_END), CUT_END)
    core.handle(gate(FAULT, "fault", FAULT), CUT_END + 0.1)
    run(core, CUT_END + 0.25, CUT_END + 20.0)
    core.stop(CUT_END + 20.0)  # before the fault is due

    again = core_at(db_target, CUT_END + 20.0)
    db = again.store.db
    [stored] = faults_in(db)
    assert stored["absorbed_by"] is None and stored["released_at"] == CUT_END
    [declared] = own(run(again, CUT_END + 20.25, CUT_END + 100.0))
    assert CUT_END + 60 < declared.declared_at <= CUT_END + 60.25
    again.stop(CUT_END + 100.0)

    third = core_at(db_target, CUT_END + 100.0)
    assert not own(run(third, CUT_END + 100.25, CUT_END + 300.0))
    third.stop(CUT_END + 300.0)
    [incident] = [i for i in list_incidents(db) if i["kind"] == DEVICE_FAULT]
    assert incident["opened_at"] == FAULT and incident["state"] == "open"
    assert faults_in(db)[0]["incident_id"] == incident["id"]


def test_a_recovery_delivered_after_a_restart_keeps_the_fault_absorbed(db_target):
    core = core_at(db_target, 0.0)
    core.handle(hb(0.0), 0.0)
    run(core, 0.25, 31.0)
    core.handle(hb(CUT_END, interval=1e9), CUT_END)  # too rare for silence to matter
    core.handle(gate(FAULT, "fault", FAULT), CUT_END + 0.1)
    core.stop(CUT_END + 1.0)

    again = core_at(db_target, CUT_END + 2.0)
    again.handle(gate(FAULT + 40, "ok", FAULT + 40, seq=6), CUT_END + 2.0)
    run(again, CUT_END + 2.25, CUT_END + 200.0)
    again.stop(CUT_END + 200.0)
    db = again.store.db
    [site_outage] = [o for o in list_outages(db) if o["kind"] == SITE_NETWORK]
    [stored] = faults_in(db)
    assert stored["absorbed_by"] == site_outage["id"] and stored["incident_id"] is None
    assert [i["kind"] for i in list_incidents(db)] == [SITE_NETWORK]


def test_a_fault_left_absorbed_by_an_earlier_version_is_released_on_restart(db_target):
    """The database as the collector before this rule left it: the fault open and absorbed
    by a site outage that ended long ago."""
    store = Store(db_target)
    store.begin_run(0.0)
    store.link_up(1, 0.0)
    host = Outage(OutageKey(SITE_NETWORK, "p", "s"), 0.0, 31.0)
    fault = Outage(OutageKey(DEVICE_FAULT, "p", "s", "gate"), FAULT, CUT_END + 0.1, "motor",
                   start_source="device_event")
    store.apply([OutageStarted(host)])
    host.ended_at, host.end_source = CUT_END, "message"
    store.apply([OutageEnded(host), OutageStarted(fault), Absorbed(fault, host)])
    store.alive(1, 500.0)

    core = core_at(db_target, 500.0)
    [stored] = faults_in(core.store.db)
    assert stored["absorbed_by"] is None and stored["released_at"] == CUT_END
    [declared] = own(run(core, 500.0, 501.0))
    assert declared.outage.started_at == FAULT
    core.stop(501.0)
    again = core_at(db_target, 502.0)
    assert not own(run(again, 502.0, 700.0))
    assert [i["kind"] for i in list_incidents(again.store.db)] == [DEVICE_FAULT]
