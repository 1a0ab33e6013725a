"""Request/reply over a serial port (RS232/RS485); the only place pyserial is used.

Devices on one RS485 bus share one ``SerialLink`` (``acquire`` by port path), so their
pollers take turns on the line. A port that fails (USB adapter pulled, pty gone) is closed;
the device's polls then fail (and it goes offline after N), while reopening is attempted on
a tenacity backoff schedule, so the agent never needs a restart.

pyserial opens and configures the port; the exchange itself is a few plain system calls on
its descriptor (write, drain, then wait for input with the poll's remaining time and read
whatever has arrived) instead of pyserial's ``read(in_waiting)`` loop, which cost an ioctl
and a select per call and woke every 20 ms while the device was still thinking.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import termios
import threading
import time
from collections.abc import Callable
from typing import Any

import serial

from agent.links import LinkDown, LinkTimeout
from agent.profiles.framing import FrameReader
from agent.profiles.schema import Framing
from agent.reopen import ReopenGate

log = logging.getLogger("parkwatch.agent.serial")

_links: dict[str, SerialLink] = {}
_links_lock = threading.Lock()


def acquire(port: str, baud: int, parity: str = "N", stop_bits: int = 1,
            data_bits: int = 8) -> SerialLink:
    """The link for ``port``, shared by every device on that bus."""
    with _links_lock:
        link = _links.get(port)
        if link is None:
            link = _links[port] = SerialLink(port, baud, parity, stop_bits, data_bits)
        link.users += 1
        return link


def release(link: SerialLink) -> None:
    with _links_lock:
        link.users -= 1
        if link.users <= 0:
            _links.pop(link.port, None)
            link.close()


class SerialLink:
    def __init__(self, port: str, baud: int, parity: str = "N", stop_bits: int = 1,
                 data_bits: int = 8, clock: Callable[[], float] = time.monotonic):
        self.port, self.baud, self.parity = port, baud, parity
        self.stop_bits, self.data_bits = stop_bits, data_bits
        self.clock = clock
        self.lock = threading.Lock()
        self.gate = ReopenGate()
        self.users = 0
        self.opens = 0
        self._serial: serial.Serial | None = None
        self._poll: select.poll | None = None  # waits for input on the open port


    def exchange(self, request: bytes, framing: Framing, accept: Callable[[bytes], Any],
                 timeout_s: float, on_noise: Callable[[int], None] | None = None) -> Any:
        """Send ``request``; return the first frame ``accept`` takes, within ``timeout_s``."""
        with self.lock:
            ser = self._open()
            reader = FrameReader(framing)
            try:
                ser.reset_input_buffer()  # a late answer to the last poll is stale now
                self._write_all(ser.fileno(), request)
                ser.flush()  # tcdrain: the request is on the line before the clock starts
                deadline = self.clock() + timeout_s
                while True:
                    data = self._read_available(ser.fileno(), deadline - self.clock())
                    for frame in reader.feed(data):
                        result = accept(frame)
                        if result is not None:
                            return result
                    if self.clock() >= deadline:
                        raise LinkTimeout(f"no answer on {self.port} within {timeout_s}s")
            except (serial.SerialException, OSError, termios.error) as e:
                # termios.error: tcflush on a pty whose other side is gone
                self._lost(e)
                raise LinkDown(f"{self.port}: {e}") from None
            finally:
                if on_noise is not None and reader.noise:
                    on_noise(reader.noise)  # line noise skipped around the frames

    def _read_available(self, fd: int, wait_s: float) -> bytes:
        """What has arrived, waiting up to ``wait_s`` for the first byte; b"" if nothing."""
        try:
            if not self._poll.poll(max(0, int(wait_s * 1000 + 0.999))):
                return b""
            data = os.read(fd, 4096)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EINTR):
                return b""
            raise
        if not data:  # what pyserial says of a port that is ready but reads nothing
            raise serial.SerialException("device reports readiness to read but returned no "
                                         "data (device disconnected or multiple access on "
                                         "port?)")
        return data

    @staticmethod
    def _write_all(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                pass
            if view:  # the output buffer is full: wait until the line takes more
                waiter = select.poll()
                waiter.register(fd, select.POLLOUT)
                waiter.poll()

    def _open(self) -> serial.Serial:
        if self._serial is not None:
            return self._serial
        now = self.clock()
        if not self.gate.may_try(now):
            raise LinkDown(f"{self.port}: not reopened yet (retry in "
                           f"{self.gate.next_at - now:.1f}s)")
        try:
            self._serial = serial.Serial(self.port, self.baud, bytesize=self.data_bits,
                                         parity=self.parity, stopbits=self.stop_bits,
                                         timeout=0.02)
        except (serial.SerialException, OSError, ValueError, termios.error) as e:
            delay = self.gate.failed(now)
            level = logging.WARNING if self.gate.failures == 1 else logging.DEBUG
            log.log(level, "cannot open %s: %s; retrying in %.1fs", self.port, e, delay)
            raise LinkDown(f"{self.port}: {e}") from None
        self._poll = select.poll()
        self._poll.register(self._serial.fileno(), select.POLLIN | select.POLLPRI)
        if self.gate.failures:
            log.info("reopened %s after %d failed attempts", self.port, self.gate.failures)
        self.gate.succeeded()
        self.opens += 1
        return self._serial

    def _lost(self, error: Exception) -> None:
        log.warning("serial port %s failed: %s; closing it and reopening with backoff",
                    self.port, error)
        self.close()
        self.gate.failed(self.clock())

    def close(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except (serial.SerialException, OSError):
                pass
            self._serial = self._poll = None
