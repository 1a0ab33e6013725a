"""The outage core on a virtual clock: no broker, no threads, no sleeping. Evidence,
absorption, platform incidents, grades, unknown time, then the basics (a device's outage, a
silent site, the will). Pure: messages in, decisions out, time passed in."""

from collector.tracking.outages import (
    DEVICE_OFFLINE,
    PLATFORM,
    SITE_NETWORK,
    SOFTWARE_DOWN,
    Absorbed,
    GradeChanged,
    IncidentDeclared,
    IncidentWithdrawn,
    OutageEnded,
    OutageRevised,
    OutageStarted,
    grade,
)
from collector.tracking.platform import PlatformRule
from collector.tracking.tracker import Tracker
from parkwatch.core import wire


def hb(ts, site="s", interval=10.0, devices=None):
    return wire.Heartbeat("p", site, 1, 1, ts, interval, devices or {})


def uplink(ts, start, end, site="s", seq=9, **extra):
    return wire.Event("p", site, 2, seq, ts, "uplink", historical=True,
                      detail={"start": start, "end": end, "cause": "keepalive_loss", **extra})


def dev(ts, state, since, historical=False, site="s"):
    return wire.Event("p", site, 1, 5, ts, "device_state", device="gate", state=state,
                      since=since, historical=historical)


def of(decisions, kind):
    return [d for d in decisions if isinstance(d, kind)]


def ticks(tracker, start, end, step=0.25):
    out, t = [], start
    while t <= end:
        out += tracker.tick(t)
        t += step
    return out


def test_grades_follow_domain_md():
    assert [grade(m * 60) for m in (0, 5, 5.01, 15, 15.01, 30, 30.01)] == \
        ["IV", "IV", "III", "III", "II", "II", "I"]


def test_three_times_and_the_best_evidence_of_start_and_end():
    t = Tracker(threshold_s=60)
    t.receive(hb(100.0), 100.0)
    down = of(t.tick(131.0), OutageStarted)[0].outage
    assert (down.last_seen_at, down.started_at, down.detected_at) == (100.0, 100.0, 131.0)
    assert (down.start_source, down.detected_by) == ("last_message", "silence")
    declared = of(ticks(t, 131.0, 170.0), IncidentDeclared)
    assert len(declared) == 1 and declared[0].outage.declared_at == 160.25
    ended = t.receive(hb(400.0), 400.0)
    assert of(ended, OutageEnded)[0].outage.end_source == "message"
    # The agent's uplink record arrives: it replaces both estimates.
    revised = t.receive(uplink(400.5, 104.0, 395.0), 400.5)
    assert of(revised, OutageRevised)[0].outage is down
    assert (down.started_at, down.ended_at) == (104.0, 395.0)
    assert (down.start_source, down.end_source) == ("uplink_record", "uplink_record")


def test_uplink_record_can_make_a_short_outage_an_incident_after_it_closed():
    t = Tracker(threshold_s=60)
    t.receive(hb(0.0), 0.0)
    ticks(t, 0.25, 31.0)  # silent: down, detected at 30.25
    out = t.receive(hb(50.0), 50.0)  # back after 50 s by the collector's estimate
    assert not of(out, IncidentDeclared)
    out = t.receive(uplink(50.5, 5.0, 75.0 - 25.0 + 20.0), 50.5)  # the journal: 5 .. 50
    assert not of(out, IncidentDeclared)
    out = t.receive(uplink(51.0, -30.0, 50.0, seq=10), 51.0)  # a longer, truer record
    assert len(of(out, IncidentDeclared)) == 1


def test_uplink_record_can_withdraw_an_incident():
    t = Tracker(threshold_s=60)
    t.receive(hb(0.0), 0.0)
    assert len(of(ticks(t, 0.25, 100.0), IncidentDeclared)) == 1
    t.receive(hb(100.0), 100.0)
    out = t.receive(uplink(100.5, 40.0, 95.0), 100.5)  # really 55 s
    assert len(of(out, IncidentWithdrawn)) == 1


