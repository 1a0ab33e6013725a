"""Attacks on the fleet, replayed against real processes: a mosquitto, and the collector as
``parkwatch collector run`` with its TOML config. Each asserts that nothing stored changed.

Two layers stand in the way. The locked-down broker (``parkwatch broker config``) lets no
one in without a registered account and lets a site publish only its own topics; and the
collector itself refuses any site its registry does not know, which is what the attacks
below replay against a broker whose ACL lets the attacker write anywhere under
parkwatch/v1 (the layer that must hold on its own).
"""

from __future__ import annotations

import signal
import subprocess
import time

import httpx
import paho.mqtt.client as mqtt
import pytest

from parkwatch.core import wire
from simulators.ports import log_size, port_in_log
from tests.broker_support import Login, register, write_broker
from tests.helpers import wait_for

FAKES = [f"F{i:02d}" for i in range(10)]
TABLES = ("projects", "outages", "incidents", "site_events", "site_clocks", "seen_events")


def heartbeat(project, site, interval=0.5, seq=1, boot=1):
    return wire.encode(wire.Heartbeat(project, site, boot, seq, time.time(), interval, {}))


def will(project, site, boot=1):
    return wire.encode(wire.Status(project, site, "offline", boot, time.time(), "will"))


class CollectorProcess:
    def __init__(self, tmp, broker, sites: list[str], exe: str):
        self.db = tmp / "collector.db"
        self.log = tmp / "collector.log"
        self.cfg = tmp / "collector.toml"
        self.cfg.write_text(
            f'broker = "{broker.url}"\ndatabase = "{self.db}"\n'
            "outage_threshold_s = 1.0\nsite_silence_factor = 1.5\n"
            "[api]\nport = 0\nanonymous_read = true\n"
            "[platform]\nshare = 0.3\nmin_sites = 3\nwindow_s = 5\n"
            f"[mqtt]\n{broker.mqtt_toml()}"
            f"[projects.P1]\nsites = [{', '.join(repr(s) for s in sites)}]\n")
        self.exe, self.proc = exe, None
        self.api = httpx.Client(timeout=5)  # pointed at each run's port

    def start(self):
        offset = log_size(self.log)
        with open(self.log, "ab") as err:
            self.proc = subprocess.Popen([self.exe, "collector", "run", "--config",
                                          str(self.cfg)], stdout=subprocess.DEVNULL, stderr=err)
        port = port_in_log(self.log, self.proc, offset=offset)  # the kernel picked it
        self.api.base_url = f"http://127.0.0.1:{port}"
        wait_for(lambda: (self.health() or {}).get("mqtt_connected"), 30,
                 what="the collector to connect")
        return self

    def health(self):
        try:
            return self.api.get("/healthz").json()
        except httpx.HTTPError:
            return None

    def refused(self) -> int:
        """Messages of made-up sites refused: as unknown sites, or (delivered again from the
        broker's store after a restart) as retained heartbeats, which are history."""
        codes = (self.health() or {}).get("rejected_by_code", {})
        return codes.get("unknown_site", 0) + codes.get("retained", 0)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(15)

    def rows(self, table: str, where: str = "") -> list[dict]:
        from collector.db.connection import open_db

        return list(open_db(self.db).query(f"SELECT * FROM {table} {where}"))

    def fake_rows(self) -> dict[str, int]:
        """Everything stored about any site that is not P1's registered ones."""
        out = {}
        for t in TABLES:
            cond = "WHERE project != 'P1'" if t == "projects" else \
                "WHERE project != 'P1' OR site LIKE 'F%'"
            out[t] = len(self.rows(t, cond))
        return out


@pytest.fixture
def attacker_world(tmp_path, mosquitto, parkwatch_exe):
    broker = mosquitto
    col = CollectorProcess(tmp_path, broker, ["S01", "S02"], parkwatch_exe).start()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    # An account that may write anywhere under parkwatch/v1: a broker with a wrong ACL, so
    # that the collector's own refusal is what holds (the locked-down case is below).
    client.username_pw_set("attacker", broker.add_account(
        "attacker", write=(f"{wire.TOPIC_ROOT}/#",)))
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    yield col, client
    client.loop_stop()
    col.stop()


def publish(client, topic, payload, retain=False, qos=1):
    client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)


def incident_of(col, site):
    return col.rows("incidents", f"WHERE project = 'P1' AND site = '{site}'")


