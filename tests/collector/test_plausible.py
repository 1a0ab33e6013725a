"""The plausibility gate (collector/tracking/plausible.py) on its own: messages and ``now`` in, a
verdict out."""

from __future__ import annotations

import pytest

from collector.tracking.plausible import YEAR_S, Gate, Rules
from parkwatch.core import wire

NOW = 1_800_000_000.0


def hb(ts=NOW, boot=1, seq=1, **devices):
    return wire.Heartbeat("p", "s", boot, seq, ts, 10.0, dict(devices))


def ev(ts=NOW, boot=1, seq=1, kind="device_state", since=None, **detail):
    if kind == "uplink":
        return wire.Event("p", "s", boot, seq, ts, kind, detail={"cause": "dns", **detail})
    return wire.Event("p", "s", boot, seq, ts, kind, device="g", state="offline",
                      since=since)


def test_a_plain_heartbeat_and_event_pass_unchanged():
    g = Gate()
    msg = hb(gate=wire.DeviceReport("ok", since=NOW - 5))
    assert g.check(msg, NOW, None).msg is msg
    e = ev(since=NOW - 1)
    v = g.check(e, NOW, None)
    assert v.ok and v.msg is e and v.reason == ""


@pytest.mark.parametrize("msg,offset,problem", [
    (ev(ts=NOW + 301), None, "ts is 301 s ahead"),
    (ev(ts=NOW - YEAR_S - 1), None, "in the past"),
    (ev(since=NOW + 3600), None, "since is 3600 s ahead"),
    (ev(since=1.0), None, "since is"),
    # The site's clock runs an hour behind: its times are judged after the correction.
    (ev(ts=NOW - 3600 + 400), 3600.0, "ts is 400 s ahead"),
    (ev(kind="uplink", start=0.0, end=NOW), None, "uplink start is"),
    (ev(kind="uplink", start=NOW - 60, end=NOW + 9999), None, "uplink end is"),
    (ev(kind="uplink", start=NOW - 60, end=NOW, offset_s=-1e9), None, "uplink start"),
])
def test_times_outside_the_window_are_rejected(msg, offset, problem):
    v = Gate().check(msg, NOW, offset)
    assert v.reason == "time_window" and problem in v.problem and v.msg is None


def test_a_wrong_gateway_clock_is_fine_once_its_offset_is_known():
    g = Gate()
    assert g.check(ev(ts=NOW - 3600, since=NOW - 3601), NOW, 3600.0).ok
    rec = ev(kind="uplink", ts=1000.0, start=900.0, end=990.0, offset_s=NOW - 1000.0)
    assert g.check(rec, NOW, NOW - 1002.0).ok  # start and end by the record's own offset
    bad = ev(kind="uplink", ts=1000.0, start=900.0, end=990.0, offset_s=0.0, seq=2)
    assert g.check(bad, NOW, NOW - 1002.0).reason == "time_window"


def test_a_heartbeat_device_since_ahead_is_rejected_and_an_ancient_one_dropped():
    g = Gate()
    v = g.check(hb(gate=wire.DeviceReport("ok", since=NOW + 600)), NOW, None)
    assert v.reason == "time_window" and "'gate'" in v.problem
    v = g.check(hb(seq=2, gate=wire.DeviceReport("ok", since=NOW - 2 * YEAR_S),
                   loop=wire.DeviceReport("ok", since=NOW - 5)), NOW + 1, None)
    assert v.ok and v.msg.devices["gate"].since is None
    assert v.msg.devices["loop"].since == NOW - 5


def test_events_far_ahead_of_the_sites_boot_are_rejected():
    g = Gate(Rules(max_boot_ahead=10))
    assert g.check(ev(boot=10**9), NOW, None).ok  # boot not known yet: anything goes
    g = Gate(Rules(max_boot_ahead=10))
    assert g.check(hb(boot=5), NOW, None).ok
    assert g.check(ev(boot=15, seq=1), NOW, None).ok
    v = g.check(ev(boot=16, seq=2), NOW, None)
    assert v.reason == "boot_ahead" and "boot 16" in v.problem
    assert g.check(hb(boot=16, seq=1), NOW, None).ok  # the agent's new connection
    assert g.check(ev(boot=16, seq=2), NOW, None).ok


def test_the_rate_limit_cuts_heartbeats_hard_and_events_only_past_their_burst():
    r = Rules(heartbeat_rate=10, heartbeat_burst=5, event_rate=50, event_burst=1000)
    g = Gate(r)
    verdicts = [g.check(hb(seq=i), NOW, None) for i in range(8)]
    assert [v.ok for v in verdicts] == [True] * 5 + [False] * 3
    assert verdicts[-1].reason == "rate_limited"
    assert g.check(hb(seq=9), NOW + 0.11, None).ok  # one token back after 0.1 s
    assert all(g.check(ev(seq=i), NOW, None).ok for i in range(1000))
    assert g.check(ev(seq=1000), NOW, None).reason == "rate_limited"
    assert g.check(ev(seq=1001), NOW + 0.03, None).ok
    other = wire.Heartbeat("p", "other", 1, 1, NOW, 10.0, {})
    assert g.check(other, NOW, None).ok  # per site


def test_a_default_bucket_never_cuts_a_replay_of_a_full_outbox():
    """64 MB of the smallest records (~250 bytes with their row overhead), all at once."""
    g = Gate()
    n = int(64e6 / 256)
    assert all(g.check(ev(seq=i), NOW, None).ok for i in range(n))