def test_uplink_record_nobody_noticed_becomes_an_outage_of_its_own():
    t = Tracker(threshold_s=60)
    t.receive(hb(0.0), 0.0)
    t.receive(wire.Heartbeat("p", "s", 2, 1, 10.0, 10.0, {}), 10.0)  # reconnected: boot 2
    out = t.receive(uplink(11.0, 1000.0 - 995.0, 9.0, offset_s=0.0), 11.0)
    assert [type(d).__name__ for d in out] == ["SiteEvent", "OutageStarted", "OutageEnded"]
    o = out[1].outage
    assert (o.key.kind, o.started_at, o.ended_at, o.detected_by) == \
        (SITE_NETWORK, 5.0, 9.0, "uplink_record")


def test_uplink_record_times_use_its_offset_or_the_sites():
    t = Tracker(threshold_s=60)
    t.receive(hb(0.0 - 3600.0), 0.2)  # the gateway's clock is an hour behind
    out = t.receive(uplink(1.0, 200.0 - 3600.0, 290.0 - 3600.0), 300.0)
    o = of(out, OutageStarted)[0].outage
    assert abs(o.started_at - 200.2) < 0.01 and abs(o.ended_at - 290.2) < 0.01
    out = t.receive(uplink(1.0, 500.0 - 3600.0, 590.0 - 3600.0, seq=11, offset_s=3600.0),
                    600.0)
    assert of(out, OutageStarted)[0].outage.started_at == 500.0


def test_a_site_outage_absorbs_the_device_outages_inside_it():
    t = Tracker(threshold_s=60)
    t.receive(hb(0.0), 0.0)
    site_outage = of(t.tick(31.0), OutageStarted)[0].outage
    # Back after 10 minutes; the outbox replays a device outage from inside the gap.
    t.receive(hb(600.0), 600.0)
    out = t.receive(dev(100.0, "offline", since=100.0, historical=True), 600.1)
    out += t.receive(dev(400.0, "ok", since=400.0, historical=True), 600.2)
    assert of(out, Absorbed)[0].into is site_outage
    assert not of(out, IncidentDeclared)  # one incident (the site's), one charge


def test_a_device_outage_that_outlasts_its_site_outage_becomes_its_own():
    t = Tracker(threshold_s=60)
    t.receive(hb(0.0), 0.0)
    t.tick(31.0)
    out = t.receive(dev(100.0, "offline", since=100.0, historical=True), 200.0)
    assert of(out, Absorbed)
    released = t.receive(hb(300.0, interval=1e9), 300.0)
    assert [d.into for d in of(released, Absorbed)] == [None]
    declared = of(ticks(t, 300.0, 365.0), IncidentDeclared)
    assert [d.outage.key.kind for d in declared] == [DEVICE_OFFLINE]
    assert declared[0].declared_at > 360.0


def fleet(n, rule=PlatformRule(share=0.3, window_s=15.0, min_sites=3)):
    t = Tracker(threshold_s=60, platform=rule)
    for i in range(n):
        t.receive(hb(float(i % 10), site=f"s{i}"), float(i % 10))
    return t


def test_a_mass_drop_is_one_platform_incident_and_no_site_incidents():
    t = fleet(10)
    # Sites 0-3 keep quiet from their last heartbeat (0..3 s); the rest keep talking.
    out = []
    for now in [x * 0.25 for x in range(0, 4 * 200)]:
        if now % 10 == 0:
            for i in range(4, 10):
                t.receive(hb(now + i % 10, site=f"s{i}"), now + i % 10)
        out += t.tick(now)
    platforms = [d.outage for d in of(out, OutageStarted) if d.outage.key.kind == PLATFORM]
    assert len(platforms) == 1
    assert {d.outage.key.site for d in of(out, Absorbed)} == {"s0", "s1", "s2", "s3"}
    declared = of(out, IncidentDeclared)
    assert [d.outage.key.kind for d in declared] == [PLATFORM]
    ended = []
    for i in range(4):
        ended += t.receive(hb(300.0, site=f"s{i}"), 300.0 + i)
    assert [d.outage.key.kind for d in of(ended, OutageEnded)][-1] == PLATFORM
    assert platforms[0].ended_at == 303.0


