"""A collector offered more heartbeats than it drains, through a real mosquitto: it sheds
heartbeats (latest per site wins), declares no site down that is not, loses no event, and
still finds the one site that really fell silent."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import time

import httpx
import paho.mqtt.client as mqtt

from collector.config import CollectorConfig
from collector.service import Collector
from parkwatch.core import wire
from parkwatch.core.broker import Broker
from tests.helpers import fleet, wait_for

SITES = [f"s{i:04d}" for i in range(1000)]
VICTIM = SITES[0]  # falls silent 2 s into the flood
INTERVAL_S = 2.0  # what the heartbeats announce: down after 6 s of silence
DEVICES = {f"dev-{i}": {"state": "ok"} for i in range(10)}
FLOOD_S, STEADY_S = 8.0, 14.0
EVENT_SITES, EVENTS_EACH = SITES[1:31], 10


def _client(port: int, user: str, password: str, name: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv311)
    c.username_pw_set(user, password)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def heartbeats(port: int, user: str, password: str, part: int, parts: int) -> None:
    """As fast as it can for FLOOD_S, then each site every INTERVAL_S / 2 for STEADY_S."""
    c = _client(port, user, password, f"flood-{part}")
    mine = SITES[part::parts]
    start = time.time()
    seq = 0
    while (now := time.time()) - start < FLOOD_S + STEADY_S:
        seq += 1
        steady = now - start >= FLOOD_S
        for i, site in enumerate(mine):
            if site == VICTIM and now - start > 2.0:
                continue
            body = {"v": 1, "project": "p", "site": site, "boot": 1, "seq": seq,
                    "ts": time.time(), "interval_s": INTERVAL_S, "devices": DEVICES}
            c.publish(wire.topic("p", site, wire.HEARTBEAT), wire.json.dumps(body))
            while len(c._out_packet) > 5000:
                time.sleep(0.001)
            if steady and i % 50 == 49:
                time.sleep(INTERVAL_S / 2 / len(mine) * 50)
    c.loop_stop()
    c.disconnect()


def events(port: int, user: str, password: str) -> None:
    """QoS 1 events spread over the flood, each waited for until the broker has it."""
    c = _client(port, user, password, "events")
    sent = []
    for k in range(EVENTS_EACH):
        for site in EVENT_SITES:
            # Numbered below the site's heartbeats, as an agent's (one counter) would be:
            # a jump in a site's numbers is a lost message (collector/tracking/lag.py).
            ev = wire.Event("p", site, 1, k, time.time(), "loop_timeout", device="dev-1")
            sent.append(c.publish(wire.topic("p", site, wire.EVENT), wire.encode(ev), qos=1))
        time.sleep(FLOOD_S / EVENTS_EACH)
    for info in sent:
        info.wait_for_publish(30)
    c.loop_stop()
    c.disconnect()


def test_a_flooded_collector_sheds_heartbeats_declares_no_false_down_loses_no_event(
        tmp_path, mosquitto):
    password = mosquitto.add_account("load", write=("parkwatch/v1/p/#",))
    collector = Collector(CollectorConfig(
        broker=Broker("127.0.0.1", mosquitto.port), database=tmp_path / "c.db", api_port=0,
        outage_threshold_s=2.0, anonymous_read=True, mqtt=mosquitto.collector_mqtt(),
        projects=fleet(*(f"p/{s}" for s in SITES))))
    collector.start()
    api = httpx.Client(base_url=f"http://127.0.0.1:{collector.port}", timeout=10)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=heartbeats, args=(mosquitto.port, "load", password, n, 2))
             for n in range(2)]
    procs.append(ctx.Process(target=events, args=(mosquitto.port, "load", password)))
    try:
        wait_for(lambda: api.get("/healthz").json()["mqtt_connected"], 10,
                 what="the collector to connect")
        for p in procs:
            p.start()
        for p in procs:
            p.join(FLOOD_S + STEADY_S + 60)
            assert p.exitcode == 0
        health = wait_for(lambda: (h := api.get("/healthz").json())["backlog"] == 0 and
                          not h["behind"] and h, 30, what="the collector to catch up")
        outages = wait_for(lambda: api.get("/api/outages").json(), 15,
                           what="the silent site to be found down")
        assert [o["site"] for o in outages] == [VICTIM]  # and no other
        assert health["shed_heartbeats"] > 0  # it was offered more than it drained
        db = sqlite3.connect(f"file:{tmp_path / 'c.db'}?mode=ro", uri=True, timeout=10)
        counts = dict(db.execute("SELECT site, count(*) FROM site_events GROUP BY site"))
        db.close()
        assert counts == {s: EVENTS_EACH for s in EVENT_SITES}  # every event, once
        print(f"shed {health['shed_heartbeats']}, max lag {health['max_lag_s']} s, "
              f"behind {health['times_behind']} times, received {health['received']}")
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        api.close()
        collector.stop()
