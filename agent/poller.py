"""Polling one device: its profile's codec, a link for its transport, a DeviceMonitor, a loop.

The loop is a shell; what a poll means is decided by ``DeviceMonitor.observe``. Every
failed poll is counted by why it failed (``stats``), and no exception leaves the thread.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from agent.config import DeviceConfig
from agent.device import Change, DeviceMonitor, IntercomCall, LoopTimeout, Output
from agent.links import LinkDown, LinkTimeout, accept_reply
from agent.profiles import Codec, DecodeError, Reading
from agent.profiles.schema import MODBUS

log = logging.getLogger("parkwatch.agent.poller")


class DevicePoller:
    def __init__(self, dev: DeviceConfig, on_change: Callable[[Output], None],
                 clock: Callable[[], float] = time.time,
                 pace: Callable[[], float] = time.monotonic):
        """``clock`` dates what the poller observes; ``pace`` (monotonic) spaces the polls,
        so a step of the wall clock (NTP, an operator) neither stalls nor hurries them."""
        self.profile = dev.load_profile()
        self.dev = dev.resolved(self.profile)
        self.codec = Codec(self.profile)
        self.monitor = DeviceMonitor(self.dev.name, self.dev.offline_after, lane=self.dev.lane,
                                     loop_timeout_s=self.dev.loop_timeout_s)
        self.on_change = on_change
        self.clock, self.pace = clock, pace
        self.stats: Counter[str] = Counter()
        self.last_error: str | None = None
        self.noise_bytes = 0  # line noise skipped between frames (framed links)
        self._logged: set[str] = set()  # kinds of failure already logged at warning
        self._replies = {req: self._reply_for(req) for req in self.profile.poll}
        self._firmware_warned = False

    def _reply_for(self, request: str) -> str:
        for name, msg in self.profile.replies.items():
            if msg.answers == request:
                return name
        unasked = [n for n, m in self.profile.replies.items() if m.push_every_s is None]
        return unasked[0]

    # --- the loop -----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        link = open_link(self.dev, self.profile)
        try:
            while not stop.is_set():
                started = self.pace()
                self.step(self.clock(), link)
                stop.wait(max(0.0, self.dev.poll_interval_s - (self.pace() - started)))
        finally:
            link.close()

    def step(self, now: float, link) -> list[Output]:
        """One poll at ``now``: ask, decode, observe, report."""
        try:
            reading = self.poll_once(link)
        except Exception as e:  # a bug must not end the polling nor leave a stale state
            if self.stats["internal"] == 0:
                log.exception("device %s: poll failed unexpectedly", self.dev.name)
            self._failed("internal", f"{type(e).__name__}: {e}")
            reading = None
        outputs = self.monitor.observe(now, reading)
        for out in outputs:
            self._log(out)
            try:
                self.on_change(out)
            except Exception:
                log.exception("device %s: reporting %s failed", self.dev.name, out)
        return outputs

    def poll_once(self, link) -> Reading | None:
        fields: dict[str, Any] = {}
        for request in self.profile.poll:
            got = self._ask(link, request)
            if got is None:
                return None
            fields.update(got)
        self.stats["ok"] += 1
        self.last_error = None
        self._check_firmware(fields)
        return self.codec.reading(fields)

    def _ask(self, link, request: str) -> dict[str, Any] | None:
        for _attempt in range(self.dev.retries + 1):
            try:
                return link.query(self.codec, request, self._replies[request],
                                  self.dev.address, self.dev.timeout_s, self._noise)
            except LinkDown as e:
                self._failed("link_down", str(e))
                return None  # retrying at once cannot help; the link backs off
            except LinkTimeout as e:
                self._failed("timeout", str(e))
            except DecodeError as e:
                self._failed(e.kind, str(e))
        return None

    def _failed(self, kind: str, text: str) -> None:
        self.stats[kind] += 1
        if kind not in self._logged:  # the first of each kind clearly, the rest counted
            self._logged.add(kind)
            log.warning("device %s: poll failed: %s (further %s failures are counted in "
                        "the heartbeat's health.poll_errors)", self.dev.name, text, kind)
        elif text != self.last_error:
            log.debug("device %s: %s", self.dev.name, text)
        self.last_error = text

    def _noise(self, n: int) -> None:
        self.noise_bytes += n

    def errors(self) -> dict[str, int]:
        """Failed polls by why, and skipped noise bytes, since the agent started."""
        out = {k: v for k, v in self.stats.items() if k != "ok" and v}
        if self.noise_bytes:
            out["noise_bytes"] = self.noise_bytes
        return out

    def _check_firmware(self, fields: dict[str, Any]) -> None:
        version = fields.get("firmware")
        if version is None or self._firmware_warned:
            return
        if not any(fnmatch.fnmatch(str(version), p) for p in self.profile.identity.firmware):
            self._firmware_warned = True
            log.warning("device %s reports firmware %s, which profile %s does not list (%s); "
                        "check the decoding", self.dev.name, version, self.profile.id,
                        ", ".join(self.profile.identity.firmware))

    def _log(self, out: Output) -> None:
        name = self.dev.name
        if isinstance(out, Change):
            log.info("device %s: %s -> %s%s", name, out.prev, out.state,
                     f" ({out.fault}, {out.severity})" if out.fault else "")
        elif isinstance(out, LoopTimeout):
            log.info("device %s: loop %s occupied since %.0f, longer than %ss", name,
                     out.channel or "", out.since, self.dev.loop_timeout_s)
        elif isinstance(out, IntercomCall):
            log.info("device %s: intercom call in lane %s", name, out.lane)


# --- links by transport ------------------------------------------------------------------------

class _Framed:
    """Serial or TCP carrying the profile's own frames."""

    def __init__(self, link, release: Callable[[], None] | None = None):
        self.link, self._release = link, release

    def query(self, codec: Codec, request: str, reply: str, address: int | None,
              timeout_s: float, on_noise=None) -> dict[str, Any]:
        frame = codec.request(request, address)
        decoded = self.link.exchange(frame, codec.framing, accept_reply(codec, reply, address),
                                     timeout_s, on_noise)
        return decoded.fields

    def close(self) -> None:
        if self._release:
            self._release()
        else:
            self.link.close()


