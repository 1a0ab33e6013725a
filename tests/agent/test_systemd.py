"""systemd notifications against a real AF_UNIX datagram socket set as NOTIFY_SOCKET."""

import os
import socket
import subprocess
import threading
import time

import pytest

from agent.config import AgentConfig
from agent.service import Agent, supervise
from agent.systemd import Notifier, stuck_loops
from parkwatch.core.broker import Broker
from tests.helpers import wait_for


class NotifySocket:
    """What systemd listens on: collects every datagram sent to it."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def lines(self, after: float = 0.0) -> list[str]:
        return [line for t, m in list(self.messages) if t >= after for line in m.split("\n")]

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path):
    s = NotifySocket(tmp_path / "notify.sock")
    yield s
    s.close()


def test_notifier_speaks_the_protocol(notify_socket):
    n = Notifier({"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "3000000",
                  "WATCHDOG_PID": str(os.getpid())})
    assert n.enabled and n.watchdog_s == 3.0
    assert n.ready("starting") and n.watchdog() and n.status("ok") and n.stopping()
    wait_for(lambda: len(notify_socket.messages) == 4, 5, what="four datagrams")
    assert [m for _, m in notify_socket.messages] == \
        ["READY=1\nSTATUS=starting", "WATCHDOG=1", "STATUS=ok", "STOPPING=1"]


def test_abstract_socket_names_work():
    name = f"parkwatch-test-{os.getpid()}-{time.monotonic_ns()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind("\0" + name)
    server.settimeout(5)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).ready()
        assert server.recv(100) == b"READY=1"
    finally:
        server.close()


def test_outside_systemd_nothing_is_sent():
    n = Notifier({})
    assert not n.enabled and n.watchdog_s is None and not n.ready()


def test_a_watchdog_meant_for_another_process_is_ignored(notify_socket):
    n = Notifier({"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "3000000",
                  "WATCHDOG_PID": "1"})
    assert n.watchdog_s is None


def test_a_vanished_socket_does_not_raise(tmp_path):
    assert not Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}).ready()


def test_stuck_loops_are_named():
    assert stuck_loops({"mqtt": 10.0, "outbox": 99.0}, 100.0, 30.0) == ["mqtt"]
    assert stuck_loops({"mqtt": 90.0}, 100.0, 30.0) == []


def test_the_agent_process_says_ready_pings_the_watchdog_and_says_stopping(
        tmp_path, mosquitto, parkwatch_exe, notify_socket):
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'project = "p"\nsite = "s"\nbroker = "{mosquitto.url}"\n'
                   f'state_dir = "{tmp_path / "state"}"\nheartbeat_interval_s = 1\n'
                   f'[mqtt]\n{mosquitto.mqtt_toml("p", "s")}')
    env = {**os.environ, "NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "1500000"}
    proc = subprocess.Popen([parkwatch_exe, "agent", "run", "--config", str(cfg)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: "READY=1" in notify_socket.lines(), 15, what="READY=1")
        wait_for(lambda: notify_socket.lines().count("WATCHDOG=1") >= 3, 10,
                 what="three watchdog pings")
        assert any(line.startswith("STATUS=broker connected") for line in notify_socket.lines())
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert notify_socket.lines()[-1] == "STOPPING=1"
    assert "Traceback" not in err


def test_a_stuck_mqtt_loop_stops_the_watchdog(tmp_path, mosquitto, notify_socket):
    """A callback that hangs inside paho's thread freezes the loop: pings must stop."""
    agent = Agent(AgentConfig(project="p", site="s", broker=Broker("127.0.0.1", mosquitto.port),
                              state_dir=tmp_path, heartbeat_interval_s=0.3,
                              mqtt=mosquitto.site_mqtt("p", "s", connect_timeout_s=1)))
    release = threading.Event()
    hang = threading.Event()
    original = agent.link_message

    def link_message(topic, payload, retain):
        if hang.is_set():
            release.wait(30)   # stuck inside the network thread
        original(topic, payload, retain)

    agent.link_message = link_message
    notifier = Notifier({"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "600000"})
    stop = threading.Event()
    agent.start()
    main = threading.Thread(target=supervise, args=(agent, notifier, stop),
                            kwargs={"stall_s": 1.0}, daemon=True)
    main.start()
    try:
        wait_for(agent.connected.is_set, 10, what="the agent to connect")
        wait_for(lambda: notify_socket.lines().count("WATCHDOG=1") >= 2, 5, what="pings")
        hang.set()    # the next heartbeat echo freezes the network thread
        # The ticker may be named too: while paho holds its callback lock for the stuck
        # callback, a publish from another thread can wait on that lock (paho 2.x,
        # Client._call_socket_register_write). What matters is that the loop is named.
        wait_for(lambda: "mqtt" in agent.check(1.0), 10, what="the loop to count as stuck")
        quiet_from = time.monotonic() + 0.3
        time.sleep(1.5)
        assert "WATCHDOG=1" not in notify_socket.lines(after=quiet_from)
        release.set()  # it comes unstuck: the pings resume
        hang.clear()
        resumed = time.monotonic()
        wait_for(lambda: "WATCHDOG=1" in notify_socket.lines(after=resumed), 5,
                 what="pings to resume")
    finally:
        release.set()
        stop.set()
        main.join(5)
        agent.stop()
