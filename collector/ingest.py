"""The collector's MQTT shell: validated messages in, decisions applied, nothing raised."""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time

import paho.mqtt.client as mqtt

from collector.broker_session import BrokerSession
from collector.config import CollectorConfig
from collector.core import Core
from collector.inbox import BurstClient, Inbox, unread_bytes
from collector.rejections import Rejections
from collector.storage_guard import RETRY_S, StorageGuard, close_quietly, is_storage_error
from collector.store import Store
from parkwatch.core import wire

log = logging.getLogger("parkwatch.collector")
BATCH = 2000  # messages handled per hold of the lock (the API waits at most that long)
IDLE_S = 0.005  # the worker's nap when there is nothing to do
TURN_S = 0.25  # a batch ends after this long: the worker turns (and ticks) at least this often
RETAINED_OK = "/" + wire.STATUS  # the one channel whose retained messages are believed
STALL_S = 1.0  # a turn starting this long after the last ended: the process was frozen


class Ingest(BrokerSession):
    # A partition's ingest (collector/partitioned.py) sees topics under its own prefix and
    # the fleet's Wills: ``_route(raw topic)`` gives the fleet topic, or None for another
    # partition's site (acknowledged, not handled). None here: every topic is the fleet's.
    _route = None
    abandoned = False  # stopped without a last word (a partition whose lease was lost)

    def __init__(self, cfg: CollectorConfig, clock=time.time):
        self.cfg = cfg
        self.clock = clock
        self.core: Core | None = None  # made by the worker thread, which owns it
        self.lock = threading.Lock()  # guards the tracker for the API's reads
        self.rejections = Rejections()
        self.storage = StorageGuard(cfg.storage_grace_s)
        self._resumed_at = float("-inf")  # messages held while storage failed are older
        self.connected = threading.Event()
        self.ready = threading.Event()  # open outages resumed, run recorded
        # Why the broker will not have us (login refused, TLS failed): /healthz is not ok.
        self.broker_problem: str | None = None
        self._last_problem: str | None = None
        self._inbox = Inbox()  # heartbeats coalesce there, nothing else (inbox.py)
        # The broker sends a client only so many unacknowledged QoS 1 messages: wake the
        # worker for those at once rather than at its next poll (heartbeats, QoS 0, wait).
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._read_to: float | None = None  # for the next tick (collector/tracking/lag.py)
        self._unread_bytes = 0
        self._shed = 0  # heartbeats the one being handled replaced (collector/inbox.py)
        # A persistent session: QoS 1 events sent while the collector was down (uplink
        # records above all) are queued by the broker and delivered when it is back. Each
        # is acknowledged only once it is handled and stored (manual acks): a collector
        # killed with messages still in its inbox gets them again from the broker.
        self.client = BurstClient(mqtt.CallbackAPIVersion.VERSION2, client_id=cfg.client_id,
                                  protocol=mqtt.MQTTv311, clean_session=False,
                                  manual_ack=True)
        self._session = 0  # counts connections: an ack belongs to the one that delivered
        m = cfg.mqtt
        if m.username is not None:
            self.client.username_pw_set(m.username, m.password.reveal() if m.password else None)
        if cfg.broker.tls:  # mqtts:// is TLS or nothing, never a plain-text fallback
            context = ssl.create_default_context(cafile=m.ca_file)
            if m.cert_file:
                context.load_cert_chain(m.cert_file, m.key_file)
            self.client.tls_set_context(context)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_message(self, client, userdata, message):
        # Only hand over: decoding happens in the worker, so that paho's thread is back on
        # its socket at once (the hot path: every heartbeat of every site).
        now = self.clock()
        raw = message._topic
        qos = message.qos
        ack = (self._session, message.mid) if qos else None
        if self._route is not None:
            raw = self._route(raw)
            if raw is None:  # another partition's: never handled here, never sent again
                if ack is not None:
                    self._inbox.put(None, None, now, ack)
                    self._wake.set()
                return
        try:
            if not qos and not message.retain and raw.endswith(b"/heartbeat"):
                self._inbox.heartbeat(raw, raw.decode(), message.payload, now)
                return  # latest per site wins while the worker is behind (inbox.py)
            topic = raw.decode()
            if message.retain and not topic.endswith(RETAINED_OK):
                # Only a status is meant to be retained: a retained heartbeat or event
                # would be believed again at every reconnect (docs/wire.md, Limits).
                self.rejections.add(topic, "retained message ignored", "retained")
                self._inbox.put(None, None, now, ack)
                return
            self._inbox.put(topic, message.payload, now, ack, raw)
        except Exception as e:  # a topic that is not UTF-8; never raise into paho's thread
            self.rejections.add(repr(raw)[:80], f"topic is not UTF-8: {e}", "wire_topic")
            self._inbox.put(None, None, now, ack)
        if ack is not None:
            self._wake.set()

    def _put(self, item) -> None:
        self._inbox.put(item, None, self.clock())

    def _ack(self, ack: tuple[int, int]) -> None:
        """Acknowledge a handled QoS 1 message, unless its connection is gone (the broker
        sends it again on the next one, and the copy is recognised)."""
        session, mid = ack
        if session == self._session:
            try:
                self.client.ack(mid, 1)
            except Exception:  # the connection went away meanwhile: same as above
                log.debug("could not acknowledge message %d", mid, exc_info=True)

    def _decode(self, topic: str, payload: bytes):
        try:
            return wire.decode(topic, payload)
        except wire.WireError as e:
            self.rejections.add(topic, str(e), "wire_" + e.reason)
        except Exception as e:  # a bug in decoding must not stop the worker
            log.exception("unexpected error decoding %s", topic)
            self.rejections.add(topic, f"internal: {e}", "internal")
        return None

    @property
    def tracker(self):
        return self.core.tracker if self.core else None

    @property
    def backlog(self) -> int:
        """Messages received from the broker and not handled yet (a site's heartbeats
        waiting count once: they coalesce)."""
        return len(self._inbox)

    @property
    def shed(self) -> int:
        """Heartbeats replaced by a later one of their site before they were handled."""
        return self._inbox.shed

    def lag(self) -> dict:
        """For /healthz: how far behind the worker is (collector/tracking/lag.py)."""
        rule = self.core.lag if self.core else None
        return {"lag_s": round(rule.lag_s, 3) if rule else 0.0,
                "max_lag_s": round(rule.max_lag_s, 3) if rule else 0.0,
                "behind": bool(rule and rule.behind),
                "times_behind": rule.times_behind if rule else 0,
                "unread_bytes": rule.unread if rule else 0,
                "shed_heartbeats": self.shed}

    @property
    def received(self) -> int:
        return self.core.received if self.core else 0

    @property
    def duplicates(self) -> int:
        return self.core.duplicates if self.core else 0

    def _open(self, old: Core | None, retry: bool) -> Core | None:
        """A Core on a fresh connection (the first one, or after storage failed: what the
        old one held in memory may not have been stored, so it starts again from the
        database, as a restarted process would). None while the store fails."""
        if old is not None:  # SQLite shares a file's locks and WAL index within a process:
            close_quietly(old.store.db)  # a connection left open can keep a read-only one alive
        store = None
        try:
            store = self._store()
            core = self._core(store, self.clock())
            if old is not None:
                core.received, core.duplicates = old.received, old.duplicates
            if retry and self.connected.is_set():
                core.link_up(self.clock())
        except Exception as e:
            if store is not None:
                close_quietly(store.db)
            if not is_storage_error(e):
                raise  # a bug, not the storage: the thread dies and the process exits
            self.storage.fail(e, time.monotonic(), self.clock())
            return None
        if retry:
            self._resumed_at = self.clock()
        self.storage.resumed()
        return core

    def _store(self) -> Store:
        return Store(self.cfg.database)

    def _core(self, store: Store, now: float) -> Core:
        return Core(self.cfg, store, now, reject=self.rejections.add)

    def owned(self) -> list[int] | None:
        """The partitions this ingest acts for; None: the whole fleet."""
        return None

    def live_runs(self) -> set[int]:
        """The runs whose sight extends to now (a budget read while they run)."""
        return {self.core.run_id} if self.core else set()

    def _work(self) -> None:
        core = self._open(None, retry=False)
        with self.lock:
            self.core = core
        if core is not None and not core.fleet.sites:
            log.warning("the fleet registry is empty: every site's messages are refused "
                        "(parkwatch site add, or [projects.<P>] sites in the config)")
        self.ready.set()
        next_tick = next_beacon = next_retry = 0.0
        inbox = self._inbox
        last_turn = time.monotonic()
        while not self._stop.is_set():
            if self.storage.suspended:  # hold everything (unacknowledged) until it is back
                if time.monotonic() >= next_retry:
                    next_retry = time.monotonic() + RETRY_S
                    fresh = self._open(self.core, retry=True)
                    if fresh is not None:
                        with self.lock:
                            self.core = core = fresh
                        last_turn = time.monotonic()
                self._stop.wait(0.05)
                continue
            if not inbox:
                # Polling: no per-message wake-up for paho's thread to pay, but for QoS 1.
                self._wake.wait(IDLE_S)
                self._wake.clear()
            with self.lock:
                turn = time.monotonic()
                if turn - last_turn > STALL_S:  # since the last turn ended: not its work
                    self._stalled(core, turn - last_turn)
                for n in range(BATCH):
                    if self.storage.suspended or \
                            (n % 64 == 63 and time.monotonic() - turn > TURN_S):
                        break
                    entry = inbox.pop()
                    if entry is None:
                        break
                    item, payload, _, now, self._shed, ack, _ = entry
                    if now < self._resumed_at:  # heard while the store was failing
                        if ack is None and payload is not None:
                            continue  # QoS 0: that time is unknown, like a restart's
                        if item in (True, False) and item != core.tracker.blind:
                            continue  # the connection's state was taken on reopening
                        now = self._resumed_at
                    if payload is not None:
                        item = self._decode(item, payload)
                    if item is not None and not self._stored(core, item, now):
                        inbox.push_back(entry)  # not stored: neither it nor later ones acked
                        break
                    if ack is not None:  # stored, rejected or poison: never again
                        self._ack(ack)
                t = self.clock()
                if not self.storage.suspended and t >= next_tick:
                    # Silence counts only up to what it has read (collector/tracking/lag.py).
                    self._read_to = inbox.read_to(t)
                    self._unread_bytes = unread_bytes(self.client.socket())
                    if self._stored(core, None, t):
                        self.storage.committed()  # a tick vouches for its sight: a write
                    next_tick = t + 0.25
            last_turn = time.monotonic()  # a slow turn is lag (the tick's read_to), not a stall
            if self.storage.suspended:
                continue
            if self.cfg.clock_beacon_s and t >= next_beacon and self.connected.is_set():
                # Agents estimate their clock error from this (docs/wire.md, clock beacons).
                self.client.publish(wire.CLOCK_TOPIC, json.dumps({"ts": t}), qos=0)
                next_beacon = t + self.cfg.clock_beacon_s
        if not self.storage.suspended and not self.abandoned:
            with self.lock:
                try:
                    core.stop(self.clock())
                except Exception:
                    log.exception("error recording the collector's stop")

    def _stored(self, core: Core, item, now: float) -> bool:
        """Handle one item; False (and the guard told) when the storage failed."""
        try:
            self._handle(core, item, now)
            return True
        except Exception as e:  # only storage errors get here
            self.storage.fail(e, time.monotonic(), self.clock())
            return False

    def _stalled(self, core: Core, gap_s: float) -> None:
        """The whole process stood still: it saw nothing meanwhile, so that time is unknown
        (like time without the broker), and no site went down for a silence it missed."""
        now = self.clock()
        log.warning("the collector was frozen for %.1f s; that time is unknown", gap_s)
        try:
            core.stalled(now - gap_s, now)
        except Exception as e:
            if is_storage_error(e):
                self.storage.fail(e, time.monotonic(), now)
            else:
                log.exception("error recording a stall")

    def _handle(self, core: Core, item, now: float) -> None:
        try:
            if item is None:
                decisions = core.tick(now, self._read_to, self._unread_bytes)
            elif item is True:
                decisions = []
                core.link_up(now)
            elif item is False:
                decisions = []
                core.link_down(now)
            else:
                decisions = core.handle(item, now, self._shed)
            for d in decisions:
                log.debug("%s %s", type(d).__name__, getattr(d, "outage", d))
        except Exception as e:
            if is_storage_error(e):
                raise  # not stored: the worker holds this message and the ones after it
            log.exception("error handling %r", item)  # a poison message: consumed

    def start(self) -> None:
        self._worker = threading.Thread(target=self._work, name="ingest", daemon=True)
        self._worker.start()
        self.ready.wait(30)
        b = self.broker
        self.client.connect_async(b.host, b.port, keepalive=b.keepalive_s)
        self.client.loop_start()

    def stop(self) -> None:
        self._closing = True  # no other node to try: this disconnect is ours
        self.client.disconnect()
        self.client.loop_stop()
        self._stop.set()
        if self._worker is not None:
            self._worker.join(5)
