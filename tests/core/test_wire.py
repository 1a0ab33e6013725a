import json

import pytest

from parkwatch.core import wire

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


# --- limits (docs/wire.md, "Limits") --------------------------------------------------------

@pytest.mark.parametrize("topic,payload,problem,reason", [
    (T + "heartbeat", hb(boot=2**63), "'boot' must be below 2\\^63", "out_of_range"),
    (T + "heartbeat", hb(seq=2**63), "'seq' must be below 2\\^63", "out_of_range"),
    (T + "event", event("dropped", detail={"count": 2**63}), "'count'", "out_of_range"),
    (T + "heartbeat", hb(interval_s=1e308), "'interval_s' must be between", "out_of_range"),
    (T + "heartbeat", hb(interval_s=0.01), "'interval_s' must be between", "out_of_range"),
    (T + "heartbeat", hb(interval_s=86400), "'interval_s' must be between", "out_of_range"),
    (T + "heartbeat", hb(ts=1e308), "'ts' must be between", "out_of_range"),
    (T + "heartbeat", hb(devices={"g": {"state": "ok", "since": -1e13}}),
     "device 'g': field 'since' must be between", "out_of_range"),
    (T + "event", event("device_state", device="g", state="ok", since=-1e13),
     "'since' must be between", "out_of_range"),
    (T + "event", event("uplink", detail={"start": -1e308, "end": 5.0, "cause": "dns"}),
     "'start' must be between", "out_of_range"),
    (T + "event", event("uplink", detail={"start": 1.0, "end": 5.0, "cause": "dns",
                                          "offset_s": -1e15}), "'offset_s'", "out_of_range"),
    (T + "heartbeat", hb(devices={f"d{i}": {"state": "ok"} for i in range(1500)}),
     "1500 devices in one heartbeat; at most 256", "too_many_devices"),
    (T + "heartbeat", hb(devices={"g": {"state": "fault", "fault": "x" * 201}}),
     "'fault' is longer than 200", "too_long"),
    (T + "status", json.dumps({"v": 1, "project": "p1", "site": "s1", "state": "online",
                               "boot": 1, "ts": 1.0, "reason": "r" * 500}).encode(),
     "'reason' is longer", "too_long"),
    (T + "event", event("software", state="fault", detail={"process": "p" * 300}),
     "'process' is longer", "too_long"),
    (T + "event", event("intercom", device="g", detail={"pad": "x" * 9000}),
     "'detail' is 90\\d\\d bytes; at most 8192", "too_long"),
    (T + "heartbeat", b"\xff", "not JSON", "not_json"),
    (T + "heartbeat", hb(site="s2"), "does not match topic", "topic_mismatch"),
    (T + "heartbeat", hb(v=9), "schema version", "version"),
    (T + "heartbeat", hb(seq="7"), "must be an integer", "malformed"),
])
def test_implausible_values_are_wire_errors_with_a_reason_code(topic, payload, problem, reason):
    with pytest.raises(wire.WireError, match=problem) as e:
        wire.decode(topic, payload)
    assert e.value.reason == reason


def test_values_at_the_limits_are_accepted():
    msg = wire.decode(T + "heartbeat", hb(boot=2**63 - 1, seq=2**63 - 1, interval_s=3600,
                                          devices={f"d{i}": {"state": "ok"} for i in range(256)}))
    assert msg.boot == 2**63 - 1 and len(msg.devices) == 256 and msg.interval_s == 3600.0
    assert wire.decode(T + "heartbeat", hb(interval_s=0.1)).interval_s == 0.1
    ev = wire.decode(T + "event", event("uplink", detail={"start": 0, "end": 1e10,
                                                          "cause": "dns", "offset_s": -3600}))
    assert ev.detail["end"] == 1e10
