"""The fleet registry: the core hears only registered sites (and their named devices), the
CLI and the admin API change it with an audit row, a running collector follows it."""

from __future__ import annotations

import subprocess
import time

import httpx
import paho.mqtt.client as mqtt
import pytest

from collector.config import CollectorConfig
from collector.core import Core
from collector.fleet.registry import Registry
from collector.service import Collector
from collector.store import Store
from parkwatch.core import wire
from parkwatch.core.broker import Broker
from tests.helpers import admin_headers, fleet, wait_for


def hb(project, site, devices=None, ts=0.0):
    return wire.Heartbeat(project, site, 1, 1, ts, 1.0, devices or {})


def core_for(db, *sites):
    cfg = CollectorConfig(broker=Broker("127.0.0.1", 1), database=db,
                          outage_threshold_s=2.0, projects=fleet(*sites))
    core = Core(cfg, Store(cfg.database), 0.0)
    core.link_up(0.0)
    return core


def rows(core, sql):
    return list(core.store.db.query(sql))


def test_unknown_sites_are_refused_before_anything_is_stored(db_target):
    core = core_for(db_target, "P1/S01")
    core.handle(hb("P1", "S01"), 0.1)
    for project, site in [("P1", "S99"), ("P9", "S01"), ("FAKE", "x")]:
        assert core.handle(hb(project, site), 0.2) == []
        assert core.handle(wire.Status(project, site, "offline", 1, 0.2, "will"), 0.3) == []
    for t in (5.0, 20.0, 60.0):
        core.tick(t)
    assert core.rejected["unknown_site"] == 6
    assert core.received == 1
    assert {r["project"] for r in rows(core, "SELECT project FROM projects")} == {"P1"}
    assert {(r["project"], r["site"]) for r in rows(core, "SELECT * FROM outages")} == \
        {("P1", "S01")}  # the registered site went silent; nothing of the made-up ones
    assert set(core.tracker.sites) == {("P1", "S01")}


def test_devices_the_registry_does_not_name_are_refused(db_target):
    core = core_for(db_target)
    Registry(core.store.db).add("P1", "S01", ["gate-in"], "tests", 0.0)
    core.fleet.reload()
    bad = wire.DeviceReport("offline", since=0.0)
    out = core.handle(hb("P1", "S01", {"gate-in": wire.DeviceReport("ok"), "ghost": bad}), 0.1)
    assert out == [] or all(getattr(d, "outage", None) is None or
                            d.outage.key.device != "ghost" for d in out)
    ev = wire.Event("P1", "S01", 1, 2, 0.2, "device_state", device="ghost", state="offline",
                    since=0.2)
    assert core.handle(ev, 0.2) == []
    core.tick(10.0)
    assert core.rejected["unknown_device"] == 2
    assert not rows(core, "SELECT * FROM outages WHERE device = 'ghost'")
    assert set(core.tracker.sites[("P1", "S01")].devices) == {"gate-in"}


def test_a_registry_change_is_seen_at_the_next_reload(db_target):
    core = core_for(db_target)
    assert core.handle(hb("P2", "new"), 0.1) == [] and core.received == 0
    Registry(Store(db_target).db).add("P2", "new", None, "tests", 0.2)  # elsewhere
    core.tick(1.0)
    core.handle(hb("P2", "new"), 1.1)
    assert core.received == 0  # not yet: the registry is read every few seconds, not always
    core.tick(3.0)
    core.handle(hb("P2", "new"), 3.1)
    assert core.received == 1


@pytest.fixture
def parkwatch(parkwatch_exe):
    def run(*args, ok=True):
        done = subprocess.run([parkwatch_exe, *args], capture_output=True, text=True,
                              timeout=60)
        assert (done.returncode == 0) == ok, done.stderr
        return done
    return run


