"""Attacks through the broker, replayed against a locked-down mosquitto with real agents
and a real collector: strangers are refused, a site's account is confined to its own
topics, and what the collector stores is what the real sites said.

The fleet: project p1, site lot-1 (a ``parkwatch agent run`` process, so it can be killed)
and lot-2 (an in-process agent that listens for clock beacons), a collector publishing
beacons, and a monitor holding the collector's account that records what the broker lets
through.
"""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx
import paho.mqtt.client as mqtt
import pytest

from agent.config import AgentConfig
from agent.service import Agent
from collector.config import CollectorConfig
from collector.service import Collector
from parkwatch.core import wire
from parkwatch.core.broker import Broker
from tests.agent_support import Recorder, agent_toml, start_agent
from tests.helpers import fleet, wait_for

P, LOT1, LOT2 = "p1", "lot-1", "lot-2"
BEAT_S = 0.5
THRESHOLD_S = 1.5


class BeaconWatcher(Agent):
    """lot-2's agent, recording every clock beacon the broker delivers to it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.beacons: list[bytes] = []

    def link_message(self, topic, payload, retain):
        if topic == wire.CLOCK_TOPIC:
            self.beacons.append(payload)
        super().link_message(topic, payload, retain)


@pytest.fixture
def site(tmp_path, mosquitto, parkwatch_exe):
    collector = Collector(CollectorConfig(
        broker=Broker("127.0.0.1", mosquitto.port), mqtt=mosquitto.collector_mqtt(),
        database=tmp_path / "collector.db", projects=fleet({P: [LOT1, LOT2]}),
        outage_threshold_s=THRESHOLD_S, site_silence_factor=3, clock_beacon_s=0.2,
        api_port=0, anonymous_read=True))
    collector.start()
    monitor = Recorder(mosquitto, topics=[wire.CLOCK_TOPIC])
    lot1 = start_agent(parkwatch_exe, agent_toml(tmp_path, mosquitto, heartbeat_s=BEAT_S),
                       tmp_path / "lot-1.log")
    lot2 = BeaconWatcher(AgentConfig(P, LOT2, Broker("127.0.0.1", mosquitto.port),
                                     tmp_path / "lot-2", BEAT_S,
                                     mqtt=mosquitto.site_mqtt(P, LOT2)))
    lot2.start()
    api = httpx.Client(base_url=f"http://127.0.0.1:{collector.port}", timeout=5)
    try:
        wait_for(lambda: sorted(s["site"] for s in api.get("/api/sites").json()
                                if s["state"] == "online") == [LOT1, LOT2], 20,
                 what="both sites online")
        wait_for(lambda: lot2.offset.value is not None, 10, what="lot-2's clock estimate")
        yield {"broker": mosquitto, "api": api, "lot1": lot1, "lot2": lot2,
               "monitor": monitor}
    finally:
        if lot1.poll() is None:
            lot1.terminate()
            lot1.wait(10)
        lot2.stop()
        monitor.close()
        collector.stop()
        api.close()


class Client:
    """A raw MQTT client: the attacker, with an account or none."""

    def __init__(self, port, username=None, password=None, will=None, client_id=""):
        self.refused: list = []
        self.accepted = threading.Event()
        self.answered = threading.Event()
        self.got: list[tuple[str, bytes]] = []
        self.subacks: list = []
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv311)
        if username is not None:
            self.c.username_pw_set(username, password)
        if will:
            self.c.will_set(*will, qos=1, retain=True)
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.got.append((m.topic, m.payload))
        self.c.on_subscribe = lambda c, u, mid, codes, p: self.subacks.append(codes)
        self.c.connect("127.0.0.1", port, keepalive=10)
        self.c.loop_start()
        wait_for(self.answered.is_set, 10, what="a CONNACK")

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.refused.append(str(reason_code))
        else:
            self.accepted.set()
        self.answered.set()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        info = self.c.publish(topic, payload, qos=1, retain=retain)
        if self.accepted.is_set():
            info.wait_for_publish(5)  # mosquitto acknowledges even what its ACL drops

    def drop(self) -> None:
        """Vanish without DISCONNECT, so the broker publishes the Will (if it took one)."""
        self.c.loop_stop()
        if self.c.socket() is not None:
            self.c.socket().close()

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def heartbeat(site: str, seq: int, **over) -> bytes:
    body = json.loads(wire.encode(wire.Heartbeat(P, site, 1, seq, time.time(), BEAT_S, {})))
    return json.dumps({**body, **over}).encode()


def lot1_outages(api) -> list[dict]:
    return [o for o in api.get("/api/outages").json()
            if o["site"] == LOT1 and o["kind"] == "site_network"]


def test_anonymous_heartbeats_for_a_killed_site_are_refused_and_its_outage_is_declared(site):
    api, lot1, monitor = site["api"], site["lot1"], site["monitor"]
    intruder = Client(site["broker"].port)
    assert not intruder.accepted.is_set() and intruder.refused  # not authorised
    stop = threading.Event()

    def cover_up():  # keeps trying to keep the killed site "alive"
        seq = 10_000
        while not stop.wait(BEAT_S / 2):
            seq += 1
            intruder.publish(wire.topic(P, LOT1, wire.HEARTBEAT), heartbeat(LOT1, seq))

    threading.Thread(target=cover_up, daemon=True).start()
    try:
        lot1.send_signal(signal.SIGKILL)
        lot1.wait(10)
        killed = time.time()
        [outage] = wait_for(lambda: [o for o in lot1_outages(api) if o["declared_at"]],
                            THRESHOLD_S + 15, what="lot-1's outage declared")
        assert outage["started_at"] <= killed and outage["ended_at"] is None
        assert killed - outage["started_at"] < 3 * BEAT_S + 1  # its last heartbeat
        assert [i for i in api.get("/api/incidents").json() if i["site"] == LOT1]
    finally:
        stop.set()
        intruder.close()
    forged = [m for _, m in monitor.messages if isinstance(m, wire.Heartbeat)
              and m.site == LOT1 and m.seq > 10_000]
    assert forged == [] and not intruder.accepted.is_set()


def test_strangers_cannot_set_wills_for_fake_sites(site):
    broker, api, monitor = site["broker"], site["api"], site["monitor"]
    fake = [f"fake-{i}" for i in range(10)]
    offline = {"v": 1, "project": P, "state": "offline", "boot": 1, "ts": time.time(),
               "reason": "will"}
    strangers = [Client(broker.port, client_id=f"s-{s}", will=(
        wire.topic(P, s, wire.STATUS), json.dumps({**offline, "site": s}))) for s in fake]
    assert all(c.refused and not c.accepted.is_set() for c in strangers)
    # lot-2's own account, with Wills on other sites' status topics: connected, but the
    # broker will not publish a Will the account may not write.
    pw = broker.site_password(P, LOT2)
    insiders = [Client(broker.port, f"{P}/{LOT2}", pw, client_id=f"i-{s}", will=(
        wire.topic(P, s, wire.STATUS), json.dumps({**offline, "site": s})))
        for s in (*fake[:3], LOT1)]
    for c in strangers + insiders:
        c.drop()
    # The real site keeps beating meanwhile: wait until the monitor has seen it several
    # times after the drops, so any Will would have arrived.
    after = time.time()
    wait_for(lambda: len([t for t, m in monitor.messages if isinstance(m, wire.Heartbeat)
                          and m.site == LOT1 and t > after]) >= 3, 10,
             what="three more lot-1 heartbeats")
    statuses = [m for _, m in monitor.messages if isinstance(m, wire.Status)
                and (m.site in fake or m.reason == "will")]
    assert statuses == []
    sites = {s["site"] for s in api.get("/api/sites").json()}
    assert sites == {LOT1, LOT2}
    assert not [o for o in api.get("/api/outages").json() if o["kind"] == "platform"]


def test_a_site_account_is_confined_to_its_own_topics(site):
    broker, api, monitor, lot2 = site["broker"], site["api"], site["monitor"], site["lot2"]
    pw = broker.site_password(P, LOT2)
    gateway = Client(broker.port, f"{P}/{LOT2}", pw, client_id="compromised-lot-2")
    assert gateway.accepted.is_set()
    lot1_topics = f"{wire.TOPIC_ROOT}/{P}/{LOT1}/"
    gateway.c.subscribe([(lot1_topics + "+", 1), (f"{wire.TOPIC_ROOT}/#", 1)])
    events_before = len([1 for _, m in monitor.messages if isinstance(m, wire.Event)])
    offset_before = lot2.offset.value
    # Another site's heartbeat, status and event; and a clock an hour behind.
    gateway.publish(wire.topic(P, LOT1, wire.HEARTBEAT), heartbeat(LOT1, 99_999))
    gateway.publish(wire.topic(P, LOT1, wire.STATUS), json.dumps(
        {"v": 1, "project": P, "site": LOT1, "state": "offline", "boot": 1,
         "ts": time.time(), "reason": "will"}).encode(), retain=True)
    gateway.publish(wire.topic(P, LOT1, wire.EVENT), wire.encode(wire.Event(
        P, LOT1, 99, 1, time.time(), "uplink", historical=True,
        detail={"start": time.time() - 600, "end": time.time() - 1, "cause": "dns"})))
    forged_clock = json.dumps({"ts": time.time() - 3600}).encode()
    for _ in range(5):
        gateway.publish(wire.CLOCK_TOPIC, forged_clock)
    # Its own topics still work: the broker is not simply refusing everything.
    gateway.publish(wire.topic(P, LOT2, wire.HEARTBEAT), heartbeat(LOT2, 10**9))
    wait_for(lambda: [m for _, m in monitor.messages if isinstance(m, wire.Heartbeat)
                      and m.site == LOT2 and m.seq == 10**9], 10, what="its own heartbeat")
    n_beacons = len(lot2.beacons)
    wait_for(lambda: len(lot2.beacons) >= n_beacons + 3, 10, what="three more real beacons")
    after = time.time()
    wait_for(lambda: len([t for t, m in monitor.messages if isinstance(m, wire.Heartbeat)
                          and m.site == LOT1 and t > after]) >= 3, 10,
             what="three more lot-1 heartbeats")
    try:
        with monitor.lock:
            raw = list(monitor.raw)
        assert [r for r in raw if r[1].startswith(lot1_topics) and
                (b"99999" in r[2] or b'"will"' in r[2] or b'"boot": 99' in r[2]
                 or b'"boot":99' in r[2])] == []
        assert len([1 for _, m in monitor.messages if isinstance(m, wire.Event)]) \
            == events_before
        assert forged_clock not in lot2.beacons and forged_clock not in [r[2] for r in raw]
        assert abs(lot2.offset.value - offset_before) < 1.0
        # Nothing of lot-1 was delivered to lot-2's account: only its own heartbeat echo
        # and the clock, whatever it subscribed to.
        assert {t for t, _ in gateway.got} <= {wire.topic(P, LOT2, wire.HEARTBEAT),
                                               wire.CLOCK_TOPIC}
        assert [o for o in api.get("/api/outages").json() if o["site"] == LOT1] == []
        assert {s["site"]: s["state"] for s in api.get("/api/sites").json()} == \
            {LOT1: "online", LOT2: "online"}
    finally:
        gateway.close()
