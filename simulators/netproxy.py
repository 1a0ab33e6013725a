"""A TCP proxy between an agent and its broker that can cut the uplink on command.

Modes:
- ``pass``: forward bytes both ways.
- ``drop``: reset every connection and stop listening, so new connects are refused (a
  cable pulled on a router that answers with RST/ICMP).
- ``blackhole``: nothing gets through in either direction, not even a close: a path that
  silently eats packets, where only MQTT keepalive can notice. As over a real TCP path,
  the bytes are not lost but held (TCP would retransmit them): when the mode changes they
  are delivered, and a close made meanwhile reaches the other side then. A connection
  opened during the blackhole never reaches the upstream (its handshake would not have
  got through) and is reset when the blackhole ends.
- ``delay``: forward, each chunk held ``delay_s`` (in order).
- ``throttle``: forward at most ``rate_bps`` bytes per second per direction.

Used by the fault tests (tests/faults) and scriptable from a shell with
``parkwatch sim proxy --listen-port N --upstream HOST:PORT``, where each line on stdin is
a command: ``pass``, ``drop``, ``blackhole``, ``delay 0.5``, ``throttle 2000``, ``stats``.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

from simulators.ports import HeldPort

log = logging.getLogger("parkwatch.netproxy")

MODES = ("pass", "drop", "blackhole", "delay", "throttle")
TICK_S = 0.05  # how often an idle pump looks at the mode (flushes held bytes after a blackhole)
REBIND_S = 5.0  # how long listening again on the port may be retried while it is busy


@dataclass
class ProxyStats:
    accepted: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    resets: int = 0
    held: int = 0       # bytes held back by a blackhole (delivered when it ends)
    closed_by_client: int = 0  # connections the client side closed (seen by the proxy)


@dataclass
class _Conn:
    client: socket.socket
    upstream: socket.socket | None  # None: opened during a blackhole, never connected
    held: dict[bool, bytearray] = field(default_factory=lambda: {True: bytearray(),
                                                                  False: bytearray()})
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: bool = False

    def sockets(self) -> list[socket.socket]:
        return [s for s in (self.client, self.upstream) if s is not None]


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
        self._conns: list[_Conn] = []
        self._listener: socket.socket | None = None
        self._held: HeldPort | None = None  # the port, ours from start() to stop()
        self._stop = threading.Event()

    # --- control -----------------------------------------------------------------------

    def start(self) -> NetProxy:
        try:
            self._listen()
        except OSError:
            if self._held is not None:
                self._held.close()
            raise
        return self

    def set_mode(self, mode: str, value: float | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        if mode == "delay" and value is not None and value < 0:
            raise ValueError(f"delay must not be negative; got {value}")
        if mode == "throttle" and value is not None and value <= 0:
            raise ValueError(f"throttle needs a positive rate in bytes/s; got {value}")
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
        if previous == "blackhole" and mode != "blackhole":
            self._reset_unconnected()

    def command(self, line: str) -> str:
        """One text command (the shell interface); returns a reply line."""
        parts = line.split()
        if not parts:
            return "ok"
        if parts[0] == "stats":
            return "ok " + " ".join(f"{k}={v}" for k, v in asdict(self.stats).items())
        try:
            if len(parts) > 2:
                raise ValueError(f"one mode and at most one number, got {line.strip()!r}")
            self.set_mode(parts[0], float(parts[1]) if len(parts) > 1 else None)
        except ValueError as e:
            return f"error: {e}"
        return f"ok {self.mode}"

    def stop(self) -> None:
        self._stop.set()
        self._close_listener()
        self._reset_all()
        if self._held is not None:
            self._held.close()

    # --- plumbing ------------------------------------------------------------------------

    def _listen(self) -> None:
        """Listen on the proxy's port: the kernel picks it at the first start (port 0), and
        it stays held while ``drop`` has stopped listening, so nothing else can take it and
        the proxy comes back on it. A port still busy is retried for ``REBIND_S``."""
        if self._held is None:
            self._held = HeldPort(self.listen_host, self.port)
            self.port = self._held.port
        deadline = time.monotonic() + REBIND_S
        while True:
            s = socket.socket(socket.AF_INET6 if ":" in self.listen_host else socket.AF_INET)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((self.listen_host, self.port))
                s.listen(64)
                break
            except OSError as e:
                s.close()
                if e.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
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
        for conn in conns:
            self._reset_conn(conn)

    def _reset_unconnected(self) -> None:
        """Connections opened during a blackhole never got through: reset them."""
        with self._lock:
            dead = [c for c in self._conns if c.upstream is None]
            self._conns = [c for c in self._conns if c.upstream is not None]
        for conn in dead:
            self._reset_conn(conn)

    def _reset_conn(self, conn: _Conn) -> None:
        with conn.lock:
            if conn.done:
                return
            conn.done = True
        for sock in conn.sockets():
            _reset(sock)
        self.stats.resets += 1

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.stats.accepted += 1
            mode = self.mode
            if mode == "drop":
                _reset(client)
                continue
            if mode == "blackhole":  # the handshake would never have reached the upstream
                with self._lock:
                    self._conns.append(_Conn(client, None))
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(TICK_S)
            conn = _Conn(client, upstream)
            with self._lock:
                self._conns.append(conn)
            for up in (True, False):
                threading.Thread(target=self._pump, args=(conn, up), daemon=True,
                                 name=f"proxy-{'up' if up else 'down'}-{self.port}").start()

    def _pump(self, conn: _Conn, up: bool) -> None:
        src, dst = (conn.client, conn.upstream) if up else (conn.upstream, conn.client)
        held = conn.held[up]
        eof = False
        while not self._stop.is_set() and not conn.done:
            if self.mode != "blackhole" and held:
                if not self._send(conn, dst, bytes(held), up):
                    break
                held.clear()
            if eof:
                if self.mode == "blackhole":  # the close cannot get through either
                    time.sleep(TICK_S)
                    continue
                break
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            if not data:
                eof = True
                if up:
                    self.stats.closed_by_client += 1
                continue
            mode = self.mode
            if mode == "blackhole":
                held += data
                self.stats.held += len(data)
                continue
            if mode == "delay":
                time.sleep(self.delay_s)
            elif mode == "throttle" and self.rate_bps > 0:
                time.sleep(len(data) / self.rate_bps)
            if not self._send(conn, dst, data, up):
                break
        self._finish(conn)

    def _send(self, conn: _Conn, dst: socket.socket, data: bytes, up: bool) -> bool:
        # Counted before sending: the reader may look at the stats as soon as it has them.
        if up:
            self.stats.bytes_up += len(data)
        else:
            self.stats.bytes_down += len(data)
        try:
            dst.sendall(data)
        except OSError:
            return False
        return True

    def _finish(self, conn: _Conn) -> None:
        """One direction ended: the connection is over, the other side hears of it now."""
        with conn.lock:
            if conn.done:
                return
            conn.done = True
        with self._lock:
            if conn in self._conns:
                self._conns.remove(conn)
        for sock in conn.sockets():
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
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


def parse_upstream(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) -> (host, port); ValueError says what is wrong."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--upstream must be HOST:PORT, got {text!r}")
    return host, int(port)


def run(listen_port: int, upstream: str, listen_host: str = "127.0.0.1",
        commands=None, out=None) -> int:
    """``parkwatch sim proxy``: proxy until stdin ends, one command per line."""
    commands = sys.stdin if commands is None else commands
    out = sys.stdout if out is None else out
    host, port = parse_upstream(upstream)
    try:
        proxy = NetProxy(port, host, listen_port, listen_host).start()
    except OSError as e:
        raise ValueError(f"cannot listen on {listen_host}:{listen_port}: {e}") from None
    print(f"proxy {listen_host}:{proxy.port} -> {host}:{port}, mode pass; commands on "
          f"stdin: {', '.join(MODES)} (delay S, throttle BYTES_PER_S), stats", file=out,
          flush=True)
    try:
        for line in commands:
            print(proxy.command(line), file=out, flush=True)
    finally:
        proxy.stop()
    return 0
