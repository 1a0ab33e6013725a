"""A real collector over a seeded database, for the API contract test.

The database holds what every route can find: project P001 with outages (a scenario run), an
exclusion and a maintenance window, a manual incident with an attachment named in Chinese,
and a proposed common problem. Users: a seat agent and an admin, each with an API token.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass

from collector.config import CollectorConfig
from collector.downtime import marks
from collector.service import Collector
from collector.store import Store
from collector.workflow.config import WorkflowConfig
from collector.workflow.problems import Proposal
from collector.workflow.store import WorkflowStore
from parkwatch.core.broker import Broker
from simulators.scenario import runner, spec
from tests.collector.test_api import SCENARIO
from tests.helpers import admin_headers


@dataclass
class Served:
    url: str
    tokens: dict[str, str]  # role -> "Bearer ..."
    database: object


def seed(tmp_path) -> tuple[object, dict[str, str]]:
    path = tmp_path / "s.toml"
    path.write_text(SCENARIO)
    db = tmp_path / "collector.db"
    # the schema; the hand-made incident below is incident 1 (the tests ask for it). Closed at
    # once: the scenario runner's journal_mode change needs no other connection open.
    Store(db).conn.close()
    tokens = {"admin": admin_headers(db, "root", "admin")["Authorization"],
              "seat": admin_headers(db, "seat1", "seat")["Authorization"]}
    now = time.time()
    s = WorkflowStore(db, WorkflowConfig())
    try:
        fields = {"source": "manual", "channel": "phone", "project": "P001", "site": "S01",
                  "device": "gate-in", "kind": "device_fault", "device_class": None,
                  "signature": "gate-in:stuck", "severity": 2, "title": "Arm stuck",
                  "description": "The arm does not lift", "reporter_name": "Zhang San",
                  "reporter_unit": None, "reporter_contact": "13800000000",
                  "reporter_role": None, "contract_scope": None, "sla_level": None,
                  "impact": "high", "urgency": "medium", "opened_at": now - 600}
        files = [{"name": "报告.txt", "content_type": "text/plain; charset=utf-8",
                  "url": None, "data": "现场报告".encode(), "size": 12}]
        s.create(fields, now - 600, "seat1", "reported by phone", files)
    finally:
        s.close()
    runner.run(spec.load(path), db)  # the scenario's outages, incidents and their tickets
    d = Store(db).db
    outage = next(iter(d.query("SELECT id FROM outages WHERE kind = 'site_network' "
                               "ORDER BY id")))["id"]
    marks.exclude_outage(d, outage, "customer", "customer switched the router off", "root",
                         now)
    marks.add_maintenance(d, "P001", now - 7200, now - 3600, "planned cabling work", "root",
                          now)
    s = WorkflowStore(db, WorkflowConfig())
    try:
        s.add_problem(Proposal("gate-in:stuck", ("P001", "P002"), (1,), now - 60), now)
    finally:
        s.close()
    return db, tokens


@contextmanager
def collector_for_contract(tmp_path, broker):
    db, tokens = seed(tmp_path)
    collector = Collector(CollectorConfig(broker=Broker("127.0.0.1", broker.port),
                                          database=db, api_port=0,
                                          mqtt=broker.collector_mqtt()))
    collector.start()
    try:
        yield Served(f"http://127.0.0.1:{collector.port}", tokens, db)
    finally:
        collector.stop()
