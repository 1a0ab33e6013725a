"""A TCP proxy between an agent and its broker that can cut the uplink on command.

Modes:
- ``pass``: forward bytes both ways.
- ``drop``: reset every connection and stop listening, so new connects are refused (a
  cable pulled on a router that answers with RST/ICMP).
- ``blackhole``: accept connections but never forward or answer; bytes vanish (a path that
  silently eats packets: only MQTT keepalive can notice).
- ``delay``: forward, each chunk held ``delay_s`` (in order).
- ``throttle``: forward at most ``rate_bps`` bytes per second per direction.

Used by the fault tests and scriptable from a shell (``parkwatch sim proxy``), where each
line on stdin is a command: ``pass``, ``drop``, ``blackhole``, ``delay 0.5``,
``throttle 2000``.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass

log = logging.getLogger("parkwatch.netproxy")

MODES = ("pass", "drop", "blackhole", "delay", "throttle")


@dataclass
class ProxyStats:
    accepted: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    resets: int = 0


class NetProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1",
                 listen_port: int = 0, listen_host: str = "127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.listen_host = listen_host
        self.port = listen_port
        self.mode = "pass"
        self.delay_s = 0.0
        self.rate_bps = 0
        self.stats = ProxyStats()
        self._lock = threading.Lock()
        self._conns: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self._stop = threading.Event()

    # --- control -----------------------------------------------------------------------

    def start(self) -> NetProxy:
        self._listen()
        return self

    def set_mode(self, mode: str, value: float | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        with self._lock:
            previous, self.mode = self.mode, mode
            if mode == "delay":
                self.delay_s = float(value if value is not None else 0.5)
            if mode == "throttle":
                self.rate_bps = int(value if value is not None else 1000)
        log.info("proxy %d: %s -> %s", self.port, previous, mode)
        if mode == "drop":
            self._close_listener()
            self._reset_all()
        elif previous == "drop":
            self._listen()

    def command(self, line: str) -> str:
        """One text command (the shell interface); returns a reply line."""
        parts = line.split()
        if not parts:
            return "ok"
        try:
            self.set_mode(parts[0], float(parts[1]) if len(parts) > 1 else None)
        except ValueError as e:
            return f"error: {e}"
        return f"ok {self.mode}"

    def stop(self) -> None:
        self._stop.set()
        self._close_listener()
        self._reset_all()

    # --- plumbing ------------------------------------------------------------------------

    def _listen(self) -> None:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.listen_host, self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self._listener = s
        threading.Thread(target=self._accept_loop, args=(s,), daemon=True,
                         name=f"proxy-accept-{self.port}").start()

    def _close_listener(self) -> None:
        s, self._listener = self._listener, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _reset_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for pair in conns:
            for sock in pair:
                _reset(sock)
            self.stats.resets += 1

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.stats.accepted += 1
            if self.mode == "drop":
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(0.1)
            with self._lock:
                self._conns.append((client, upstream))
            for src, dst, up in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, up), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        while not self._stop.is_set():
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            mode = self.mode
            if mode == "blackhole":
                continue
            if mode == "delay":
                time.sleep(self.delay_s)
            elif mode == "throttle" and self.rate_bps > 0:
                time.sleep(len(data) / self.rate_bps)
            try:
                dst.sendall(data)
            except OSError:
                break
            if up:
                self.stats.bytes_up += len(data)
            else:
                self.stats.bytes_down += len(data)
        for sock in (src, dst):
            try:
                sock.close()
            except OSError:
                pass


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN, as a dead link's router would."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
