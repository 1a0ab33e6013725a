"""Heartbeats carry gateway health; a gateway whose clock is an hour off still reports
its uplink cut at the right time (clock offset from beacons seen through the broker)."""

import os
import subprocess
import threading
import time

import pytest

from parkwatch.core import wire
from tests.agent_support import Recorder, durable_mosquitto
from tests.helpers import wait_for

CLOCK_TOPIC = "parkwatch/v1/clock"


@pytest.fixture
def broker(tmp_path):
    b = durable_mosquitto(tmp_path / "mosquitto").start()
    yield b
    b.stop()


class Beacon:
    """Publishes the true time every 0.2 s, as a collector host with a good clock would."""

    def __init__(self, broker):
        import paho.mqtt.client as mqtt

        # Only the collector's account may publish the clock topic.
        self.client = broker.login(mqtt.Client(mqtt.CallbackAPIVersion.VERSION2))
        self.client.reconnect_delay_set(0.1, 0.3)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(0.2):
            self.client.publish(CLOCK_TOPIC, f"{time.time():.6f}")

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.client.loop_stop()
        self.client.disconnect()


def test_heartbeat_health_and_an_hour_wrong_clock(tmp_path, broker, parkwatch_exe):
    recorder = Recorder(broker, durable=True)
    beacon = Beacon(broker)
    # The agent as a gateway runs it, a process of its own: agent_rss_mb is then its own
    # memory, not the test runner's.
    config = tmp_path / "agent.toml"
    config.write_text(
        f'project = "p1"\nsite = "lot-1"\nbroker = "{broker.url}"\n'
        f'state_dir = "{tmp_path / "state"}"\nheartbeat_interval_s = 0.3\n'
        f"[mqtt]\n{broker.mqtt_toml('p1', 'lot-1')}reconnect_min_s = 0.1\n"
        f'reconnect_max_s = 0.3\nconnect_timeout_s = 2\nclock_topic = "{CLOCK_TOPIC}"\n')
    agent = subprocess.Popen(  # this gateway's clock is an hour fast
        [parkwatch_exe, "agent", "run", "--config", str(config)],
        env={**os.environ, "PARKWATCH_CLOCK_OFFSET_S": "3600"},
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "agent.log", "ab"))
    try:
        hb = wait_for(lambda: [h for h in recorder.of(wire.Heartbeat)
                               if h.health and "clock_offset_s" in h.health], 15,
                      what="a heartbeat with a clock offset")[-1]
        h = hb.health
        assert h["clock_offset_s"] == pytest.approx(-3600, abs=0.5)
        assert 0 < h["agent_rss_mb"] < 200 and 0 <= h["disk_pct"] <= 100
        assert 0 <= h["mem_pct"] <= 100 and h["uptime_s"] > 0 and "cpu_pct" in h
        assert h["outbox_depth"] == 0 and h["dropped_total"] == 0
        assert h["mqtt_errors"] == 0 and h["agent_errors"] == 0

        log = tmp_path / "agent.log"
        failed = log.read_text().count("cannot reach broker")
        cut = time.time()
        broker.stop()
        wait_for(lambda: log.read_text().count("cannot reach broker") > failed, 10,
                 what="the agent to find the broker gone")
        broker.start()
        back = time.time()
        [up] = wait_for(lambda: recorder.events("uplink"), 15, what="the uplink record")
        d = up.detail
        assert d["offset_s"] == pytest.approx(-3600, abs=0.5)
        # In the gateway's own clock the cut is an hour off; corrected, it is right.
        assert abs(d["start"] - 3600 - cut) <= 1.0
        assert abs(d["start"] + d["offset_s"] - cut) <= 1.0
        assert abs(d["end"] + d["offset_s"] - back) <= 1.0
    finally:
        agent.terminate()
        agent.wait(15)
        beacon.close()
        recorder.close()


def test_health_is_an_optional_object_on_the_wire():
    t = wire.topic("p", "s", wire.HEARTBEAT)
    hb = wire.Heartbeat("p", "s", 1, 2, 100.0, 10.0, {}, health={"cpu_pct": 3.5})
    assert wire.decode(t, wire.encode(hb)) == hb
    assert wire.decode(t, wire.encode(wire.Heartbeat("p", "s", 1, 2, 100.0, 10.0))).health is None
    bad = wire.encode(hb).replace(b'{"cpu_pct":3.5}', b"[1]")
    with pytest.raises(wire.WireError, match="'health' must be an object"):
        wire.decode(t, bad)
