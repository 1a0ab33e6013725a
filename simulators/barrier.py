"""The walking-skeleton barrier controller: 5B…5D frames with an XOR checksum."""

from __future__ import annotations

import threading

from agent import frames
from simulators.pty_device import PtyDevice

FAULTS = {name: code for code, name in frames.FAULT_CODES.items() if name}


class BarrierSim(PtyDevice):
    """Answers status queries; tests and scripts can make it silent or faulted."""

    def __init__(self):
        super().__init__()
        self._buf = bytearray()
        self._lock = threading.Lock()
        self.silent = False
        self.fault = 0
        self.arm = 0
        self.queries = 0

    def set_fault(self, name: str | None) -> None:
        with self._lock:
            self.fault = 0 if name is None else FAULTS[name]

    def go_silent(self, silent: bool = True) -> None:
        with self._lock:
            self.silent = silent

    def respond(self, data: bytes) -> bytes:
        self._buf += data
        out = bytearray()
        while True:
            start = self._buf.find(bytes([frames.START]))
            if start < 0:
                self._buf.clear()
                break
            del self._buf[:start]
            if len(self._buf) < 3 or len(self._buf) < self._buf[2] + 5:
                break
            frame = bytes(self._buf[: self._buf[2] + 5])
            del self._buf[: len(frame)]
            try:
                cmd, _ = frames.decode(frame)
            except frames.FrameError:
                continue
            with self._lock:
                self.queries += 1
                if self.silent or cmd != frames.CMD_STATUS_QUERY:
                    continue
                out += frames.status_reply(self.arm, self.fault)
        return bytes(out)
