"""Evidence rules the fault suite (tests/faults) found wanting, pinned down on the pure
tracker: which outage an uplink record revises, late messages of a dead connection, and
clock offsets that survive a restart. Messages in, decisions out, time passed in."""

from collector.config import CollectorConfig
from collector.core import Core
from collector.store import Store
from collector.tracking.outages import Absorbed, IncidentDeclared, OutageStarted, SiteClock
from collector.tracking.tracker import Tracker
from parkwatch.core import wire
from tests.helpers import fleet


def hb(ts, boot=1, seq=1, interval=1.0):
    return wire.Heartbeat("p", "s", boot, seq, ts, interval, {})


def status(ts, state, boot):
    return wire.Status("p", "s", state, boot, ts, "will" if state == "offline" else "connect")


def record(boot, start, end, seq=1, **detail):
    return wire.Event("p", "s", boot, seq, end, "uplink",
                      detail={"start": start, "end": end, "cause": "tcp_connect",
                              "lost": "closed", **detail})


def of(decisions, kind):
    return [d for d in decisions if isinstance(d, kind)]


def site_outages(t):
    site = t.sites[("p", "s")]
    return sorted({id(o): o for o in site.recent}.values(), key=lambda o: o.started_at)


def test_records_of_cuts_the_collector_missed_each_revise_their_own_outage():
    """Delivered late (the collector was away): Will, online, record per cut."""
    t = Tracker(threshold_s=60, silence_factor=3)
    t.receive(hb(0.0), 0.0)
    now = 100.0
    for boot, (start, end) in enumerate([(10.0, 10.6), (12.0, 12.5), (14.0, 14.7)], 2):
        t.receive(status(start, "offline", boot - 1), now)
        t.receive(status(end, "online", boot), now)
        t.receive(record(boot, start, end), now)
    outages = site_outages(t)
    assert [(o.started_at, o.ended_at) for o in outages] == \
        [(10.0, 10.6), (12.0, 12.5), (14.0, 14.7)]


def test_a_record_near_an_outage_another_connection_ended_makes_its_own():
    t = Tracker(threshold_s=60, silence_factor=3)
    t.receive(hb(0.0, boot=1), 0.0)
    t.tick(3.5)  # silent: down
    t.receive(hb(5.0, boot=1), 5.0)  # the same connection is back: no record will come
    out = t.receive(record(2, 7.0, 9.0), 9.1)  # a later, separate cut
    assert len(of(out, OutageStarted)) == 1
    assert [(o.started_at, o.ended_at) for o in site_outages(t)] == [(0.0, 5.0), (7.0, 9.0)]


def test_two_records_of_one_outage_widen_it():
    """Killed during the outage, the agent sends the dead process's record (interrupted)
    and, after reconnecting, its own, which never had a connection (lost: null)."""
    t = Tracker(threshold_s=60, silence_factor=3)
    t.receive(hb(0.0, boot=4), 0.0)
    t.tick(3.5)
    t.receive(status(20.0, "online", 6), 20.0)
    t.receive(record(5, 0.3, 8.0, interrupted=True), 20.1)  # the dead process's
    out = t.receive(record(6, 11.0, 19.9, lost=None), 20.2)  # the restarted one's
    [o] = site_outages(t)
    assert (o.started_at, o.ended_at) == (0.3, 19.9)
    assert of(out, IncidentDeclared) == []  # 19.6 s: under the threshold