class _Modbus:
    def __init__(self, link, profile):
        self.link, self.profile = link, profile

    def query(self, codec: Codec, request: str, reply: str, address: int | None,
              timeout_s: float, on_noise=None) -> dict[str, Any]:
        msg = self.profile.requests[request]
        registers = self.link.read(msg.function, msg.address, msg.count,
                                   1 if address is None else address)
        return codec.decode_registers(reply, registers, address).fields

    def close(self) -> None:
        from agent import modbus_link

        modbus_link.release(self.link)


class _Http:
    def __init__(self, link, profile):
        self.link, self.profile = link, profile

    def query(self, codec: Codec, request: str, reply: str, address: int | None,
              timeout_s: float, on_noise=None) -> dict[str, Any]:
        msg = self.profile.requests[request]
        return codec.decode_body(self.link.fetch(msg.method, msg.path), reply).fields

    def close(self) -> None:
        self.link.close()


def open_link(dev: DeviceConfig, profile):
    """The link object for ``dev``; nothing is opened until the first poll."""
    kind, t = profile.kind, profile.transport
    if kind == "serial":
        from agent import serial_link

        link = serial_link.acquire(dev.port, dev.baud, dev.parity, t.stop_bits, t.data_bits)
        return _Framed(link, lambda: serial_link.release(link))
    if kind == "tcp":
        from agent.net_links import TcpLink, split_host

        host, port = split_host(dev.host, t.port)
        return _Framed(TcpLink(host, port))
    if kind in MODBUS:
        from agent import modbus_link
        from agent.net_links import split_host

        if kind == "modbus_rtu":
            link = modbus_link.acquire(dev.port, lambda: modbus_link.ModbusLink.rtu(
                dev.port, dev.baud, dev.parity, t.stop_bits, t.data_bits, dev.timeout_s))
        else:
            host, port = split_host(dev.host, t.port)
            link = modbus_link.acquire(f"{host}:{port}", lambda: modbus_link.ModbusLink.tcp(
                host, port, dev.timeout_s))
        return _Modbus(link, profile)
    from agent.net_links import HttpLink

    auth = (dev.username, dev.password) if dev.username else None
    return _Http(HttpLink(dev.url, dev.timeout_s, auth), profile)

