"""A request/reply exchange over a serial port; the only place pyserial is used."""

from __future__ import annotations

import logging

import serial

from agent import frames

log = logging.getLogger(__name__)


class SerialLink:
    """Opens the port on first use and again after it failed (a USB adapter pulled)."""

    def __init__(self, port: str, baud: int, timeout_s: float):
        self.port, self.baud, self.timeout_s = port, baud, timeout_s
        self._serial: serial.Serial | None = None
        self._open_error: str | None = None

    def exchange(self, request: bytes) -> bytes | None:
        """Send a request and return the reply frame, or None when nothing came back."""
        try:
            ser = self._open()
            ser.reset_input_buffer()
            ser.write(request)
            ser.flush()
            return frames.read_frame(lambda: ser.read(1))
        except (serial.SerialException, OSError) as e:
            if self._open_error != str(e):
                log.warning("serial port %s: %s", self.port, e)
                self._open_error = str(e)
            self.close()
            return None

    def _open(self) -> serial.Serial:
        if self._serial is None:
            self._serial = serial.Serial(self.port, self.baud, timeout=self.timeout_s)
            self._open_error = None
        return self._serial

    def close(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except (serial.SerialException, OSError):
                pass
            self._serial = None
