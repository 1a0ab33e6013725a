"""Gateway health for the heartbeat, read with psutil.

Each reading is best effort: a figure psutil cannot give on this machine is left out,
never allowed to stop a heartbeat.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import psutil

log = logging.getLogger("parkwatch.agent.health")


def _uptime_s() -> float:
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME)  # immune to wall-clock steps
    except (AttributeError, OSError):
        return time.time() - psutil.boot_time()


class Health:
    """``read()`` returns the heartbeat's ``health`` object (docs/wire.md)."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.proc = psutil.Process()
        self._failed: set[str] = set()
        # cpu_percent(None) compares with the previous call; prime both counters now.
        psutil.cpu_percent(None)
        self.proc.cpu_percent(None)

    def read(self, **extra) -> dict:
        out: dict = {}
        self._try(out, "cpu", lambda: {"cpu_pct": psutil.cpu_percent(None)})
        self._try(out, "memory", self._memory)
        self._try(out, "disk", self._disk)
        self._try(out, "uptime", lambda: {"uptime_s": round(_uptime_s(), 1)})
        self._try(out, "agent", lambda: {
            "agent_rss_mb": round(self.proc.memory_info().rss / 1e6, 1),
            "agent_cpu_pct": round(self.proc.cpu_percent(None), 1)})
        out.update(extra)
        return out

    def _memory(self) -> dict:
        vm = psutil.virtual_memory()
        return {"mem_pct": vm.percent, "mem_available_mb": round(vm.available / 1e6, 1)}

    def _disk(self) -> dict:
        du = psutil.disk_usage(str(self.data_dir))
        return {"disk_pct": du.percent, "disk_free_mb": round(du.free / 1e6, 1)}

    def _try(self, out: dict, what: str, read) -> None:
        try:
            out.update(read())
        except (OSError, psutil.Error, AttributeError, ValueError) as e:
            if what not in self._failed:  # say it once, not every heartbeat
                self._failed.add(what)
                log.warning("gateway health: cannot read %s (%s); leaving it out", what, e)
