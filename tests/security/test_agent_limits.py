"""Issue 11 part 6, replayed: what a hostile device, file or beacon can make the agent do.

Real servers on port 0 (tests/security/hostile_devices.py), real agent processes against a
real mosquitto, real SQLite files damaged on disk. Each attack must end as a counted,
logged failure of that one device or file, never as a stuck poll, a full memory, a read of
the gateway's files, a wrong clock or an agent that does not start.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time
import tracemalloc

import paho.mqtt.client as mqtt
import pytest

from agent.links import MAX_REPLY_BYTES, LinkTimeout
from agent.net_links import HttpLink, TcpLink
from agent.outbox import KEEP, Outbox
from agent.profiles import Codec, DecodeError, load_named, resolve
from agent.profiles.loader import MAX_PROFILE_BYTES
from parkwatch.core import wire
from tests.agent_support import Recorder
from tests.helpers import wait_for
from tests.security.hostile_devices import MB, FloodTcp, HostileCamera

DEVICE_INFO = "/ISAPI/System/deviceInfo"


def fetch_timed(link: HttpLink, path: str = DEVICE_INFO):
    t0 = time.monotonic()
    try:
        return link.fetch("GET", path), time.monotonic() - t0
    except (DecodeError, LinkTimeout) as e:
        return e, time.monotonic() - t0


def fetch_traced(cam) -> tuple[Exception | None, int]:
    """One poll of ``cam`` and the most memory Python held meanwhile."""
    link = HttpLink(cam.url, 10.0)
    tracemalloc.start()
    try:
        err, _ = fetch_timed(link)
        return err, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        link.close()


# --- HTTP: size ------------------------------------------------------------------------------

def test_a_camera_that_sends_100_mb_is_cut_off_at_the_cap():
    with HostileCamera("flood") as cam:
        err, peak = fetch_traced(cam)
        assert isinstance(err, DecodeError) and err.kind == "transport", err
        assert f"more than {MAX_REPLY_BYTES} bytes" in str(err)
        assert peak < 4 * MAX_REPLY_BYTES, f"{peak / MB:.1f} MB held while reading"
        # The agent hung up: the camera got nowhere near its 100 MB out.
        assert cam.most < 20 * MB, cam.most


def test_a_declared_100_mb_body_is_refused_before_it_is_read():
    with HostileCamera("declared") as cam:
        link = HttpLink(cam.url, 10.0)
        err, took = fetch_timed(link)
        link.close()
    assert isinstance(err, DecodeError) and "more than" in str(err)
    assert took < 2.0


def test_a_compressed_bomb_is_refused_not_inflated():
    with HostileCamera("gzip") as cam:
        err, peak = fetch_traced(cam)
    assert isinstance(err, DecodeError) and "'gzip'-encoded" in str(err)
    assert peak < 4 * MAX_REPLY_BYTES


# --- HTTP: time ------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["trickle_body", "trickle_headers"])
def test_a_camera_trickling_a_byte_a_second_cannot_hold_a_poll(mode):
    timeout_s = 1.5
    with HostileCamera(mode) as cam:
        link = HttpLink(cam.url, timeout_s)
        err, took = fetch_timed(link)
        link.close()
    assert isinstance(err, LinkTimeout), err
    # Per-read timeouts alone would let it run 600 s (every byte arrives within 1 s).
    assert took < timeout_s + 1.0, f"the poll took {took:.1f}s"


def test_the_deadline_is_per_fetch_so_the_next_poll_works():
    with HostileCamera("trickle_body") as cam:
        link = HttpLink(cam.url, 1.0)
        for _ in range(2):
            err, took = fetch_timed(link)
            assert isinstance(err, LinkTimeout) and took < 2.0
        link.close()
        assert cam.requests == 2


# --- XML ----------------------------------------------------------------------------------

def test_an_xml_bomb_is_refused_without_expanding_it():
    codec = Codec(load_named("lpr-isapi-http"))
    with HostileCamera("bomb") as cam:
        link = HttpLink(cam.url, 5.0)
        body = link.fetch("GET", DEVICE_INFO)
        link.close()
    tracemalloc.start()
    try:
        t0 = time.monotonic()
        with pytest.raises(DecodeError, match="DTD or entity") as e:
            codec.decode_body(body, "device_info")
        took, peak = time.monotonic() - t0, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.value.kind == "payload" and took < 1.0 and peak < 1 * MB


def test_an_external_entity_reads_no_file_of_the_gateway(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_text("TOPSECRET-gateway-key")
    codec = Codec(load_named("lpr-isapi-http"))
    with HostileCamera("xxe", secret) as cam:
        link = HttpLink(cam.url, 5.0)
        body = link.fetch("GET", DEVICE_INFO)
        link.close()
    with pytest.raises(DecodeError, match="DTD or entity") as e:
        codec.decode_body(body, "device_info")
    assert "TOPSECRET" not in str(e.value)


# --- TCP ----------------------------------------------------------------------------------

def test_a_tcp_device_flooding_the_line_is_cut_off_at_the_cap():
    profile = load_named("lpr-tcp-json")
    codec = Codec(profile)
    with FloodTcp() as dev:
        host, port = dev.address.split(":")
        link = TcpLink(host, int(port))
        frame = codec.request("status", None)
        t0 = time.monotonic()
        with pytest.raises(DecodeError, match=f"more than {MAX_REPLY_BYTES} bytes"):
            link.exchange(frame, profile.framing, lambda f: None, 30.0)
        took = time.monotonic() - t0
        link.close()
    assert took < 10.0  # the cap, not the 30 s timeout, ended it


# --- an agent process polling a 100 MB camera -------------------------------------------------

def agent_config(tmp_path, broker=None, devices: str = "", heartbeat_s: float = 0.5):
    """An agent config; with no broker (a config that is refused before it connects), a
    port nothing listens on and no account."""
    path = tmp_path / "agent.toml"
    url = broker.url if broker else "mqtt://127.0.0.1:9"
    login = broker.mqtt_toml("p1", "lot-1") if broker else ""
    path.write_text(
        f'project = "p1"\nsite = "lot-1"\nbroker = "{url}"\n'
        f'heartbeat_interval_s = {heartbeat_s}\nstate_dir = "{tmp_path / "state"}"\n'
        "keepalive_s = 30\n[mqtt]\nreconnect_min_s = 0.1\nreconnect_max_s = 0.4\n"
        f"connect_timeout_s = 2\n{login}{devices}")
    return path


def run_agent(exe: str, config, log):
    return subprocess.Popen([exe, "-v", "agent", "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=open(log, "ab"))


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_an_agent_polling_a_100_mb_camera_keeps_its_memory_and_its_heartbeat(
        tmp_path, mosquitto, parkwatch_exe):
    recorder = Recorder(mosquitto)
    with HostileCamera("flood") as cam:
        cfg = agent_config(tmp_path, mosquitto, (
            f'\n[[devices]]\nname = "cam"\nprofile = "lpr-isapi-http"\nurl = "{cam.url}"\n'
            "poll_interval_s = 0.2\ntimeout_s = 2.0\nretries = 0\n"))
        proc = run_agent(parkwatch_exe, cfg, tmp_path / "agent.log")
        try:
            def enough():
                beats = [h for h in recorder.of(wire.Heartbeat) if h.health and
                         h.health.get("poll_errors", {}).get("cam", {}).get("transport", 0) >= 5]
                return beats[-1] if beats else None

            hb = wait_for(enough, 60, what="heartbeats counting 5 refused 100 MB replies")
            assert hb.devices["cam"].state == "offline"
            assert hb.health["agent_rss_mb"] < 100, hb.health["agent_rss_mb"]
            assert proc.poll() is None
        finally:
            stop(proc)
            recorder.close()
        assert cam.requests >= 5 and cam.most < 20 * MB


# --- config and profile files ----------------------------------------------------------------

def run_cli(exe: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)


def assert_refused(result: subprocess.CompletedProcess, path, limit: int) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert str(path) in line and f"larger than the limit of {limit} bytes" in line, line


def test_an_oversized_agent_config_is_refused_naming_the_file(tmp_path, parkwatch_exe):
    cfg = agent_config(tmp_path)
    cfg.write_text(cfg.read_text() + ("# padding\n" * 200_000))  # 2 MB of valid TOML
    assert_refused(run_cli(parkwatch_exe, "agent", "run", "--config", str(cfg)), cfg,
                   1_000_000)
    assert not (tmp_path / "state").exists()


def test_an_endless_config_is_refused_not_read_forever(parkwatch_exe):
    result = run_cli(parkwatch_exe, "agent", "run", "--config", "/dev/zero")
    assert_refused(result, "/dev/zero", 1_000_000)


def test_an_oversized_profile_is_refused_naming_the_file(tmp_path, parkwatch_exe):
    big = tmp_path / "big-profile.toml"
    big.write_text(resolve("lpr-isapi-http").read_text() + "# padding\n" * 30_000)
    cfg = agent_config(tmp_path, None, (
        f'\n[[devices]]\nname = "cam"\nprofile = "{big}"\nurl = "http://127.0.0.1:9"\n'))
    assert_refused(run_cli(parkwatch_exe, "agent", "run", "--config", str(cfg)), big,
                   MAX_PROFILE_BYTES)
    check = run_cli(parkwatch_exe, "profile", "check", str(big))  # FAIL line, exit 1
    assert check.returncode == 1 and "Traceback" not in check.stderr
    assert f"{big}: file: is larger than the limit of {MAX_PROFILE_BYTES} bytes" in check.stderr


# --- a damaged outbox ----------------------------------------------------------------------

def damaged_outbox(path, how: str) -> int:
    """A real outbox with 2,000 queued events, then damaged on disk; returns its size."""
    box = Outbox(path, 10_000_000)
    for i in range(2000):
        box.put("device_state", KEEP, json.dumps({"n": i, "pad": "x" * 200}).encode(), i)
    box.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    box.close()
    size = path.stat().st_size
    with open(path, "r+b") as f:
        if how == "pages":  # a worn SD card: pages overwritten with garbage
            for page in (2, 9, 40, 77):
                f.seek(page * 4096)
                f.write(os.urandom(4096))
        else:  # a copy cut short, a power cut during a grow
            f.truncate(size // 2)
    raw = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.DatabaseError):
            check = raw.execute("PRAGMA integrity_check").fetchall()
            if check != [("ok",)]:
                raise sqlite3.DatabaseError(str(check))
    finally:
        raw.close()
    return size


@pytest.mark.parametrize("how", ["pages", "truncated"])
def test_a_damaged_outbox_is_moved_aside_and_the_agent_publishes(
        tmp_path, mosquitto, parkwatch_exe, how):
    state = tmp_path / "state"
    state.mkdir()
    outbox = state / "p1.lot-1.outbox.db"
    damaged_outbox(outbox, how)
    damaged = outbox.read_bytes()
    recorder = Recorder(mosquitto)
    log = tmp_path / "agent.log"
    proc = run_agent(parkwatch_exe, agent_config(tmp_path, mosquitto), log)
    try:
        wait_for(lambda: recorder.of(wire.Heartbeat), 30, what="a heartbeat from the agent")
        assert [s.state for s in recorder.of(wire.Status)][-1] == "online"
        assert proc.poll() is None
    finally:
        stop(proc)
        recorder.close()
    [aside] = state.glob("p1.lot-1.outbox.db.corrupt-*[0-9]")
    assert aside.read_bytes() == damaged  # kept as it was, for a post-mortem
    assert f"moved it to {aside}" in log.read_text()
    fresh = sqlite3.connect(outbox)
    assert fresh.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    fresh.close()


# --- clock beacons ----------------------------------------------------------------------------

class Beacons:
    """Publishes beacons on the clock topic: ``offset_s`` off true time, every ``every_s``.

    Only the collector's account may publish the clock (the broker's ACL stops a forger
    first: tests/security/test_broker_lockdown.py); here a second account with that right
    stands for a broker whose ACL is wrong, to show the agent's own bounds hold."""

    def __init__(self, broker, name: str, offset_s: float, every_s: float, payload=None):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.username_pw_set(name, broker.add_account(name, write=(wire.CLOCK_TOPIC,)))
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.stop = threading.Event()
        self.sent = 0

        def run():
            while not self.stop.wait(every_s):
                body = payload or json.dumps({"ts": time.time() + offset_s})
                self.client.publish(wire.CLOCK_TOPIC, body)
                self.sent += 1

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.client.loop_stop()
        self.client.disconnect()


