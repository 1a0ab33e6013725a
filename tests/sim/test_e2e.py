"""The whole path on real parts: pty barrier -> agent process -> mosquitto -> collector."""

from __future__ import annotations

import subprocess
import time

import httpx
import paho.mqtt.client as mqtt
import pytest

from collector.config import CollectorConfig
from collector.service import Collector
from parkwatch.core import wire
from parkwatch.core.broker import Broker
from simulators.barrier import BarrierSim
from tests.helpers import fleet, wait_for

HEARTBEAT_S = 0.5
THRESHOLD_S = 2.0


@pytest.fixture
def site(tmp_path, mosquitto, parkwatch_exe, new_database):
    sim = BarrierSim().start()
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f"""
project = "p1"
site = "lot-1"
broker = "{mosquitto.url}"
heartbeat_interval_s = {HEARTBEAT_S}
state_dir = "{tmp_path / 'agent-state'}"

[[devices]]
name = "gate-in"
port = "{sim.path}"
poll_interval_s = 0.1
timeout_s = 0.1
offline_after = 2

[mqtt]
{mosquitto.mqtt_toml("p1", "lot-1")}""")
    collector = Collector(CollectorConfig(
        broker=Broker("127.0.0.1", mosquitto.port), database=new_database("collector"),
        mqtt=mosquitto.collector_mqtt(), projects=fleet(), outage_threshold_s=THRESHOLD_S,
        api_port=0, anonymous_read=True))
    collector.start()
    agent = subprocess.Popen([parkwatch_exe, "agent", "run", "--config", str(cfg)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    api = httpx.Client(base_url=f"http://127.0.0.1:{collector.port}", timeout=5)
    try:
        wait_for(lambda: _device_state(api) == "ok", 15, what="the gate reported ok")
        yield sim, api, agent
    finally:
        agent.terminate()
        agent.wait(10)
        collector.stop()
        sim.stop()
        api.close()


def _device_state(api):
    sites = api.get("/api/sites").json()
    devices = [d for s in sites for d in s["devices"] if d["device"] == "gate-in"]
    return devices[0]["state"] if devices else None


def test_silence_past_the_threshold_is_one_incident_with_the_true_duration(site):
    sim, api, _ = site
    sim.go_silent()
    went_silent = time.time()
    wait_for(lambda: api.get("/api/incidents").json(), THRESHOLD_S + 10, what="an incident")
    time.sleep(max(0.0, went_silent + THRESHOLD_S + 1.5 - time.time()))  # scripted length
    sim.go_silent(False)
    came_back = time.time()
    closed = wait_for(lambda: [i for i in api.get("/api/incidents").json()
                               if i["state"] == "closed"], 10, what="the incident to close")
    incidents = api.get("/api/incidents").json()
    assert len(incidents) == 1
    inc = incidents[0]
    assert (inc["project"], inc["site"], inc["device"], inc["kind"]) == \
        ("p1", "lot-1", "gate-in", "device_offline")
    truth = came_back - went_silent
    assert abs(closed[0]["duration_s"] - truth) <= HEARTBEAT_S, (closed[0], truth)
    assert _device_state(api) == "ok"


def test_silence_shorter_than_the_threshold_is_an_outage_not_an_incident(site):
    sim, api, _ = site
    sim.go_silent()
    wait_for(lambda: _device_state(api) == "offline", 5, what="the gate to go offline")
    sim.go_silent(False)
    wait_for(lambda: _device_state(api) == "ok", 5, what="the gate to come back")
    outages = api.get("/api/outages").json()
    assert [(o["kind"], o["ended_at"] is not None) for o in outages] == \
        [("device_offline", True)]
    assert api.get("/api/incidents").json() == []


def test_sigterm_publishes_a_retained_offline_status_at_once(site, mosquitto):
    _, api, agent = site
    assert api.get("/api/sites").json()[0]["boot"] >= 1
    agent.terminate()
    assert agent.wait(10) == 0
    got = []
    client = mosquitto.login(mqtt.Client(mqtt.CallbackAPIVersion.VERSION2))
    client.on_message = lambda c, u, m: got.append(wire.decode(m.topic, m.payload))
    client.connect("127.0.0.1", mosquitto.port)
    client.subscribe(wire.topic("p1", "lot-1", wire.STATUS), qos=1)
    client.loop_start()
    try:
        wait_for(lambda: got, 5, what="the retained status")
    finally:
        client.loop_stop()
        client.disconnect()
    assert (got[0].state, got[0].reason) == ("offline", "shutdown")


def test_unreachable_broker_is_retried_not_fatal(tmp_path, parkwatch_exe):
    from simulators.ports import HeldPort

    nowhere = HeldPort()  # held, never listening: refused, and no one else's meanwhile
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'project = "p"\nsite = "s"\nbroker = "mqtt://127.0.0.1:{nowhere.port}"\n'
                   f'state_dir = "{tmp_path}"\n')
    proc = subprocess.Popen([parkwatch_exe, "agent", "run", "--config", str(cfg)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(2.5)
    finally:
        proc.terminate()
        _, err = proc.communicate(10)
        nowhere.close()
    assert "cannot reach broker" in err
    assert "Traceback" not in err
