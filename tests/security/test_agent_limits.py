"""Issue 11 part 6, replayed: what a hostile device, file or beacon can make the agent do.

Real servers on port 0 (tests/security/hostile_devices.py), real agent processes against a
real mosquitto, real SQLite files damaged on disk. Each attack must end as a counted,
logged failure of that one device or file, never as a stuck poll, a full memory, a read of
the gateway's files, a wrong clock or an agent that does not start. A hostile device
against the links alone: tests/security/test_hostile_links.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from agent.outbox import KEEP, Outbox
from agent.profiles import resolve
from agent.profiles.loader import MAX_PROFILE_BYTES
from parkwatch.core import wire
from tests.agent_support import Recorder
from tests.helpers import wait_for
from tests.security.hostile_devices import MB, HostileCamera

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
