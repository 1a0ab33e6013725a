"""The agent turns what its pollers see into events on a real broker: a fault with its
severity, a loop occupied past loop_timeout_s, and an intercom call, each with the lane."""

from __future__ import annotations

import time

import paho.mqtt.client as mqtt
import pytest

from agent.config import AgentConfig, DeviceConfig
from agent.profiles import load_named
from agent.service import Agent
from parkwatch.core import wire
from parkwatch.core.broker import Broker
from simulators.device import SimDevice
from simulators.net_sim import TcpSim
from simulators.serial_sim import SerialSim
from tests.helpers import wait_for


@pytest.fixture
def site(tmp_path, mosquitto):
    gate = SimDevice(load_named("bg-7e7f-invsum"), "gate-in", 1)
    loops = SimDevice(load_named("loop-modbus-4ch"), "loops", 1)
    serial_sim, tcp_sim = SerialSim([gate]).start(), TcpSim([loops]).start()
    cfg = AgentConfig(
        project="p1", site="lot-1", broker=Broker("127.0.0.1", mosquitto.port),
        mqtt=mosquitto.site_mqtt("p1", "lot-1"), state_dir=tmp_path, heartbeat_interval_s=0.5,
        devices=(
            DeviceConfig("gate-in", serial_sim.path, profile="bg-7e7f-invsum", lane="in-1",
                         poll_interval_s=0.1, timeout_s=0.3, loop_timeout_s=1.0),
            DeviceConfig("loops", profile="loop-modbus-4ch", host=tcp_sim.address,
                         lane="in-2", poll_interval_s=0.1, timeout_s=0.3,
                         loop_timeout_s=1.0)))
    events: list[wire.Event] = []
    heartbeats: list[wire.Heartbeat] = []
    listener = mosquitto.login(mqtt.Client(mqtt.CallbackAPIVersion.VERSION2))  # reads all

    def on_message(client, userdata, msg):
        decoded = wire.decode(msg.topic, msg.payload)
        (events if isinstance(decoded, wire.Event) else heartbeats).append(decoded)

    listener.on_message = on_message
    listener.connect("127.0.0.1", mosquitto.port)
    listener.subscribe(wire.topic("p1", "lot-1", wire.EVENT), qos=1)
    listener.subscribe(wire.topic("p1", "lot-1", wire.HEARTBEAT), qos=0)
    listener.loop_start()
    agent = Agent(cfg)
    agent.start()
    try:
        yield gate, loops, events, heartbeats
    finally:
        agent.stop()
        listener.loop_stop()
        listener.disconnect()
        serial_sim.stop()
        tcp_sim.stop()


def of(events, kind, device):
    return [e for e in events if e.kind == kind and e.device == device]


def test_fault_loop_timeout_and_intercom_become_events_with_lane_and_time(site):
    gate, loops, events, heartbeats = site
    wait_for(lambda: len(of(events, "device_state", "gate-in")) == 1 and
             len(of(events, "device_state", "loops")) == 1, 10, what="both devices ok")

    gate.set_fault("arm_detached")
    fault = wait_for(lambda: [e for e in of(events, "device_state", "gate-in")
                              if e.state == "fault"], 10, what="the fault event")[0]
    assert (fault.fault, fault.severity, fault.prev) == ("arm_detached", "critical", "ok")
    wait_for(lambda: any(d.devices.get("gate-in") and d.devices["gate-in"].severity ==
                         "critical" for d in heartbeats), 5, what="severity in a heartbeat")

    pressed = time.time()
    gate.press_intercom()
    call = wait_for(lambda: of(events, "intercom", "gate-in"), 5, what="the intercom event")
    assert call[0].detail["lane"] == "in-1" and pressed - 0.5 <= call[0].detail["at"]

    occupied_at = time.time()
    loops.set_occupied(True, "3")
    timeout = wait_for(lambda: of(events, "loop_timeout", "loops"), 10, what="loop timeout")
    assert timeout[0].detail["lane"] == "in-2" and timeout[0].detail["channel"] == "3"
    assert abs(timeout[0].since - occupied_at) < 0.5
    assert 1.0 < timeout[0].detail["occupied_s"] < 2.5
    # Once per occupancy: five more polls of each device, and a heartbeat sent after them.
    polled = loops.requests, gate.requests
    wait_for(lambda: loops.requests >= polled[0] + 5 and gate.requests >= polled[1] + 5, 5,
             what="five more polls of each device")
    beats = len(heartbeats)
    wait_for(lambda: len(heartbeats) > beats, 5, what="a heartbeat after them")
    assert len(of(events, "loop_timeout", "loops")) == 1  # once per occupancy
    assert len(of(events, "intercom", "gate-in")) == 1    # once per press

    loops.set_fault("loop_short", "2")
    short = wait_for(lambda: [e for e in of(events, "device_state", "loops")
                              if e.fault == "loop_short"], 5, what="loop fault")[0]
    assert short.detail == {"channel": "2"} and short.severity == "critical"


def test_severity_is_an_optional_wire_field_with_a_fixed_vocabulary():
    ev = wire.Event("p1", "lot-1", 1, 2, 3.0, "device_state", device="gate-in",
                    state="fault", fault="motor", severity="critical")
    topic = wire.topic("p1", "lot-1", wire.EVENT)
    assert wire.decode(topic, wire.encode(ev)) == ev
    hb = wire.Heartbeat("p1", "lot-1", 1, 3, 4.0, 10.0,
                        {"gate-in": wire.DeviceReport("fault", "motor", 1.0, "minor")})
    assert wire.decode(wire.topic("p1", "lot-1", wire.HEARTBEAT), wire.encode(hb)) == hb
    bad = wire.encode(ev).replace(b'"critical"', b'"apocalyptic"')
    with pytest.raises(wire.WireError, match="'severity' must be one of critical, major"):
        wire.decode(topic, bad)
