"""The agent process: device pollers, the outbox and the MQTT link around the pure cores.

Threads: one per device poller, ``mqtt`` (the link's network loop), ``outbox`` (publishes
stored events in order and deletes them when acknowledged), ``ticker`` (heartbeats and
the process watch), and the main thread, which supervises the others and pings the
systemd watchdog while they all keep turning (``supervise``, agent/systemd.py).
The pure parts live beside it: what to send next is ``SendWindow`` (agent/sender.py), the
messages are built by ``Messages`` (agent/messages.py).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import random
import sqlite3
import threading
import time

from agent.boot import PersistentCounter
from agent.config import AgentConfig
from agent.device import Output
from agent.health import Health
from agent.messages import Messages
from agent.mqtt_link import LinkSettings, MqttLink
from agent.outbox import Outbox, priority
from agent.poller import DevicePoller
from agent.procwatch import ProcessScanner, ProcessWatch
from agent.sender import SendWindow
from agent.systemd import Notifier, stuck_loops, supervise
from agent.uplink import ClockOffset, UplinkPeriod, UplinkTracker, use_beacon
from parkwatch.core import wire

log = logging.getLogger("parkwatch.agent")

UPLINK_STATE = "uplink_open"


class StartError(Exception):
    """The agent cannot start on this machine (state_dir, TLS files); the text says why."""


class Agent:
    def __init__(self, cfg: AgentConfig, clock=time.time, mono=time.monotonic,
                 rng=random.random):
        self.cfg = cfg
        self.clock = clock
        self.mono = mono
        base = cfg.state_dir / f"{cfg.project}.{cfg.site}"
        try:
            self.boot = PersistentCounter(base.with_name(base.name + ".boot"))
            self.outbox = Outbox(base.with_name(base.name + ".outbox.db"),
                                 int(cfg.outbox_max_mb * 1_000_000))
        except (OSError, sqlite3.Error) as e:
            raise StartError(f"cannot use state_dir {cfg.state_dir}: {e}") from None
        self.topics = {ch: wire.topic(cfg.project, cfg.site, ch) for ch in wire.CHANNELS}
        self.uplink = UplinkTracker()
        self.offset = ClockOffset()
        self.messages = Messages(cfg.project, cfg.site, cfg.heartbeat_interval_s, self.boot,
                                 self.offset, clock)
        self.beacons_refused = 0  # beacons kept out of the clock estimate (docs/agent.md)
        self._seq = 0
        self._lock = threading.Lock()     # boot, seq and the connection's boot; before outbox's
        self._live_boot: int | None = None  # the boot of the current connection
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._acks: collections.deque = collections.deque()
        self.errors = 0  # caught in the agent's own loops (logged, counted, survived)
        self.pollers = [DevicePoller(d, self._on_device_change, clock) for d in cfg.devices]
        self.monitors = {p.dev.name: p.monitor for p in self.pollers}
        self.procwatch = ProcessWatch([p.name for p in cfg.processes])
        self._scanner: ProcessScanner | None = None
        self.health = Health(cfg.state_dir)
        self.beats = {"outbox": mono(), "ticker": mono()}
        self._threads: list[threading.Thread] = []
        try:
            self.link = self._link(cfg, mono, rng)
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
            raise StartError(f"cannot load the TLS files (mqtt.ca_file, cert_file, key_file): "
                             f"{e}") from None
        self.connected = self.link.connected

    def _link(self, cfg: AgentConfig, mono, rng) -> MqttLink:
        b, m = cfg.broker, cfg.mqtt
        return MqttLink(LinkSettings(
            host=b.host, port=b.port, client_id=f"parkwatch-agent-{cfg.project}-{cfg.site}",
            keepalive_s=b.keepalive_s, tls=b.tls, username=m.username, password=m.password,
            ca_file=m.ca_file, cert_file=m.cert_file, key_file=m.key_file,
            connect_timeout_s=m.connect_timeout_s, reconnect_min_s=m.reconnect_min_s,
            reconnect_max_s=m.reconnect_max_s,
            more=tuple((x.host, x.port) for x in cfg.more_brokers)), self, mono=mono, rng=rng)

    # --- messages --------------------------------------------------------------------

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _status(self, state: str, reason: str) -> wire.Status:
        return self.messages.status(state, reason)

    def heartbeat(self) -> wire.Heartbeat:
        extra = self.messages.health_extra(
            self.pollers, outbox_depth=self.outbox.depth,
            outbox_mb=round(self.outbox.bytes / 1e6, 3),
            dropped_total=self.outbox.dropped_total,
            mqtt_errors=self.link.callback_errors + self.link.loop_errors,
            agent_errors=self.errors)
        return self.messages.heartbeat(self._next_seq(), self.pollers,
                                       self.health.read(**extra))

    def _event(self, kind: str, **fields) -> wire.Event:
        """An event to hand to ``emit``, which gives it its boot and seq."""
        return self.messages.event(kind, **fields)

    def emit(self, event: wire.Event) -> None:
        """Store one event in the outbox; the outbox thread publishes it (QoS 1).

        Every producer of events goes through here. The event's ``boot`` and ``seq`` are
        set here, under the lock that also orders the outbox, so the outbox order is the
        ``seq`` order and a replay arrives in the order things happened.
        """
        with self._lock:
            ev, payload = self._stamp_locked(event)
            try:
                self.outbox.put(ev.kind, priority(ev.kind, ev.state), payload, ev.ts,
                                self._live_boot)
            except sqlite3.Error as e:
                self.errors += 1
                log.error("cannot store a %s event in the outbox (%s); publishing it "
                          "without a copy", ev.kind, e)
                self.link.publish(self.topics[wire.EVENT], payload, qos=1)
        self._wake.set()

    def _stamp_locked(self, event: wire.Event) -> tuple[wire.Event, bytes]:
        self._seq += 1
        ev = dataclasses.replace(event, boot=self.boot.value, seq=self._seq, historical=False)
        return ev, wire.encode(ev)

    def _report_dropped(self) -> None:
        """Turn the outbox's drop counters into one ``dropped`` event (if any)."""
        if not self.outbox.pending_dropped():
            return

        with self._lock:
            ev, _ = self._stamp_locked(self._event("dropped", detail={"count": 0}))
            summary = self.outbox.report_dropped(
                lambda s: wire.encode(dataclasses.replace(ev, detail=s)), ev.ts,
                self._live_boot)
        if summary:
            log.warning("reported %d record(s) the full outbox had to drop: %s",
                        summary["count"], summary["by_kind"])
            self._wake.set()

    def _on_device_change(self, out: Output) -> None:
        self.emit(self.messages.device_event(out))

    # --- the link's listener (called on the network thread; errors are caught there) -------

    def link_will(self) -> tuple[str, bytes]:
        # The Will belongs to the connection it is registered with, whose boot ``link_up``
        # is about to give (as Sparkplug's NDEATH carries its NBIRTH's bdSeq): a consumer
        # can then tell the Will of a connection from that of one it superseded.
        will = self._status("offline", "will")
        return self.topics[wire.STATUS], wire.encode(
            dataclasses.replace(will, boot=self.boot.value + 1))

    def link_subscriptions(self) -> list[tuple[str, int]]:
        # Our own heartbeats come back through the broker: each echo proves the path works,
        # which dates a later keepalive loss to within one heartbeat. A partitioned NATS
        # cluster renames them to part/<n>/... (docs/scale.md); a broker that maps nothing
        # refuses that subscription (SUBACK 0x80), which costs nothing.
        subs = [(self.topics[wire.HEARTBEAT], 0), (f"part/+/{self.topics[wire.HEARTBEAT]}", 0)]
        if self.cfg.mqtt.clock_topic:
            subs.append((self.cfg.mqtt.clock_topic, 0))
        return subs

    def link_up(self, gen: int) -> None:
        # Back at CONNACK, now: read the clocks before the boot counter's fsync and the lock
        # (an event's write holds it), which a slow disk can make take seconds.
        wall, mono = self.clock(), self.mono()
        with self._lock:
            self.boot.increment()
            self._seq = 0
            self._live_boot = self.boot.value
        period = self.uplink.connected(wall, mono)
        log.info("broker %s accepted us (boot %d, %d event(s) to send)",
                 self.link.broker, self.boot.value, self.outbox.depth)
        self.link.publish(self.topics[wire.STATUS], wire.encode(self._status("online", "connect")),
                          qos=1, retain=True, gen=gen)
        self.link.publish(self.topics[wire.HEARTBEAT], wire.encode(self.heartbeat()), gen=gen)
        if period is not None:
            log.warning("uplink was down %.1f s (%s)", period.duration_s, period.cause)
            self.emit(self.messages.uplink_event(period))
            self.outbox.set_state(UPLINK_STATE, None)
        self._report_dropped()
        self._wake.set()

    def link_down(self, gen: int, how: str, last_in: float | None) -> None:
        wall, mono = self.clock(), self.mono()  # when the loss was noticed (see link_up)
        with self._lock:
            self._live_boot = None
        self._wake.set()
        if how == "requested":
            return
        if last_in is not None:
            self.uplink.heard(last_in)
        period = self.uplink.lost(wall, mono, how)
        self.outbox.set_state(UPLINK_STATE, period.snapshot())

    def link_failed(self, cause: str, detail: str, attempt_mono: float) -> None:
        period = self.uplink.failed(self.clock(), self.mono(), cause, attempt_mono)
        self.outbox.set_state(UPLINK_STATE, period.snapshot())

    def link_acked(self, gen: int, mid: int) -> None:
        self._acks.append((gen, mid))
        self._wake.set()

    def link_message(self, topic: str, payload: bytes, retain: bool) -> None:
        if topic == self.cfg.mqtt.clock_topic and not retain:  # a retained beacon is stale
            why = use_beacon(self.offset, payload, self.clock(), self.mono())
            if why is not None:
                self._beacon_refused(why)

    def _beacon_refused(self, why: str) -> None:
        """Log the first beacon kept out of the clock estimate, then each tenfold."""
        self.beacons_refused += 1
        n = self.beacons_refused
        if n == 1 or len(str(n)) != len(str(n - 1)):
            log.warning("clock beacon not used (%s); %d so far", why, n)

    # --- loops -------------------------------------------------------------------------

    def _send_loop(self) -> None:
        """Publish the outbox in order; delete each record when the broker acknowledged it.
        What to publish and delete is the window's decision (agent/sender.py)."""
        window = SendWindow()
        while not self._stop.is_set():
            self.beats["outbox"] = self.mono()
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                acks = [self._acks.popleft() for _ in range(len(self._acks))]  # only we pop
                self.outbox.delete(window.acked(acks))
                window.link(self.link.generation if self.link.connected.is_set() else None)
                while n := window.room():
                    rows = self.outbox.pending(window.cursor, n)
                    if not rows or not self._publish(window, rows):
                        break
                    window.batch_done(rows)
            except Exception:
                log.exception("error in the outbox loop (counted); retrying")
                self.errors += 1
                self._stop.wait(1.0)

    def _publish(self, window: SendWindow, rows) -> bool:
        for p in window.plan(rows, self._live_boot):
            mid = self.link.publish(self.topics[wire.EVENT], p.payload, qos=1, gen=window.gen)
            if mid is None:
                return False
            window.published(p.row_id, mid)
        return True

    def _ticker(self) -> None:
        next_hb = self.mono() + self.cfg.heartbeat_interval_s
        next_proc = self.mono()
        while not self._stop.is_set():
            now = self.beats["ticker"] = self.mono()
            try:
                if now >= next_hb:
                    next_hb = now + self.cfg.heartbeat_interval_s
                    if self.connected.is_set():
                        self.link.publish(self.topics[wire.HEARTBEAT],
                                          wire.encode(self.heartbeat()))
                        self._report_dropped()
                if self.cfg.processes and now >= next_proc:
                    next_proc = now + self.cfg.process_check_s
                    self._check_processes()
            except Exception:
                log.exception("error in the heartbeat/process loop (counted); continuing")
                self.errors += 1
            wake = min(next_hb, next_proc if self.cfg.processes else next_hb)
            self._stop.wait(min(1.0, max(0.0, wake - self.mono())))

    def _check_processes(self) -> None:
        if self._scanner is None:
            self._scanner = ProcessScanner(self.cfg.processes)
        for change in self.procwatch.observe(self.clock(), self._scanner.scan()):
            level = logging.WARNING if change.state == "fault" else logging.INFO
            log.log(level, "software %s: %s -> %s %s", change.process, change.prev,
                    change.state, change.detail)
            self.emit(self.messages.software_event(change))

    def start(self) -> None:
        with self._lock:
            self.boot.increment()
            self._seq = 0
        snap = self.outbox.get_state(UPLINK_STATE)
        if snap is not None:  # the previous process died while the uplink was down
            self.emit(self.messages.uplink_event(UplinkPeriod.interrupted(snap),
                                                interrupted=True))
            self.outbox.set_state(UPLINK_STATE, None)
        if self.outbox.depth:
            log.info("outbox holds %d event(s) from before; they are sent as historical",
                     self.outbox.depth)
        self.link.start()
        for poller in self.pollers:
            self._spawn(poller.run, self._stop, name=f"poll-{poller.dev.name}")
        self._spawn(self._send_loop, name="outbox")
        self._spawn(self._ticker, name="ticker")

    def _spawn(self, target, *args, name: str) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def check(self, stall_s: float) -> list[str]:
        """Supervise: restart a dead network thread; name the loops stuck over ``stall_s``."""
        beats = dict(self.beats)
        beats["mqtt"] = self.mono() - self.link.check()
        return stuck_loops(beats, self.mono(), stall_s)

    def stop(self, timeout: float = 5.0) -> None:
        """Say offline ourselves first: a clean disconnect suppresses the Will."""
        self._stop.set()
        self._wake.set()
        last = (self.topics[wire.STATUS], wire.encode(self._status("offline", "shutdown")))
        was_up = self.connected.is_set()
        if not self.link.stop(last, timeout) and was_up:
            log.warning("the broker did not acknowledge the offline status")
        for t in self._threads:
            t.join(timeout)
        self.outbox.close()


def run(cfg: AgentConfig, clock=time.time) -> None:
    """Run the agent until SIGTERM. ``clock`` is the gateway's wall clock (a test can set it
    wrong, docs/faults.md); durations always come from the monotonic clock."""
    notifier = Notifier()
    agent = Agent(cfg, clock=clock)
    agent.start()
    try:
        supervise(agent, notifier, threading.Event())
    finally:
        notifier.stopping()
        agent.stop()
        notifier.close()
