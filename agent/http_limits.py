"""Bounds on what an HTTP device can make one poll cost: time and bytes.

httpx's timeouts are per socket operation, so a device that trickles one byte a second
(headers or body) would hold a poll for as long as it likes. ``DeadlineTransport`` gives
every socket operation of a poll (connect, TLS, each read and write, both legs of a digest
challenge) only what is left of the poll's total deadline: past it, the read raises a
timeout and the connection is dropped. The size cap is checked by the link while it
streams the body (``agent.net_links.HttpLink``).
"""

from __future__ import annotations

import threading
import time

import httpcore
import httpx


class Deadline:
    """The current poll's deadline (monotonic), per thread: one poller thread per link."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._local = threading.local()

    def start(self, seconds: float) -> None:
        self._local.at = self.clock() + seconds

    def clear(self) -> None:
        self._local.at = None

    def left(self, timeout: float | None, exc: type[Exception]) -> float | None:
        """``timeout`` cut to what remains; raises ``exc`` when nothing does."""
        at = getattr(self._local, "at", None)
        if at is None:
            return timeout
        left = at - self.clock()
        if left <= 0:
            raise exc("the poll's deadline passed")
        return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline):
        self.inner, self.deadline = inner, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, self.deadline.left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, self.deadline.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        timeout = self.deadline.left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.start_tls(ssl_context, server_hostname, timeout),
                       self.deadline)

    def get_extra_info(self, info: str):
        return self.inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, deadline: Deadline):
        self.inner, self.deadline = httpcore.SyncBackend(), deadline

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout = self.deadline.left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.connect_tcp(host, port, timeout, local_address,
                                              socket_options), self.deadline)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        timeout = self.deadline.left(timeout, httpcore.ConnectTimeout)
        return _Stream(self.inner.connect_unix_socket(path, timeout, socket_options),
                       self.deadline)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport, its connections made through the deadline-keeping backend."""

    def __init__(self, deadline: Deadline):
        super().__init__()
        # httpx builds its pool in __init__ without a way to pass a network backend; the
        # replacement keeps httpx's defaults (TLS context, HTTP/1.1, pool limits).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=4,
            max_keepalive_connections=2, keepalive_expiry=5.0, http1=True, http2=False,
            network_backend=_Backend(deadline))
