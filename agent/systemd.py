"""sd_notify without libsystemd: READY, WATCHDOG, STATUS and STOPPING over NOTIFY_SOCKET.

systemd passes an AF_UNIX datagram socket path in ``NOTIFY_SOCKET`` (a leading ``@`` means
the abstract namespace) and, with ``WatchdogSec=``, the interval in ``WATCHDOG_USEC`` (for
the process ``WATCHDOG_PID``, when set). Outside systemd every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

log = logging.getLogger("parkwatch.agent.systemd")


class Notifier:
    def __init__(self, env: dict | None = None):
        env = os.environ if env is None else env
        addr = env.get("NOTIFY_SOCKET") or None
        if addr and addr.startswith("@"):
            addr = "\0" + addr[1:]
        self.addr = addr
        self.watchdog_s: float | None = None
        usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
        try:
            if usec and (not pid or int(pid) == os.getpid()):
                self.watchdog_s = int(usec) / 1e6 or None
        except ValueError:
            log.warning("ignoring a malformed WATCHDOG_USEC=%r / WATCHDOG_PID=%r", usec, pid)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) if addr else None
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, *fields: str) -> bool:
        if self._sock is None:
            return False
        try:
            self._sock.sendto("\n".join(fields).encode(), self.addr)
        except OSError as e:
            if not self._failed:  # once: a vanished socket must not flood the log
                self._failed = True
                log.warning("cannot notify systemd at %s: %s", self.addr, e)
            return False
        self._failed = False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def stuck_loops(beats: dict[str, float], now_mono: float, limit_s: float) -> list[str]:
    """The loops that have not turned for longer than ``limit_s`` (pure)."""
    return sorted(name for name, t in beats.items() if now_mono - t > limit_s)


def supervise(agent, notifier: Notifier, stop: threading.Event, *,
              stall_s: float | None = None, tick_s: float | None = None) -> None:
    """The main loop: keep the agent's threads turning and tell systemd so, until ``stop``.
    ``agent`` is an ``agent.service.Agent``.

    The watchdog ping is withheld while any loop is stuck, so systemd restarts us
    (``WatchdogSec``); the outbox makes that restart lose nothing.
    """
    m = agent.cfg.mqtt
    stall_s = stall_s or max(30.0, 2 * m.connect_timeout_s + 10)
    tick_s = tick_s or (min(2.0, notifier.watchdog_s / 3) if notifier.watchdog_s else 2.0)
    notifier.ready("starting")
    stuck_before: list[str] = []
    last_status = ""
    while not stop.wait(tick_s):
        stuck = agent.check(stall_s)
        if not stuck:
            notifier.watchdog()
        elif stuck != stuck_before:
            log.error("stuck: %s; withholding the systemd watchdog so that systemd restarts "
                      "the agent", ", ".join(stuck))
        stuck_before = stuck
        status = (f"broker {'connected' if agent.connected.is_set() else 'unreachable'}, "
                  f"outbox {agent.outbox.depth} event(s)")
        if status != last_status:
            notifier.status(status)
            last_status = status
