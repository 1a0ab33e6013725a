"""A broker that takes the collector's login but refuses its subscription delivers nothing:
the collector must not count that as watching (every site would fall silent on evidence it
never had). It says so in /healthz, asks again, and watches once the broker grants it."""

from __future__ import annotations

import logging

import httpx
import paho.mqtt.client as mqtt

from collector.config import CollectorConfig
from collector.service import Collector
from collector.store import Store
from parkwatch.core import wire
from parkwatch.core.broker import Broker, MqttOptions, Secret
from simulators.broker import EmbeddedBroker
from tests.helpers import fleet, wait_for


def test_a_refused_subscription_is_not_watching_and_is_asked_again(tmp_path, caplog):
    mosquitto = EmbeddedBroker(workdir=tmp_path / "broker").start()
    password = mosquitto.add_account("narrow", read=["elsewhere/#"])
    cfg = CollectorConfig(broker=Broker("127.0.0.1", mosquitto.port), database=tmp_path / "c.db",
                          api_port=0, projects=fleet("P1/S01"), clock_beacon_s=0.2,
                          mqtt=MqttOptions(username="narrow", password=Secret(password)))
    collector = Collector(cfg)
    answers: list[list[int]] = []
    on_subscribe = collector.ingest._on_subscribe

    def counting(client, userdata, mid, reason_codes, properties):
        answers.append([rc.value for rc in reason_codes])
        on_subscribe(client, userdata, mid, reason_codes, properties)

    collector.ingest.client.on_subscribe = counting
    with caplog.at_level(logging.INFO, logger="parkwatch.collector"):
        collector.start()
        api = httpx.Client(base_url=f"http://127.0.0.1:{collector.port}", timeout=10)
        try:
            health = wait_for(lambda: (h := api.get("/healthz").json())["broker_problem"]
                              and h, what="the refusal in /healthz")
            assert health["ok"] is False and health["mqtt_connected"] is False
            assert "refused the subscription" in health["broker_problem"]
            wait_for(lambda: len(answers) >= 2, 10, what="the subscription asked again")
            assert all(a == [0x80] for a in answers)
            # Nothing was counted as watched: no sight period was opened.
            assert [p for p in Store(cfg.database).sight_periods()] == []
            refusals = [r for r in caplog.records if "refused the subscription" in r.getMessage()]
            assert len(refusals) == 1

            mosquitto.grant("narrow", read=[wire.SUBSCRIPTION], write=["parkwatch/v1/clock"])
            wait_for(collector.ingest.connected.is_set, 40, what="the subscription granted")
            assert answers[-1] == [1]
            health = api.get("/healthz").json()
            assert health["broker_problem"] is None and health["mqtt_connected"] is True
            site = mosquitto.login(mqtt.Client(mqtt.CallbackAPIVersion.VERSION2), "P1", "S01")
            site.connect("127.0.0.1", mosquitto.port)
            site.loop_start()
            hb = wire.Heartbeat(project="P1", site="S01", ts=collector.ingest.clock(), seq=1,
                                boot=1, interval_s=5)
            topic = wire.topic("P1", "S01", wire.HEARTBEAT)
            site.publish(topic, wire.encode(hb)).wait_for_publish(5)
            wait_for(lambda: api.get("/healthz").json()["received"] >= 1, 10,
                     what="a heartbeat heard once watching")
            site.loop_stop()
            site.disconnect()
            assert len(Store(cfg.database).sight_periods()) == 1
        finally:
            collector.stop()
            mosquitto.stop()
