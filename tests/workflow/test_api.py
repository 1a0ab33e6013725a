"""The workflow's HTTP API on a real uvicorn server on 127.0.0.1: incidents reported by hand,
every action, a clear 409 with nothing changed, common problems, the monthly report."""

from __future__ import annotations

import base64
import threading

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from collector.config import CollectorConfig
from collector.ingest import Ingest
from collector.store import Store
from collector.web.api import create_app
from collector.workflow.api import build_router
from collector.workflow.config import WorkflowConfig
from parkwatch.core.broker import Broker
from tests.helpers import admin_headers
from tests.workflow.test_business_time import ts


class Served:
    def __init__(self, app):
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0,
                                                    log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn did not start"
            self.thread.join(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        return self.client

    def __exit__(self, *exc):
        self.client.close()
        self.server.should_exit = True
        self.thread.join(5)


class Clock:
    def __init__(self, when):
        self.now = ts(when)

    def __call__(self):
        return self.now

    def advance(self, minutes):
        self.now += minutes * 60


@pytest.fixture
def api(new_database):
    clock = Clock("2026-03-03 10:00")
    Store(new_database("c")).ensure_project("P001", "Asia/Shanghai", 60.0, 60.0)
    app = FastAPI()
    app.include_router(build_router(new_database("c"), WorkflowConfig(), clock))
    with Served(app) as client:
        yield client, clock


REPORT = {
    "who": "seat-wang", "project": "P001", "site": "north", "device": "gate-in",
    "channel": "intercom", "kind": "device_fault",
    "reporter": {"name": "Zhang San", "unit": "Parking Co.", "contact": "13800000000",
                 "role": "driver"},
    "title": "Arm does not lift at the north entrance",
    "description": "Driver pressed the intercom; plate read, arm stays down.",
    "contract_scope": "cloud-hosted, front-end", "sla_level": "gold",
    "impact": "high", "urgency": "high",
    "attachments": [{"name": "lane.png", "content_type": "image/png",
                     "data_base64": base64.b64encode(b"\x89PNG fake").decode()},
                    {"name": "crm", "url": "https://crm.example/ticket/42"}],
}


def test_an_incident_reported_by_hand_keeps_every_seed_002_field(api):
    client, clock = api
    r = client.post("/api/workflow/incidents", json={**REPORT, "dispatch": "auto"})
    assert r.status_code == 201, r.text
    inc = r.json()
    assert (inc["source"], inc["channel"], inc["state"], inc["group_name"]) == (
        "manual", "intercom", "dispatched", "branch-after-sales")
    assert (inc["reporter_name"], inc["reporter_unit"], inc["reporter_contact"],
            inc["reporter_role"]) == ("Zhang San", "Parking Co.", "13800000000", "driver")
    assert (inc["impact"], inc["urgency"], inc["severity"], inc["assessed"]) == (
        "high", "high", 1, True)
    assert (inc["contract_scope"], inc["sla_level"]) == ("cloud-hosted, front-end", "gold")
    assert [a["action"] for a in inc["audit"]] == ["opened", "dispatch"]
    assert inc["audit"][0]["who"] == "seat-wang"
    png, crm = inc["attachments"]
    got = client.get(f"/api/workflow/incidents/{inc['id']}/attachments/{png['id']}")
    assert got.content == b"\x89PNG fake" and got.headers["content-type"] == "image/png"
    assert client.get(f"/api/workflow/incidents/{inc['id']}/attachments/{crm['id']}"
                      ).json()["url"] == "https://crm.example/ticket/42"
    response = next(c for c in inc["clocks"] if c["clock"] == "response")
    assert response["due"] == clock.now + 30 * 60 and response["state"] == "running"


@pytest.mark.parametrize("change, problem", [
    ({"reporter": {"name": "Zhang"}}, "contact"),
    ({"impact": "huge"}, "impact"),
    ({"title": ""}, "title"),
    ({"kind": "meteor"}, "unknown kind"),
    ({"dispatch": "nobody"}, "unknown group"),
    ({"colour": "red"}, "colour"),
    ({"attachments": [{"name": "x", "data_base64": "***"}]}, "not base64"),
])
def test_a_bad_report_is_refused_with_the_field_named_and_nothing_stored(api, change, problem):
    client, _ = api
    r = client.post("/api/workflow/incidents", json={**REPORT, **change})
    assert r.status_code == 422
    assert problem in r.text
    assert client.get("/api/workflow/incidents").json() == []


def test_the_whole_lifecycle_over_http(api):
    client, clock = api
    tid = client.post("/api/workflow/incidents", json=REPORT).json()["id"]

    def do(action, **body):
        clock.advance(5)
        return client.post(f"/api/workflow/incidents/{tid}/{action}",
                           json={"who": "someone", **body})

    assert do("dispatch", group="remote-ops").json()["state"] == "dispatched"
    assert do("ack", note="looking").json()["state"] == "acknowledged"
    r = do("transfer", group="technical-liaison", note="software")
    assert (r.json()["state"], r.json()["transfers"]) == ("dispatched", 1)
    do("ack")
    r = do("plan", plan="patch the gate driver", plan_date="2026-03-05")
    assert r.json()["plan_date"] == "2026-03-05"
    assert do("resolve").json()["resolved_group"] == "technical-liaison"
    r = do("reopen", note="still failing")
    assert (r.json()["state"], r.json()["group_name"]) == ("acknowledged", "technical-liaison")
    do("resolve")
    do("verify")
    do("report", report="driver race; fixed in 2.3.1")
    final = do("close").json()
    assert final["state"] == "closed"
    assert [a["action"] for a in final["audit"]] == [
        "opened", "dispatch", "ack", "transfer", "ack", "plan", "resolve", "reopen",
        "resolve", "verify", "report", "close"]
    assert all(a["who"] for a in final["audit"])
    assert [a["group"] for a in final["assignments"]] == ["remote-ops", "technical-liaison"]


def test_an_illegal_action_is_a_clear_409_and_changes_nothing(api):
    client, _ = api
    tid = client.post("/api/workflow/incidents", json=REPORT).json()["id"]
    before = client.get(f"/api/workflow/incidents/{tid}").json()
    r = client.post(f"/api/workflow/incidents/{tid}/resolve", json={"who": "x"})
    assert r.status_code == 409
    assert r.json()["detail"] == (f"cannot resolve incident {tid}: it is open "
                                  "(allowed from: acknowledged)")
    assert client.get(f"/api/workflow/incidents/{tid}").json() == before
    assert client.post(f"/api/workflow/incidents/{tid}/ack", json={}).status_code == 422
    assert client.post(f"/api/workflow/incidents/{tid}/dispatch",
                       json={"who": "x", "group": "nobody"}).status_code == 422
    assert client.post(f"/api/workflow/incidents/{tid}/fly", json={"who": "x"}
                       ).status_code == 404
    assert client.post("/api/workflow/incidents/999/ack", json={"who": "x"}
                       ).status_code == 404
    assert client.get(f"/api/workflow/incidents/{tid}").json() == before


def test_monthly_report_json_and_csv_and_a_bad_month(api):
    client, clock = api
    body = {**REPORT, "kind": "operational", "dispatch": "auto",
            "opened_at": ts("2026-03-03 09:00")}
    tid = client.post("/api/workflow/incidents", json=body).json()["id"]
    clock.advance(10)
    client.post(f"/api/workflow/incidents/{tid}/ack", json={"who": "ops-li"})
    rep = client.get("/api/reports/monthly", params={"month": "2026-03"}).json()
    ro = next(g for g in rep["groups"] if g["group"] == "remote-ops")
    assert (rep["month"], ro["dispatched"], ro["responded_on_time"]) == ("2026-03", 1, 1)
    assert ro["response_median_min"] == 10.0
    csv = client.get("/api/reports/monthly", params={"month": "2026-03", "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("month,group,score_kind,")
    assert client.get("/api/reports/monthly", params={"month": "2026-13"}).status_code == 422
    assert client.get("/api/reports/monthly", params={"month": "march"}).status_code == 422


def test_common_problem_actions_over_http(api, new_database):
    client, clock = api
    from collector.workflow.problems import Proposal
    from collector.workflow.store import WorkflowStore

    store = WorkflowStore(new_database("c"), WorkflowConfig())
    pid = store.add_problem(Proposal("software_down", ("P1", "P2", "P3"), (1, 2, 3), 0.0),
                            clock.now)
    store.close()
    url = f"/api/workflow/problems/{pid}"
    assert client.post(f"{url}/confirm", json={"who": "li"}).status_code == 422  # no date
    assert client.post(f"{url}/solve", json={"who": "li"}).status_code == 409
    r = client.post(f"{url}/confirm", json={"who": "li", "plan_date": "2026-03-20"})
    assert (r.json()["state"], r.json()["confirmed_by"]) == ("confirmed", "li")
    assert client.get("/api/workflow/problems", params={"state": "confirmed"}).json()[0][
        "id"] == pid


def test_the_collectors_own_app_serves_the_workflow(new_database):
    cfg = CollectorConfig(broker=Broker("127.0.0.1", 9), database=new_database("c"),
                          api_port=0)
    headers = admin_headers(cfg.database, "seat-1", "seat")
    Store(cfg.database).ensure_project("P001", "Asia/Shanghai", 60.0, 60.0)
    with Served(create_app(Ingest(cfg))) as client:
        assert client.get("/api/reports/monthly").status_code == 401  # the guard is in front
        client.headers.update(headers)
        assert client.get("/api/reports/monthly", params={"month": "2026-03"}
                          ).json()["incidents"] == 0
        assert client.post("/api/workflow/incidents", json=REPORT).status_code == 201
        assert client.get("/healthz").json()["ok"]
