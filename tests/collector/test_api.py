"""The budget API and operator marks on a real collector (mosquitto, HTTP on a free port)."""

from __future__ import annotations

from contextlib import contextmanager

import httpx
import pytest

from collector.config import CollectorConfig
from collector.service import Collector
from parkwatch.core.broker import Broker
from simulators.broker import Mosquitto
from simulators.scenario import runner, spec
from tests.helpers import admin_headers

SCENARIO = """
start = "2026-01-01T00:00:00+08:00"
end   = "2026-07-01T00:00:00+08:00"
[[project]]
id = "P001"
sites = ["S01", "S02"]
[[event]]
site = "P001/S01"
kind = "uplink_down"
at = "2026-03-03T21:50:00+08:00"
for = "50m"
[[event]]
site = "P001/S02"
kind = "uplink_down"
at = "2026-05-01T10:00:00+08:00"
for = "30m"
"""


@contextmanager
def collector_on(tmp_path, broker, db=None):
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    db = db or tmp_path / "collector.db"
    runner.run(spec.load(path), db)
    collector = Collector(CollectorConfig(broker=Broker("127.0.0.1", broker.port),
                                          mqtt=broker.collector_mqtt(), database=db,
                                          api_port=0))
    headers = admin_headers(db)
    collector.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{collector.port}", timeout=10,
                          headers=headers)
    client.database = db
    try:
        yield client
    finally:
        client.close()
        collector.stop()


@pytest.fixture
def api(tmp_path, mosquitto, db_target):
    with collector_on(tmp_path, mosquitto, db_target) as client:
        yield client


@pytest.fixture(scope="module")
def shared_api(tmp_path_factory):
    """For the tests that prove they change nothing: one collector for all of them."""
    tmp = tmp_path_factory.mktemp("api")
    broker = Mosquitto(workdir=tmp / "mosquitto").start()
    try:
        with collector_on(tmp, broker) as client:
            yield client
    finally:
        broker.stop()


def down(api):
    r = api.get("/api/projects/P001/budget", params={"year": 2026})
    assert r.status_code == 200, r.text
    return r.json()["down_minutes"]


def state(api):
    """Everything a mark could change."""
    return (api.get("/api/exclusions").json(), api.get("/api/projects/P001/maintenance").json(),
            api.get("/api/audit").json(), down(api))


def outage_id(api, site):
    return next(o["id"] for o in api.get("/api/outages", params={"project": "P001"}).json()
                if o["site"] == site)


def test_budget_endpoint_has_the_figures(api):
    f = api.get("/api/projects/P001/budget", params={"year": 2026}).json()
    assert (f["project"], f["year"], f["down_minutes"], f["alerts_over_threshold"]) == \
        ("P001", 2026, 40.0, 2)
    assert f["forecast"]["runs_out_on"] is None or f["forecast"]["runs_out_on"] > "2026-05-01"


def test_customer_caused_mark_is_audited_and_reversible(api):
    oid = outage_id(api, "S02")
    seat = admin_headers(api.database, "seat-7", "seat")
    r = api.post(f"/api/outages/{oid}/exclusion", headers=seat,
                 json={"cause": "customer", "reason": "customer unplugged the router"})
    assert r.status_code == 201, r.text
    mark = r.json()
    assert down(api) == 10.0
    assert api.get("/api/projects/P001/budget", params={"year": 2026}).json()[
        "excluded_minutes"] == 30.0
    again = api.post(f"/api/outages/{oid}/exclusion", json={"reason": "x", "by": "y"})
    assert again.status_code == 409 and "already excluded" in again.json()["detail"]
    # The signed-in user is who acted, whatever the body says.
    r = api.post(f"/api/exclusions/{mark['id']}/revoke",
                 headers=admin_headers(api.database, "supervisor", "manager"),
                 json={"reason": "it was the ISP after all", "by": "somebody-else"})
    assert r.status_code == 200 and r.json()["revoked_by"] == "supervisor"
    assert down(api) == 40.0
    log = api.get("/api/audit").json()
    assert [(e["action"], e["actor"], e["reason"]) for e in log] == [
        ("revoke_exclusion", "supervisor", "it was the ISP after all"),
        ("exclude_outage", "seat-7", "customer unplugged the router")]
    assert api.post(f"/api/exclusions/{mark['id']}/revoke",
                    json={"reason": "r", "by": "b"}).status_code == 409


def test_maintenance_window_in_the_projects_local_time(api):
    r = api.post("/api/projects/P001/maintenance",
                 json={"from": "2026-05-01T10:15:00", "to": "2026-05-01T12:00:00",
                       "reason": "switch replacement", "by": "ops"})
    assert r.status_code == 201, r.text
    assert down(api) == 10.0 + 15.0
    mid = r.json()["id"]
    assert api.post(f"/api/maintenance/{mid}/revoke",
                    json={"reason": "postponed", "by": "ops"}).status_code == 200
    assert down(api) == 40.0


@pytest.mark.parametrize("method,url,body,status,says", [
    ("post", "/api/outages/{oid}/exclusion", {"by": "x"}, 422, "reason"),
    ("post", "/api/outages/{oid}/exclusion", {"reason": "", "by": "x"}, 422, "reason"),
    ("post", "/api/outages/{oid}/exclusion", {"reason": "   ", "by": "x"}, 422,
     "'reason' must not be empty"),
    ("post", "/api/outages/{oid}/exclusion", {"reason": "r", "by": "x", "cause": "weather"},
     422, "cause"),
    ("post", "/api/outages/{oid}/exclusion", {"reason": "r", "by": "x", "when": 1}, 422,
     "when"),
    ("post", "/api/outages/99999/exclusion", {"reason": "r", "by": "x"}, 404,
     "no outage 99999"),
    ("post", "/api/exclusions/99999/revoke", {"reason": "r", "by": "x"}, 404,
     "no exclusion 99999"),
    ("post", "/api/projects/P001/maintenance",
     {"from": "2026-05-01T12:00:00+08:00", "to": "2026-05-01T10:00:00+08:00", "reason": "r",
      "by": "x"}, 422, "'to' must be later than 'from'"),
    ("post", "/api/projects/P001/maintenance",
     {"from": "yesterday", "to": "2026-05-01T10:00:00+08:00", "reason": "r", "by": "x"}, 422,
     "from"),
    ("post", "/api/projects/P001/maintenance",
     {"from": "2026-01-01T00:00:00+08:00", "to": "2026-12-01T00:00:00+08:00", "reason": "r",
      "by": "x"}, 422, "at most 31 days"),
    ("post", "/api/projects/NOPE/maintenance",
     {"from": "2026-05-01T10:00:00+08:00", "to": "2026-05-01T12:00:00+08:00", "reason": "r",
      "by": "x"}, 404, "no project 'NOPE'"),
    ("post", "/api/maintenance/99999/revoke", {"reason": "r", "by": "x"}, 404,
     "no maintenance window 99999"),
    ("get", "/api/projects/P001/budget?year=abc", None, 422, "year"),
    ("get", "/api/projects/P001/budget", None, 422, "year"),
    ("get", "/api/projects/NOPE/budget?year=2026", None, 404, "no project 'NOPE'"),
])
def test_bad_requests_get_a_clear_4xx_and_change_nothing(shared_api, method, url, body, status,
                                                        says):
    api = shared_api
    before = state(api)
    url = url.format(oid=outage_id(api, "S01"))
    r = api.post(url, json=body) if method == "post" else api.get(url)
    assert r.status_code == status, r.text
    assert says in str(r.json()["detail"])
    assert state(api) == before
