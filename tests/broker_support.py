"""A real mosquitto run with what ``parkwatch broker config`` wrote, and MQTT logins."""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from collector.fleet.registry import Registry
from collector.store import Store
from parkwatch.cli import main as parkwatch
from simulators.broker import wait_for_port
from simulators.ports import HeldPort


class LockedBroker:
    """mosquitto started with ``DIR/mosquitto.conf`` (plain port, TLS port when made), on
    ports held from the config's writing to ``stop()`` (``simulators.ports``)."""

    def __init__(self, out: Path, held: list[HeldPort], tls: bool):
        self.held = held
        self.port = held[0].port
        self.tls_port = held[1].port if tls else None
        self.out = out
        self.proc: subprocess.Popen | None = None

    def start(self) -> LockedBroker:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        conf = self.out / "mosquitto.conf"
        if os.geteuid() == 0:
            # Started as root, mosquitto drops to its own user, which cannot enter pytest's
            # private tmp folders: the written config plus this one line, for tests only.
            run = self.out / "run.conf"
            run.write_text(conf.read_text() + "user root\n")
            conf = run
        self.proc = subprocess.Popen([exe, "-c", str(conf)],
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(self.out / "mosquitto.log", "ab"))
        wait_for_port(self.port)
        if self.tls_port:
            wait_for_port(self.tls_port)
        assert self.proc.poll() is None, (self.out / "mosquitto.log").read_text()
        return self

    def reload(self) -> None:
        self.proc.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for held in self.held:
            held.close()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.tls_port}"

    @property
    def collector_password(self) -> str:
        return (self.out / "collector.password").read_text().strip()


def register(db: Path, *sites: str, devices=None) -> dict[str, str]:
    """Register ``"P/S"`` sites; their broker passwords by site."""
    registry = Registry(Store(db).db)
    return {key: registry.add(*key.split("/"), devices, "tests", time.time()) for key in sites}


def write_broker(out: Path, db: Path, tls: bool = False) -> LockedBroker:
    held = [HeldPort() for _ in range(2 if tls else 1)]
    args = ["broker", "config", "--out", str(out), "--db", str(db), "--port",
            str(held[0].port), "--host", "127.0.0.1"]
    if tls:
        args += ["--tls-port", str(held[1].port), "--make-certs", "127.0.0.1,localhost"]
    assert parkwatch(args) == 0
    return LockedBroker(out, held, tls)


class Login:
    """One MQTT client: the broker's answer to its CONNECT, and what it received."""

    def __init__(self, port: int, username: str | None, password: str | None,
                 ca_file: str | None = None, client_id: str | None = None):
        self.answer = threading.Event()
        self.reason = None
        self.got: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"t-{os.getpid()}-{id(self)}",
                                  protocol=mqtt.MQTTv311)
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file:
            self.client.tls_set_context(ssl.create_default_context(cafile=ca_file))
        self.client.reconnect_delay_set(30, 60)  # one attempt is what a test looks at
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.got.append((m.topic, m.payload))
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.reason = reason_code
        self.answer.set()

    def accepted(self, timeout: float = 10.0) -> bool:
        assert self.answer.wait(timeout), "no CONNACK from the broker"
        return not self.reason.is_failure

    def subscribe(self, topic: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe(topic, qos=1)
        assert done.wait(10)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False):
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def cli(*args: str) -> int:
    return parkwatch(list(args))
