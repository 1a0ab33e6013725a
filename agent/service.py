"""The agent process: device pollers, the outbox and the MQTT link around the pure cores.

Threads: one per device poller, ``mqtt`` (the link's network loop), ``outbox`` (publishes
stored events in order and deletes them when acknowledged), ``ticker`` (heartbeats and
the process watch), and the main thread, which supervises the others and pings the
systemd watchdog while they all keep turning.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
import random
import sqlite3
import threading
import time

from agent.boot import PersistentCounter
from agent.config import AgentConfig
from agent.device import Change, IntercomCall, LoopTimeout, Output
from agent.health import Health
from agent.mqtt_link import LinkSettings, MqttLink
from agent.outbox import Outbox, Row, priority
from agent.poller import DevicePoller
from agent.procwatch import ProcessScanner, ProcessWatch, SoftwareChange
from agent.systemd import Notifier, stuck_loops
from agent.uplink import ClockOffset, UplinkPeriod, UplinkTracker, parse_beacon
from parkwatch.core import wire
from parkwatch.core.jsonenc import compact

log = logging.getLogger("parkwatch.agent")

WINDOW = 50          # events in flight (published, not yet acknowledged) at once
UPLINK_STATE = "uplink_open"


class StartError(Exception):
    """The agent cannot start on this machine (state_dir, TLS files); the text says why."""


def mark_historical(payload: bytes) -> bytes:
    body = json.loads(payload)
    body["historical"] = True
    return compact(body)


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
            reconnect_max_s=m.reconnect_max_s), self, mono=mono, rng=rng)

    # --- messages --------------------------------------------------------------------

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _status(self, state: str, reason: str) -> wire.Status:
        return wire.Status(self.cfg.project, self.cfg.site, state, self.boot.value,
                           self.clock(), reason)

    def heartbeat(self) -> wire.Heartbeat:
        devices = {name: wire.DeviceReport(**m.report()) for name, m in self.monitors.items()}
        extra = {"outbox_depth": self.outbox.depth,
                 "outbox_mb": round(self.outbox.bytes / 1e6, 3),
                 "dropped_total": self.outbox.dropped_total,
                 "mqtt_errors": self.link.callback_errors + self.link.loop_errors,
                 "agent_errors": self.errors}
        if self.offset.value is not None:
            extra["clock_offset_s"] = round(self.offset.value, 3)
        errors = {p.dev.name: e for p in self.pollers if (e := p.errors())}
        if errors:
            extra["poll_errors"] = errors
        return wire.Heartbeat(self.cfg.project, self.cfg.site, self.boot.value,
                              self._next_seq(), self.clock(), self.cfg.heartbeat_interval_s,
                              devices, health=self.health.read(**extra))

    def _event(self, kind: str, **fields) -> wire.Event:
        """An event to hand to ``emit``, which gives it its boot and seq."""
        return wire.Event(self.cfg.project, self.cfg.site, 0, 0, self.clock(), kind, **fields)

    def device_event(self, out: Output) -> wire.Event:
        """The event for one output of a device's monitor (a change, a loop timeout, a call)."""
        if isinstance(out, LoopTimeout):
            detail = {"lane": out.lane, "occupied_s": round(out.at - out.since, 3)}
            if out.channel is not None:
                detail["channel"] = out.channel
            return self._event("loop_timeout", device=out.device, since=out.since,
                               detail=detail)
        if isinstance(out, IntercomCall):
            detail = {"lane": out.lane, "at": out.at}
            if out.channel is not None:
                detail["channel"] = out.channel
            return self._event("intercom", device=out.device, since=out.at, detail=detail)
        change: Change = out
        return self._event("device_state", device=change.device, state=change.state,
                           prev=change.prev, fault=change.fault, since=change.since,
                           severity=change.severity,
                           detail={"channel": change.channel} if change.channel else {})

    def software_event(self, change: SoftwareChange) -> wire.Event:
        return self._event("software", state=change.state, prev=change.prev,
                           since=change.since, detail=change.detail)

    def uplink_event(self, period: UplinkPeriod, **extra) -> wire.Event:
        return self._event("uplink", since=period.start,
                           detail={**period.detail(self.offset.value), **extra})

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
        self.emit(self.device_event(out))

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
        # which dates a later keepalive loss to within one heartbeat.
        subs = [(self.topics[wire.HEARTBEAT], 0)]
        if self.cfg.mqtt.clock_topic:
            subs.append((self.cfg.mqtt.clock_topic, 0))
        return subs

    def link_up(self, gen: int) -> None:
        with self._lock:
            self.boot.increment()
            self._seq = 0
            self._live_boot = self.boot.value
        period = self.uplink.connected(self.clock(), self.mono())
        log.info("broker %s:%s accepted us (boot %d, %d event(s) to send)",
                 self.cfg.broker.host, self.cfg.broker.port, self.boot.value, self.outbox.depth)
        self.link.publish(self.topics[wire.STATUS], wire.encode(self._status("online", "connect")),
                          qos=1, retain=True, gen=gen)
        self.link.publish(self.topics[wire.HEARTBEAT], wire.encode(self.heartbeat()), gen=gen)
        if period is not None:
            log.warning("uplink was down %.1f s (%s)", period.duration_s, period.cause)
            self.emit(self.uplink_event(period))
            self.outbox.set_state(UPLINK_STATE, None)
        self._report_dropped()
        self._wake.set()

    def link_down(self, gen: int, how: str, last_in: float | None) -> None:
        with self._lock:
            self._live_boot = None
        self._wake.set()
        if how == "requested":
            return
        if last_in is not None:
            self.uplink.heard(last_in)
        period = self.uplink.lost(self.clock(), self.mono(), how)
        self.outbox.set_state(UPLINK_STATE, period.snapshot())

    def link_failed(self, cause: str, detail: str, attempt_mono: float) -> None:
        period = self.uplink.failed(self.clock(), self.mono(), cause, attempt_mono)
        self.outbox.set_state(UPLINK_STATE, period.snapshot())

    def link_acked(self, gen: int, mid: int) -> None:
        self._acks.append((gen, mid))
        self._wake.set()

    def link_message(self, topic: str, payload: bytes, retain: bool) -> None:
        if topic == self.cfg.mqtt.clock_topic and not retain:  # a retained beacon is stale
            reference = parse_beacon(payload)
            if reference is None:
                self._beacon_refused("not a time between 2020 and 2100")
                return
            held = self.offset.held
            self.offset.sample(reference, self.clock(), self.mono())
            if self.offset.held > held:
                self._beacon_refused(f"it says the clock is off by {reference - self.clock():+.1f}"
                                     f" s, the estimate is {self.offset.value:+.1f} s; held "
                                     "until confirmed")

    def _beacon_refused(self, why: str) -> None:
        """Log the first beacon kept out of the clock estimate, then each tenfold."""
        self.beacons_refused += 1
        n = self.beacons_refused
        if n == 1 or len(str(n)) != len(str(n - 1)):
            log.warning("clock beacon not used (%s); %d so far", why, n)

    # --- loops -------------------------------------------------------------------------

    def _send_loop(self) -> None:
        """Publish the outbox in order; delete each record when the broker acknowledged it."""
        inflight: dict[int, int] = {}   # mid -> outbox id, for connection ``gen``
        gen, cursor = None, 0
        while not self._stop.is_set():
            self.beats["outbox"] = self.mono()
            self._wake.wait(0.5)
            self._wake.clear()
            try:
                done = []
                while self._acks:
                    g, mid = self._acks.popleft()
                    if g == gen and mid in inflight:
                        done.append(inflight.pop(mid))
                self.outbox.delete(done)
                live = self.link.generation if self.link.connected.is_set() else None
                if live != gen:  # a new connection (or none): start again from the oldest
                    gen, cursor = live, 0
                    inflight.clear()
                if gen is None:
                    continue
                while len(inflight) < WINDOW:
                    rows = self.outbox.pending(cursor, WINDOW - len(inflight))
                    if not rows or not self._publish_rows(rows, gen, inflight):
                        break
                    cursor = rows[-1].id
            except Exception:
                log.exception("error in the outbox loop (counted); retrying")
                self.errors += 1
                self._stop.wait(1.0)

    def _publish_rows(self, rows: list[Row], gen: int, inflight: dict[int, int]) -> bool:
        for row in rows:
            live = row.live_boot is not None and row.live_boot == self._live_boot
            payload = row.payload if live else mark_historical(row.payload)
            mid = self.link.publish(self.topics[wire.EVENT], payload, qos=1, gen=gen)
            if mid is None:
                return False
            inflight[mid] = row.id
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
            self.emit(self.software_event(change))

    def start(self) -> None:
        with self._lock:
            self.boot.increment()
            self._seq = 0
        snap = self.outbox.get_state(UPLINK_STATE)
        if snap is not None:  # the previous process died while the uplink was down
            self.emit(self.uplink_event(UplinkPeriod.interrupted(snap), interrupted=True))
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


def supervise(agent: Agent, notifier: Notifier, stop: threading.Event, *,
              stall_s: float | None = None, tick_s: float | None = None) -> None:
    """The main loop: keep the threads turning and tell systemd so, until ``stop``.

    The watchdog ping is withheld while any loop is stuck, so systemd restarts us
    (``WatchdogSec``); the outbox makes that restart lose nothing.
    """
    m = agent.cfg.mqtt
    stall_s = stall_s or max(30.0, 2 * m.connect_timeout_s + 10)
    tick_s = tick_s or (min(2.0, notifier.watchdog_s / 3) if notifier.watchdog_s else 2.0)
    notifier.ready("starting")
    stuck_before: list[str] = []
    last_status = ""
    while not stop.wait(tick_s):
        stuck = agent.check(stall_s)
        if not stuck:
            notifier.watchdog()
        elif stuck != stuck_before:
            log.error("stuck: %s; withholding the systemd watchdog so that systemd restarts "
                      "the agent", ", ".join(stuck))
        stuck_before = stuck
        status = (f"broker {'connected' if agent.connected.is_set() else 'unreachable'}, "
                  f"outbox {agent.outbox.depth} event(s)")
        if status != last_status:
            notifier.status(status)
            last_status = status


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
