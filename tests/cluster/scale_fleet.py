"""Two thousand simulated sites on a NATS cluster, for the fault tests at scale: one load
login allowed to publish the ``big`` project's heartbeats and events (what 2,000 site
logins would, without 2,000 bcrypt hashes), a thread beating for every site each
``BEAT_S``, sites cut and resumed, QoS 1 events sent and counted once the broker has
acknowledged them. It records, per site, when it last sent a heartbeat."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt

from parkwatch.core import wire

PROJECT = "big"
BEAT_S = 1.0
LOAD_USER = "scale-load"
GRANTS = (f"parkwatch/v1/{PROJECT}/+/heartbeat", f"parkwatch/v1/{PROJECT}/+/event")


def site_names(n: int) -> list[str]:
    return [f"s{i:04d}" for i in range(n)]


class Fleet:
    def __init__(self, cluster, sites: list[str], nodes: list[int]):
        """Beating from the first of ``nodes`` (the others are tried when it is lost)."""
        password = cluster.add_account(LOAD_USER, write=GRANTS)
        self.sites = sites
        self.cut: set[str] = set()
        self.last_sent: dict[str, float] = {}
        self.acked: list[tuple[str, int]] = []  # events the broker acknowledged
        self._seq = dict.fromkeys(sites, 0)
        self._lock = threading.Lock()
        self._ports = [cluster.nodes[i].mqtt_port for i in nodes]
        # Heartbeats and events on connections of their own, as 2,000 gateways' would be: a
        # node reads one connection's packets in order, and a QoS 1 publish waits for
        # JetStream (seconds while it elects a leader after a node's death), which would
        # hold every heartbeat of a shared connection behind it.
        self.c = self._client("scale-beats", password)
        self.events = self._client("scale-events", password)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._thread.start()

    def _client(self, client_id: str, password: str) -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                        protocol=mqtt.MQTTv311)
        c.username_pw_set(LOAD_USER, password)
        c.reconnect_delay_set(0.1, 0.5)
        tried = [0]

        def next_node(client, userdata, flags, reason_code, properties):
            if not self._stop.is_set():
                tried[0] += 1
                client.connect_async("127.0.0.1", self._ports[tried[0] % len(self._ports)], 5)
        c.on_disconnect = next_node
        c.connect("127.0.0.1", self._ports[0], keepalive=5)
        c.loop_start()
        return c

    def _next(self, site: str) -> int:
        with self._lock:
            self._seq[site] += 1
            return self._seq[site]

    def _beat(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            for s in self.sites:
                if s in self.cut or not self.c.is_connected():
                    continue
                now = time.time()
                hb = wire.Heartbeat(PROJECT, s, 1, self._next(s), now, BEAT_S, {})
                self.c.publish(wire.topic(PROJECT, s, wire.HEARTBEAT), wire.encode(hb))
                self.last_sent[s] = now
            self._stop.wait(max(0.0, BEAT_S - (time.monotonic() - started)))

    def stop_beating(self, sites) -> None:
        self.cut |= set(sites)

    def resume(self, sites) -> None:
        self.cut -= set(sites)

    def event(self, site: str, seq: int | None = None, timeout: float = 30.0) -> int:
        """A QoS 1 intercom event of ``site``, sent again until the broker acknowledges it
        (a node may be going down meanwhile); its seq."""
        seq = seq if seq is not None else self._next(site)
        ev = wire.Event(PROJECT, site, 1, seq, time.time(), "intercom", device="intercom-1")
        deadline = time.monotonic() + timeout
        while True:
            info = self.events.publish(wire.topic(PROJECT, site, wire.EVENT), wire.encode(ev),
                                       qos=1)
            try:
                info.wait_for_publish(min(5.0, max(0.1, deadline - time.monotonic())))
            except (RuntimeError, ValueError):
                pass  # not queued (disconnected): paho refuses to wait; send again
            if info.is_published():
                self.acked.append((site, seq))
                return seq
            if time.monotonic() > deadline:
                raise TimeoutError(f"no PUBACK for {site}'s event {seq} in {timeout} s")
            time.sleep(0.2)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for c in (self.c, self.events):
            c.disconnect()
            c.loop_stop()
