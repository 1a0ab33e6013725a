"""A real collector process killed with -9 during outages: exactly one incident per outage.

The site is played by a paho client publishing real heartbeats to a real mosquitto; the
collector is ``parkwatch collector run`` in its own process, killed with SIGKILL and started
again on the same database.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import httpx
import paho.mqtt.client as mqtt
import pytest

from parkwatch.core import wire
from simulators.ports import log_size, port_in_log
from tests.helpers import fleet_toml, wait_for

BEAT_S = 0.3  # silence after 8 x 0.3 s: a loaded CI machine can stall a beat for a second
THRESHOLD_S = 2.5


class Site:
    """A site agent reduced to its heartbeats (and one uplink record)."""

    def __init__(self, broker):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fake-site",
                                  protocol=mqtt.MQTTv311)
        broker.login(self.client, "p1", "lot-1")
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.beating = threading.Event()
        self.seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(BEAT_S):
            if self.beating.is_set():
                self.seq += 1
                hb = wire.Heartbeat("p1", "lot-1", 1, self.seq, time.time(), BEAT_S, {})
                self.client.publish(wire.topic("p1", "lot-1", wire.HEARTBEAT), wire.encode(hb))

    def uplink_record(self, start: float, end: float):
        self.seq += 1
        ev = wire.Event("p1", "lot-1", 1, self.seq, time.time(), "uplink", historical=True,
                        detail={"start": start, "end": end, "cause": "keepalive_loss"})
        self.client.publish(wire.topic("p1", "lot-1", wire.EVENT), wire.encode(ev),
                            qos=1).wait_for_publish(5)

    def close(self):
        self._stop.set()
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def setup(tmp_path, mosquitto, parkwatch_exe, new_database):
    cfg = tmp_path / "collector.toml"
    log = tmp_path / "collector.log"
    cfg.write_text(f'broker = "{mosquitto.url}"\ndatabase = "{new_database("c")}"\n'
                   f"outage_threshold_s = {THRESHOLD_S}\nsite_silence_factor = 8\n"
                   "[api]\nport = 0\n"  # each run's port is read from its log
                   "anonymous_read = true\n"
                   f"[mqtt]\n{mosquitto.mqtt_toml()}{fleet_toml()}")
    procs = []
    api = httpx.Client(timeout=5)  # pointed at each run's port

    def start():
        offset = log_size(log)
        with open(log, "ab") as err:
            proc = subprocess.Popen([parkwatch_exe, "collector", "run", "--config", str(cfg)],
                                    stdout=subprocess.DEVNULL, stderr=err)
        procs.append(proc)
        api.base_url = f"http://127.0.0.1:{port_in_log(log, proc, offset=offset)}"

        def connected():
            try:
                return api.get("/healthz", timeout=1).json()["mqtt_connected"]
            except httpx.HTTPError:
                return False

        wait_for(connected, 30, 0.1, what="the collector to connect")
        return proc

    site = Site(mosquitto)
    try:
        yield start, site, api
    finally:
        site.close()
        api.close()
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(10)


def open_outage(api):
    return [o for o in api.get("/api/outages").json() if o["ended_at"] is None]


def test_kill_9_during_outages_gives_exactly_one_incident_each(setup):
    start, site, api = setup
    collector = start()
    site.beating.set()
    wait_for(lambda: [s for s in api.get("/api/sites").json() if s["state"] == "online"], 10,
             what="the site to be online")

    # 1. Killed after the outage was detected, most likely before it became an incident.
    site.beating.clear()
    silent_at = time.time()
    wait_for(lambda: open_outage(api), 10, 0.02, what="the outage to be detected")
    collector.send_signal(signal.SIGKILL)
    collector.wait(10)
    collector = start()
    wait_for(lambda: api.get("/api/incidents").json(), 15, what="the incident after restart")
    site.beating.set()
    wait_for(lambda: not open_outage(api), 10, what="the outage to end")
    back_at = time.time()

    # 2. Killed while its incident is open (after the site was heard for two beats).
    wait_for(lambda: any((s["last_seen"] or 0) > back_at + 2 * BEAT_S for s in
                         api.get("/api/sites").json()), 10, what="two beats after the outage")
    site.beating.clear()
    wait_for(lambda: len(api.get("/api/incidents").json()) == 2, 15, what="the 2nd incident")
    collector.send_signal(signal.SIGKILL)
    collector.wait(10)
    # While the collector is dead, the agent's uplink record of outage 1 arrives at the
    # broker; the collector's persistent session gets it after the restart.
    site.uplink_record(silent_at + 0.1, back_at)
    collector = start()
    # Resumed and ticking: it has the uplink record its session kept, and a second
    # incident for the open outage would appear within a few ticks (0.25 s) of now.
    wait_for(lambda: [o for o in api.get("/api/outages").json()
                      if o["start_source"] == "uplink_record"], 10,
             what="the uplink record kept for the collector's session, applied")
    time.sleep(1.0)  # the window in which a second incident would show (none must)
    site.beating.set()
    wait_for(lambda: not open_outage(api), 10, what="the second outage to end")

    outages = api.get("/api/outages").json()
    incidents = api.get("/api/incidents").json()
    assert len(outages) == 2, outages
    assert sorted(i["outage_id"] for i in incidents) == [o["id"] for o in outages]
    assert all(i["state"] == "closed" for i in incidents)
    first = wait_for(lambda: [o for o in api.get("/api/outages").json()
                              if o["start_source"] == "uplink_record"], 10,
                     what="the uplink record to revise outage 1")[0]
    assert first["id"] == outages[0]["id"]
    assert abs(first["started_at"] - (silent_at + 0.1)) < 0.5
    runs = api.get("/api/collector/runs").json()["runs"]
    assert len(runs) == 3 and all(r["stopped_at"] is not None for r in runs[:2])
    collector.terminate()
    assert collector.wait(10) == 0