def test_a_few_sites_dropping_together_are_their_own_outages():
    t = fleet(10)
    out = []
    for now in [x * 0.25 for x in range(0, 4 * 200)]:
        if now % 10 == 0:
            for i in range(2, 10):
                t.receive(hb(now + i % 10, site=f"s{i}"), now + i % 10)
        out += t.tick(now)
    assert not [d for d in of(out, OutageStarted) if d.outage.key.kind == PLATFORM]
    assert {d.outage.key.site for d in of(out, IncidentDeclared)} == {"s0", "s1"}


def test_grade_moves_while_the_incident_is_open_and_settles_on_close():
    t = Tracker(threshold_s=60)
    t.receive(hb(0.0, interval=1e9), 0.0)
    t.receive(dev(0.0, "offline", since=0.0), 0.0)
    out = ticks(t, 0.0, 31 * 60.0, step=1.0)
    assert [d.grade for d in of(out, GradeChanged)] == ["III", "II", "I"]
    assert of(out, IncidentDeclared)[0].outage.grade == "I"
    t2 = Tracker(threshold_s=60)
    t2.receive(hb(0.0, interval=1e9), 0.0)
    t2.receive(dev(0.0, "offline", since=0.0), 0.0)
    ticks(t2, 0.0, 400.0, step=1.0)
    ended = t2.receive(dev(1200.0, "ok", since=1200.0), 1200.0)
    assert [d.grade for d in of(ended, GradeChanged)] == ["II"]


def test_no_site_goes_down_while_the_collector_cannot_see_the_broker():
    t = Tracker(threshold_s=60)
    t.seen = [[0.0, None]]
    t.receive(hb(0.0), 0.0)
    t.link_lost(5.0)
    assert ticks(t, 5.0, 200.0) == []
    t.link_restored(200.0)
    assert ticks(t, 200.0, 229.0) == []  # a fresh allowance from the reconnection
    down = of(t.tick(231.0), OutageStarted)[0].outage
    assert down.started_at == 200.0  # before that: unknown, not down


def test_unknown_time_does_not_make_an_outage_an_incident():
    t = Tracker(threshold_s=60)
    t.seen = [[0.0, 40.0]]  # the collector stopped at 40 and is back at 1000
    t.receive(hb(0.0), 0.0)
    t.tick(31.0)
    t.link_restored(1000.0)
    # Seen: 40 s before the stop, then from 1000 on; 20 more seconds make it an incident.
    assert not of(ticks(t, 1000.0, 1019.75), IncidentDeclared)
    declared = of(ticks(t, 1020.0, 1030.0), IncidentDeclared)
    assert len(declared) == 1 and declared[0].declared_at == 1020.25


def test_software_down_and_back():
    t = Tracker(threshold_s=60)
    t.receive(hb(0.0), 0.0)
    sw = wire.Event("p", "s", 1, 3, 10.0, "software", state="fault", fault="crashed",
                    since=10.0, detail={"process": "parkd"})
    o = of(t.receive(sw, 10.0), OutageStarted)[0].outage
    assert (o.key.kind, o.key.device) == (SOFTWARE_DOWN, "parkd")
    back = wire.Event("p", "s", 1, 4, 100.0, "software", state="ok", since=100.0,
                      detail={"process": "parkd"})
    out = t.receive(back, 100.0)
    assert of(out, IncidentDeclared) and of(out, OutageEnded)[0].outage.ended_at == 100.0


def test_next_deadline_lets_a_virtual_clock_jump():
    t = Tracker(threshold_s=60)
    t.receive(hb(0.0), 0.0)
    assert t.next_deadline() == 30.0
    t.blind = True
    assert t.next_deadline() is None


# --- The basics: a device's outage, a silent site, the will.

def gate_hb(ts, state="ok", since=None, interval=1000.0):
    return wire.Heartbeat("p", "s", 1, 1, ts, interval,
                          {"gate": wire.DeviceReport(state, None, since)})


def ev(ts, state, since, historical=False):
    return wire.Event("p", "s", 1, 2, ts, "device_state", device="gate", state=state,
                      since=since, historical=historical)


def kinds(decisions):
    return [type(d).__name__ for d in decisions]


