"""Every action is checked on the server by role: the rule table, then real requests."""

import httpx
import pytest

from collector.config import CollectorConfig
from collector.service import Collector
from collector.store import Store
from collector.web.console.guard import permission_for
from parkwatch.core.broker import Broker
from tests.helpers import admin_headers

MANUAL = {"project": "P1", "kind": "unknown", "title": "arm stuck", "description": "lane 2",
          "reporter": {"name": "Wang", "contact": "138"}, "impact": "high", "urgency": "high"}


@pytest.mark.parametrize("method,path,permission", [
    ("POST", "/api/auth/login", None),
    ("GET", "/healthz", None),
    ("GET", "/board", None),
    ("GET", "/api/sites", "view"),
    ("GET", "/api/reports/monthly", "reports.view"),
    ("POST", "/api/workflow/incidents", "incident.create"),
    ("POST", "/api/workflow/incidents/7/dispatch", "incident.dispatch"),
    ("POST", "/api/workflow/incidents/7/ack", "incident.act"),
    ("POST", "/api/workflow/incidents/7/verify", "incident.verify"),
    ("POST", "/api/outages/3/exclusion", "outage.mark"),
    ("POST", "/api/projects/P1/maintenance", "maintenance.manage"),
    ("DELETE", "/api/sites", "users.manage"),
])
def test_rule_table(method, path, permission):
    assert permission_for(method, path) == permission


@pytest.fixture
def api(tmp_path, mosquitto):
    cfg = CollectorConfig(broker=Broker("127.0.0.1", mosquitto.port),
                          mqtt=mosquitto.collector_mqtt(), database=tmp_path / "c.db",
                          api_port=0)
    tokens = {name: admin_headers(cfg.database, name, role, group) for name, role, group in [
        ("seat1", "seat", None), ("ops1", "member", "remote-ops"),
        ("ao1", "member", "branch-after-sales"), ("boss", "manager", None)]}
    Store(cfg.database).ensure_project("P1", "Asia/Shanghai", 60.0, 60.0)  # a known project
    collector = Collector(cfg)
    collector.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{collector.port}", timeout=10) as c:
            yield c, tokens
    finally:
        collector.stop()


def test_roles_are_enforced_on_real_requests(api):
    client, h = api
    assert client.get("/api/sites").status_code == 401
    assert client.get("/api/sites", headers={"Authorization": "Bearer x"}).status_code == 401
    assert client.post("/api/workflow/incidents", json=MANUAL,
                       headers=h["ops1"]).status_code == 403
    r = client.post("/api/workflow/incidents", json={**MANUAL, "dispatch": "remote-ops"},
                    headers=h["seat1"])
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    # A member of another group may not touch it; one of its own group may, as themselves.
    denied = client.post(f"/api/workflow/incidents/{tid}/ack", json={}, headers=h["ao1"])
    assert denied.status_code == 403 and "remote-ops" in denied.json()["detail"]
    ok = client.post(f"/api/workflow/incidents/{tid}/ack", json={"who": "mallory"},
                     headers=h["ops1"])
    assert ok.status_code == 200, ok.text
    assert ok.json()["audit"][-1]["who"] == "ops1"
    assert client.post(f"/api/workflow/incidents/{tid}/verify", json={},
                       headers=h["ops1"]).status_code == 403
    assert client.post("/api/projects/P1/maintenance", headers=h["boss"], json={
        "from": "2026-05-01T10:00:00", "to": "2026-05-01T11:00:00",
        "reason": "r"}).status_code == 403
    assert client.get("/api/reports/monthly", params={"month": "2026-03"},
                      headers=h["boss"]).status_code == 200
