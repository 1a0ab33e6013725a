"""A three-node NATS cluster written with ``--partitions`` (the account's partition
mapping): what partitioned collectors stand on. Sites publish with their own locked-down
accounts on any node; each message lands, on every node, under ``part/<n>/`` with n what
``partition_of`` says; a per-partition persistent session keeps its QoS 1 events while its
client is away and hands them to a client of the same id on another node (a collector
taking over a dead one's partition); the Will of a killed agent stays on its own topic."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from collector.fleet.partitions import partition_of
from parkwatch.core import wire
from simulators.nats import NatsCluster
from tests.agent_support import start_agent
from tests.cluster.conftest import P, agent_config
from tests.helpers import wait_for

N = 4
ACK_WAIT_S = 3  # cluster config --ack-wait: what a takeover waits for the dead one's unacked


def _site_in(part: int, taken: tuple[str, ...] = ()) -> str:
    return next(s for s in (f"lot-{i}" for i in range(1000))
                if partition_of(P, s, N) == part and s not in taken)


SITE = {k: _site_in(k) for k in range(N)}  # SITE[k] is in partition k
WILL_SITE = _site_in(3, taken=(SITE[3],))
PARTITION_TOPICS = "part/{}/parkwatch/v1/+/+/+"  # what a collector's partition client reads
WILLS = "parkwatch/v1/+/+/status"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not NatsCluster.available():
        pytest.fail("nats-server is not installed (apt-get install nats-server)")
    c = NatsCluster(workdir=tmp_path_factory.mktemp("nats-part"), partitions=N,
                    ack_wait_s=ACK_WAIT_S)
    for site in (*SITE.values(), WILL_SITE):  # before the start: no reload to wait for
        c.add_site(P, site)
    c.start()
    yield c
    c.close()


class Mqtt:
    """One MQTT 3.1.1 client on one node: its CONNACKs, SUBACKs and what it was given."""

    def __init__(self, port: int, username: str, password: str, client_id: str | None = None,
                 clean: bool = True, manual_ack: bool = False):
        self.connack: list[tuple[bool, bool]] = []  # (refused, session_present)
        self.subacks: list[int] = []
        self.got: list[tuple[str, int, bytes]] = []
        self.lock = threading.Lock()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311,
                             client_id=client_id or f"t-{uuid.uuid4().hex[:8]}",
                             clean_session=clean, manual_ack=manual_ack)
        self.c.username_pw_set(username, password)
        self.c.reconnect_delay_set(30, 60)  # a dropped client stays dropped for the test
        self.c.on_connect = lambda c, u, f, rc, p: self.connack.append(
            (rc.is_failure, f.session_present))
        self.c.on_subscribe = lambda c, u, mid, codes, p: self.subacks.append(
            int(getattr(codes[0], "value", codes[0])))
        self.c.on_message = self._message
        self.c.connect("127.0.0.1", port, keepalive=10)
        self.c.loop_start()
        wait_for(lambda: self.connack, 10, what="CONNACK")
        assert self.connack == [(False, self.connack[0][1])], "login refused"

    def _message(self, client, userdata, m):
        with self.lock:
            self.got.append((m.topic, m.qos, m.payload))

    def messages(self) -> list[tuple[str, int, bytes]]:
        with self.lock:
            return list(self.got)

    def subscribe(self, topic: str, qos: int = 1) -> int:
        n = len(self.subacks)
        self.c.subscribe(topic, qos)
        return wait_for(lambda: self.subacks[n:], 10, what=f"SUBACK for {topic}")[0]

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        info = self.c.publish(topic, payload, qos=qos)
        if qos:
            info.wait_for_publish(10)

    def vanish(self) -> None:
        """A process killed: its connection closes with no DISCONNECT (nor the acks owed)."""
        self.c.loop_stop()
        self.c.socket().close()

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def collector(cluster, node: int, **kw) -> Mqtt:
    return Mqtt(cluster.nodes[node].mqtt_port, cluster.collector_username,
                cluster.collector_password, **kw)


def site(cluster, node: int, name: str) -> Mqtt:
    return Mqtt(cluster.nodes[node].mqtt_port, f"{P}/{name}", cluster.site_password(P, name))


def mapped(name: str, channel: str) -> str:
    return f"part/{partition_of(P, name, N)}/{wire.topic(P, name, channel)}"


def test_a_site_still_publishes_only_its_own_topics_with_the_mapping_on(cluster):
    """nats-server 2.9 checks a publish permission on the subject after the mapping, so a
    site is granted its own topics under its partition too: they pass (and land there),
    another site's do not, nor its own under another partition. Its own under its own
    partition (pre-mapped by the site) pass: the very message the mapping makes."""
    me, other = SITE[0], SITE[1]
    watch = collector(cluster, 1)
    plain = collector(cluster, 2)
    lot = site(cluster, 0, me)
    try:
        assert watch.subscribe("part/+/parkwatch/v1/+/+/+") == 1
        assert plain.subscribe("parkwatch/v1/+/+/+") == 1
        assert lot.subscribe(wire.topic(P, me, wire.HEARTBEAT), 0) == 0  # its echo grant
        assert lot.subscribe(f"part/+/parkwatch/v1/{P}/{me}/heartbeat", 0) == 0  # mapped
        assert lot.subscribe(f"part/+/parkwatch/v1/{P}/{other}/heartbeat", 0) == 0x80
        for channel in (wire.EVENT, wire.STATUS, wire.HEARTBEAT):  # forgeries first
            lot.publish(wire.topic(P, other, channel), b'{"forged": true}')
            lot.publish(mapped(other, channel), b'{"forged": true}')
            wrong = mapped(me, channel).split("/")
            wrong[1] = str((int(wrong[1]) + 1) % N)
            lot.publish("/".join(wrong), b'{"forged": true}')
        lot.publish(wire.topic(P, me, wire.HEARTBEAT), b"beat", qos=0)
        lot.publish(wire.topic(P, me, wire.STATUS), b"online")
        lot.publish(wire.topic(P, me, wire.EVENT), b"event")
        lot.publish(mapped(me, wire.EVENT), b"pre-mapped")
        want = {(mapped(me, wire.HEARTBEAT), 0, b"beat"), (mapped(me, wire.STATUS), 1, b"online"),
                (mapped(me, wire.EVENT), 1, b"event"), (mapped(me, wire.EVENT), 1, b"pre-mapped")}
        wait_for(lambda: set(watch.messages()) >= want, 10, what="the site's own, mapped")
        time.sleep(0.5)  # a forgery let through would have come by now
        assert sorted(watch.messages()) == sorted(want)
        assert plain.messages() == []  # the mapping renames: nothing on the original topics
        # ... the site's own heartbeat echo included: it comes back mapped, where the agent
        # also subscribes (agent/service.py link_subscriptions)
        assert lot.messages() == [(mapped(me, wire.HEARTBEAT), 0, b"beat")]
    finally:
        for c in (watch, plain, lot):
            c.close()


def test_qos1_events_from_every_node_reach_their_partition_on_another_node_once_each(cluster):
    run = uuid.uuid4().hex[:6]
    parts = {k: collector(cluster, (k + 1) % 3, client_id=f"col-{run}-p{k}", clean=False)
             for k in range(3)}
    lots = {k: site(cluster, k, SITE[k]) for k in range(3)}  # site k on node k
    try:
        for k, c in parts.items():
            assert c.subscribe(PARTITION_TOPICS.format(k)) == 1
        for i in range(20):
            for k, lot in lots.items():
                lot.publish(wire.topic(P, SITE[k], wire.EVENT), f"{run} {k} {i}".encode())
        want = {k: sorted((mapped(SITE[k], wire.EVENT), 1, f"{run} {k} {i}".encode())
                          for i in range(20)) for k in lots}
        for k, c in parts.items():
            wait_for(lambda c=c: len(c.messages()) >= 20, 15, what=f"partition {k}'s 20")
        time.sleep(0.5)  # a repeat or a stray would have come by now
        assert {k: sorted(c.messages()) for k, c in parts.items()} == want
    finally:
        for c in (*parts.values(), *lots.values()):
            c.close()


def test_a_partition_session_is_taken_over_by_its_client_id_on_another_node(cluster):
    """A collector on node 0 holds partition 2 and dies with 5 events unacknowledged; 10
    more come while nobody holds it; a collector on node 2 logs in with the same client id
    and gets all 15 (the 10 at once, the 5 again once their ack wait is over: never
    acknowledged), then the live ones."""
    sid = f"col-{uuid.uuid4().hex[:6]}-p2"
    me = SITE[2]
    old = collector(cluster, 0, client_id=sid, clean=False, manual_ack=True)
    lot = site(cluster, 1, me)
    new = None
    try:
        assert old.subscribe(PARTITION_TOPICS.format(2)) == 1
        unacked = {(mapped(me, wire.EVENT), 1, f"before {i}".encode()) for i in range(5)}
        for _, _, payload in sorted(unacked):
            lot.publish(wire.topic(P, me, wire.EVENT), payload)
        wait_for(lambda: set(old.messages()) >= unacked, 10, what="the 5 at the old holder")
        sent = time.monotonic()  # (the 5 were delivered by now)
        old.vanish()
        away = {(mapped(me, wire.EVENT), 1, f"away {i}".encode()) for i in range(10)}
        for _, _, payload in sorted(away):
            lot.publish(wire.topic(P, me, wire.EVENT), payload)
        t0 = time.monotonic()
        new = collector(cluster, 2, client_id=sid, clean=False)
        connected = time.monotonic() - t0
        assert new.connack == [(False, True)]  # the session and its subscription are kept
        try:
            wait_for(lambda: set(new.messages()) >= away, 5, what="the 10 kept")
            away_s = time.monotonic() - t0
            wait_for(lambda: set(new.messages()) >= unacked | away, ACK_WAIT_S + 10,
                     what="the 5 sent again")
        except AssertionError as e:
            raise AssertionError(f"{e}; got {sorted(new.messages())}") from None
        again_s = time.monotonic() - sent
        lot.publish(wire.topic(P, me, wire.EVENT), b"after")
        wait_for(lambda: (mapped(me, wire.EVENT), 1, b"after") in new.messages(), 10,
                 what="a live event after the takeover")
        time.sleep(0.5)
        assert sorted(new.messages()) == sorted(
            unacked | away | {(mapped(me, wire.EVENT), 1, b"after")})  # each once
        print(f"takeover across nodes: CONNACK {connected:.3f} s, the 10 kept {away_s:.3f} s, "
              f"the 5 unacked {again_s:.3f} s after their delivery")
    finally:
        for c in (lot, new):
            if c is not None:
                c.close()


def test_a_live_holder_is_pushed_out_by_its_client_id_on_another_node(cluster):
    """A holder still connected (a stalled collector that lost its lease) when another
    collector logs in on another node with the partition's client id: NATS closes the old
    connection, and QoS 1 events go to the new one only."""
    sid = f"col-{uuid.uuid4().hex[:6]}-p1"
    me = SITE[1]
    old = collector(cluster, 0, client_id=sid, clean=False)
    lot = site(cluster, 2, me)
    new = None
    try:
        assert old.subscribe(PARTITION_TOPICS.format(1)) == 1
        old_closed = threading.Event()
        old.c.on_disconnect = lambda *a: old_closed.set()
        t0 = time.monotonic()
        new = collector(cluster, 1, client_id=sid, clean=False)
        assert new.connack == [(False, True)]
        assert old_closed.wait(15), "the old holder was not disconnected"
        print(f"live takeover across nodes: old closed {time.monotonic() - t0:.3f} s")
        lot.publish(wire.topic(P, me, wire.EVENT), b"after")
        wait_for(lambda: new.messages(), 10, what="the event at the new holder")
        time.sleep(0.5)
        assert new.messages() == [(mapped(me, wire.EVENT), 1, b"after")]
        assert old.messages() == []
    finally:
        old.c.loop_stop()
        for c in (lot, new):
            if c is not None:
                c.close()


def test_the_will_of_a_killed_agent_arrives_on_its_unmapped_status_topic(
        tmp_path, cluster, parkwatch_exe):
    status = wire.topic(P, WILL_SITE, wire.STATUS)
    rec = collector(cluster, 2)
    agent = start_agent(parkwatch_exe, agent_config(tmp_path, cluster, WILL_SITE, [0]),
                        tmp_path / "agent.log")
    try:
        assert rec.subscribe(WILLS) == 1
        assert rec.subscribe(PARTITION_TOPICS.format(3)) == 1

        def states(topic):
            return [json.loads(p) for t, _, p in rec.messages() if t == topic]
        wait_for(lambda: [s for s in states(mapped(WILL_SITE, wire.STATUS))
                          if s["state"] == "online"], 20, what="the agent online, mapped")
        wait_for(lambda: states(mapped(WILL_SITE, wire.HEARTBEAT)), 10,
                 what="its heartbeats, mapped")
        assert states(status) == []  # nothing it publishes itself stays on the original
        agent.send_signal(signal.SIGKILL)  # no DISCONNECT: node 0 publishes the Will
        agent.wait(10)
        [will] = wait_for(lambda: states(status), 15, what="the Will, unmapped, on node 2")
        assert will["state"] == "offline" and will["reason"] == "will"
        time.sleep(0.5)
        assert [s for s in states(mapped(WILL_SITE, wire.STATUS))
                if s["reason"] == "will"] == []
    finally:
        if agent.poll() is None:
            agent.terminate()
            agent.wait(10)
        rec.close()
