"""The collector's MQTT shell: validated messages in, decisions applied, nothing raised."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter

import paho.mqtt.client as mqtt

from agent import wire
from collector.config import CollectorConfig
from collector.store import Store
from collector.tracker import Tracker

log = logging.getLogger("parkwatch.collector")


class Rejections:
    """Counts rejected messages; logs the first problem of each source only."""

    def __init__(self):
        self.by_reason: Counter[str] = Counter()
        self._logged: set[str] = set()
        self.total = 0

    def add(self, source: str, problem: str) -> None:
        self.total += 1
        self.by_reason[problem.split(":")[0][:80]] += 1
        if source not in self._logged:
            self._logged.add(source)
            log.warning("rejected message on %s: %s (further ones from it are counted only)",
                        source, problem)


class Ingest:
    def __init__(self, cfg: CollectorConfig, clock=time.time):
        self.cfg = cfg
        self.clock = clock
        self.tracker = Tracker(cfg.outage_threshold_s, cfg.site_silence_factor)
        self.lock = threading.Lock()  # guards tracker for the API's reads
        self.rejections = Rejections()
        self.received = 0
        self.duplicates = 0
        self.connected = threading.Event()
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"parkwatch-collector-{id(self):x}",
                                  protocol=mqtt.MQTTv311, clean_session=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.warning("broker refused the connection: %s", reason_code)
            return
        client.subscribe(wire.SUBSCRIPTION, qos=1)
        self.connected.set()
        log.info("subscribed to %s", wire.SUBSCRIPTION)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("lost the broker: %s; reconnecting", reason_code)

    def _on_message(self, client, userdata, message):
        try:
            msg = wire.decode(message.topic, message.payload)
        except wire.WireError as e:
            self.rejections.add(message.topic, str(e))
            return
        except Exception as e:  # never let paho's network thread die
            log.exception("unexpected error decoding %s", message.topic)
            self.rejections.add(message.topic, f"internal: {e}")
            return
        self._queue.put((msg, self.clock()))

    def _work(self) -> None:
        store = Store(self.cfg.database)
        with self.lock:
            for outage in store.open_outages():
                self.tracker.resume(outage)
        next_tick = 0.0
        while not self._stop.is_set():
            try:
                msg, now = self._queue.get(timeout=0.2)
            except queue.Empty:
                msg = None
            try:
                with self.lock:
                    decisions = []
                    if msg is not None:
                        self.received += 1
                        if isinstance(msg, wire.Event) and not store.first_delivery(
                                msg.project, msg.site, msg.boot, msg.seq, now):
                            self.duplicates += 1
                            continue
                        decisions += self.tracker.receive(msg, now)
                    t = self.clock()
                    if t >= next_tick:
                        decisions += self.tracker.tick(t)
                        next_tick = t + 0.25
                if decisions:
                    store.apply(decisions)
                    for d in decisions:
                        log.info("%s %s", type(d).__name__, d.outage.key)
            except Exception:
                log.exception("error handling %r", msg)

    def start(self) -> None:
        self._worker = threading.Thread(target=self._work, name="ingest", daemon=True)
        self._worker.start()
        b = self.cfg.broker
        self.client.connect_async(b.host, b.port, keepalive=b.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self._stop.set()
        self.client.disconnect()
        self.client.loop_stop()
        if self._worker is not None:
            self._worker.join(5)
