"""A serial port that disappears (USB adapter pulled) makes the device offline; it is
reopened on a backoff schedule and the device comes back, without restarting anything."""

from __future__ import annotations

import threading
import time

from agent import serial_link
from agent.config import DeviceConfig
from agent.device import Change
from agent.poller import DevicePoller
from agent.profiles import load_named
from agent.reopen import ReopenGate
from simulators.device import SimDevice
from simulators.serial_sim import SerialSim
from tests.helpers import wait_for


def test_backoff_doubles_up_to_a_ceiling_and_a_success_resets_it():
    gate = ReopenGate(initial_s=0.5, max_s=4.0)
    assert gate.may_try(0.0)
    delays = [gate.failed(t) for t in (0.0, 0.5, 1.5, 3.5, 7.5, 11.5)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert not gate.may_try(15.0) and gate.may_try(15.5)
    gate.succeeded()
    assert gate.may_try(15.6) and gate.failed(16.0) == 0.5


def test_pulled_adapter_goes_offline_and_comes_back_on_the_same_path(tmp_path):
    path = tmp_path / "ttyUSB0"
    bus = SerialSim([SimDevice(load_named("bg-5b-xor"))], link=path).start()
    changes: list[Change] = []
    poller = DevicePoller(DeviceConfig("gate", str(path), poll_interval_s=0.1, timeout_s=0.2,
                                       offline_after=3), changes.append)
    stop = threading.Event()
    thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: poller.monitor.state == "ok", 10, what="the gate answering")
        link = serial_link._links[str(path)]
        bus.unplug()
        unplugged = time.time()
        wait_for(lambda: poller.monitor.state == "offline", 10, what="offline")
        offline = changes[-1]
        assert offline.state == "offline" and offline.since >= unplugged - 0.2
        # Polls keep failing while reopen attempts back off: two seconds' worth of them.
        wait_for(lambda: poller.stats["link_down"] >= 20, 15, what="20 failed polls")
        attempts = link.gate.failures
        assert poller.stats["link_down"] >= 10
        assert 2 <= attempts <= poller.stats["link_down"] // 3, (attempts, poller.stats)
        bus.replug()
        wait_for(lambda: poller.monitor.state == "ok", 15, what="the gate back after replug")
        assert thread.is_alive() and link.opens == 2
        assert [(c.prev, c.state) for c in changes] == \
            [("unknown", "ok"), ("ok", "offline"), ("offline", "ok")]
    finally:
        stop.set()
        thread.join(5)
        bus.stop()
