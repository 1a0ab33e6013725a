"""The uplink journal, clock offset and reconnect backoff: pure, on made-up clocks."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.mqtt_link import Backoff
from agent.uplink import ClockOffset, UplinkPeriod, UplinkTracker, parse_beacon
from parkwatch.core import wire

WALL0, MONO0 = 1_795_000_000.0, 500.0


def at(t):
    """Both gateway clocks, ``t`` seconds into the scenario."""
    return WALL0 + t, MONO0 + t


def test_a_closed_connection_is_a_period_from_the_moment_it_closed():
    u = UplinkTracker()
    assert u.connected(*at(0)) is None
    u.heard(MONO0 + 5)
    u.lost(*at(9), "closed")
    u.failed(*at(9.5), "tcp_connect")
    u.failed(*at(11), "tcp_connect")
    p = u.connected(*at(20))
    assert (p.start, p.end, p.duration_s) == (WALL0 + 9, WALL0 + 20, 11)
    assert p.cause == "tcp_connect" and p.lost == "closed"
    assert p.causes == {"keepalive_loss": 1, "tcp_connect": 2} and p.attempts == 2
    assert u.connected(*at(30)) is None  # one record per period


def test_a_keepalive_loss_starts_at_the_last_packet_from_the_broker():
    u = UplinkTracker()
    u.connected(*at(0))
    u.heard(MONO0 + 40)           # the last heartbeat echo before the blackhole
    u.lost(*at(85), "keepalive")  # paho noticed after 1.5 keepalives
    p = u.connected(*at(100))
    assert p.start == WALL0 + 40 and p.duration_s == 60
    assert p.cause == "keepalive_loss", "reconnecting at once leaves the loss as the cause"


def test_never_connected_starts_when_the_first_attempt_began():
    u = UplinkTracker()
    u.failed(*at(10), "dns", attempt_mono=MONO0 + 2)   # the lookup took 8 s to fail
    u.failed(*at(20), "tls")
    p = u.connected(*at(30))
    assert p.start == WALL0 + 2 and p.cause == "tls" and p.causes == {"dns": 1, "tls": 1}


def test_a_clock_step_during_the_outage_does_not_bend_the_duration():
    u = UplinkTracker()
    u.connected(*at(0))
    u.lost(*at(10), "closed")
    # Someone sets the gateway clock back an hour while the link is down.
    p = u.connected(WALL0 + 70 - 3600, MONO0 + 70)
    assert p.duration_s == 60
    assert p.start == WALL0 + 10 and p.end == WALL0 + 70 - 3600
    d = p.detail(offset_s=3600.0)
    assert d["duration_s"] == 60 and d["offset_s"] == 3600.0


def test_the_record_is_a_valid_uplink_event():
    u = UplinkTracker()
    u.lost(*at(1), "closed")
    u.failed(*at(2), "mqtt_refused")
    p = u.connected(*at(4))
    ev = wire.Event("p", "s", 3, 1, WALL0 + 4, "uplink", since=p.start, detail=p.detail(-1.5))
    back = wire.decode(wire.topic("p", "s", wire.EVENT), wire.encode(ev))
    assert back.detail["cause"] == "mqtt_refused" and back.detail["offset_s"] == -1.5


def test_an_unknown_cause_is_recorded_as_unknown():
    u = UplinkTracker()
    assert u.failed(*at(1), "cosmic_rays").cause == "unknown"


def test_a_period_open_when_the_agent_died_ends_at_its_last_attempt():
    u = UplinkTracker()
    u.lost(*at(10), "closed")
    u.failed(*at(12), "tcp_connect")
    snap = u.failed(*at(15), "tcp_connect").snapshot()
    p = UplinkPeriod.interrupted(snap)
    assert (p.start, p.end, p.duration_s, p.cause) == (WALL0 + 10, WALL0 + 15, 5, "tcp_connect")
    assert wire.Event("p", "s", 1, 1, 0.0, "uplink", detail=p.detail()).detail["end"] == p.end


def test_lost_needs_a_known_kind():
    with pytest.raises(ValueError):
        UplinkTracker().lost(*at(0), "vanished")


def test_clock_offset_keeps_the_least_delayed_sample_and_follows_a_step():
    off = ClockOffset(confirm_n=1, confirm_s=0)  # a step believed at once (test_clock_beacons.py)
    # The gateway is an hour slow; beacons arrive 0.05-0.5 s after they were sent.
    for i, delay in enumerate([0.3, 0.05, 0.5, 0.2, 0.4]):
        true_send = 1000.0 + i
        off.sample(true_send, true_send + delay - 3600)
    assert off.value == pytest.approx(3600 - 0.05, abs=0.06)
    off.sample(2000.0, 2000.0 + 0.1)  # the clock was fixed: a step of an hour
    assert off.value == pytest.approx(-0.1)


@pytest.mark.parametrize("payload,expected", [
    (b"1795312800.5", 1795312800.5), (b'{"ts": 1795312800}', 1795312800.0),
    (b"not json", None), (b'{"ts": "x"}', None), (b"true", None), (b"-5", None),
    (b"\xff", None),
])
def test_beacon_payloads(payload, expected):
    assert parse_beacon(payload) == expected


@given(st.floats(0.05, 5), st.floats(1, 300), st.integers(0, 2**32))
def test_backoff_stays_within_its_bounds(min_s, span, seed):
    b = Backoff(min_s, min_s + span, random.Random(seed).random)
    waits = [b.next() for _ in range(40)]
    assert all(min_s <= w <= min_s + span for w in waits)
    b.reset()
    assert b.next() <= 3 * min_s


def test_gateways_that_lost_the_broker_together_do_not_return_together():
    """10,000 gateways lose the broker at t=0; it is back at t=120. Count the arrivals."""
    arrivals = []
    for seed in range(10_000):
        b, t = Backoff(1.0, 60.0, random.Random(seed).random), 0.0
        while t < 120:
            t += b.next()
        arrivals.append(int(t))
    busiest = max(arrivals.count(s) for s in set(arrivals))
    assert busiest < 0.05 * len(arrivals), f"{busiest} gateways arrive in the same second"
    assert max(arrivals) < 120 + 60


def test_backoff_needs_sane_bounds():
    with pytest.raises(ValueError):
        Backoff(0, 1)
    with pytest.raises(ValueError):
        Backoff(5, 1)