def test_forged_clock_beacons_do_not_move_the_agents_clock(tmp_path, mosquitto, parkwatch_exe):
    recorder = Recorder(mosquitto)
    log = tmp_path / "agent.log"
    proc = run_agent(parkwatch_exe, agent_config(tmp_path, mosquitto, heartbeat_s=0.3), log)
    collector = forger = junk = None
    try:
        wait_for(lambda: recorder.of(wire.Heartbeat), 30, what="a heartbeat")
        collector = Beacons(mosquitto, "true-clock", 0.0, 0.5)
        first = wait_for(lambda: [h for h in recorder.of(wire.Heartbeat)
                                  if h.health and "clock_offset_s" in h.health], 20,
                         what="a clock estimate")
        n = len(first)
        # The attack: every agent's clock shifted by -3600 s, 50 forged beacons a
        # second; and beacons no clock could mean.
        forger = Beacons(mosquitto, "forger", -3600.0, 0.02)
        junk = Beacons(mosquitto, "junk", 0.0, 0.05, payload="Infinity")
        # Longer than the 30 s a step needs to be believed when nothing contradicts it.
        since = time.monotonic()
        wait_for(lambda: time.monotonic() - since > 40 and forger.sent > 1000, 120,
                 interval=0.5, what="40 s of forgery")
        later = [h for h in recorder.of(wire.Heartbeat)
                 if h.health and "clock_offset_s" in h.health][n:]
        assert len(later) > 50
        assert all(abs(h.health["clock_offset_s"]) < 1.0 for h in later), \
            sorted(h.health["clock_offset_s"] for h in later)[:3]
        assert "clock beacon not used" in log.read_text()
    finally:
        for b in (collector, forger, junk):
            if b is not None:
                b.close()
        stop(proc)
        recorder.close()
