"""Cutting requests out of a byte stream and finding the device they are for, per protocol
family. Shared by the pty bus and the TCP server, so every transport behaves alike.

A request to an address nobody on the bus has gets silence, as on a real RS485 bus.
(pymodbus' own server would answer it with an exception; here pymodbus only frames.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agent.profiles import DecodeError, Profile
from agent.profiles.framing import FrameReader
from simulators.device import Answer, SimDevice

log = logging.getLogger("parkwatch.sim")


@dataclass(frozen=True)
class Request:
    device: SimDevice
    name: str
    tid: int = 0


class RawProtocol:
    """The profile's own frames (serial or TCP)."""

    def __init__(self, profile: Profile, devices: dict[int | None, SimDevice]):
        self.profile, self.devices = profile, devices
        self.reader = FrameReader(profile.request_framing or profile.framing)
        self.codec = next(iter(devices.values())).codec
        self.rejected = 0

    def feed(self, data: bytes) -> list[Request]:
        out = []
        for frame in self.reader.feed(data):
            try:
                name, address = self.codec.parse_request(frame)
            except DecodeError as e:
                self.rejected += 1  # a real device ignores a frame it cannot read
                log.debug("ignoring request %s: %s", frame.hex(" "), e)
                continue
            if self.profile.address is None:  # point to point: the one device answers
                device = next(iter(self.devices.values()))
            else:
                device = self.devices.get(address)
            if device is not None:
                out.append(Request(device, name))
        return out

    def answer(self, req: Request) -> Answer | None:
        return req.device.answer(req.name, req.tid)


class ModbusProtocol:
    """Modbus RTU or TCP requests, framed by pymodbus."""

    def __init__(self, profile: Profile, devices: dict[int | None, SimDevice]):
        from agent.profiles import modbus

        self.profile, self.devices = profile, devices
        self.kind = profile.kind
        self.framer = modbus.framer(self.kind, True)
        self.buf = b""
        self.rejected = 0
        self.by_read = {(m.function, m.address, m.count): name
                        for name, m in profile.requests.items()}
        self._exceptions: list[tuple[SimDevice, bytes]] = []

    def feed(self, data: bytes) -> list[Request]:
        from agent.profiles import modbus

        self.buf += data
        out = []
        while self.buf:
            try:
                used, pdu = self.framer.handleFrame(self.buf, 0, 0)
            except Exception as e:  # pymodbus refuses an unknown function: skip the frame
                self.rejected += 1
                log.debug("ignoring Modbus bytes: %s", e)
                self.buf = b""
                break
            self.buf = self.buf[used:]
            if pdu is None:
                if not used:
                    break
                continue
            device = self.devices.get(pdu.dev_id)
            if device is None:
                continue  # nobody with that unit id on the bus: silence
            name = self.by_read.get((modbus.function_name(pdu.function_code), pdu.address,
                                     pdu.count))
            if name is None:
                code = modbus.ILLEGAL_ADDRESS if modbus.function_name(pdu.function_code) \
                    else modbus.ILLEGAL_FUNCTION
                self._exceptions.append((device, modbus.build_exception(
                    self.kind, pdu.function_code, code, pdu.dev_id, pdu.transaction_id)))
                out.append(Request(device, "", pdu.transaction_id))
                continue
            out.append(Request(device, name, pdu.transaction_id))
        return out

    def answer(self, req: Request) -> Answer | None:
        if not req.name:
            device, data = self._exceptions.pop(0)
            return None if device.mode == "silent" else Answer(data)
        return req.device.answer(req.name, req.tid)


def protocol_for(profile: Profile, devices: dict[int | None, SimDevice]):
    if profile.kind.startswith("modbus"):
        return ModbusProtocol(profile, devices)
    return RawProtocol(profile, devices)
