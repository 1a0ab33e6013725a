"""While the database is away (PostgreSQL restarting), the collector's API still answers
what needs no one: ``/healthz`` says what is wrong instead of failing with a 500; a call that
needs a signed-in user gets 503, which says why and to try again, not a traceback. Once the
server is back, sign-in is checked again. A collector in this process, a real mosquitto, a
private PostgreSQL server killed and started again."""

from __future__ import annotations

import httpx
import pytest

from collector.config import CollectorConfig
from collector.service import Collector
from parkwatch.core.broker import Broker
from simulators.postgres import PostgresServer, fresh_database
from tests.helpers import admin_headers, wait_for


@pytest.fixture
def server():
    with PostgresServer() as s:
        yield s


def test_healthz_answers_and_signed_in_calls_say_503_while_the_database_is_away(
        server, mosquitto):
    database = fresh_database(server)
    collector = Collector(CollectorConfig(broker=Broker("127.0.0.1", mosquitto.port),
                                          mqtt=mosquitto.collector_mqtt(), api_port=0,
                                          database=database))
    collector.start()
    try:
        api = httpx.Client(base_url=f"http://127.0.0.1:{collector.port}", timeout=10,
                           headers=admin_headers(database))
        assert api.get("/healthz").status_code == 200
        assert api.get("/api/incidents").status_code == 200
        server.kill()
        wait_for(lambda: not server.alive(), timeout=20, what="the server to be gone")

        def refused():
            r = api.get("/api/incidents")
            return r if r.status_code == 503 else None
        r = wait_for(refused, timeout=20, what="the API to say the database is away")
        assert "database is unavailable" in r.json()["detail"]
        assert r.headers["retry-after"] == "5"
        health = api.get("/healthz")
        assert health.status_code == 200, health.text
        assert "mqtt_connected" in health.json()
        assert api.get("/board").status_code == 503  # a page shows who is signed in
        # no credentials at all: no one to look up, so the answer is still "sign in first"
        assert api.get("/api/incidents", headers={"Authorization": ""}).status_code == 401

        server.start()
        assert api.get("/api/incidents", headers={"Authorization": ""}).status_code == 401
        wait_for(lambda: api.get("/api/incidents").status_code == 200, timeout=30,
                 what="sign-in to be checked again")
    finally:
        collector.stop()
