"""Polls are spaced by the monotonic clock: a wall clock stepped back an hour (NTP, an
operator) neither stalls the poller nor hurries it, while readings keep the wall time."""

from __future__ import annotations

import threading
import time

from agent.config import DeviceConfig
from agent.poller import DevicePoller
from agent.profiles import load_named
from simulators.device import SimDevice
from simulators.serial_sim import SerialSim
from tests.helpers import wait_for

INTERVAL_S = 0.1


def test_a_wall_clock_stepped_back_an_hour_does_not_stall_polling():
    profile = load_named("bg-5b-xor")
    sim = SimDevice(profile, "gate", None, seed=1)
    engine = SerialSim([sim]).start()
    dates: list[float] = []

    def wall() -> float:  # an hour back from the second poll on
        dates.append(time.time() - (3600.0 if dates else 0.0))
        return dates[-1]

    dev = DeviceConfig(name="gate", profile="bg-5b-xor", port=engine.path, address=sim.address,
                       timeout_s=0.25, retries=0, poll_interval_s=INTERVAL_S)
    poller = DevicePoller(dev, lambda out: None, clock=wall)
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        wait_for(lambda: len(dates) >= 10, 10, what="ten polls after the clock step")
    finally:
        stop.set()
        thread.join(5)
        engine.stop()
    elapsed = time.monotonic() - started
    assert elapsed >= 9 * INTERVAL_S * 0.9  # not hurried either: the interval still holds
    assert dates[1] < dates[0] - 3000  # the readings were dated by the stepped clock
