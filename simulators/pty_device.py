"""A serial line on a pseudo-terminal pair: the agent opens ``path`` like a real port.

``link``, when given, is a symlink to the pty (like /dev/serial/by-id/… on a gateway), so
``unplug()`` and ``replug()`` can pull the "USB adapter" and plug a new one in at the same
path, the way a technician would.
"""

from __future__ import annotations

import heapq
import os
import select
import threading
import time
import tty
from pathlib import Path


class PtyDevice:
    """Owns the master side of a pty and answers through ``respond(bytes)``.

    ``respond`` gets each chunk read from the line and returns the bytes to write back at
    once (or b''); ``send_later(delay, data)`` writes after a delay (a late device).
    """

    def __init__(self, link: str | Path | None = None):
        self.link = Path(link) if link else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending: list[tuple[float, int, bytes]] = []
        self._pending_lock = threading.Lock()
        self._counter = 0
        self._open_pty()

    def _open_pty(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.tty = os.ttyname(self._slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(self.tty)
            os.replace(tmp, self.link)
        self.path = str(self.link) if self.link is not None else self.tty

    def respond(self, data: bytes) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def send_later(self, delay_s: float, data: bytes) -> None:
        with self._pending_lock:
            self._counter += 1
            heapq.heappush(self._pending, (time.monotonic() + delay_s, self._counter, data))

    def start(self) -> PtyDevice:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"sim-{self.path}", daemon=True)
        self._thread.start()
        return self

    def _due(self) -> tuple[list[bytes], float]:
        now, out = time.monotonic(), []
        with self._pending_lock:
            while self._pending and self._pending[0][0] <= now:
                out.append(heapq.heappop(self._pending)[2])
            wait = self._pending[0][0] - now if self._pending else 0.1
        return out, min(0.1, max(0.0, wait))

    def _run(self) -> None:
        master = self._master
        while not self._stop.is_set():
            due, wait = self._due()
            try:
                for data in due:
                    os.write(master, data)
                ready, _, _ = select.select([master], [], [], wait)
                if not ready:
                    continue
                data = os.read(master, 4096)
            except (OSError, ValueError):
                return
            reply = self.respond(data)
            if reply:
                try:
                    os.write(master, reply)
                except OSError:
                    return

    def _close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(2)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        with self._pending_lock:
            self._pending.clear()

    def unplug(self) -> None:
        """The adapter is pulled: the line dies and its path disappears."""
        self._close()
        if self.link is not None:
            self.link.unlink(missing_ok=True)

    def replug(self) -> PtyDevice:
        """A (new) adapter is plugged in at the same path."""
        self._open_pty()
        return self.start()

    def stop(self) -> None:
        self._close()
        if self.link is not None and self.link.is_symlink():
            self.link.unlink(missing_ok=True)
