"""Polling one device: a link, a decoder and a DeviceMonitor, on a loop.

The loop is a shell; what a poll means is decided by ``DeviceMonitor.observe``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from agent import frames
from agent.config import DeviceConfig
from agent.device import Change, DeviceMonitor, Reading

log = logging.getLogger("parkwatch.agent.poller")


class DevicePoller:
    def __init__(self, dev: DeviceConfig, on_change: Callable[[Change], None],
                 clock: Callable[[], float] = time.time):
        self.dev = dev
        self.monitor = DeviceMonitor(dev.name, dev.offline_after)
        self.on_change = on_change
        self.clock = clock

    def run(self, stop: threading.Event) -> None:
        from agent.serial_link import SerialLink

        link = SerialLink(self.dev.port, self.dev.baud, self.dev.timeout_s)
        try:
            while not stop.is_set():
                started = self.clock()
                change = self.monitor.observe(started, self.poll_once(link))
                if change is not None:
                    log.info("device %s: %s -> %s%s", self.dev.name, change.prev, change.state,
                             f" ({change.fault})" if change.fault else "")
                    self.on_change(change)
                stop.wait(max(0.0, self.dev.poll_interval_s - (self.clock() - started)))
        finally:
            link.close()

    @staticmethod
    def poll_once(link) -> Reading | None:
        reply = link.exchange(frames.status_query())
        if reply is None:
            return None
        try:
            status = frames.parse_status(reply)
        except frames.FrameError as e:
            log.debug("bad reply: %s", e)
            return None
        return Reading(status.state, status.fault, {"arm": status.arm})
