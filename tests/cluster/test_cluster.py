"""A running three-node NATS cluster as the fleet's broker: messages cross nodes (QoS 0
heartbeats, QoS 1 events, retained status, the Will), and the accounts are as locked down
as mosquitto's: a site publishes and reads only its own topics, and only over MQTT."""

from __future__ import annotations

import json
import signal
import socket
import threading
import uuid

import httpx
import paho.mqtt.client as mqtt
import pytest

from parkwatch.core import wire
from simulators.barrier import BarrierSim
from tests.agent_support import Recorder, start_agent
from tests.cluster.conftest import P, agent_config, collector_on, stored
from tests.helpers import wait_for


class Login:
    """One MQTT client on one node: what the broker answered and what it delivered."""

    def __init__(self, port: int, username=None, password=None):
        self.answer, self.reason = threading.Event(), None
        self.got: list[tuple[str, bytes, bool]] = []
        self.subacks: list = []
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=f"t-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311)
        if username is not None:
            self.c.username_pw_set(username, password)
        self.c.reconnect_delay_set(30, 60)  # one attempt is what a test looks at
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda c, u, m: self.got.append((m.topic, m.payload, m.retain))
        self.c.on_subscribe = lambda c, u, mid, codes, p: self.subacks.append(codes)
        self.c.connect("127.0.0.1", port, keepalive=10)
        self.c.loop_start()
        assert self.answer.wait(10), "no CONNACK"

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.reason = reason_code
        self.answer.set()

    @property
    def accepted(self) -> bool:
        return not self.reason.is_failure

    def subscribe(self, topic: str, qos: int = 0):
        n = len(self.subacks)
        self.c.subscribe(topic, qos)
        return wait_for(lambda: self.subacks[n:], 10, what=f"SUBACK for {topic}")[0][0]

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False):
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            info.wait_for_publish(10)  # NATS acknowledges what it drops, as mosquitto does

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def recorder(shared_cluster):
    """Everything node 1 delivers to the collector's account."""
    r = Recorder(shared_cluster.nodes[1].mqtt_port, topics=[wire.CLOCK_TOPIC],
                 username=shared_cluster.collector_username,
                 password=shared_cluster.collector_password)
    yield r
    r.close()


def raw_topics(recorder) -> list[str]:
    with recorder.lock:
        return [topic for _, topic, _, _ in recorder.raw]


def test_heartbeats_and_a_qos1_event_reach_a_collector_on_another_node(
        tmp_path, shared_cluster, parkwatch_exe):
    sim = BarrierSim().start()
    db = tmp_path / "collector.db"
    collector = collector_on(shared_cluster, 1, db)
    third = Recorder(shared_cluster.nodes[2].mqtt_port,
                     username=shared_cluster.collector_username,
                     password=shared_cluster.collector_password)
    agent = start_agent(parkwatch_exe, agent_config(tmp_path, shared_cluster, "lot-1", [0],
                                                    devices=(("gate-in", sim.path),)),
                        tmp_path / "agent.log")
    api = httpx.Client(base_url=f"http://127.0.0.1:{collector.port}", timeout=5)
    try:
        # The site is online and its gate ok: heartbeats (QoS 0) crossed from node 0.
        wait_for(lambda: [d for s in api.get("/api/sites").json()
                          if s["site"] == "lot-1" and s["state"] == "online"
                          for d in s["devices"] if d["state"] == "ok"], 20,
                 what="lot-1 online with its gate ok")
        sim.set_fault("motor")
        [fault] = wait_for(lambda: [e for e in third.events("device_state")
                                    if e.site == "lot-1" and e.state == "fault"], 15,
                           what="the fault event on node 2")
        wait_for(lambda: stored(db, "lot-1", fault.boot, fault.seq), 15,
                 what="the fault event (QoS 1) stored by the collector on node 1")
        [outage] = wait_for(lambda: [o for o in api.get("/api/outages").json()
                                     if o.get("device") == "gate-in"], 15,
                            what="the gate's fault outage")
        assert outage["site"] == "lot-1" and outage["ended_at"] is None
        assert [h for h in third.of(wire.Heartbeat) if h.site == "lot-1"]
    finally:
        agent.terminate()
        agent.wait(10)
        third.close()
        collector.stop()
        sim.stop()
        api.close()