def test_site_cli_stores_only_the_hash_and_audits(tmp_path, parkwatch):
    db = tmp_path / "c.db"
    missing = parkwatch("site", "list", "--db", str(db), ok=False)
    assert "no such database" in missing.stderr and not db.exists()
    cfg = tmp_path / "collector.toml"
    cfg.write_text(f'broker = "mqtt://127.0.0.1:1"\ndatabase = "{db}"\n'
                   '[projects.P1]\nsites = ["S01"]\n')
    out = parkwatch("site", "add", "P1", "S02", "--devices", "gate-in,cam-1",
                    "--config", str(cfg)).stdout
    password = out.split('password = "')[1].split('"')[0]
    assert 'username = "P1/S02"' in out and len(password) >= 24
    dump = "\n".join(Store(db).db.conn.iterdump())
    assert password not in dump and "$7$" in dump
    assert parkwatch("site", "add", "P1", "S02", "--db", str(db), ok=False).returncode == 2
    listing = parkwatch("site", "list", "--config", str(cfg)).stdout
    assert "S01" in listing and "config" in listing and "gate-in,cam-1" in listing
    again = parkwatch("site", "passwd", "P1", "S02", "--db", str(db)).stdout
    assert password not in again
    assert "removed" in parkwatch("site", "remove", "P1", "S02", "--db", str(db)).stdout
    assert "S02" not in parkwatch("site", "list", "--db", str(db)).stdout
    actions = [r["action"] for r in Store(db).db.query("SELECT action FROM audit_log")]
    assert actions == ["site_add", "site_passwd", "site_remove"]
    bad = parkwatch("site", "add", "P1", "no/slash", "--db", str(db), ok=False)
    assert "site must be" in bad.stderr and "Traceback" not in bad.stderr


@pytest.fixture
def live(tmp_path, mosquitto, new_database):
    broker = mosquitto
    cfg = CollectorConfig(broker=Broker("127.0.0.1", broker.port), database=new_database("c"),
                          api_port=0, anonymous_read=True, projects=fleet("P1/S01"),
                          mqtt=broker.collector_mqtt())
    collector = Collector(cfg)
    collector.start()
    site = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    # The site the test registers later has no broker account yet: an account that may
    # write anywhere under parkwatch/v1 stands in for it (the collector's check is tested).
    site.username_pw_set("writer", broker.add_account("writer", write=(f"{wire.TOPIC_ROOT}/#",)))
    site.connect("127.0.0.1", broker.port)
    site.loop_start()
    try:
        yield collector, site, httpx.Client(base_url=f"http://127.0.0.1:{collector.port}",
                                            timeout=10)
    finally:
        site.loop_stop()
        collector.stop()


def test_admin_api_and_a_running_collector_follow_the_registry(live):
    collector, site, api = live
    wait_for(lambda: api.get("/healthz").json()["mqtt_connected"], what="the collector")
    admin = admin_headers(collector.cfg.database)
    seat = admin_headers(collector.cfg.database, "seat-1", "seat")

    def beat():
        site.publish(wire.topic("P1", "S07", wire.HEARTBEAT), wire.encode(
            hb("P1", "S07", ts=time.time())))
        return api.get("/healthz").json()["rejected_by_reason"].get("unknown site", 0)

    wait_for(beat, what="a refused heartbeat")
    assert api.get("/api/fleet/sites").status_code == 401  # anonymous_read opens no registry
    assert api.get("/api/fleet/sites", headers=seat).status_code == 403
    assert api.post("/api/fleet/sites", headers=seat,
                    json={"project": "P1", "site": "S07"}).status_code == 403
    added = api.post("/api/fleet/sites", headers=admin, json={"project": "P1", "site": "S07"})
    assert added.status_code == 201 and added.json()["username"] == "P1/S07"
    assert api.post("/api/fleet/sites", headers=admin,
                    json={"project": "P1", "site": "S07"}).status_code == 409
    assert api.post("/api/fleet/sites", headers=admin,
                    json={"project": "P 1", "site": "S07"}).status_code == 422
    wait_for(lambda: beat() is not None and any(
        s["site"] == "S07" for s in api.get("/api/sites").json()), timeout=10,
        what="the collector to hear the new site")
    listed = {(s["project"], s["site"]): s for s in
              api.get("/api/fleet/sites", headers=admin).json()}
    assert listed[("P1", "S01")]["source"] == "config" and listed[("P1", "S07")]["account"]
    gone = api.delete("/api/fleet/sites/P1/S07", headers=admin)
    assert gone.status_code == 200 and gone.json()["still_in_config"] is False
    assert api.delete("/api/fleet/sites/P1/S07", headers=admin).status_code == 404
    assert api.delete("/api/fleet/sites/P1/S01", headers=admin).status_code == 409
    audit = [a["action"] for a in api.get("/api/audit", headers=admin).json()]
    assert audit[:2] == ["site_remove", "site_add"]