def test_a_healed_blackhole_is_one_outage_whatever_comes_through_first():
    t = Tracker(threshold_s=5, silence_factor=3)
    for i in range(5):
        t.receive(hb(i * 1.0, seq=i + 1), i * 1.0)
    t.tick(7.5)  # silent since 4.0: down
    # The path heals and lets through what the dead connection sent: the old part is
    # history, not a sign of life ...
    for i in range(5):
        assert not t.receive(hb(4.5 + i, seq=10 + i), 12.0)
    assert t.sites[("p", "s")].state == "offline"
    # ... the freshest looks live and ends the outage, then the broker's Will opens another.
    t.receive(hb(11.5, seq=20), 12.0)
    t.receive(status(12.0, "offline", 1), 12.01)  # the dead connection's own boot
    t.receive(status(12.3, "online", 2), 12.3)  # the new connection
    out = t.receive(record(2, 4.2, 12.3), 12.31)  # its record covers both
    outages = site_outages(t)
    assert len(outages) == 2 and len(of(out, Absorbed)) == 1
    [kept] = [o for o in outages if not o.absorbed]
    assert abs(kept.started_at - 4.2) < 0.1 and abs(kept.ended_at - 12.3) < 0.1
    assert kept.incident and kept.detected_at == 7.5  # the one the operators saw first


def test_a_clock_set_while_the_connection_lived_is_believed_after_two_beats():
    t = Tracker(threshold_s=60, silence_factor=3)
    t.receive(hb(0.0, seq=1), 0.0)
    t.tick(3.5)  # down
    # The gateway's clock went back an hour; its heartbeats keep coming in real time.
    assert not t.receive(hb(4.0 - 3600, seq=2), 4.0)
    assert t.sites[("p", "s")].state == "offline"
    t.receive(hb(5.0 - 3600, seq=3), 5.0)
    site = t.sites[("p", "s")]
    assert site.state == "online" and abs(site.offset - 3600) < 0.01


def test_the_clock_offset_is_stored_and_resumed(new_database):
    from parkwatch.core.broker import Broker

    cfg = CollectorConfig(broker=Broker("127.0.0.1", 1), database=new_database("c"),
                          projects=fleet("p/s"))
    core = Core(cfg, Store(cfg.database), 0.0)
    core.link_up(0.0)
    out = core.handle(hb(0.0 - 3600), 0.2)  # an hour behind
    assert [round(d.offset) for d in of(out, SiteClock)] == [3600]
    assert not of(core.handle(hb(1.0 - 3600, seq=2), 1.25), SiteClock)  # moved too little
    core.stop(2.0)
    again = Core(cfg, Store(cfg.database), 10.0)
    # An event delivered before any live heartbeat is placed with the stored offset.
    ev = wire.Event("p", "s", 1, 9, 5.0 - 3600, "device_state", device="gate",
                    state="offline", since=4.0 - 3600)
    [started] = of(again.handle(ev, 10.0), OutageStarted)
    assert abs(started.outage.started_at - 4.2) < 0.1


def test_a_clock_step_is_stored_at_once_not_at_the_next_tick(new_database):
    """A collector killed -9 between a gateway's clock step and its next tick must not
    lose the step: the events the broker redelivers to the next run, made on the stepped
    clock, would be refused as an hour ahead (the fault suite's gateway-clock case, once).
    A drift is still stored by the tick (the hot path's one write per tick)."""
    from parkwatch.core.broker import Broker

    cfg = CollectorConfig(broker=Broker("127.0.0.1", 1), database=new_database("c"),
                          projects=fleet("p/s", "p/t"))
    core = Core(cfg, Store(cfg.database), 0.0)
    core.link_up(0.0)
    core.handle(wire.Heartbeat("p", "t", 1, 1, 0.0, 1.0, {}), 0.2)  # a clock near right
    [clock] = of(core.handle(hb(0.0 + 3600), 0.2), SiteClock)  # set an hour ahead
    assert clock.step
    def stored():  # read by another connection, as the next collector run would
        return {(p, s): off for p, s, off, _ in Store(cfg.database).site_clocks()}

    # No tick, no stop: what another process reads now is what a kill -9 leaves.
    assert round(stored()[("p", "s")]) == -3600 and ("p", "t") not in stored()
    core.tick(0.5)
    assert round(stored()[("p", "s")]) == -3600 and abs(stored()[("p", "t")] - 0.2) < 0.01
