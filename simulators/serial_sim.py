"""Simulated devices on a serial line (a pty): one device, or several on one RS485 bus."""

from __future__ import annotations

from pathlib import Path

from simulators.device import SimDevice
from simulators.protocols import protocol_for
from simulators.pty_device import PtyDevice


class SerialSim(PtyDevice):
    """Every device given shares the line; each answers only to its own address."""

    def __init__(self, devices: list[SimDevice], link: str | Path | None = None):
        if not devices:
            raise ValueError("a serial line needs at least one device")
        kinds = {d.profile.kind for d in devices}
        if len(kinds) > 1:
            raise ValueError(f"one line cannot carry {', '.join(sorted(kinds))} at once")
        self.devices = {d.address: d for d in devices}
        if len(self.devices) != len(devices):
            raise ValueError("two devices on one line have the same address")
        self.profile = devices[0].profile
        self.protocol = protocol_for(self.profile, self.devices)
        super().__init__(link)

    def respond(self, data: bytes) -> bytes:
        out = bytearray()
        for req in self.protocol.feed(data):
            answer = self.protocol.answer(req)
            if answer is None:
                continue
            if answer.delay_s > 0:
                self.send_later(answer.delay_s, answer.data)
            else:
                out += answer.data
        return bytes(out)

    def device(self, address: int | None = None) -> SimDevice:
        if address is None and len(self.devices) == 1:
            return next(iter(self.devices.values()))
        return self.devices[address]
