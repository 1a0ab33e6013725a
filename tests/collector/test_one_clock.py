"""One clock for the collector process: ingest, the API and the workflow worker all read
the clock the process was given, so a collector run on a clock two hours ahead (or a
virtual one) dates a hand-reported incident by that clock, not by the machine's."""

from __future__ import annotations

import time

import httpx

from collector.config import CollectorConfig
from collector.service import Collector
from collector.store import Store
from collector.web.auth import Users
from parkwatch.core.broker import Broker
from tests.helpers import fleet

AHEAD_S = 7200.0


def test_the_api_and_the_workflow_worker_read_the_collectors_clock(tmp_path, mosquitto,
                                                                   new_database):
    db = new_database("collector")
    users = Users(Store(db).db)
    users.add("root", "correct-horse-1", "admin", None)

    def ahead() -> float:
        return time.time() + AHEAD_S

    collector = Collector(CollectorConfig(broker=Broker("127.0.0.1", mosquitto.port),
                                          database=db, api_port=0,
                                          mqtt=mosquitto.collector_mqtt(),
                                          projects=fleet("P1/S1")), clock=ahead)
    token = users.new_api_token("root", "tests", ahead(), 1)
    collector.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{collector.port}", timeout=30,
                          headers={"Authorization": f"Bearer {token}"}) as api:
            r = api.post("/api/workflow/incidents", json={
                "project": "P1", "site": "S1", "kind": "device_fault",
                "title": "barrier arm bent", "channel": "phone",
                "description": "the arm does not lift", "impact": "high", "urgency": "high",
                "reporter": {"name": "guard", "contact": "13800000000"}})
            assert r.status_code == 201, r.text
            opened = r.json()["opened_at"]
    finally:
        collector.stop()
    assert abs(opened - ahead()) < 60  # the collector's clock, not the machine's
    assert collector.workflow.clock is ahead
