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
from collector.core import Core
from collector.store import Store

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
        self.core: Core | None = None  # made by the worker thread, which owns it
        self.lock = threading.Lock()  # guards the tracker for the API's reads
        self.rejections = Rejections()
        self.connected = threading.Event()
        self.ready = threading.Event()  # open outages resumed, run recorded
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        # A persistent session: QoS 1 events sent while the collector was down (uplink
        # records above all) are queued by the broker and delivered when it is back.
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cfg.client_id,
                                  protocol=mqtt.MQTTv311, clean_session=False)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.warning("broker refused the connection: %s", reason_code)
            return
        client.subscribe(wire.SUBSCRIPTION, qos=1)
        self._queue.put((True, self.clock()))
        self.connected.set()
        log.info("subscribed to %s", wire.SUBSCRIPTION)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        self._queue.put((False, self.clock()))
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

    @property
    def tracker(self):
        return self.core.tracker if self.core else None

    @property
    def received(self) -> int:
        return self.core.received if self.core else 0

    @property
    def duplicates(self) -> int:
        return self.core.duplicates if self.core else 0

    def _work(self) -> None:
        store = Store(self.cfg.database)
        with self.lock:
            self.core = core = Core(self.cfg, store, self.clock())
        self.ready.set()
        next_tick = 0.0
        while not self._stop.is_set():
            try:
                item, now = self._queue.get(timeout=0.2)
            except queue.Empty:
                item = None
            try:
                with self.lock:
                    decisions = []
                    if item is True:
                        core.link_up(now)
                    elif item is False:
                        core.link_down(now)
                    elif item is not None:
                        decisions += core.handle(item, now)
                    t = self.clock()
                    if t >= next_tick:
                        decisions += core.tick(t)
                        next_tick = t + 0.25
                for d in decisions:
                    log.debug("%s %s", type(d).__name__, getattr(d, "outage", d))
            except Exception:
                log.exception("error handling %r", item)
        with self.lock:
            core.stop(self.clock())

    def start(self) -> None:
        self._worker = threading.Thread(target=self._work, name="ingest", daemon=True)
        self._worker.start()
        self.ready.wait(30)
        b = self.cfg.broker
        self.client.connect_async(b.host, b.port, keepalive=b.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self._stop.set()
        if self._worker is not None:
            self._worker.join(5)
