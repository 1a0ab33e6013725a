"""Shared parts of the agent tests: a broker that keeps a subscriber's session across its
own restarts, a subscriber that records everything, and agent configs and processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt

from parkwatch.core import wire
from simulators.broker import Mosquitto


def durable_mosquitto(workdir: Path) -> Mosquitto:
    """mosquitto that saves sessions on shutdown, so a subscriber registered before a
    broker restart gets every QoS 1 message published after it, whoever reconnects first."""
    broker = Mosquitto(workdir=workdir)
    # Mosquitto keeps the user we are when started as root (it must reach the test's
    # private folder for its password file, and here to write its sessions too).
    broker.conf.write_text(broker.conf.read_text().replace(
        "persistence false\n",
        f"persistence true\npersistence_location {broker.workdir}/\nautosave_interval 1\n"))
    return broker


class Recorder:
    """A subscriber to everything under parkwatch/v1 (and extra topics), with arrival times.

    Given a ``Mosquitto`` it logs in with the collector's account (the one that may read
    everything); given a port, with ``username``/``password``."""

    def __init__(self, broker: int | Mosquitto, *, durable: bool = False, topics=(),
                 username=None, password=None):
        if isinstance(broker, Mosquitto):
            port = broker.port
            username, password = broker.collector_username, broker.collector_password
        else:
            port = broker
        self.messages: list[tuple[float, wire.Message]] = []
        self.raw: list[tuple[float, str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.topics = [(wire.SUBSCRIPTION, 1), *[(t, 1) for t in topics]]
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"recorder-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv311, clean_session=not durable)
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(0.1, 0.3)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise TimeoutError("the recorder could not subscribe")

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            client.subscribe(self.topics)

    def _on_message(self, client, userdata, message):
        now = time.time()
        with self.lock:
            self.raw.append((now, message.topic, message.payload, bool(message.retain)))
            try:
                self.messages.append((now, wire.decode(message.topic, message.payload)))
            except wire.WireError:
                pass

    def events(self, kind: str | None = None) -> list[wire.Event]:
        with self.lock:
            return [m for _, m in self.messages if isinstance(m, wire.Event)
                    and (kind is None or m.kind == kind)]

    def of(self, cls) -> list:
        with self.lock:
            return [m for _, m in self.messages if isinstance(m, cls)]

    def first_deliveries(self) -> list[wire.Event]:
        seen, out = set(), []
        for ev in self.events():
            if (ev.boot, ev.seq) not in seen:
                seen.add((ev.boot, ev.seq))
                out.append(ev)
        return out

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def agent_toml(tmp_path: Path, broker: str | Mosquitto, *, devices=(), extra: str = "",
                heartbeat_s: float = 0.5) -> Path:
    """An agent config (site p1/lot-1) with short test intervals; ``devices`` are (name, pty
    path). Given a ``Mosquitto``, the agent logs in with the site's account; given a URL
    (a broker that is not there), with none."""
    login = ""
    if isinstance(broker, Mosquitto):
        login = broker.mqtt_toml("p1", "lot-1")
        broker = broker.url
    text = (f'project = "p1"\nsite = "lot-1"\nbroker = "{broker}"\n'
            f'heartbeat_interval_s = {heartbeat_s}\nstate_dir = "{tmp_path / "state"}"\n'
            f"keepalive_s = 30\n{extra}\n"
            "[mqtt]\nreconnect_min_s = 0.1\nreconnect_max_s = 0.4\nconnect_timeout_s = 2\n"
            + login)
    for name, port in devices:
        text += (f'\n[[devices]]\nname = "{name}"\nport = "{port}"\npoll_interval_s = 0.1\n'
                 "timeout_s = 0.1\noffline_after = 2\n")
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def start_agent(exe: str, config: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen([exe, "-v", "agent", "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=open(log, "ab"))


def outbox_events(state_dir: Path) -> list[dict]:
    """What a (running or killed) agent's outbox holds, oldest first, read like a stranger."""
    path = state_dir / "p1.lot-1.outbox.db"
    if not path.exists():
        return []
    db = sqlite3.connect(path, timeout=5)
    try:
        return [json.loads(p) for (p,) in db.execute("SELECT payload FROM outbox ORDER BY id")]
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        db.close()
