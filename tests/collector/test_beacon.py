"""The collector publishes its time for the agents' clock estimates."""

import json

import paho.mqtt.client as mqtt

from collector.config import CollectorConfig
from collector.service import Collector
from parkwatch.core import wire
from parkwatch.core.broker import Broker
from tests.helpers import wait_for


def test_collector_publishes_time_beacons_that_are_not_retained(tmp_path, mosquitto):
    collector = Collector(CollectorConfig(broker=Broker("127.0.0.1", mosquitto.port),
                                          database=tmp_path / "c.db", api_port=0,
                                          mqtt=mosquitto.collector_mqtt(),
                                          clock_beacon_s=0.2))
    got = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    mosquitto.login(client, "p1", "lot-1")  # a site reads the clock topic
    client.on_message = lambda c, u, m: got.append((m.retain, json.loads(m.payload)))
    client.connect("127.0.0.1", mosquitto.port)
    client.subscribe(wire.CLOCK_TOPIC)
    client.loop_start()
    collector.start()
    try:
        wait_for(lambda: len(got) >= 2, 10, what="two beacons")
    finally:
        collector.stop()
        client.loop_stop()
        client.disconnect()
    assert all(not retained for retained, _ in got)
    assert got[1][1]["ts"] > got[0][1]["ts"]