def test_a_retained_heartbeat_for_a_made_up_site_opens_nothing_across_restarts(
        attacker_world):
    col, client = attacker_world
    for project, site in [("P1", "FAKE"), ("EVIL", "S01")]:
        publish(client, wire.topic(project, site, wire.HEARTBEAT), heartbeat(project, site),
                retain=True)
    # The control: a registered site doing the same goes silent and gets its incident.
    publish(client, wire.topic("P1", "S01", wire.HEARTBEAT), heartbeat("P1", "S01"),
            retain=True)
    wait_for(lambda: incident_of(col, "S01"), 20, what="the control site's incident")
    assert col.refused() >= 2
    assert col.fake_rows() == dict.fromkeys(TABLES, 0)
    col.stop()
    col.start()  # the retained heartbeats are delivered again to the new run
    wait_for(lambda: col.refused() >= 2, 20, what="the retained fakes refused again")
    publish(client, wire.topic("P1", "S02", wire.HEARTBEAT), heartbeat("P1", "S02"))
    wait_for(lambda: incident_of(col, "S02"), 20, what="the second control's incident")
    assert col.fake_rows() == dict.fromkeys(TABLES, 0)
    assert {r["project"] for r in col.rows("projects")} == {"P1"}


def test_wills_of_ten_fake_sites_make_no_platform_incident(attacker_world):
    col, client = attacker_world
    for fake in FAKES:
        publish(client, wire.topic("P1", fake, wire.HEARTBEAT), heartbeat("P1", fake))
    publish(client, wire.topic("P1", "S01", wire.HEARTBEAT), heartbeat("P1", "S01"))
    wait_for(lambda: col.refused() >= len(FAKES), what="the fake heartbeats refused")
    # The real site drops together with the ten fakes.
    for fake in FAKES:
        publish(client, wire.topic("P1", fake, wire.STATUS), will("P1", fake))
    publish(client, wire.topic("P1", "S01", wire.STATUS), will("P1", "S01"))
    incidents = wait_for(lambda: incident_of(col, "S01"), 20, what="the real incident")
    assert incidents[0]["kind"] == "site_network"
    assert not col.rows("outages", "WHERE kind = 'platform'")
    outage = col.rows("outages", "WHERE project = 'P1' AND site = 'S01'")[0]
    assert outage["absorbed_by"] is None and outage["platform_id"] is None
    assert col.refused() >= 2 * len(FAKES)
    assert col.fake_rows() == dict.fromkeys(TABLES, 0)


def test_made_up_sites_and_projects_are_never_created(attacker_world):
    col, client = attacker_world
    for i in range(50):
        project = f"X{i}"
        publish(client, wire.topic(project, "S01", wire.HEARTBEAT), heartbeat(project, "S01"),
                qos=0)
        ev = wire.Event(project, "S01", 1, 1, time.time(), "device_state", device="gate",
                        state="offline", since=time.time())
        publish(client, wire.topic(project, "S01", wire.EVENT), wire.encode(ev))
    wait_for(lambda: col.refused() >= 100, 20, what="every made-up message refused")
    assert col.fake_rows() == dict.fromkeys(TABLES, 0)
    assert [r["project"] for r in col.rows("projects")] == ["P1"]  # the config's only
    sites = col.api.get("/api/sites").json()
    assert sites == []


def test_the_locked_broker_stops_the_same_attacks_at_the_door(tmp_path):
    db = tmp_path / "c.db"
    passwords = register(db, "P1/S01")
    broker = write_broker(tmp_path / "broker", db).start()
    try:
        assert not Login(broker.port, None, None).accepted()  # no anonymous client
        assert not Login(broker.port, "P1/FAKE", "x").accepted()  # no made-up account
        gateway = Login(broker.port, "P1/S01", passwords["P1/S01"])  # a compromised one
        assert gateway.accepted()
        for fake in FAKES:
            gateway.publish(wire.topic("P1", fake, wire.HEARTBEAT), heartbeat("P1", fake),
                            retain=True)
            gateway.publish(wire.topic("P1", fake, wire.STATUS), will("P1", fake),
                            retain=True)
        gateway.publish(wire.topic("P1", "S01", wire.HEARTBEAT), heartbeat("P1", "S01"),
                        retain=True)  # its own: allowed, the marker that the rest went by
        reader = Login(broker.port, "parkwatch-collector", broker.collector_password)
        assert reader.accepted()
        reader.subscribe("parkwatch/v1/#")  # retained messages come at once
        wait_for(lambda: reader.got, what="the gateway's own retained heartbeat")
        assert {t for t, _ in reader.got} == {wire.topic("P1", "S01", wire.HEARTBEAT)}
    finally:
        broker.stop()
