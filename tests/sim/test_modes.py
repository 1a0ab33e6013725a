"""Every shipped profile, served by its transport's simulator and polled by the agent's own
poller over a real pty, TCP or HTTP socket: each simulator control shows up as it should."""

from __future__ import annotations

import contextlib

import pytest

from agent.config import DeviceConfig
from agent.poller import DevicePoller, open_link
from agent.profiles import available, load_named
from simulators.device import SimDevice, SimError
from simulators.net_sim import HttpSim, TcpSim
from simulators.serial_sim import SerialSim

TIMEOUT = 0.25


@contextlib.contextmanager
def served(name: str, address: int | None = None):
    profile = load_named(name)
    sim = SimDevice(profile, name, address, seed=7)
    if profile.kind in ("serial", "modbus_rtu"):
        engine = SerialSim([sim]).start()
        where = {"port": engine.path}
    elif profile.kind == "http":
        engine = HttpSim(sim).start()
        where = {"url": engine.url}
    else:
        engine = TcpSim([sim]).start()
        where = {"host": engine.address}
    dev = DeviceConfig(name="dev", profile=name, address=sim.address, timeout_s=TIMEOUT,
                       retries=0, poll_interval_s=0.1, **where)
    poller = DevicePoller(dev, lambda out: None)
    link = open_link(poller.dev, poller.profile)
    try:
        yield sim, poller, link
    finally:
        link.close()
        engine.stop()


@pytest.mark.parametrize("name", available())
def test_every_control_of_the_simulator_reaches_the_agent(name):
    with served(name) as (sim, poller, link):
        def poll():
            return poller.poll_once(link)

        assert poll().state == "ok"
        codes = sim.profile.fault_codes()
        for code in {codes[0], codes[-1]}:
            sim.set_fault(code)
            reading = poll()
            assert (reading.state, reading.fault) == ("fault", code)
        sim.set_fault(None)
        assert poll().state == "ok"

        for mode in ("silent", "corrupt", "truncated", "random"):
            sim.set_mode(mode)
            before = sum(poller.stats.values())
            assert poll() is None, mode
            assert sum(poller.stats.values()) == before + 1
        assert poller.stats["timeout"] >= 1  # silence
        if sim.profile.kind in ("serial", "modbus_rtu"):
            assert poller.stats["checksum"] + poller.stats["timeout"] >= 2  # corrupt, random

        sim.set_mode("late", delay_s=TIMEOUT * 3)
        assert poll() is None
        sim.set_mode("late", delay_s=0.02)
        assert poll().state == "ok"
        sim.set_mode("normal")
        assert poll().state == "ok"
        assert poller.stats["ok"] >= 5


@pytest.mark.parametrize("name", [n for n in available() if load_named(n).channels("occupied")])
def test_a_car_held_on_a_loop_and_an_intercom_press(name):
    with served(name) as (sim, poller, link):
        channels = sim.profile.channels("occupied")
        sim.set_occupied(True, channels[-1])
        reading = poller.poll_once(link)
        assert reading.state == "occupied" and reading.occupied == {channels[-1]}
        assert poller.poll_once(link).occupied == {channels[-1]}  # held until released
        sim.set_occupied(False, channels[-1])
        assert poller.poll_once(link).state == "ok"
        if sim.profile.channels("intercom"):
            sim.press_intercom()
            assert poller.poll_once(link).intercom
            assert not poller.poll_once(link).intercom  # released after it was reported


def test_controls_a_profile_cannot_follow_are_refused_with_the_reason():
    sim = SimDevice(load_named("lpr-tcp-json"))
    with pytest.raises(SimError, match="no fault 'motor'.*video_loss"):
        sim.set_fault("motor")
    with pytest.raises(SimError, match="no occupied input"):
        sim.set_occupied(True)
    with pytest.raises(SimError, match="mode must be one of"):
        sim.set_mode("asleep")
    loops = SimDevice(load_named("loop-modbus-4ch"))
    with pytest.raises(SimError, match="channel 9"):
        loops.set_fault("loop_open", "9")
    loops.set_fault("loop_open", "3")
    assert loops.values["status"]["fault3"] == "loop_open"
