"""A throwaway NATS cluster with MQTT on loopback: nodes written by ``collector.fleet.cluster``.

Each node's four ports (MQTT, cluster routes, NATS clients, monitoring) are held
(``simulators.ports.HeldPort``) from the cluster's making until ``close()``: the routes must
name each other's cluster ports before any node runs, and a node killed and started again
comes back on its own ports. nats-server binds with SO_REUSEADDR, as mosquitto does.

The accounts are the locked-down ones of ``simulators.broker`` (the collector's, one per
site, extras), written as ``accounts.conf`` with bcrypt hashes; a change is live on every
running node before ``add_site``/``add_account`` return.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from collector.fleet import cluster
from collector.fleet.brokerconf import new_password, write_private
from parkwatch.core import wire
from simulators.accounts import accepts
from simulators.broker import _Locked
from simulators.ports import HeldPort

START_S = 30.0  # a node may take this long to be healthy and to take an MQTT login


def nats_server() -> str | None:
    exe = shutil.which("nats-server")
    if exe:
        return exe
    return "/usr/sbin/nats-server" if Path("/usr/sbin/nats-server").exists() else None


def healthy(http_port: int) -> bool:
    """The node's monitoring says it is healthy (JetStream included)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def grants_qos1(port: int, username: str, password: str, timeout: float = 6.0) -> bool:
    """Whether the node grants a QoS 1 subscription now. It needs a JetStream consumer,
    which NATS cannot make while its streams elect leaders: the SUBACK then says 0x80."""
    import threading

    import paho.mqtt.client as mqtt

    granted: list[int] = []
    done = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.username_pw_set(username, password)
    client.on_connect = lambda c, u, f, rc, p: (c.subscribe(wire.SUBSCRIPTION, 1)
                                                if not rc.is_failure else done.set())
    client.on_subscribe = lambda c, u, mid, codes, p: (granted.extend(codes), done.set())
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
    return bool(granted) and granted[0] == 1


class NatsCluster(_Locked):
    """``size`` nats-server nodes, clustered and with MQTT, as child processes.

    ``kill(i)`` is kill -9 of node ``i``; ``start_node(i)`` starts it again on its ports;
    ``close()`` stops them all and lets the ports go. ``port`` and ``url`` are node 0's
    MQTT listener (what ``add_site`` checks a login on); ``urls`` lists every node's."""

    name = "nats"

    def __init__(self, workdir: Path | None = None, size: int = 3,
                 partitions: int | None = None, ack_wait_s: int | None = None):
        self.partitions = partitions  # the account's partition mapping (cluster config's)
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="pw-nats-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._held = [[HeldPort() for _ in range(4)] for _ in range(size)]
        columns = [[h[k].port for h in self._held] for k in range(4)]
        self.nodes = cluster.plan(size, "127.0.0.1", *columns)
        self.port = self.nodes[0].mqtt_port
        self.procs: list[subprocess.Popen | None] = [None] * size
        self._hashes: dict[tuple[str, str], str] = {}  # (user, password) -> bcrypt
        route_password = new_password()
        self._init_accounts()  # writes accounts.conf
        for name, text in cluster.configs(self.nodes, [], str(self.workdir / "jetstream"),
                                          route_password, partitions, ack_wait_s).items():
            if name != cluster.ACCOUNTS_FILE:
                write_private(self.workdir / name, text, owner=None)

    @staticmethod
    def available() -> bool:
        return nats_server() is not None

    # --- accounts ------------------------------------------------------------------------

    def _bcrypt(self, username: str, password: str) -> str:
        key = (username, password)
        if key not in self._hashes:
            self._hashes[key] = cluster.bcrypt_hash(password)
        return self._hashes[key]

    def _write_accounts(self) -> None:
        passwords = self.accounts.passwords()
        users = []
        for account in self.accounts.all():
            name = account.username
            # the collector subscribes at QoS 1, and so may the extras (test recorders)
            qos1 = name == self.collector_username or "/" not in name
            users.append(cluster.user(account, self._bcrypt(name, passwords[name]), qos1,
                                      partition_reads=name == self.collector_username
                                      and self.partitions is not None))
        write_private(self.workdir / cluster.ACCOUNTS_FILE,
                      cluster.accounts_conf(users, self.partitions), owner=None)

    def _running(self) -> bool:
        return any(self.alive(i) for i in range(len(self.nodes)))

    def _reload(self, username: str, password: str, timeout: float = 10.0) -> None:
        self._write_accounts()
        live = [i for i in range(len(self.nodes)) if self.alive(i)]
        for i in live:
            self.procs[i].send_signal(signal.SIGHUP)  # nats-server reads its config again
        deadline = time.monotonic() + timeout
        for i in live:
            while not accepts(self.nodes[i].mqtt_port, username, password):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"node {self.nodes[i].name} did not take account "
                                       f"{username!r} after {timeout}s (see {self.workdir})")
                time.sleep(0.05)

    # --- processes -----------------------------------------------------------------------

    def alive(self, i: int) -> bool:
        return self.procs[i] is not None and self.procs[i].poll() is None

    def log(self, i: int) -> Path:
        return self.workdir / f"{self.nodes[i].name}.log"

    def _spawn(self, i: int) -> None:
        with open(self.log(i), "ab") as err:
            self.procs[i] = subprocess.Popen(
                [nats_server(), "-c", str(self.workdir / f"{self.nodes[i].name}.conf")],
                stdout=subprocess.DEVNULL, stderr=err)

    def _ready(self, i: int, deadline: float, health: bool = True) -> None:
        """Healthy, and granting a QoS 1 subscription (the first login on a node sets up its
        MQTT state in JetStream: done here, not in the test's first connection). A node started
        again after a kill -9 takes logins in seconds, but NATS 2.9.10's /healthz can call
        one of its MQTT consumers "not current" for minutes (docs/scale.md): not asked."""
        node = self.nodes[i]
        while not ((not health or healthy(node.http_port)) and grants_qos1(
                node.mqtt_port, self.collector_username, self.collector_password)):
            if not self.alive(i):
                raise RuntimeError(f"nats-server {node.name} exited "
                                   f"({self.procs[i].returncode}): "
                                   f"{self.log(i).read_text(errors='replace')[-1500:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"nats-server {node.name} not ready after {START_S} s "
                                   f"(see {self.log(i)})")
            time.sleep(0.1)

    def start(self) -> NatsCluster:
        """Start every node; return once each is healthy and takes a login."""
        for i in range(len(self.nodes)):
            self._spawn(i)
        deadline = time.monotonic() + START_S
        for i in range(len(self.nodes)):
            self._ready(i, deadline)
        return self

    def start_node(self, i: int) -> None:
        self._spawn(i)
        self._ready(i, time.monotonic() + START_S, health=False)

    def kill(self, i: int) -> None:
        """kill -9: no goodbye to its clients or to the other nodes."""
        if self.alive(i):
            self.procs[i].kill()
            self.procs[i].wait(5)

    def stop(self) -> None:
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.terminate()
        for i, p in enumerate(self.procs):
            if p is not None:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    self.kill(i)

    def close(self) -> None:
        """Stop every node, and let the ports go."""
        self.stop()
        for held in self._held:
            for h in held:
                h.close()

    @property
    def url(self) -> str:
        return self.nodes[0].mqtt_url

    @property
    def urls(self) -> list[str]:
        return [n.mqtt_url for n in self.nodes]
