"""``partition_of`` (collector/fleet/partitions.py) is what a running nats-server 2.9 maps:
sites publish over MQTT, the account's subject mapping puts each message under
``part.<n>.``, and an MQTT subscriber on ``part/+/...`` sees the partition each landed in.
Also what a collector consuming one partition over MQTT gets: QoS 1 on the mapped topic,
kept by a persistent session while it is away, and nothing left on the original topic."""

from __future__ import annotations

import random
import string
import subprocess
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from collector.fleet.partitions import fnv1a32, mapping, partition_of
from simulators.nats import START_S, healthy, nats_server
from simulators.ports import HeldPort
from tests.helpers import wait_for

N = 8
USER, PASSWORD = "u", "pw-" + uuid.uuid4().hex


class Node:
    """One nats-server with JetStream and MQTT, one account holding the partition mapping."""

    def __init__(self, workdir):
        exe = nats_server()
        if exe is None:
            pytest.fail("nats-server is not installed (apt-get install nats-server)")
        self.held = [HeldPort() for _ in range(3)]
        client, http, self.mqtt_port = (h.port for h in self.held)
        src, dst = mapping(N)
        conf = workdir / "node.conf"
        conf.write_text(f'''server_name: "pm"
listen: "127.0.0.1:{client}"
http: "127.0.0.1:{http}"
jetstream {{ store_dir: "{workdir / 'js'}" }}
mqtt {{ listen: "127.0.0.1:{self.mqtt_port}" }}
accounts {{
  PARKWATCH {{
    jetstream: enabled
    users: [ {{ user: "{USER}", password: "{PASSWORD}" }} ]
    mappings: {{ "{src}": "{dst}" }}
  }}
}}
''')
        self.log = workdir / "node.log"
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                         stderr=err)
        wait_for(lambda: healthy(http) or self.proc.poll() is not None, START_S,
                 what="nats-server healthy")
        assert self.proc.poll() is None, self.log.read_text()[-1500:]

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        for h in self.held:
            h.close()


class Client:
    """An MQTT 3.1.1 client of the node: what it was delivered (topic, qos, payload)."""

    def __init__(self, port: int, client_id: str | None = None, clean: bool = True):
        self.got: list[tuple[str, int, bytes]] = []
        self.subacks: list[list[int]] = []
        self.connack: list[bool] = []  # session_present
        self.lock = threading.Lock()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                             client_id=client_id or f"t-{uuid.uuid4().hex[:8]}",
                             protocol=mqtt.MQTTv311, clean_session=clean)
        self.c.username_pw_set(USER, PASSWORD)
        self.c.on_connect = lambda c, u, f, rc, p: self.connack.append(f.session_present)
        self.c.on_message = self._message
        self.c.on_subscribe = lambda c, u, mid, codes, p: self.subacks.append(
            [int(getattr(x, "value", x)) for x in codes])
        self.c.connect("127.0.0.1", port, keepalive=10)
        self.c.loop_start()
        wait_for(lambda: self.connack, 10, what="CONNACK")

    def _message(self, client, userdata, m):
        with self.lock:
            self.got.append((m.topic, m.qos, m.payload))

    def messages(self) -> list[tuple[str, int, bytes]]:
        with self.lock:
            return list(self.got)

    def subscribe(self, topic: str, qos: int) -> int:
        n = len(self.subacks)
        self.c.subscribe(topic, qos)
        return wait_for(lambda: self.subacks[n:], 10, what=f"SUBACK {topic}")[0][0]

    def publish(self, topic: str, payload: bytes, qos: int) -> None:
        info = self.c.publish(topic, payload, qos=qos)
        if qos:
            info.wait_for_publish(10)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    n = Node(tmp_path_factory.mktemp("nats-map"))
    yield n
    n.close()


def _ids(rng: random.Random, count: int) -> list[str]:
    alphabet = string.ascii_letters + string.digits + "-_"
    return ["".join(rng.choices(alphabet, k=rng.randint(1, 24))) for _ in range(count)]


def test_partition_of_is_the_partition_nats_maps_each_site_to(node):
    rng = random.Random(15)
    projects = ["p1", "acme", "Q-9"]
    sites = [(rng.choice(projects), s) for s in dict.fromkeys(_ids(rng, 200))]
    sub = Client(node.mqtt_port)
    pub = Client(node.mqtt_port)
    try:
        assert sub.subscribe("part/+/parkwatch/v1/#", 0) == 0
        for project, site in sites:
            pub.publish(f"parkwatch/v1/{project}/{site}/heartbeat", b"{}", 1)
        wait_for(lambda: len(sub.messages()) >= len(sites), 20,
                 what=f"{len(sites)} mapped messages")
        landed = {}
        for topic, _, _ in sub.messages():
            part, _pw, _v1, project, site, channel = topic.split("/")[1:]
            assert channel == "heartbeat"
            landed[(project, site)] = int(part)
    finally:
        sub.close()
        pub.close()
    assert set(landed) == set(sites)
    mine = {key: partition_of(*key, N) for key in sites}
    assert landed == mine
    assert len(set(landed.values())) == N  # every partition was seen: not a lucky constant
    # the test tells hashes apart: joining the tokens with a "." (or hashing the site
    # alone) would put most of these sites elsewhere
    dotted = {k: fnv1a32(f"{k[0]}.{k[1]}".encode()) % N for k in sites}
    alone = {k: fnv1a32(k[1].encode()) % N for k in sites}
    assert sum(landed[k] != dotted[k] for k in sites) > len(sites) // 2
    assert sum(landed[k] != alone[k] for k in sites) > len(sites) // 2


