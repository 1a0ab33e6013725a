"""A serial device on a pseudo-terminal pair: the agent opens ``path`` like a real port."""

from __future__ import annotations

import os
import select
import threading
import tty


class PtyDevice:
    """Owns the master side of a pty and answers requests through ``respond(bytes)``.

    ``respond`` gets each chunk read from the line and returns the bytes to write back
    (or b''). Subclasses keep their own parser state.
    """

    def __init__(self):
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def respond(self, data: bytes) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def start(self) -> PtyDevice:
        self._thread = threading.Thread(target=self._run, name=f"sim-{self.path}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            reply = self.respond(data)
            if reply:
                os.write(self._master, reply)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
