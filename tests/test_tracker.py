"""The outage core on a virtual clock: no broker, no threads, no sleeping."""

from collector.tracking.tracker import (
    DEVICE_OFFLINE,
    SITE_NETWORK,
    IncidentDeclared,
    OutageEnded,
    OutageStarted,
    Tracker,
)
from parkwatch.core import wire


def hb(ts, state="ok", since=None, interval=1000.0):
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
    t.receive(hb(1000.0), 1000.0)
    assert kinds(t.receive(ev(1003.0, "offline", since=1001.0), 1003.0)) == ["OutageStarted"]
    ticks = run_ticks(t, 1004.0, 1100.0)
    declared = [d for d in ticks if isinstance(d, IncidentDeclared)]
    assert len(declared) == 1 and 1061.0 < declared[0].declared_at <= 1062.0
    ended = t.receive(ev(1131.0, "ok", since=1131.0), 1131.0)
    assert kinds(ended) == ["OutageEnded"]
    assert ended[0].outage.ended_at - ended[0].outage.started_at == 130.0


def test_short_outage_stays_an_outage():
    t = Tracker(threshold_s=60)
    t.receive(hb(0.0), 0.0)
    t.receive(ev(5.0, "offline", since=5.0), 5.0)
    assert not any(isinstance(d, IncidentDeclared) for d in run_ticks(t, 6.0, 40.0))
    assert kinds(t.receive(ev(40.0, "ok", since=40.0), 40.0)) == ["OutageEnded"]
    assert not any(isinstance(d, IncidentDeclared) for d in run_ticks(t, 41.0, 200.0))


def test_a_late_replayed_outage_longer_than_threshold_is_declared_on_end():
    t = Tracker(threshold_s=60)
    t.receive(hb(0.0), 0.0)
    # The link was down: both events arrive in a burst after it came back.
    t.receive(ev(10.0, "offline", since=10.0, historical=True), 110.0)
    out = t.receive(ev(100.0, "ok", since=100.0, historical=True), 110.1)
    assert kinds(out) == ["IncidentDeclared", "OutageEnded"]


def test_silent_site_goes_down_from_its_last_heartbeat_and_back_on_next_message():
    t = Tracker(threshold_s=60, silence_factor=3)
    t.receive(hb(0.0, interval=10.0), 0.0)
    assert run_ticks(t, 1.0, 30.0) == []
    started = t.tick(30.5)
    assert kinds(started) == ["OutageStarted"]
    assert started[0].outage.key.kind == SITE_NETWORK
    assert started[0].outage.started_at == 0.0
    assert kinds(t.tick(61.0)) == ["IncidentDeclared"]
    ended = t.receive(hb(90.0, interval=10.0), 90.0)
    assert [type(d) for d in ended] == [OutageEnded]
    assert t.sites[("p", "s")].state == "online"


def test_will_marks_the_site_offline_at_once():
    t = Tracker()
    t.receive(hb(0.0), 0.0)
    out = t.receive(wire.Status("p", "s", "offline", 1, 5.0, "will"), 5.0)
    assert isinstance(out[0], OutageStarted) and out[0].outage.started_at == 0.0


def test_gateway_clock_an_hour_off_still_gives_collector_times():
    t = Tracker(threshold_s=60)
    skew = -3600.0  # the gateway thinks it is an hour earlier
    t.receive(hb(1000.0 + skew), 1000.2)
    out = t.receive(ev(1003.0 + skew, "offline", since=1001.0 + skew), 1003.2)
    assert out[0].outage.key.kind == DEVICE_OFFLINE
    assert abs(out[0].outage.started_at - 1001.0) < 0.5


def test_the_will_of_a_replaced_connection_changes_nothing():
    # A gateway reconnects (boot 2) before the broker gave up on its old connection; the
    # old connection's Will (boot 1) arrives after the new online status.
    t = Tracker()
    t.receive(hb(0.0), 0.0)
    t.receive(wire.Status("p", "s", "online", 2, 4.0, "connect"), 4.0)
    assert t.receive(wire.Status("p", "s", "offline", 1, 0.5, "will"), 4.1) == []
    assert t.sites[("p", "s")].state == "online"