def test_a_qos1_partition_subscriber_gets_qos1_and_its_session_keeps_them(node):
    """What decides whether a collector can consume its partitions over MQTT."""
    sites = [s for s in (f"lot-{i}" for i in range(300)) if partition_of("p1", s, N) == 3]
    others = [s for s in (f"lot-{i}" for i in range(300)) if partition_of("p1", s, N) == 5]
    live, away = sites[:5], sites[5:10]
    sid = f"collector-{uuid.uuid4().hex[:8]}"
    part3 = Client(node.mqtt_port, sid, clean=False)
    plain = Client(node.mqtt_port, f"plain-{uuid.uuid4().hex[:8]}", clean=False)
    pub = Client(node.mqtt_port)
    try:
        assert part3.subscribe("part/3/#", 1) == 1
        assert plain.subscribe("parkwatch/v1/#", 1) == 1  # the unmapped topics
        for s in live + others[:3]:
            pub.publish(f"parkwatch/v1/p1/{s}/event", f"live {s}".encode(), 1)
        pub.publish(f"parkwatch/v1/p1/{live[0]}/heartbeat", b"hb", 0)
        want = {(f"part/3/parkwatch/v1/p1/{s}/event", 1, f"live {s}".encode()) for s in live}
        want.add((f"part/3/parkwatch/v1/p1/{live[0]}/heartbeat", 0, b"hb"))
        wait_for(lambda: set(part3.messages()) >= want, 10, what="live QoS 1 on part/3/#")
        time.sleep(0.5)  # anything extra would have come by now
        assert set(part3.messages()) == want  # QoS 1 kept, QoS 0 stays 0, only partition 3
        assert len(part3.messages()) == len(want)  # none twice
        part3.close()
        time.sleep(0.3)
        for s in away:
            pub.publish(f"parkwatch/v1/p1/{s}/event", f"away {s}".encode(), 1)
        back = Client(node.mqtt_port, sid, clean=False)
        try:
            assert back.connack == [True]  # the session (and its subscription) is kept
            kept = {(f"part/3/parkwatch/v1/p1/{s}/event", 1, f"away {s}".encode())
                    for s in away}
            wait_for(lambda: set(back.messages()) >= kept, 10,
                     what="QoS 1 kept while away")
            time.sleep(0.5)
            assert sorted(back.messages()) == sorted(kept)
        finally:
            back.close()
        # the mapping renames: a subscriber on the original topics gets none of it
        assert plain.messages() == []
    finally:
        plain.close()
        pub.close()


def test_retained_status_is_mapped_but_a_will_is_not(node):
    """nats-server 2.9.10 maps what a client publishes, retained messages included, but
    sends a client's Will on its own topic: a collector consuming ``part/<n>/#`` must also
    read ``parkwatch/v1/+/+/status`` (the Wills) and keep those of its partitions."""
    site = next(s for s in (f"will-{i}" for i in range(300)) if partition_of("p1", s, N) == 3)
    topic = f"parkwatch/v1/p1/{site}/status"
    agent = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"a-{uuid.uuid4().hex[:8]}",
                        protocol=mqtt.MQTTv311)
    agent.username_pw_set(USER, PASSWORD)
    agent.will_set(topic, b"offline", qos=1, retain=True)
    connected = threading.Event()
    agent.on_connect = lambda c, u, f, rc, p: connected.set()
    agent.connect("127.0.0.1", node.mqtt_port, keepalive=10)
    agent.loop_start()
    assert connected.wait(10)
    agent.publish(topic, b"online", qos=1, retain=True).wait_for_publish(10)
    part3, plain = Client(node.mqtt_port), Client(node.mqtt_port)
    try:
        assert part3.subscribe("part/3/#", 1) == 1
        assert plain.subscribe(f"parkwatch/v1/p1/{site}/#", 1) == 1
        mapped = (f"part/3/{topic}", 1, b"online")
        wait_for(lambda: mapped in part3.messages(), 10, what="the retained status, mapped")
        assert plain.messages() == []
        agent.loop_stop()
        agent.socket().close()  # the agent's connection drops: no DISCONNECT, so the Will
        wait_for(lambda: (topic, 1, b"offline") in plain.messages(), 10,
                 what="the Will on the original topic")
        time.sleep(0.5)
        assert part3.messages() == [mapped]  # the Will did not come under part/3
    finally:
        part3.close()
        plain.close()
