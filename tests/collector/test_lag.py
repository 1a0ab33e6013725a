"""The lag rule: silence is judged at the time up to which the collector has read
everything, and while it is behind by more than the bound the time is unknown (recorded as
without the broker). Pure rule and Core on a real SQLite file; every time passed in."""

from __future__ import annotations

from collector.config import CollectorConfig
from collector.core import Core
from collector.inbox import Inbox
from collector.store import Store, list_outages
from collector.tracking.lag import BEHIND, CAUGHT_UP, LAG_BOUND_S, UNREAD_BOUND, LagRule
from parkwatch.core import wire
from parkwatch.core.broker import Broker
from tests.helpers import fleet

SITES = [f"s{i}" for i in range(5)]
INTERVAL = 1.0  # a silent site is down after 3 s


def hb(site: str, seq: int, ts: float) -> wire.Heartbeat:
    return wire.Heartbeat("p", site, 1, seq, ts, INTERVAL, {"gate": wire.DeviceReport("ok")})


def core_at(tmp_path, now: float = 0.0) -> Core:
    cfg = CollectorConfig(broker=Broker("127.0.0.1", 1), database=tmp_path / "c.db",
                          outage_threshold_s=2.0,
                          projects=fleet(*(f"p/{s}" for s in SITES)))
    core = Core(cfg, Store(cfg.database), now)
    core.link_up(now)
    return core


def sight(core: Core) -> list[tuple[float, float]]:
    return [(r["from_at"], r["to_at"]) for r in
            core.store.db.query("SELECT from_at, to_at FROM sight ORDER BY id")]


