"""SIGTERM: the agent says offline itself, at once, not a keepalive later via the Will."""

import signal
import time

from parkwatch.core import wire
from simulators.ports import HeldPort
from tests.agent_support import Recorder, agent_toml, start_agent
from tests.helpers import wait_for


def statuses(recorder):
    return [(s.state, s.reason) for s in recorder.of(wire.Status)]


def test_sigterm_publishes_offline_at_once(tmp_path, mosquitto, parkwatch_exe):
    recorder = Recorder(mosquitto)
    agent = start_agent(parkwatch_exe, agent_toml(tmp_path, mosquitto), tmp_path / "log")
    try:
        wait_for(lambda: ("online", "connect") in statuses(recorder), 15, what="online")
        wait_for(lambda: recorder.of(wire.Heartbeat), 5, what="a heartbeat")
        sent = time.time()
        agent.send_signal(signal.SIGTERM)
        wait_for(lambda: ("offline", "shutdown") in statuses(recorder), 5, what="offline")
        arrived = next(t for t, m in recorder.messages
                       if isinstance(m, wire.Status) and m.reason == "shutdown")
        assert arrived - sent < 2.0, "offline came late (keepalive is 30 s)"
        assert agent.wait(10) == 0
        assert ("offline", "will") not in statuses(recorder), "a clean exit fires no Will"
    finally:
        if agent.poll() is None:
            agent.kill()
        recorder.close()
    assert "Traceback" not in (tmp_path / "log").read_text()


def test_sigterm_without_a_broker_exits_promptly(tmp_path, parkwatch_exe):
    with HeldPort() as nowhere:  # nothing listens there, and nothing else can
        cfg = agent_toml(tmp_path, f"mqtt://127.0.0.1:{nowhere.port}")
        agent = start_agent(parkwatch_exe, cfg, tmp_path / "log")
        wait_for(lambda: "cannot reach broker" in (tmp_path / "log").read_text(), 15,
                 what="a failed attempt")
        sent = time.monotonic()
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(10) == 0
    assert time.monotonic() - sent < 5
    assert "Traceback" not in (tmp_path / "log").read_text()


def test_the_will_carries_the_boot_of_its_own_connection(tmp_path, mosquitto, parkwatch_exe):
    # As an independent subscriber sees it: the Will a killed agent leaves must be told apart
    # from the Will of a connection it replaced, so it carries its own connection's boot.
    recorder = Recorder(mosquitto)
    config = agent_toml(tmp_path, mosquitto)
    config.write_text(config.read_text().replace("keepalive_s = 30", "keepalive_s = 5"))
    agent = start_agent(parkwatch_exe, config, tmp_path / "log")
    try:
        online = wait_for(lambda: [s for s in recorder.of(wire.Status) if s.state == "online"],
                          15, what="online")[-1]
        agent.kill()  # no clean DISCONNECT: the broker sends the Will
        agent.wait(10)
        will = wait_for(lambda: [s for s in recorder.of(wire.Status) if s.reason == "will"],
                        30, what="the Will")[0]
        assert will.state == "offline"
        assert will.boot == online.boot
    finally:
        if agent.poll() is None:
            agent.kill()
        recorder.close()
