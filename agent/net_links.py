"""Device links over the LAN: a framed protocol on a TCP connection, and HTTP."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.links import MAX_REPLY_BYTES, LinkDown, LinkTimeout
from agent.profiles import DecodeError
from agent.profiles.framing import FrameReader
from agent.profiles.schema import Framing
from agent.reopen import ReopenGate

log = logging.getLogger("parkwatch.agent.net")
# httpx logs every request at INFO: one line per poll per camera. Our poller logs changes.
logging.getLogger("httpx").setLevel(logging.WARNING)


def split_host(value: str, default_port: int | None) -> tuple[str, int | None]:
    """``host`` or ``host:port`` (``[v6]:port``) -> (host, port)."""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if value.count(":") == 1:
        host, port = value.split(":")
        return host, int(port)
    return value, default_port


class TcpLink:
    """One persistent connection; reconnects with backoff after it fails."""

    def __init__(self, host: str, port: int, clock: Callable[[], float] = time.monotonic):
        self.host, self.port, self.clock = host, port, clock
        self.gate = ReopenGate()
        self.lock = threading.Lock()
        self.connects = 0
        self._sock: socket.socket | None = None

    def exchange(self, request: bytes, framing: Framing, accept: Callable[[bytes], Any],
                 timeout_s: float, on_noise: Callable[[int], None] | None = None) -> Any:
        with self.lock:
            sock = self._connect(timeout_s)
            reader = FrameReader(framing)
            try:
                self._drain(sock)
                sock.sendall(request)
                deadline = self.clock() + timeout_s
                received = 0
                while True:
                    remaining = deadline - self.clock()
                    if remaining <= 0:
                        raise TimeoutError
                    sock.settimeout(remaining)
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionResetError("the device closed the connection")
                    received += len(data)
                    if received > MAX_REPLY_BYTES:  # a flood, never the answer: start afresh
                        self.close()
                        raise DecodeError("framing", f"{self.host}:{self.port} sent more than "
                                                     f"{MAX_REPLY_BYTES} bytes without an answer")
                    for frame in reader.feed(data):
                        result = accept(frame)
                        if result is not None:
                            return result
            except TimeoutError:
                # The answer may still come; a fresh connection cannot confuse it with the next.
                self.close()
                raise LinkTimeout(f"no answer from {self.host}:{self.port} within "
                                  f"{timeout_s}s") from None
            except OSError as e:
                self.close()
                self.gate.failed(self.clock())
                raise LinkDown(f"{self.host}:{self.port}: {e}") from None
            finally:
                if on_noise is not None and reader.noise:
                    on_noise(reader.noise)  # bytes skipped around the frames

    @staticmethod
    def _drain(sock: socket.socket) -> None:
        """Drop what the device pushed since the last poll (heartbeats, events).

        At most ``MAX_REPLY_BYTES``: a device that floods the line cannot keep us here."""
        sock.setblocking(False)
        dropped = 0
        try:
            while dropped <= MAX_REPLY_BYTES and (data := sock.recv(65536)):
                dropped += len(data)
        except (BlockingIOError, InterruptedError):
            pass
        finally:
            sock.setblocking(True)

    def _connect(self, timeout_s: float) -> socket.socket:
        if self._sock is not None:
            return self._sock
        now = self.clock()
        if not self.gate.may_try(now):
            raise LinkDown(f"{self.host}:{self.port}: not reconnected yet")
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=timeout_s)
        except OSError as e:
            delay = self.gate.failed(now)
            level = logging.WARNING if self.gate.failures == 1 else logging.DEBUG
            log.log(level, "cannot connect to %s:%s: %s; retrying in %.1fs", self.host,
                    self.port, e, delay)
            raise LinkDown(f"{self.host}:{self.port}: {e}") from None
        self.gate.succeeded()
        self.connects += 1
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None


class HttpLink:
    """GETs (or POSTs) the profile's paths under the device's base URL.

    One fetch is bounded in time (``timeout_s`` in all, however the device trickles its
    bytes) and in size (``max_bytes`` of body; a compressed reply is refused, so the cap
    counts what is kept in memory). See ``agent.http_limits``.
    """

    def __init__(self, base_url: str, timeout_s: float, auth: tuple[str, str] | None = None,
                 max_bytes: int = MAX_REPLY_BYTES):
        import httpx

        from agent.http_limits import Deadline, DeadlineTransport

        self._httpx = httpx
        self.timeout_s, self.max_bytes = timeout_s, max_bytes
        self.deadline = Deadline()
        self.client = httpx.Client(base_url=base_url, timeout=timeout_s, follow_redirects=False,
                                   auth=httpx.DigestAuth(*auth) if auth else None,
                                   headers={"Accept-Encoding": "identity"},
                                   transport=DeadlineTransport(self.deadline))

    def fetch(self, method: str, path: str) -> bytes:
        httpx = self._httpx
        self.deadline.start(self.timeout_s)
        try:
            with self.client.stream(method, path) as response:
                if response.status_code != 200:
                    raise DecodeError("transport", f"{method} {path} answered HTTP "
                                                   f"{response.status_code}")
                return self._body(method, path, response)
        except httpx.TimeoutException as e:
            raise LinkTimeout(f"{path}: {e or 'timed out'} (the poll may take "
                              f"{self.timeout_s}s in all)") from None
        except httpx.HTTPError as e:
            raise LinkDown(f"{path}: {e}") from None
        finally:
            self.deadline.clear()

    def _body(self, method: str, path: str, response) -> bytes:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise DecodeError("transport", f"{method} {path} answered a {encoding!r}-encoded "
                                           "body; only uncompressed replies are read")
        too_big = DecodeError("transport", f"{method} {path} answered more than "
                                           f"{self.max_bytes} bytes; the reply was cut off")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise too_big
        body = bytearray()
        for chunk in response.iter_raw():
            body += chunk
            if len(body) > self.max_bytes:
                raise too_big
        return bytes(body)

    def close(self) -> None:
        self.client.close()