def nats_protocol_login(port: int, username: str, password: str) -> str:
    """What a node answers a NATS-protocol (not MQTT) client that logs in with an account."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        f = s.makefile("rb")
        assert f.readline().startswith(b"INFO ")
        s.sendall(b"CONNECT " + json.dumps({"user": username, "pass": password,
                                             "verbose": False}).encode() + b"\r\nPING\r\n")
        return f.readline().decode().strip()


def test_a_site_account_is_confined_to_its_own_topics_on_every_node(shared_cluster, recorder):
    cluster = shared_cluster
    lot2 = Login(cluster.nodes[2].mqtt_port, f"{P}/lot-2", cluster.site_password(P, "lot-2"))
    lot3 = Login(cluster.nodes[0].mqtt_port, f"{P}/lot-3", cluster.site_password(P, "lot-3"))
    try:
        assert lot2.accepted and lot3.accepted
        # Reading: nothing beyond its own heartbeat echo and the clock.
        assert lot2.subscribe("parkwatch/v1/#") == 0x80
        assert lot2.subscribe(wire.topic(P, "lot-3", wire.HEARTBEAT)) == 0x80
        assert lot2.subscribe(wire.topic(P, "lot-2", wire.HEARTBEAT)) == 0
        # Writing: another site's topics and the clock are dropped (after a PUBACK).
        for channel in (wire.HEARTBEAT, wire.EVENT, wire.STATUS):
            lot2.publish(wire.topic(P, "lot-3", channel), b'{"forged": true}')
        lot2.publish(wire.CLOCK_TOPIC, b'{"forged": true}')
        lot3.publish(wire.topic(P, "lot-3", wire.HEARTBEAT), b"lot-3's own", qos=0)
        lot2.publish(wire.topic(P, "lot-2", wire.EVENT), b"lot-2's marker")
        lot2.publish(wire.topic(P, "lot-2", wire.HEARTBEAT), b"lot-2's echo", qos=0)
        topics = wait_for(lambda: (t := raw_topics(recorder)) and all(
            x in t for x in (wire.topic(P, "lot-2", wire.EVENT),
                             wire.topic(P, "lot-2", wire.HEARTBEAT),
                             wire.topic(P, "lot-3", wire.HEARTBEAT))) and t, 10,
            what="the allowed messages at the collector's account")
        wait_for(lambda: any(p == b"lot-2's echo" for _, p, _ in lot2.got), 10,
                 what="lot-2's own echo")
        with recorder.lock:
            forged = [(t, p) for _, t, p, _ in recorder.raw if b"forged" in p]
        assert forged == [] and wire.CLOCK_TOPIC not in topics
        assert [t for t, _, _ in lot2.got] == [wire.topic(P, "lot-2", wire.HEARTBEAT)]
    finally:
        lot2.close()
        lot3.close()
    # No login without an account, or with a wrong password, on any node.
    for node in cluster.nodes:
        for username, password in ((None, None), (f"{P}/lot-2", "not-its-password"),
                                   (cluster.collector_username, "guess")):
            stranger = Login(node.mqtt_port, username, password)
            assert not stranger.accepted
            stranger.close()
    # The accounts are MQTT-only: the NATS protocol port refuses them.
    answer = nats_protocol_login(cluster.nodes[0].client_port, f"{P}/lot-2",
                                 cluster.site_password(P, "lot-2"))
    assert "Authorization Violation" in answer


def test_retained_status_and_the_will_cross_nodes(tmp_path, shared_cluster, recorder,
                                                   parkwatch_exe):
    cluster = shared_cluster
    status = wire.topic(P, "lot-3", wire.STATUS)
    agent = start_agent(parkwatch_exe, agent_config(tmp_path, cluster, "lot-3", [0]),
                        tmp_path / "agent.log")
    try:
        wait_for(lambda: [s for s in recorder.of(wire.Status)
                          if s.site == "lot-3" and s.state == "online"], 20,
                 what="lot-3 online, on node 1")
        late = Login(cluster.nodes[2].mqtt_port, cluster.collector_username,
                     cluster.collector_password)
        late.subscribe(status, qos=1)
        [(_, payload, retained)] = wait_for(lambda: late.got, 10,
                                            what="the retained status on node 2")
        late.close()
        assert retained and json.loads(payload)["state"] == "online"

        agent.send_signal(signal.SIGKILL)  # no DISCONNECT: node 0 publishes the Will
        agent.wait(10)
        [will] = wait_for(lambda: [s for s in recorder.of(wire.Status)
                                   if s.site == "lot-3" and s.reason == "will"], 15,
                          what="lot-3's Will, on node 1")
        assert will.state == "offline"
        later = Login(cluster.nodes[2].mqtt_port, cluster.collector_username,
                      cluster.collector_password)
        later.subscribe(status, qos=1)
        [(_, payload, retained)] = wait_for(lambda: later.got, 10,
                                            what="the retained Will on node 2")
        later.close()
        assert retained and json.loads(payload)["reason"] == "will"
    finally:
        if agent.poll() is None:
            agent.terminate()
            agent.wait(10)
