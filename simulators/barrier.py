"""A barrier controller on a pty, from a firmware profile (default: the agent's default).

Kept for tests and scripts written before profiles: ``BarrierSim().start()``, ``.path``,
``.go_silent()``, ``.set_fault("motor")``, ``.queries``. New code can use
``SerialSim([SimDevice(profile)])`` directly for any profile.
"""

from __future__ import annotations

from pathlib import Path

from agent.config import DEFAULT_PROFILE
from agent.profiles import load_named
from simulators.device import SimDevice
from simulators.serial_sim import SerialSim


class BarrierSim(SerialSim):
    def __init__(self, profile: str = DEFAULT_PROFILE, address: int | None = None,
                 link: str | Path | None = None):
        self.sim = SimDevice(load_named(profile), address=address)
        super().__init__([self.sim], link)

    def go_silent(self, silent: bool = True) -> None:
        self.sim.go_silent(silent)

    def set_fault(self, name: str | None) -> None:
        self.sim.set_fault(name)

    @property
    def queries(self) -> int:
        return self.sim.requests