def run_ticks(tracker, start, end, step=1.0):
    out, t = [], start
    while t <= end:
        out += tracker.tick(t)
        t += step
    return out


def test_device_down_past_threshold_becomes_one_incident_with_true_duration():
    t = Tracker(threshold_s=60)
    t.receive(gate_hb(1000.0), 1000.0)
    assert kinds(t.receive(ev(1003.0, "offline", since=1001.0), 1003.0)) == ["OutageStarted"]
    ticks = run_ticks(t, 1004.0, 1100.0)
    declared = [d for d in ticks if isinstance(d, IncidentDeclared)]
    assert len(declared) == 1 and 1061.0 < declared[0].declared_at <= 1062.0
    ended = t.receive(ev(1131.0, "ok", since=1131.0), 1131.0)
    assert kinds(ended) == ["OutageEnded"]
    assert ended[0].outage.ended_at - ended[0].outage.started_at == 130.0


def test_short_outage_stays_an_outage():
    t = Tracker(threshold_s=60)
    t.receive(gate_hb(0.0), 0.0)
    t.receive(ev(5.0, "offline", since=5.0), 5.0)
    assert not any(isinstance(d, IncidentDeclared) for d in run_ticks(t, 6.0, 40.0))
    assert kinds(t.receive(ev(40.0, "ok", since=40.0), 40.0)) == ["OutageEnded"]
    assert not any(isinstance(d, IncidentDeclared) for d in run_ticks(t, 41.0, 200.0))


def test_a_late_replayed_outage_longer_than_threshold_is_declared_on_end():
    t = Tracker(threshold_s=60)
    t.receive(gate_hb(0.0), 0.0)
    # The link was down: both events arrive in a burst after it came back.
    t.receive(ev(10.0, "offline", since=10.0, historical=True), 110.0)
    out = t.receive(ev(100.0, "ok", since=100.0, historical=True), 110.1)
    assert kinds(out) == ["IncidentDeclared", "OutageEnded"]


def test_silent_site_goes_down_from_its_last_heartbeat_and_back_on_next_message():
    t = Tracker(threshold_s=60, silence_factor=3)
    t.receive(gate_hb(0.0, interval=10.0), 0.0)
    assert run_ticks(t, 1.0, 30.0) == []
    started = t.tick(30.5)
    assert kinds(started) == ["OutageStarted"]
    assert started[0].outage.key.kind == SITE_NETWORK
    assert started[0].outage.started_at == 0.0
    assert kinds(t.tick(61.0)) == ["IncidentDeclared"]
    ended = t.receive(gate_hb(90.0, interval=10.0), 90.0)
    assert [type(d) for d in ended] == [OutageEnded]
    assert t.sites[("p", "s")].state == "online"


def test_will_marks_the_site_offline_at_once():
    t = Tracker()
    t.receive(gate_hb(0.0), 0.0)
    out = t.receive(wire.Status("p", "s", "offline", 1, 5.0, "will"), 5.0)
    assert isinstance(out[0], OutageStarted) and out[0].outage.started_at == 0.0


def test_gateway_clock_an_hour_off_still_gives_collector_times():
    t = Tracker(threshold_s=60)
    skew = -3600.0  # the gateway thinks it is an hour earlier
    t.receive(gate_hb(1000.0 + skew), 1000.2)
    out = t.receive(ev(1003.0 + skew, "offline", since=1001.0 + skew), 1003.2)
    assert out[0].outage.key.kind == DEVICE_OFFLINE
    assert abs(out[0].outage.started_at - 1001.0) < 0.5


def test_the_will_of_a_replaced_connection_changes_nothing():
    # A gateway reconnects (boot 2) before the broker gave up on its old connection; the
    # old connection's Will (boot 1) arrives after the new online status.
    t = Tracker()
    t.receive(gate_hb(0.0), 0.0)
    t.receive(wire.Status("p", "s", "online", 2, 4.0, "connect"), 4.0)
    assert t.receive(wire.Status("p", "s", "offline", 1, 0.5, "will"), 4.1) == []
    assert t.sites[("p", "s")].state == "online"
