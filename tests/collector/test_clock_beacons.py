"""What one clock beacon (or a stream of forged ones) can do to the agent's clock estimate."""

from __future__ import annotations

import pytest

from agent.uplink import ClockOffset, parse_beacon

TRUE = 1_795_312_800.0  # a true "now"
OFFSET = -3600.0        # the gateway's clock is an hour fast


def feed(off: ClockOffset, t: float, offset: float, delay: float = 0.05) -> float | None:
    """A beacon sent at true time ``TRUE + t`` that says the offset is ``offset``."""
    return off.sample(TRUE + t, TRUE + t + delay - offset, mono=t + delay)


def test_the_first_beacon_gives_the_estimate_and_small_delays_are_followed():
    off = ClockOffset()
    assert feed(off, 0, OFFSET, 0.3) == pytest.approx(OFFSET - 0.3)
    for i, delay in enumerate([0.05, 0.5, 0.2]):
        feed(off, 5 * (i + 1), OFFSET, delay)
    assert off.value == pytest.approx(OFFSET - 0.05)


def test_a_forged_step_is_cancelled_by_the_collectors_own_beacons():
    off = ClockOffset()
    feed(off, 0, OFFSET)
    for t in range(1, 600):  # a stranger floods -3600 s more, the collector beacons every 5 s
        feed(off, t, OFFSET - 3600)
        feed(off, t + 0.01, OFFSET - 3600)
        if t % 5 == 0:
            feed(off, t, OFFSET)
    assert off.value == pytest.approx(OFFSET - 0.05)
    assert off.held > 1000


def test_a_burst_of_near_forgeries_moves_the_estimate_at_most_one_step():
    off = ClockOffset()
    feed(off, 0, OFFSET)
    for i in range(10_000):  # each one 4.9 s above the estimate: a ratchet, if it could
        off.sample(TRUE + 1 + i * 1e-4 + (off.value - OFFSET) + 4.9,
                   TRUE + 1 + i * 1e-4 - OFFSET, mono=1 + i * 1e-4)
    assert OFFSET <= off.value <= OFFSET + 5.0 + 0.01


def test_a_stream_of_near_forgeries_moves_it_no_faster_than_the_drift_bound():
    off = ClockOffset()
    feed(off, 0, OFFSET)
    for t in range(1, 3600):  # an hour of forgeries just inside the step, ten a second
        for k in range(10):
            target = off.value + 4.9
            off.sample(TRUE + t + target, TRUE + t, mono=t + k / 10)
        if t % 5 == 0:
            feed(off, t, OFFSET)  # the collector's own beacon
    assert off.value - OFFSET < 5.0 + 3.6 + 0.1


def test_a_lone_sender_is_believed_after_the_confirmation_time():
    # With the collector's beacons absent, nothing contradicts a steady claim: after 30 s
    # it is taken as a clock step. This is why the ACL, not this class, is the defence.
    off = ClockOffset()
    feed(off, 0, OFFSET)
    for t in range(1, 40):
        feed(off, t, 0.0)
    assert off.value == pytest.approx(-0.05)


def test_a_real_step_is_adopted_once_confirmed():
    off = ClockOffset()
    feed(off, 0, OFFSET)
    feed(off, 5, OFFSET)
    for t in range(10, 50, 5):  # somebody set the gateway's clock right at t=10
        feed(off, t, 0.0)
    assert off.value == pytest.approx(-0.05)


def test_a_step_needs_time_not_just_a_count():
    off = ClockOffset()
    feed(off, 0, OFFSET)
    for i in range(100):  # 100 agreeing forgeries within one second
        feed(off, 1 + i / 100, 0.0)
    assert off.value == pytest.approx(OFFSET - 0.05)


@pytest.mark.parametrize("payload", [
    b"NaN", b"Infinity", b"-Infinity", b'{"ts": Infinity}', b"1e308", b"0.5",
    b"1000000000", b"5000000000", b'{"ts": true}', b"[1795312800]",
    b'{"ts": 1795312800, "pad": "' + b"x" * 300 + b'"}',
])
def test_beacons_that_are_not_a_plausible_now_are_ignored(payload):
    assert parse_beacon(payload) is None


def test_a_beacon_of_today_parses():
    assert parse_beacon(b'{"ts": 1795312800.125}') == 1795312800.125
