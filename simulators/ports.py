"""Loopback ports without races.

A server of ours binds port 0 and reports the port the kernel gave it (``NetProxy.port``,
``Collector.port``, the ``collector API on http://...:PORT`` line of ``parkwatch collector
run``, read back with ``port_in_log``). Picking a free port, letting it go and handing the
number to a server is a race: anything may take the port meanwhile, an outgoing connection's
source port among them.

Where the number must be known before the server starts (mosquitto reads it from its config:
mosquitto 2.0's ``listener 0`` means a unix socket) or must stay the same across a restart
(a broker a test stops and starts again, a webhook that is down then up), the port is held
instead: ``HeldPort`` keeps a socket bound to it, with SO_REUSEADDR, that never listens.
While it is held the kernel gives that port to no one else, neither to a bind to port 0 nor
as the source port of a connection; a server that sets SO_REUSEADDR itself (mosquitto,
uvicorn, asyncio, http.server with ``allow_reuse_address``, ``NetProxy``) can still bind and
listen on it. Only a process binding that very number with SO_REUSEADDR could share it, and
nothing here picks numbers any more. Nothing listens on a held port until such a server does,
so a connection to it is refused: it is also "a port where nothing listens".
"""

from __future__ import annotations

import re
import socket
import time
import weakref
from pathlib import Path

COLLECTOR_API = re.compile(r"collector API on http://[^\s:/]+:(\d+)")


class HeldPort:
    """A loopback TCP port that is ours until ``close()`` (or the end of a ``with``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self.port: int = self._sock.getsockname()[1]
        # Let go when closed, or at the latest when nothing refers to this any more.
        self._release = weakref.finalize(self, self._sock.close)

    def close(self) -> None:
        self._release()

    def __enter__(self) -> HeldPort:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HeldPort({self.host}:{self.port})"


def port_in_log(path: Path, proc=None, pattern: re.Pattern = COLLECTOR_API, offset: int = 0,
                timeout: float = 30.0) -> int:
    """The port a server wrote in its log ``path`` (after byte ``offset``: a log appended to
    by several runs), once it has; fails at once if ``proc`` (a ``Popen``) exits first, and
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
        except FileNotFoundError:
            text = ""
        m = pattern.search(text)
        if m:
            return int(m.group(1))
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}) before it said its "
                               f"port; its log {path}:\n{text[-2000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no port in {path} after {timeout:g} s:\n{text[-2000:]}")
        time.sleep(0.05)


def log_size(path: Path) -> int:
    """Where a run's lines will start in a log appended to (``port_in_log``'s ``offset``)."""
    try:
        return Path(path).stat().st_size
    except FileNotFoundError:
        return 0
