"""The broker's downtime is the platform's: a real mosquitto stopped and started again."""

from __future__ import annotations

import threading
import time

import httpx
import paho.mqtt.client as mqtt

from collector.config import CollectorConfig
from collector.service import Collector
from parkwatch.core import wire
from parkwatch.core.broker import Broker
from tests.helpers import fleet, wait_for

BEAT_S = 0.5


def test_no_site_is_charged_for_the_brokers_outage(tmp_path, mosquitto, new_database):
    collector = Collector(CollectorConfig(broker=Broker("127.0.0.1", mosquitto.port),
                                          database=new_database("c"), api_port=0,
                                          outage_threshold_s=2.0, anonymous_read=True,
                                          mqtt=mosquitto.collector_mqtt(),
                                          projects=fleet()))
    collector.start()
    site = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="site",
                       protocol=mqtt.MQTTv311)
    mosquitto.login(site, "p1", "lot-1")
    site.reconnect_delay_set(0.2, 0.5)
    site.connect_async("127.0.0.1", mosquitto.port)
    site.loop_start()
    stop = threading.Event()

    def beat():
        seq = 0
        while not stop.wait(BEAT_S):
            seq += 1
            hb = wire.Heartbeat("p1", "lot-1", 1, seq, time.time(), BEAT_S, {})
            site.publish(wire.topic("p1", "lot-1", wire.HEARTBEAT), wire.encode(hb))

    threading.Thread(target=beat, daemon=True).start()
    api = httpx.Client(base_url=f"http://127.0.0.1:{collector.port}", timeout=5)
    try:
        wait_for(lambda: api.get("/api/sites").json(), 10, what="the site to be seen")
        mosquitto.stop()
        wait_for(lambda: not api.get("/healthz").json()["mqtt_connected"], 10,
                 what="the collector to notice")
        time.sleep(BEAT_S * 3 + 2.5)  # silence, and longer than the threshold
        mosquitto.start()
        wait_for(lambda: api.get("/healthz").json()["mqtt_connected"], 20,
                 what="the collector to reconnect")
        back = time.time()
        # Heard again for two beats: many ticks (0.25 s) after the gap, where a wrong
        # incident for the broker's downtime would have been declared.
        wait_for(lambda: any(s["last_seen"] and s["last_seen"] > back + 2 * BEAT_S
                             for s in api.get("/api/sites").json()), 15,
                 what="the site heard again for two beats")
        assert api.get("/api/incidents").json() == []
        sight = api.get("/api/collector/runs").json()["sight"]
        assert len(sight) == 2 and sight[0]["open"] == 0  # the gap between is unknown
        assert sight[1]["from_at"] - sight[0]["to_at"] > 2.5
    finally:
        stop.set()
        site.loop_stop()
        site.disconnect()
        api.close()
        collector.stop()