def test_the_rule_falls_behind_past_the_bound_and_catches_up_under_a_quarter_of_it():
    rule = LagRule()
    assert rule.check(100.0, 100.0 - LAG_BOUND_S) is None  # at the bound: not behind
    assert rule.check(101.0, 101.0 - LAG_BOUND_S - 0.1) == BEHIND
    assert rule.behind and rule.lag_s > LAG_BOUND_S
    assert rule.check(102.0, 102.0 - LAG_BOUND_S / 2) is None  # still behind
    assert rule.check(103.0, 103.0 - LAG_BOUND_S / 4) == CAUGHT_UP
    assert not rule.behind
    assert rule.check(104.0, 104.0, unread=UNREAD_BOUND + 1) == BEHIND  # the socket is full
    assert rule.check(105.0, 105.0, unread=UNREAD_BOUND // 2) is None
    assert rule.check(106.0, 106.0, unread=0) == CAUGHT_UP
    assert rule.times_behind == 2 and rule.max_lag_s > LAG_BOUND_S


def test_silence_the_collector_has_not_read_yet_takes_no_site_down(tmp_path):
    core = core_at(tmp_path)
    for s in SITES:
        core.handle(hb(s, 1, 0.5), 0.5)
    core.tick(1.0)
    # The worker stalls behind its inbox: at wall time 8 it has read only up to 2 (the
    # sites' heartbeats of 1.5 ... 8 still wait). 6.5 s of wall silence, none read.
    assert core.tick(8.0, read_to=2.0) == []
    assert core.store.db.execute("SELECT count(*) FROM outages").fetchone()[0] == 0
    assert core.lag.lag_s == 6.0 and not core.lag.behind  # under the bound: only late
    # It reads on: every site but s0 spoke again; s0's last heartbeat was at 0.5.
    for s in SITES[1:]:
        core.handle(hb(s, 2, 4.0), 4.0)
    down = core.tick(8.5, read_to=4.0)  # read up to 4: s0 silent 3.5 s > 3 s
    assert [d.outage.key.site for d in down if type(d).__name__ == "OutageStarted"] == ["s0"]
    [o] = list_outages(core.store.db)
    assert o["started_at"] == 0.5 and o["detected_at"] == 4.0  # when it knew, not wall 8.5


def test_behind_past_the_bound_is_unknown_time_and_no_site_goes_down(tmp_path):
    core = core_at(tmp_path)
    for s in SITES:
        core.handle(hb(s, 1, 0.5), 0.5)
    core.tick(1.0)
    # 30 s behind: the time from 1.0 on is unknown, as if the broker were gone.
    assert core.tick(31.0, read_to=1.0) == []
    assert core.lag.behind and core.tracker.blind
    assert sight(core)[-1] == (0.0, 1.0)
    # Reading on, late: only s1..s4 spoke between (s0 silent, or its heartbeats were
    # dropped by the broker while the collector was behind: it cannot tell).
    t = 1.5
    while t < 30.0:
        for s in SITES[1:]:
            core.handle(hb(s, 2, t), t)
        assert core.tick(t + LAG_BOUND_S + 1, read_to=t) == []  # still behind: no downs
        t += 1.0
    assert core.store.db.execute("SELECT count(*) FROM outages").fetchone()[0] == 0
    # Caught up at 31.5: seen again from there, every site with a fresh allowance.
    for s in SITES[1:]:
        core.handle(hb(s, 3, 31.5), 31.5)
    assert core.tick(32.0, read_to=31.5) == []
    assert not core.lag.behind and not core.tracker.blind
    assert sight(core)[-1][0] == 31.5
    for t in (32.5, 33.5, 34.0):
        for s in SITES[1:]:
            core.handle(hb(s, 4, t), t)
        core.tick(t + 0.1, read_to=t)
    down = core.tick(35.0)
    [o] = list_outages(core.store.db)  # s0: silent 3 s after the unknown time, not before
    assert o["site"] == "s0" and o["started_at"] == 31.5 and o["detected_at"] == 35.0
    assert down and not core.lag.behind


def test_clock_offsets_are_stored_by_the_tick_not_by_each_heartbeat(tmp_path):
    core = core_at(tmp_path)
    # The gateway's clock is 3 s behind: a drift, not a step (tests/collector/test_evidence.py
    # has a step, which is stored at once).
    core.handle(hb("s1", 1, 0.0 - 3.0), 0.0)
    count = "SELECT count(*) FROM site_clocks"
    assert core.store.db.execute(count).fetchone()[0] == 0
    core.tick(0.25)
    [(project, site, offset, interval_s)] = core.store.site_clocks()
    assert (project, site) == ("p", "s1") and abs(offset - 3.0) < 1e-6
    assert interval_s == INTERVAL


def test_a_waiting_heartbeat_takes_its_sites_later_ones_and_an_event_ends_that():
    box = Inbox()
    hb_key, ev_key = b"parkwatch/v1/p/s1/heartbeat", b"parkwatch/v1/p/s1/event"
    box.heartbeat(hb_key, hb_key.decode(), b"1", 1.0)
    box.heartbeat(b"parkwatch/v1/p/s2/heartbeat", "s2", b"x", 1.5)
    box.heartbeat(hb_key, hb_key.decode(), b"2", 2.0)  # replaces 1: latest wins
    box.put(ev_key.decode(), b"e", 3.0, ack=(1, 7), key=ev_key)
    box.heartbeat(hb_key, hb_key.decode(), b"3", 4.0)  # after the event: a new entry
    assert box.shed == 1 and len(box) == 4
    assert box.read_to(10.0) == 1.0  # the first heartbeat's position: nothing older waits
    first = box.pop()
    assert first[1] == b"2" and (first[2], first[3], first[4]) == (1.0, 2.0, 1)
    assert box.read_to(10.0) == 1.5
    assert [box.pop()[1] for _ in range(3)] == [b"x", b"e", b"3"]
    assert box.pop() is None and box.read_to(10.0) == 10.0


def test_messages_missing_from_many_sites_mean_behind_and_shed_ones_do_not():
    rule = LagRule()
    rule.check(0.0, 0.0)
    for seq in range(1, 6):  # 40 sites, each of its messages 2 apart: half went missing
        for s in range(40):
            rule.heard(("p", f"s{s}"), 1, 2 * seq)
    assert rule.check(0.5, 0.5) == BEHIND and rule.missing == 160
    quiet = LagRule()
    quiet.check(0.0, 0.0)
    for seq in range(1, 6):  # the same gaps, each explained by a heartbeat the inbox shed
        for s in range(40):
            quiet.heard(("p", f"s{s}"), 1, 2 * seq, shed=1 if seq > 1 else 0)
    assert quiet.check(0.5, 0.5) is None and quiet.missing == 0
    few = LagRule()  # two sites with huge gaps (a misbehaving agent) blind nobody
    few.check(0.0, 0.0)
    for seq in range(1, 50):
        few.heard(("p", "a"), 1, 1000 * seq)
        few.heard(("p", "b"), 1, 1000 * seq)
    assert few.check(0.5, 0.5) is None
    # Caught up once two windows pass with nothing missing.
    for t in (1.5, 2.5):
        for s in range(40):
            rule.heard(("p", f"s{s}"), 1, 100 + int(t * 10) + s % 1)
        rule.check(t, t)
    for s in range(40):
        rule.heard(("p", f"s{s}"), 1, 126)
    assert rule.check(3.6, 3.6) == CAUGHT_UP


def test_a_gap_in_a_sites_numbers_after_a_reconnect_is_the_links_not_the_brokers():
    rule = LagRule()
    rule.check(0.0, 0.0)
    for s in range(40):
        rule.heard(("p", f"s{s}"), 1, 1)
    rule.reset()
    for s in range(40):
        rule.heard(("p", f"s{s}"), 1, 50)
    assert rule.check(0.5, 0.5) is None and rule.missing == 0


def test_a_message_received_before_a_freeze_and_handled_after_gets_the_fresh_allowance(
        tmp_path):
    core = core_at(tmp_path, 360.0)
    core.handle(hb("s1", 1, 365.4), 365.4)
    core.stalled(365.5, 367.03)  # frozen: 365.5 .. 367.03 is unknown
    core.handle(hb("s2", 1, 364.78), 364.78)  # waited in the inbox; a site new to it
    assert core.tick(369.5, read_to=369.5) == []  # 2.5 s after it could see again
    down = {d.outage.key.site: d.outage for d in core.tick(370.1, read_to=370.1)
            if type(d).__name__ == "OutageStarted"}
    assert set(down) == {"s1", "s2"} and down["s2"].started_at == 364.78
