"""Bad input on every boundary: MQTT payloads, another site's topic, serial noise, HTML
error pages from a camera, malformed config files. Each is rejected clearly and counted,
and nothing already known changes."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time

import paho.mqtt.client as mqtt

from parkwatch.core import wire
from tests.faults import results
from tests.faults.rig import PROJECT, SITE
from tests.helpers import wait_for


def valid_heartbeat(site: str = SITE) -> dict:
    return json.loads(wire.encode(wire.Heartbeat(PROJECT, site, 1, 1, time.time(), 0.5, {})))


def topic(channel: str, site: str = SITE) -> str:
    return f"{wire.TOPIC_ROOT}/{PROJECT}/{site}/{channel}"


BAD_MQTT = [
    # (what, topic, payload, the reason the collector counts)
    ("garbage bytes", topic("heartbeat"), b"\x00\xff\xfe garbage \x9c", "payload is not JSON"),
    ("not an object", topic("event"), b"[1, 2, 3]", "payload is not a JSON object"),
    ("oversized", topic("event"),
     json.dumps({"v": 1, "pad": "x" * 70_000}).encode(), "payload of"),
    ("unknown schema", topic("heartbeat"),
     json.dumps({**valid_heartbeat(), "v": 2}).encode(), "schema version 2"),
    ("missing field", topic("heartbeat"),
     json.dumps({k: v for k, v in valid_heartbeat().items() if k != "interval_s"}).encode(),
     "missing field 'interval_s'"),
    ("wrong type", topic("heartbeat"),
     json.dumps({**valid_heartbeat(), "boot": "many"}).encode(), "field 'boot' must be"),
    ("unknown event kind", topic("event"),
     json.dumps({**valid_heartbeat(), "kind": "fire", "seq": 2}).encode(), "field 'kind'"),
    ("uplink record backwards", topic("event"),
     json.dumps({**valid_heartbeat(), "kind": "uplink", "seq": 3,
                 "detail": {"start": 200.0, "end": 100.0, "cause": "dns"}}).encode(),
     "uplink record ends before it starts"),
    ("another site's topic", topic("heartbeat", "lot-2"),
     json.dumps(valid_heartbeat()).encode(), "payload site 'lot-1' does not match topic"),
    ("another site's name", topic("status"),
     json.dumps({"v": 1, "project": PROJECT, "site": "lot-2", "state": "offline", "boot": 1,
                 "ts": time.time(), "reason": "will"}).encode(),
     "payload site 'lot-2' does not match topic"),
    ("unknown channel", f"{wire.TOPIC_ROOT}/{PROJECT}/{SITE}/alarm",
     json.dumps(valid_heartbeat()).encode(), "is not parkwatch/v1/<project>/<site>"),
]


def test_bad_mqtt_payloads_are_rejected_counted_and_change_nothing(rig):
    before = rig.snapshot()
    incidents = len(rig.incidents())
    h0 = rig.health()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="intruder",
                         protocol=mqtt.MQTTv311)
    # The broker's ACL would already stop the wrong-topic cases; an account that may write
    # anywhere under parkwatch/v1 (a broker with a wrong ACL) shows the collector's own
    # checks hold without it.
    client.username_pw_set("intruder", rig.broker.add_account(
        "intruder", write=(f"{wire.TOPIC_ROOT}/#",)))
    client.connect("127.0.0.1", rig.broker.port)
    client.loop_start()
    try:
        for _, t, payload, _ in BAD_MQTT:
            client.publish(t, payload, qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()
    h = wait_for(lambda: (lambda h: h if h and h["rejected"] >= h0["rejected"] + len(BAD_MQTT)
                          else None)(rig.health()), 10, what="every bad message rejected")
    rejected = h["rejected"] - h0["rejected"]
    grew = {k: n - h0["rejected_by_reason"].get(k, 0)
            for k, n in h["rejected_by_reason"].items()}
    results.record(fault="bad MQTT payloads", injected=len(BAD_MQTT), incidents_expected=0,
                   incidents_found=len(rig.incidents()) - incidents,
                   sent=0, received=0, duplicated=0, rejected=rejected)
    assert rejected == len(BAD_MQTT), h["rejected_by_reason"]
    for what, _, _, reason in BAD_MQTT:
        assert any(reason in k and n > 0 for k, n in grew.items()), (what, reason, grew)
    assert h["received"] >= h0["received"]  # the live site is still heard
    # Nothing already known changed, no site was made up, the real one is still online.
    assert rig.snapshot() == before
    sites = rig.api.get("/api/sites").json()
    assert [(s["site"], s["state"]) for s in sites] == [(SITE, "online")]


NOISE = b"\x00\x11\x22\x33\xa5\xff\xee"  # no start, end or escape byte of the 5B/5D frames


def heartbeat_tap(rig):
    """The site's heartbeats as they go by (the collector does not keep their health)."""
    seen: list[dict] = []
    ready = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    rig.broker.login(client, PROJECT, SITE)  # a site may read its own heartbeat echo
    client.on_connect = lambda c, *a: c.subscribe(topic("heartbeat"), 0)
    client.on_subscribe = lambda *a: ready.set()
    client.on_message = lambda c, u, m: seen.append(json.loads(m.payload))
    client.connect("127.0.0.1", rig.broker.port)
    client.loop_start()
    ready.wait(10)
    return client, seen


