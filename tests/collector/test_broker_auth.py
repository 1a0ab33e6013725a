"""The collector as a broker client of a locked-down mosquitto: it logs in with its account,
speaks TLS for mqtts:// (never plain text), and says plainly when it is refused."""

from __future__ import annotations

import logging

import httpx
import pytest

from collector.config import CollectorConfig
from collector.service import Collector
from parkwatch.core import wire
from parkwatch.core.broker import Broker, MqttOptions, Secret
from tests.broker_support import Login, register, write_broker
from tests.helpers import fleet, wait_for


@pytest.fixture
def broker(tmp_path):
    db = tmp_path / "c.db"
    passwords = register(db, "P1/S01")
    b = write_broker(tmp_path / "broker", db, tls=True).start()
    b.passwords = passwords
    yield b
    b.stop()


def run_collector(tmp_path, port, tls=False, **mqtt):
    cfg = CollectorConfig(broker=Broker("127.0.0.1", port, tls=tls), database=tmp_path / "c.db",
                          api_port=0, mqtt=MqttOptions(**mqtt), projects=fleet("P1/S01"),
                          clock_beacon_s=0.2)
    collector = Collector(cfg)
    collector.start()
    collector.ingest.client.reconnect_delay_set(0.1, 0.2)  # many retries in a short test
    api = httpx.Client(base_url=f"http://127.0.0.1:{collector.port}", timeout=10)
    return collector, api


def test_refused_login_is_one_log_line_and_a_non_ok_healthz(tmp_path, broker, caplog):
    collector, api = run_collector(tmp_path, broker.port, username="parkwatch-collector",
                                   password=Secret("not-the-password"))
    try:
        calls = []
        answer = collector.ingest.client.on_connect

        def counting(*args):
            calls.append(1)
            answer(*args)

        with caplog.at_level(logging.INFO, logger="parkwatch.collector"):
            collector.ingest.client.on_connect = counting
            health = wait_for(lambda: (h := api.get("/healthz").json())["broker_problem"]
                              and h, what="the refusal in /healthz")
            assert health["ok"] is False and not health["mqtt_connected"]
            assert "refused the login of parkwatch-collector" in health["broker_problem"]
            wait_for(lambda: len(calls) >= 3, 20, what="several refused attempts")
        refusals = [r for r in caplog.records if "refused the login" in r.getMessage()]
        assert len(refusals) == 1, [r.getMessage() for r in refusals]
        assert "not-the-password" not in caplog.text
        assert not [r for r in caplog.records if "lost the broker" in r.getMessage()]
    finally:
        collector.stop()


def test_collector_logs_in_over_tls_with_the_made_ca(tmp_path, broker, caplog):
    collector, api = run_collector(tmp_path, broker.tls_port, tls=True,
                                   username="parkwatch-collector",
                                   password=Secret(broker.collector_password),
                                   ca_file=str(broker.out / "ca.crt"))
    try:
        wait_for(lambda: api.get("/healthz").json()["mqtt_connected"], 15,
                 what="the collector on the TLS listener")
        health = api.get("/healthz").json()
        assert health["ok"] is True and health["broker_problem"] is None
        # Its clock beacons (its account alone may publish them) reach a site over TLS.
        ca = str(broker.out / "ca.crt")
        assert not Login(broker.tls_port, "P1/S01", None, ca_file=ca).accepted()
        site = Login(broker.tls_port, "P1/S01", broker.passwords["P1/S01"], ca_file=ca)
        assert site.accepted()
        site.subscribe(wire.CLOCK_TOPIC)
        wait_for(lambda: site.got, what="a clock beacon over TLS")
        site.close()
        assert "u'parkwatch-collector'" in (broker.out / "mosquitto.log").read_text()
        with caplog.at_level(logging.INFO, logger="parkwatch.collector"):
            collector.stop()  # its own disconnect is no lost broker
        assert not [r for r in caplog.records if "lost the broker" in r.getMessage()]
    finally:
        collector.stop()


@pytest.mark.parametrize("where", ["plain-port", "unknown-ca"])
def test_mqtts_never_falls_back_to_plain_text(tmp_path, broker, where):
    port = broker.port if where == "plain-port" else broker.tls_port
    ca = str(broker.out / "ca.crt") if where == "plain-port" else None
    collector, api = run_collector(tmp_path, port, tls=True, username="parkwatch-collector",
                                   password=Secret(broker.collector_password), ca_file=ca)
    try:
        health = wait_for(lambda: (h := api.get("/healthz").json())["broker_problem"] and h,
                          15, what="the TLS failure in /healthz")
        assert health["ok"] is False and not health["mqtt_connected"]
        assert "TLS" in health["broker_problem"]
        # mosquitto never saw the collector's CONNECT (its user name) in any form.
        assert "u'parkwatch-collector'" not in (broker.out / "mosquitto.log").read_text()
    finally:
        collector.stop()
