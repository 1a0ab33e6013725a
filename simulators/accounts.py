"""The accounts a throwaway broker (simulators/broker.py) knows: the collector's, one per
site, and the odd extra account a test of its own topics needs. Passwords are random and
kept here in the clear (the broker gets only their hashes), so tests can hand them out."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import paho.mqtt.client as mqtt

from collector.fleet.brokerconf import (
    Account,
    collector_account,
    hash_password,
    new_password,
    site_account,
    site_username,
)

COLLECTOR_USERNAME = "parkwatch-collector"


class Accounts:
    def __init__(self, collector_username: str = COLLECTOR_USERNAME):
        self.collector_username = collector_username
        self.collector_password = new_password()
        self._collector_hash = hash_password(self.collector_password)
        self.sites: dict[tuple[str, str], str] = {}  # (project, site) -> password
        self._hashes: dict[tuple[str, str], str] = {}
        self._extra: list[tuple[Account, str]] = []
        self.lock = threading.Lock()

    def add_site(self, project: str, site: str) -> str:
        site_username(project, site)  # the ids are checked before anything is kept
        with self.lock:
            if (project, site) not in self.sites:
                password = new_password()
                self._hashes[(project, site)] = hash_password(password)
                self.sites[(project, site)] = password
            return self.sites[(project, site)]

    def add_account(self, username: str, read=(), write=()) -> str:
        password = new_password()
        with self.lock:
            self._extra.append((Account(username, hash_password(password), tuple(read),
                                        tuple(write)), password))
        return password

    def grant(self, username: str, read=(), write=()) -> str:
        """Give an extra account other topics; its password stays (and is returned)."""
        with self.lock:
            for i, (a, password) in enumerate(self._extra):
                if a.username == username:
                    self._extra[i] = (replace(a, read=tuple(read), write=tuple(write)), password)
                    return password
        raise KeyError(username)

    def all(self) -> list[Account]:
        with self.lock:
            return ([collector_account(self.collector_username, self._collector_hash)]
                    + [site_account(p, s, self._hashes[(p, s)]) for p, s in self.sites]
                    + [a for a, _ in self._extra])

    def passwords(self) -> dict[str, str]:
        """username -> password, for a broker that checks passwords itself (amqtt)."""
        with self.lock:
            out = {self.collector_username: self.collector_password}
            out.update({site_username(p, s): pw for (p, s), pw in self.sites.items()})
            out.update({a.username: pw for a, pw in self._extra})
            return out

    @staticmethod
    def mqtt(username: str, password: str, **options):
        from parkwatch.core.broker import MqttOptions, Secret

        return MqttOptions(username=username, password=Secret(password), **options)


def toml_login(username: str, password: str) -> str:
    return f"username = {json.dumps(username)}\npassword = {json.dumps(password)}\n"


def accepts(port: int, username: str, password: str, timeout: float = 2.0) -> bool:
    """Whether the broker on ``port`` lets this account connect (CONNACK success)."""
    done = threading.Event()
    result: list[bool] = []

    def on_connect(client, userdata, flags, reason_code, properties):
        result.append(not reason_code.is_failure)
        done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.username_pw_set(username, password)
    client.on_connect = on_connect
    client.on_disconnect = lambda *a: done.set()
    try:
        client.connect("127.0.0.1", port, keepalive=10)
    except OSError:
        return False
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        client.disconnect()
        client.loop_stop()
    return bool(result and result[0])
