"""A real collector over real HTTP with users of every kind, for the sign-in and token tests.

Use it in a module with ``auth_api = auth_fixtures.auth_api`` (no conftest edit).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from collector.config import CollectorConfig
from collector.service import Collector
from collector.store import Store
from collector.web.auth import Users
from collector.workflow.config import WorkflowConfig
from collector.workflow.problems import Proposal
from collector.workflow.store import WorkflowStore
from parkwatch.core.broker import Broker
from tests.helpers import fleet

PASSWORD = "correct-horse-1"
VOLATILE = {"collector_runs", "sight"}  # the collector's own heartbeat writes these
USERS = [("seat1", "seat", None), ("li1", "member", "technical-liaison"),
         ("ops1", "member", "remote-ops"), ("boss", "manager", None), ("root", "admin", None)]


@dataclass
class AuthApi:
    client: httpx.Client
    database: Path
    collector: Collector

    def users(self) -> Users:
        return Users(Store(self.database).db)

    def token(self, username: str, now: float | None = None, days: int = 90) -> dict:
        token = self.users().new_api_token(username, "tests",
                                           time.time() if now is None else now, days)
        return {"Authorization": f"Bearer {token}"}

    def login(self, username: str, password: str, client=None) -> httpx.Response:
        return (client or self.client).post(
            "/api/auth/login", json={"username": username, "password": password})

    def client_from(self, address: str) -> httpx.Client:
        """Another client, connecting from another loopback address (127.0.0.0/8)."""
        return httpx.Client(base_url=str(self.client.base_url), timeout=30,
                            transport=httpx.HTTPTransport(local_address=address))

    def problem(self) -> int:
        """A proposed common problem, as the workflow worker would have proposed it."""
        store = WorkflowStore(self.database, WorkflowConfig())
        try:
            return store.add_problem(Proposal("software_down", ("P1", "P2", "P3"), (1, 2, 3),
                                              0.0), time.time())
        finally:
            store.close()

    def snapshot(self) -> dict[str, list]:
        """Every row of every table: what "nothing stored changed" compares."""
        with sqlite3.connect(self.database) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                if r[0] not in VOLATILE]
            return {t: sorted(map(repr, conn.execute(f'SELECT * FROM "{t}"')))
                    for t in tables}


@pytest.fixture
def auth_api(tmp_path, mosquitto):
    db = tmp_path / "collector.db"
    users = Users(Store(db).db)
    for name, role, group in USERS:
        users.add(name, PASSWORD, role, group)
    collector = Collector(CollectorConfig(broker=Broker("127.0.0.1", mosquitto.port),
                                          database=db, api_port=0,
                                          mqtt=mosquitto.collector_mqtt(),
                                          projects=fleet("P1/S1")))
    collector.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{collector.port}", timeout=30) as c:
            yield AuthApi(c, db, collector)
    finally:
        collector.stop()
