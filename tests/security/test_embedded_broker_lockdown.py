"""The embedded broker (amqtt, the demo's fallback) holds the same accounts and topic rules
as mosquitto: the same attacks, on both brokers, with raw clients."""

from __future__ import annotations

import json
import time

import pytest

from parkwatch.core import wire
from simulators.broker import EmbeddedBroker, Mosquitto
from tests.helpers import wait_for
from tests.security.test_broker_lockdown import Client, heartbeat

P = "p1"


@pytest.fixture(params=["mosquitto", "embedded"])
def broker(request, tmp_path):
    if request.param == "mosquitto" and not Mosquitto.available():
        pytest.fail("mosquitto is not installed; .ci/run installs it")
    cls = Mosquitto if request.param == "mosquitto" else EmbeddedBroker
    b = cls(workdir=tmp_path / "broker").start()
    yield b
    b.stop()


def test_the_same_accounts_and_rules_on_either_broker(broker):
    a_pw, b_pw = broker.add_site(P, "a"), broker.add_site(P, "b")  # after the start
    assert Client(broker.port).refused  # anonymous
    assert Client(broker.port, f"{P}/a", "wrong").refused
    assert Client(broker.port, broker.collector_username, a_pw).refused
    monitor = Client(broker.port, broker.collector_username, broker.collector_password,
                     client_id="monitor")
    monitor.c.subscribe(wire.SUBSCRIPTION, 1)
    monitor.c.subscribe(wire.CLOCK_TOPIC, 1)
    site_b = Client(broker.port, f"{P}/b", b_pw, client_id="b")
    site_b.c.subscribe([(f"{wire.TOPIC_ROOT}/{P}/a/+", 1), (wire.topic(P, "b", "heartbeat"), 1),
                        (wire.CLOCK_TOPIC, 1)])
    wait_for(lambda: len(monitor.subacks) == 2 and site_b.subacks, 10, what="SUBACKs")
    site_a = Client(broker.port, f"{P}/a", a_pw, client_id="a")
    for channel in ("status", "heartbeat", "event"):  # b forging a's messages
        site_b.publish(wire.topic(P, "a", channel), heartbeat("a", 666))
    site_b.publish(wire.CLOCK_TOPIC, json.dumps({"ts": time.time() - 3600}).encode())
    site_a.publish(wire.topic(P, "a", "heartbeat"), heartbeat("a", 1))
    site_b.publish(wire.topic(P, "b", "heartbeat"), heartbeat("b", 1))
    broker.login(monitor.c)
    monitor.publish(wire.CLOCK_TOPIC, b'{"ts": 1}')  # only the collector's account may
    wait_for(lambda: len(monitor.got) >= 3 and len(site_b.got) >= 2, 10,
             what="the allowed messages")
    topics = sorted(t for t, _ in monitor.got)
    assert topics == [wire.CLOCK_TOPIC, wire.topic(P, "a", "heartbeat"),
                      wire.topic(P, "b", "heartbeat")]
    # none of b's forgeries got through: no heartbeat with seq 666, no clock an hour back
    # (read from the JSON: a timestamp's digits may hold "666" or "3600" by chance)
    bodies = [json.loads(m) for _, m in monitor.got]
    assert all(b.get("seq") != 666 for b in bodies)
    assert all(b["ts"] > time.time() - 1800 or b["ts"] == 1 for b in bodies)
    assert sorted(t for t, _ in site_b.got) == [wire.CLOCK_TOPIC, wire.topic(P, "b", "heartbeat")]
    # A Will on another site's status: refused (amqtt) or never published (mosquitto).
    will = Client(broker.port, f"{P}/b", b_pw, client_id="b-will",
                  will=(wire.topic(P, "a", "status"), b'{"state": "offline"}'))
    will.drop()
    site_a.publish(wire.topic(P, "a", "heartbeat"), heartbeat("a", 2))
    wait_for(lambda: len(monitor.got) >= 4, 10, what="a's second heartbeat")
    assert wire.topic(P, "a", "status") not in [t for t, _ in monitor.got]
    for c in (monitor, site_a, site_b):
        c.close()
