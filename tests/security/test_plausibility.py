"""Issue 11, part 4: each plausibility attack replayed against a real collector process and
mosquitto; nothing stored changes, and each rejection is counted by its reason code.

Run: .venv/bin/python -m pytest -q -p no:cacheprovider tests/security/test_plausibility.py
"""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
import pytest

from parkwatch.core import wire
from tests.helpers import wait_for
from tests.security.rig import Rig


@pytest.fixture
def rig(tmp_path, mosquitto, parkwatch_exe):
    r = Rig(tmp_path, mosquitto, parkwatch_exe)
    try:
        r.real_outage(r.s2)  # P2 has a real, charged incident to protect
        yield r
    finally:
        r.stop()


class Attacker:
    """A client that may write anywhere under parkwatch/v1: a compromised gateway behind a
    broker with a wrong ACL. The locked-down broker stops most of these at its door
    (tests/security/test_broker_lockdown.py); this shows the collector's own checks hold
    without it."""

    def __init__(self, broker):
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="attacker",
                             protocol=mqtt.MQTTv311)
        self.c.username_pw_set("attacker", broker.add_account(
            "attacker", write=(f"{wire.TOPIC_ROOT}/#",)))
        self.c.connect("127.0.0.1", broker.port)
        self.c.loop_start()

    def send(self, project, site, channel, body: dict, retain: bool = False) -> None:
        body = {"v": 1, "project": project, "site": site, **body}
        self.c.publish(f"{wire.TOPIC_ROOT}/{project}/{site}/{channel}", json.dumps(body),
                       qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def record(start, end, boot=6, seq=900, **detail):
    return {"boot": boot, "seq": seq, "ts": time.time(), "kind": "uplink", "historical": True,
            "detail": {"start": start, "end": end, "cause": "dns", "lost": "closed", **detail}}


def replay(rig, attacks, codes):
    before, counted = rig.figures(), rig.health()["rejected_by_code"]
    a = Attacker(rig.broker)
    try:
        for attack in attacks:
            a.send(*attack)
    finally:
        a.close()
    rig.settle({c: counted.get(c, 0) + n for c, n in codes.items()})
    now = rig.health()["rejected_by_code"]
    assert {c: n - counted.get(c, 0) for c, n in now.items() if n != counted.get(c, 0)} == \
        codes  # each attack rejected once, for its reason, and nothing else
    assert rig.figures() == before
    return before


def test_forged_uplink_records_change_nothing(rig):
    [(p2_start, p2_end)] = rig.query("SELECT started_at, ended_at FROM outages "
                                     "WHERE project = 'P2'")
    wait_for(lambda: time.time() > p2_end + 4, 10, what="P2 heard for a while again")
    now = time.time()
    attacks = [
        # Under P1's topic, naming P2's site: the payload must match its topic.
        ("P1", "S1", "event", {**record(now - 60, now - 1), "project": "P2", "site": "S2"}),
        # On P2's own topic: "down" over the time the collector heard P2 (after its real
        # outage), "down" from -1e308, from 1970 and two years back.
        ("P2", "S2", "event", record(p2_end + 1, now - 1, boot=7)),
        ("P2", "S2", "event", record(-1e308, now - 1, seq=901)),
        ("P2", "S2", "event", record(0.0, now - 1, seq=902)),
        ("P2", "S2", "event", record(now - 2 * 365 * 86400, now - 1, seq=903)),
        # Against P1, heard the whole time.
        ("P1", "S1", "event", record(rig.s1.connected_at + 1, now - 1)),
    ]
    before = replay(rig, attacks, {"wire_topic_mismatch": 1, "wire_out_of_range": 1,
                                   "time_window": 2, "uplink_heard": 2})
    assert before["budgets"]["P2"][0] > 0 and before["budgets"]["P1"][0] == 0
    [(start, end)] = rig.query("SELECT started_at, ended_at FROM outages WHERE project='P2'")
    assert (start, end) == (p2_start, p2_end)


def test_implausible_heartbeats_are_rejected(rig):
    def hb(**over):
        return {"boot": 5, "seq": 10**6, "ts": time.time(), "interval_s": 0.3,
                "devices": {"gate": {"state": "ok"}}, **over}

    attacks = [
        ("P1", "S1", "heartbeat", hb(devices={"gate": {"state": "fault", "fault": "x",
                                                         "since": -1e13}})),
        ("P1", "S1", "heartbeat", hb(interval_s=1e308)),
        ("P1", "S1", "heartbeat", hb(devices={f"d{i}": {"state": "offline"}
                                              for i in range(1500)})),
        ("P1", "S1", "heartbeat", hb(boot=2**63)),
        ("P1", "S1", "heartbeat", hb(devices={"gate": {"state": "fault", "fault": "x",
                                                         "since": time.time() + 86400}})),
        ("P1", "S1", "event", {"boot": 5, "seq": 10**6, "ts": time.time(),
                               "kind": "device_state", "device": "gate", "state": "fault",
                               "fault": "x", "since": 1.0}),
    ]
    replay(rig, attacks, {"wire_out_of_range": 3, "wire_too_many_devices": 1,
                          "time_window": 2})


def test_events_under_far_future_boots_are_rejected_and_the_real_record_counts(rig):
    s1 = rig.s1
    forged = [("P1", "S1", "event", record(time.time() - 5, time.time(), boot=s1.boot + b,
                                           seq=seq))
              for b in (1001, 10**6, 2**62) for seq in (1, 2, 3)]
    replay(rig, forged, {"boot_ahead": len(forged)})
    rig.real_outage(s1)  # its record goes out under boot + 1, seq 1
    [(source, declared)] = rig.query(
        "SELECT o.end_source, i.state FROM outages o JOIN incidents i ON i.outage_id = o.id "
        "WHERE o.project = 'P1'")
    assert (source, declared) == ("uplink_record", "closed")


def test_retained_messages_are_ignored_and_a_burst_of_events_is_not_cut(rig):
    before = rig.figures()
    rig.stop_collector()
    a = Attacker(rig.broker)
    hb = {"boot": 1, "seq": 1, "ts": time.time(), "interval_s": 3600,
          "devices": {"gate": {"state": "fault", "fault": "x"}}}
    a.send("P1", "ghost", "heartbeat", hb, retain=True)
    a.send("P1", "S1", "event", {"boot": 5, "seq": 10**5, "ts": time.time(),
                                 "kind": "device_state", "device": "gate", "state": "fault",
                                 "fault": "x"}, retain=True)
    a.close()
    # A collector without a session: the broker hands it every retained message.
    rig.start_collector("fresh-collector")
    rig.settle({"retained": 2})
    assert rig.health()["rejected_by_code"] == {"retained": 2}
    wait_for(lambda: (lambda s: len(s) == 2 and all(x["devices"] for x in s))(rig.sites()),
             10, what="both real sites' heartbeats again")
    assert rig.figures() == before
    # A replay after a cut: 2,000 QoS 1 events as fast as the broker takes them.
    received = rig.health()["received"]
    for _ in range(2000):
        rig.s1.event("intercom", device="gate", historical=True)
    wait_for(lambda: rig.health()["received"] >= received + 2000, 30, what="the replay")
    assert rig.rejected("rate_limited") == 0
