"""The agent process: device pollers and the MQTT link around the pure cores."""

from __future__ import annotations

import logging
import threading
import time

import paho.mqtt.client as mqtt

from agent import wire
from agent.boot import PersistentCounter
from agent.config import AgentConfig
from agent.device import Change, IntercomCall, LoopTimeout, Output
from agent.poller import DevicePoller

log = logging.getLogger("parkwatch.agent")


class Agent:
    def __init__(self, cfg: AgentConfig, clock=time.time):
        self.cfg = cfg
        self.clock = clock
        self.boot = PersistentCounter(cfg.state_dir / f"{cfg.project}.{cfg.site}.boot")
        self._seq = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.pollers = [DevicePoller(d, self._on_device_change, clock) for d in cfg.devices]
        self.monitors = {p.dev.name: p.monitor for p in self.pollers}
        self._threads: list[threading.Thread] = []
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"parkwatch-agent-{cfg.project}-{cfg.site}",
            protocol=mqtt.MQTTv311, clean_session=True)
        self.client.reconnect_delay_set(min_delay=1, max_delay=60)
        self.client.on_pre_connect = self._on_pre_connect
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail

    # --- messages --------------------------------------------------------------------

    def _next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _status(self, state: str, reason: str) -> wire.Status:
        return wire.Status(self.cfg.project, self.cfg.site, state, self.boot.value,
                           self.clock(), reason)

    def _publish(self, msg: wire.Message) -> mqtt.MQTTMessageInfo:
        t = wire.topic(self.cfg.project, self.cfg.site, msg.channel)
        return self.client.publish(t, wire.encode(msg), qos=wire.QOS[msg.channel],
                                   retain=wire.RETAIN[msg.channel])

    def heartbeat(self) -> wire.Heartbeat:
        devices = {name: wire.DeviceReport(**m.report()) for name, m in self.monitors.items()}
        return wire.Heartbeat(self.cfg.project, self.cfg.site, self.boot.value,
                              self._next_seq(), self.clock(), self.cfg.heartbeat_interval_s,
                              devices)

    def device_event(self, out: Output) -> wire.Event:
        """The event for one output of a device's monitor (a change, a loop timeout, a call)."""
        common = (self.cfg.project, self.cfg.site, self.boot.value, self._next_seq(),
                  self.clock())
        if isinstance(out, LoopTimeout):
            detail = {"lane": out.lane, "occupied_s": round(out.at - out.since, 3)}
            if out.channel is not None:
                detail["channel"] = out.channel
            return wire.Event(*common, "loop_timeout", device=out.device, since=out.since,
                              detail=detail)
        if isinstance(out, IntercomCall):
            detail = {"lane": out.lane, "at": out.at}
            if out.channel is not None:
                detail["channel"] = out.channel
            return wire.Event(*common, "intercom", device=out.device, since=out.at,
                              detail=detail)
        change: Change = out
        return wire.Event(*common, "device_state", device=change.device,
                          state=change.state, prev=change.prev, fault=change.fault,
                          since=change.since, severity=change.severity,
                          detail={"channel": change.channel} if change.channel else {})

    def emit(self, event: wire.Event) -> None:
        """Send one event (QoS 1). Every producer of events goes through here."""
        self._publish(event)

    def _on_device_change(self, out: Output) -> None:
        self.emit(self.device_event(out))

    # --- MQTT callbacks (run in paho's thread: they must not raise) -------------------

    def _on_pre_connect(self, client, userdata):
        with self._lock:
            self.boot.increment()
            self._seq = 0
        will = self._status("offline", "will")
        client.will_set(wire.topic(self.cfg.project, self.cfg.site, wire.STATUS),
                        wire.encode(will), qos=1, retain=True)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.warning("broker refused the connection: %s", reason_code)
            return
        log.info("connected to %s:%s (boot %d)", self.cfg.broker.host, self.cfg.broker.port,
                 self.boot.value)
        self._publish(self._status("online", "connect"))
        self._publish(self.heartbeat())
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("lost the broker: %s; reconnecting", reason_code)

    def _on_connect_fail(self, client, userdata):
        log.warning("cannot reach broker %s:%s; retrying with backoff",
                    self.cfg.broker.host, self.cfg.broker.port)

    # --- loops -------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(self.cfg.heartbeat_interval_s):
            if self.connected.is_set():
                self._publish(self.heartbeat())

    def start(self) -> None:
        b = self.cfg.broker
        self.client.connect_async(b.host, b.port, keepalive=b.keepalive_s)
        self.client.loop_start()
        for poller in self.pollers:
            self._spawn(poller.run, self._stop, name=f"poll-{poller.dev.name}")
        self._spawn(self._heartbeat_loop, name="heartbeat")

    def _spawn(self, target, *args, name: str) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Say offline ourselves: a clean disconnect suppresses the Will."""
        self._stop.set()
        if self.connected.is_set():
            try:
                self._publish(self._status("offline", "shutdown")).wait_for_publish(timeout)
            except (RuntimeError, ValueError) as e:
                log.warning("could not publish offline status: %s", e)
        self.client.disconnect()
        self.client.loop_stop()
        for t in self._threads:
            t.join(timeout)


def run(cfg: AgentConfig) -> None:
    agent = Agent(cfg)
    agent.start()
    try:
        threading.Event().wait()
    finally:
        agent.stop()
