import json

import pytest

from agent import wire

T = "parkwatch/v1/p1/s1/"


def hb(**over):
    body = {"v": 1, "project": "p1", "site": "s1", "boot": 3, "seq": 7, "ts": 100.0,
            "interval_s": 10, "devices": {"gate1": {"state": "ok"}}}
    body.update(over)
    return json.dumps(body).encode()


@pytest.mark.parametrize("msg", [
    wire.Status("p1", "s1", "online", 3, 100.0, "connect"),
    wire.Heartbeat("p1", "s1", 3, 7, 100.0, 10.0,
                   {"gate1": wire.DeviceReport("fault", "motor", 99.0)}),
    wire.Event("p1", "s1", 3, 8, 100.0, "device_state", device="gate1", state="offline",
               prev="ok", since=98.5),
])
def test_every_message_survives_a_round_trip(msg):
    assert wire.decode(wire.topic("p1", "s1", msg.channel), wire.encode(msg)) == msg


@pytest.mark.parametrize("topic,payload,problem", [
    (T + "heartbeat", b"\xff\xfe", "not JSON"),
    (T + "heartbeat", b"[1, 2]", "not a JSON object"),
    (T + "heartbeat", hb(v=2), "schema version 2"),
    (T + "heartbeat", hb(site="s2"), "does not match topic"),
    (T + "heartbeat", hb(seq="7"), "'seq' must be an integer"),
    (T + "heartbeat", hb(seq=True), "got a boolean"),
    (T + "heartbeat", hb(seq=-1), "must not be negative"),
    (T + "heartbeat", hb(interval_s=0), "must be positive"),
    (T + "heartbeat", hb(devices={"gate1": {"state": "melted"}}), "device 'gate1'"),
    (T + "heartbeat", hb(devices={"bad name!": {"state": "ok"}}), "device must be"),
    (T + "heartbeat", b"{" + b" " * wire.MAX_PAYLOAD_BYTES + b"}", "exceeds"),
    (T + "telemetry", hb(), "is not parkwatch/v1/<project>/<site>/<channel>"),
    ("other/p1/s1/heartbeat", hb(), "outside parkwatch/v1/"),
    (T + "event", json.dumps({"v": 1, "project": "p1", "site": "s1", "boot": 1, "seq": 1,
                              "ts": 1.0, "kind": "device_state"}).encode(), "needs 'device'"),
])
def test_bad_messages_are_rejected_with_a_reason(topic, payload, problem):
    with pytest.raises(wire.WireError, match=problem.replace("(", r"\(").replace("[", r"\[")):
        wire.decode(topic, payload)


def test_unknown_fields_are_ignored_so_optional_additions_stay_compatible():
    msg = wire.decode(T + "heartbeat", hb(new_field={"x": 1}))
    assert msg.seq == 7


def test_topic_refuses_ids_that_would_break_the_tree():
    with pytest.raises(wire.WireError):
        wire.topic("p1", "s1/#", wire.HEARTBEAT)


def event(kind, **fields):
    body = {"v": 1, "project": "p1", "site": "s1", "boot": 1, "seq": 1, "ts": 1.0,
            "kind": kind, **fields}
    return json.dumps(body).encode()


@pytest.mark.parametrize("payload", [
    event("uplink", detail={"start": 10.0, "end": 70.5, "cause": "keepalive_loss",
                            "offset_s": -0.2, "duration_s": 60.5}, historical=True),
    event("software", state="fault", detail={"process": "parkd", "exit_code": -9}),
    event("loop_timeout", device="loop-1", since=5.0, detail={"lane": "in-1"}),
    event("intercom", device="gate-in", detail={"lane": "in-1"}),
    event("dropped", detail={"count": 12}),
])
def test_each_event_kind_with_its_fields_is_accepted(payload):
    assert wire.decode(T + "event", payload).kind == json.loads(payload)["kind"]


@pytest.mark.parametrize("payload,problem", [
    (event("uplink", detail={"start": 10.0, "end": 5.0, "cause": "dns"}), "ends before"),
    (event("uplink", detail={"start": 1.0, "end": 5.0, "cause": "gremlins"}), "'cause'"),
    (event("software", state="fault", detail={}), "'process'"),
    (event("intercom"), "needs 'device'"),
    (event("dropped", detail={"count": -1}), "negative"),
    (event("teleport", device="x"), "'kind' must be one of"),
])
def test_event_kinds_are_checked(payload, problem):
    with pytest.raises(wire.WireError, match=problem):
        wire.decode(T + "event", payload)
