"""Processes killed with -9 and a gateway clock an hour wrong: each outage still counted
once and right, and every event the agent made recorded once."""

from __future__ import annotations

import signal
import time

from tests.faults.checks import Case
from tests.faults.rig import DEVICES, THRESHOLD_S
from tests.helpers import wait_for


def open_site_outage(rig):
    return [o for o in rig.outages("site_network") if o["ended_at"] is None]


def test_collector_killed_during_an_outage(rig):
    case = Case(rig, "collector kill -9 in an outage")
    t0 = rig.cut()
    case.faults.append(rig.toggle_fault())
    wait_for(lambda: open_site_outage(rig), 10, 0.05, what="the outage to be detected")
    rig.kill_collector()
    time.sleep(1.0)
    rig.start_collector()
    # Seen after the restart alone longer than the threshold, however slow the start was.
    time.sleep(max(0.0, t0 + THRESHOLD_S + 3.5 - time.time(), THRESHOLD_S + 0.5))
    case.add_cut(t0, rig.heal())
    case.finish(incidents_expected=1, injected=2)  # a cut and a kill


def test_collector_killed_while_the_uplink_flaps(rig):
    """The collector sees none of these cuts: the agent's records alone must give one
    outage each, and no incident (the collector could not see them)."""
    case = Case(rig, "collector kill -9, uplink flaps")
    rig.kill_collector()
    for i in range(3):
        case.cut(0.6, fault=i == 0)
        time.sleep(1.0)
    rig.start_collector()
    case.finish(incidents_expected=0, injected=4)  # a kill and three cuts


def test_collector_killed_during_a_burst_of_events(rig):
    """The collector is frozen while events pile up in its socket, thawed, and killed while
    it works through them; then started again."""
    case = Case(rig, "collector kill -9 in a burst")
    for pause in (0.002, 0.03):
        frozen = time.time()
        rig.collector.send_signal(signal.SIGSTOP)
        for _ in range(4):
            case.faults.append(rig.toggle_fault())
        # Frozen longer than a silence: a collector that stood still must not blame sites.
        time.sleep(max(0.0, frozen + 2.0 - time.time()))
        rig.collector.send_signal(signal.SIGCONT)
        time.sleep(pause)
        rig.kill_collector(count=False)
        rig.start_collector()
    case.finish(incidents_expected=0, outages_expected=0, injected=2)  # two kills


def test_broker_killed_and_restarted(rig):
    """The collector cannot see while the broker is dead: the agent's record makes the
    outage, and unknown time makes no incident."""
    case = Case(rig, "broker kill -9")
    t0 = time.time()
    rig.broker.kill()
    case.faults.append(rig.toggle_fault())
    time.sleep(max(0.0, t0 + 3.0 - time.time()))
    rig.broker.start()
    case.add_cut(t0, time.time())
    case.finish(incidents_expected=0)


def test_agent_killed_with_a_full_outbox(rig):
    """Cut off, the agent fills a small outbox, is killed with -9 and restarted, still cut
    off. What it kept arrives once, what it dropped is reported, the uplink records of both
    processes make one outage of the whole cut."""
    rig.restart_agent(outbox_max_mb=0.004)  # room for about ten events
    rig.wait_online()
    rig.settle()
    case = Case(rig, "agent kill -9, full outbox")
    toggles = 8
    t0 = rig.cut()
    for _ in range(toggles):
        rig.toggle_fault()
    assert rig.dropped_pending() > 0, "the outbox should have had to drop"
    rig.kill_agent()
    q = rig.sim.queries
    rig.start_agent()
    # The restarted agent reports the dead one's period and its own first reading.
    wait_for(lambda: rig.sim.queries >= q + 2, 10, 0.05, what="the restarted agent's polls")
    time.sleep(max(0.0, t0 + THRESHOLD_S + 1.5 - time.time()))
    case.add_cut(t0, rig.heal())
    # Made: every fault and recovery, the interrupted record, each device's first reading
    # after the restart, then the new connection's record and one dropped report.
    made = 2 * toggles + 1 + len(DEVICES) + 2
    got = case.finish(incidents_expected=1, uplink_records=2, made=made,
                      faults_expected=1, injected=3)  # a cut, a full outbox, a kill
    assert len(got["faults"]) == 1
    # Its recoveries were dropped first: the next live heartbeat tells that it is over.
    wait_for(lambda: rig.outages("device_fault", after_id=case.before)[0]["ended_at"], 10,
             what="the fault outage to end")
    assert rig.gate_state() == "ok"


def test_gateway_clock_an_hour_ahead(rig):
    """The gateway's clock is an hour ahead. A cut while the collector is away (what the
    restarted collector gets before any live heartbeat) and a cut it sees are both placed
    on the collector's clock, within a second."""
    rig.restart_agent(PARKWATCH_CLOCK_OFFSET_S="3600")
    rig.wait_online()
    rig.settle()
    assert abs((rig.site() or {}).get("clock_offset_s", 0) + 3600) < 1
    case = Case(rig, "gateway clock +1 h")
    rig.kill_collector()
    case.cut(1.0)
    time.sleep(0.5)
    rig.start_collector()
    case.cut(THRESHOLD_S + 1.5)
    case.finish(incidents_expected=1)
