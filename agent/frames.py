"""The small framed serial protocol of the walking-skeleton barrier controller.

Frame: ``5B CMD LEN DATA… XOR 5D`` where XOR is the exclusive-or of CMD, LEN and DATA.
Status query: CMD 0x01, no data. Status reply: CMD 0x81, data = arm position, fault code.
Pure functions on bytes; the serial port lives in ``agent.serial_link``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

START, END = 0x5B, 0x5D
CMD_STATUS_QUERY, CMD_STATUS_REPLY = 0x01, 0x81

ARM_POSITIONS = {0: "closed", 1: "open", 2: "moving"}
FAULT_CODES = {0: None, 1: "motor", 2: "limit_switch", 3: "anti_crush", 4: "arm_stuck_open"}


class FrameError(ValueError):
    pass


@dataclass(frozen=True)
class BarrierStatus:
    arm: str
    fault: str | None

    @property
    def state(self) -> str:
        return "ok" if self.fault is None else "fault"


def xor(data: bytes) -> int:
    return reduce(lambda a, b: a ^ b, data, 0)


def encode(cmd: int, data: bytes = b"") -> bytes:
    body = bytes([cmd, len(data)]) + data
    return bytes([START]) + body + bytes([xor(body), END])


def decode(frame: bytes) -> tuple[int, bytes]:
    if len(frame) < 5:
        raise FrameError(f"frame of {len(frame)} bytes is too short")
    if frame[0] != START or frame[-1] != END:
        raise FrameError("frame does not start with 5B and end with 5D")
    cmd, length = frame[1], frame[2]
    if len(frame) != length + 5:
        raise FrameError(f"length byte says {length} data bytes, frame has {len(frame) - 5}")
    body = frame[1:-2]
    if xor(body) != frame[-2]:
        raise FrameError(f"checksum {frame[-2]:02X} does not match {xor(body):02X}")
    return cmd, frame[3:-2]


def status_query() -> bytes:
    return encode(CMD_STATUS_QUERY)


def status_reply(arm: int, fault: int) -> bytes:
    return encode(CMD_STATUS_REPLY, bytes([arm, fault]))


def parse_status(frame: bytes) -> BarrierStatus:
    cmd, data = decode(frame)
    if cmd != CMD_STATUS_REPLY or len(data) != 2:
        raise FrameError(f"not a status reply (cmd {cmd:02X}, {len(data)} data bytes)")
    arm = ARM_POSITIONS.get(data[0], f"unknown_{data[0]}")
    fault = FAULT_CODES[data[1]] if data[1] in FAULT_CODES else f"code_{data[1]}"
    return BarrierStatus(arm=arm, fault=fault)


def read_frame(read_byte, max_len: int = 260) -> bytes | None:
    """Read one frame through ``read_byte()`` (returns b'' on timeout); None when silent.

    Bytes before a start byte are skipped (line noise on RS485 is common).
    """
    while True:
        b = read_byte()
        if not b:
            return None
        if b[0] == START:
            break
    buf = bytearray(b)
    while len(buf) < max_len:
        b = read_byte()
        if not b:
            return bytes(buf)
        buf += b
        if len(buf) >= 3 and len(buf) == buf[2] + 5:
            return bytes(buf)
    return bytes(buf)