def poll_errors(seen: list[dict], device: str) -> dict:
    for hb in reversed(seen):
        errors = (hb.get("health") or {}).get("poll_errors", {}).get(device)
        if errors:
            return errors
    return {}


def test_serial_noise_is_skipped_or_rejected_and_counted(rig):
    client, seen = heartbeat_tap(rig)
    made = rig.emitted()
    before = poll_errors(seen, "gate-in") or {}
    try:
        # Line noise in front of every reply for ten polls: skipped, the frames still read.
        respond = rig.sim.respond
        rig.sim.respond = lambda data: (lambda r: NOISE + r if r else r)(respond(data))
        q = rig.sim.queries
        wait_for(lambda: rig.sim.queries >= q + 10, 10, 0.01, what="ten noisy replies")
        del rig.sim.respond
        # Replies with a wrong checksum, fewer in a row than make the barrier offline.
        q = rig.sim.queries
        rig.sim.sim.set_mode("corrupt")
        wait_for(lambda: rig.sim.queries >= q + 1, 10, 0.01, what="a damaged reply")
        rig.sim.sim.set_mode("normal")
        errors = wait_for(lambda: (lambda e: e if e.get("checksum", 0) > before.get(
            "checksum", 0) and e.get("noise_bytes", 0) >= before.get("noise_bytes", 0)
            + 10 * len(NOISE) else None)(poll_errors(seen, "gate-in")), 10,
            what="the noise and the damaged reply counted in a heartbeat")
    finally:
        client.loop_stop()
        client.disconnect()
    noisy = (errors["noise_bytes"] - before.get("noise_bytes", 0)) // len(NOISE)
    damaged = errors["checksum"] - before.get("checksum", 0)
    results.record(fault="serial noise", injected=noisy + damaged, incidents_expected=0,
                   incidents_found=0, sent=rig.emitted() - made, received=0, duplicated=0,
                   rejected=noisy + damaged)
    assert rig.emitted() == made, "noise made the barrier change state"
    assert rig.gate_state() == "ok"
    assert "gate-in: poll failed: checksum" in rig.log("agent")


ERROR_PAGE = (b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
              b"<body><h1>Bad Gateway</h1><hr><br>nginx</body></html>\n")
LOGIN_PAGE = (b"<html><body><form action=/login><input name=user></form>"
              b"</body></html>")


def test_camera_html_error_pages_are_rejected_and_counted(rig):
    client, seen = heartbeat_tap(rig)
    made = rig.emitted()
    before = poll_errors(seen, "cam-1") or {}
    served = rig.camera.error_pages
    try:
        for page in ((502, ERROR_PAGE), (200, ERROR_PAGE), (200, LOGIN_PAGE)):
            n = rig.camera.error_pages
            rig.camera.error_page = page
            wait_for(lambda n=n: rig.camera.error_pages >= n + 1, 10, 0.01,
                     what="an error page served")
            rig.camera.error_page = None
            # A good poll between: fewer failures in a row than make the camera offline.
            r = rig.camera.requests
            wait_for(lambda r=r: rig.camera.requests >= r + 4, 10, 0.01, what="a good poll")
        served = rig.camera.error_pages - served
        errors = wait_for(lambda: (lambda e: e if sum(e.values()) - sum(before.values())
                                   >= served else None)(poll_errors(seen, "cam-1")), 10,
                          what="each error page counted in a heartbeat")
    finally:
        client.loop_stop()
        client.disconnect()
    grew = {k: v - before.get(k, 0) for k, v in errors.items() if v > before.get(k, 0)}
    results.record(fault="camera HTML error pages", injected=served, incidents_expected=0,
                   incidents_found=0, sent=rig.emitted() - made, received=0, duplicated=0,
                   rejected=sum(grew.values()))
    assert grew.get("transport", 0) >= 1, grew  # HTTP 502
    assert grew.get("payload", 0) + grew.get("field", 0) >= 2, grew  # HTML where XML belongs
    assert rig.emitted() == made, "an error page made the camera change state"
    assert rig.device_state("cam-1") == "ok"


AGENT_OK = '''project = "p1"
site = "lot-1"
broker = "mqtt://127.0.0.1:1"
state_dir = "{state}"
'''

BAD_AGENT_CONFIGS = [
    # (file name, content, what the one line must name)
    ("not-toml.toml", 'project = "p1\nsite = lot-1\n', "not-toml.toml"),
    ("binary.toml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary.toml"),
    ("empty.toml", "", "broker"),
    ("unknown-key.toml", AGENT_OK + "heartbeat_intervall_s = 5\n", "heartbeat_intervall_s"),
    ("wrong-type.toml", AGENT_OK + 'heartbeat_interval_s = "fast"\n', "heartbeat_interval_s"),
    ("bad-broker.toml", AGENT_OK.replace("mqtt://127.0.0.1:1", "http://broker"), "broker"),
    ("bad-site.toml", AGENT_OK.replace('"lot-1"', '"lot/1"'), "site"),
    ("keepalive.toml", AGENT_OK + "keepalive_s = 1\n", "keepalive_s"),
    ("no-profile.toml", AGENT_OK + '[[devices]]\nname = "g"\nport = "/dev/null"\n'
     'profile = "no-such-profile"\n', "profile"),
]

COLLECTOR_OK = '''broker = "mqtt://127.0.0.1:1"
database = "{db}"
'''

BAD_COLLECTOR_CONFIGS = [
    ("c-not-toml.toml", "broker = [\n", "c-not-toml.toml"),
    ("c-no-database.toml", 'broker = "mqtt://127.0.0.1:1"\n', "database"),
    ("c-unknown.toml", COLLECTOR_OK + "[api]\nprot = 8080\n", "prot"),
    ("c-timezone.toml", COLLECTOR_OK + 'timezone = "Mars/Olympus"\n', "timezone"),
    ("c-share.toml", COLLECTOR_OK + "[platform]\nshare = 2\n", "share"),
    ("c-threshold.toml", COLLECTOR_OK + "outage_threshold_s = -60\n", "outage_threshold_s"),
]


def test_malformed_config_files_stop_with_one_line_and_touch_nothing(rig, tmp_path):
    before = rig.snapshot()
    runs = []
    for kind, cases in (("agent", BAD_AGENT_CONFIGS), ("collector", BAD_COLLECTOR_CONFIGS)):
        for name, content, names in cases:
            path = tmp_path / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:  # a bad config pointed at the live collector's database and state
                path.write_text(content.format(db=rig.db_path, state=rig.state_dir))
            runs.append((name, names, subprocess.Popen(
                [rig.exe, kind, "run", "--config", str(path)], stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)))
    missing = tmp_path / "missing.toml"
    runs.append(("missing.toml", "missing.toml", subprocess.Popen(
        [rig.exe, "agent", "run", "--config", str(missing)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)))
    env_path = tmp_path / "good.toml"
    env_path.write_text(AGENT_OK.format(state=tmp_path / "state"))
    runs.append(("clock offset", "PARKWATCH_CLOCK_OFFSET_S", subprocess.Popen(
        [rig.exe, "agent", "run", "--config", str(env_path)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PARKWATCH_CLOCK_OFFSET_S": "an hour"})))
    failures = []
    for name, names, proc in runs:
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            failures.append(f"{name}: still running")
            continue
        lines = err.strip().splitlines()
        if proc.returncode != 2 or len(lines) != 1 or not lines[0].startswith("parkwatch: ") \
                or names not in lines[0] or "Traceback" in err:
            failures.append(f"{name}: exit {proc.returncode}, stderr {err!r}")
    results.record(fault="malformed configs", injected=len(runs), incidents_expected=0,
                   incidents_found=0, sent=0, received=0, duplicated=0,
                   rejected=len(runs) - len(failures))
    assert not failures, "\n".join(failures)
    assert rig.snapshot() == before
