"""Modbus through pymodbus: building and parsing ADUs for captured frames, golden vectors and
the simulator. The agent's live polling uses pymodbus' clients (``agent.modbus_link``).

pymodbus does the framing (RTU with CRC-16, or the MBAP header over TCP) and the PDUs; this
module only turns register blocks into the bytes that profile fields are read from. Any
exception pymodbus raises on a bad ADU becomes a ``DecodeError('modbus')``.

``read_registers`` is the decoder's path: a well-formed read-registers response (function 3
or 4, CRC-16 checked with a table, byte count matching the frame) is read directly, about
ten times faster than pymodbus, which formats every PDU for its debug log even when logging
is off. Anything else -- an exception response, a bad CRC, a malformed frame -- goes through
``parse_response`` (pymodbus), so it raises exactly the error it always raised.
"""

from __future__ import annotations

import logging
import struct

from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerRTU, FramerSocket
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadHoldingRegistersResponse,
    ReadInputRegistersRequest,
    ReadInputRegistersResponse,
)

from agent.profiles.checksums import crc16_modbus
from agent.profiles.errors import DecodeError

# pymodbus logs every CRC failure and timeout as an error; parkwatch counts and reports
# those itself, per device, so pymodbus' own log would only repeat them.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

FUNCTIONS = {
    "read_holding_registers": (ReadHoldingRegistersRequest, ReadHoldingRegistersResponse),
    "read_input_registers": (ReadInputRegistersRequest, ReadInputRegistersResponse),
}
ILLEGAL_FUNCTION, ILLEGAL_ADDRESS = 0x01, 0x02
_FRAMERS = {"modbus_rtu": FramerRTU, "modbus_tcp": FramerSocket}


def framer(kind: str, server: bool):
    return _FRAMERS[kind](DecodePDU(server))


_response_framers: dict[str, object] = {}  # stateless: decode() keeps nothing between calls


def _response_framer(kind: str):
    fr = _response_framers.get(kind)
    if fr is None:
        fr = _response_framers[kind] = framer(kind, False)
    return fr


def registers_to_bytes(registers) -> bytes:
    return struct.pack(f">{len(registers)}H", *registers)


def bytes_to_registers(data: bytes) -> list[int]:
    return list(struct.unpack(f">{len(data) // 2}H", data))


def build_request(kind: str, function: str, address: int, count: int, unit: int,
                  tid: int = 1) -> bytes:
    req = FUNCTIONS[function][0](address=address, count=count, dev_id=unit,
                                 transaction_id=tid)
    return framer(kind, False).buildFrame(req)


def build_response(kind: str, function: str, registers: list[int], unit: int,
                   tid: int = 0) -> bytes:
    resp = FUNCTIONS[function][1](registers=registers, dev_id=unit, transaction_id=tid)
    return framer(kind, True).buildFrame(resp)


def build_exception(kind: str, function_code: int, code: int, unit: int, tid: int = 0) -> bytes:
    return framer(kind, True).buildFrame(ExceptionResponse(function_code, code, unit, tid))


def _exact_size(kind: str, decoder: DecodePDU, adu: bytes) -> int:
    """The size of the one ADU at the start of ``adu`` (0 when it cannot be told)."""
    if kind == "modbus_tcp":
        return int.from_bytes(adu[4:6], "big") + 6 if len(adu) >= 8 else 0
    if len(adu) < 4:
        return 0
    pdu_class = decoder.lookupPduClass(adu)
    return pdu_class.calculateRtuFrameSize(adu) if pdu_class else 0


def parse_response(kind: str, adu: bytes) -> ModbusPDU:
    """Exactly one response ADU (CRC / MBAP checked by pymodbus) -> its PDU."""
    fr = _response_framer(kind)
    try:
        size = _exact_size(kind, fr.decoder, adu)
        if size == 0 or size != len(adu):
            raise DecodeError("modbus", f"{len(adu)} bytes are not one Modbus response ADU")
        _, pdu = fr.handleFrame(adu, 0, 0)
    except DecodeError:
        raise
    except (ModbusException, ValueError, IndexError, struct.error, KeyError) as e:
        raise DecodeError("modbus", f"pymodbus cannot decode the ADU: {e}") from None
    if pdu is None:
        raise DecodeError("checksum" if kind == "modbus_rtu" else "modbus",
                          "CRC mismatch or malformed ADU" if kind == "modbus_rtu"
                          else "malformed ADU")
    if pdu.isError():
        raise DecodeError("modbus", f"device answered Modbus exception "
                                    f"{getattr(pdu, 'exception_code', '?')}")
    return pdu


def function_name(code: int) -> str | None:
    return next((n for n, (req, _) in FUNCTIONS.items() if req.function_code == code), None)


_READS = frozenset((3, 4))  # read holding / input registers
_UNPACKERS: dict[int, struct.Struct] = {}


def _unpacker(count: int) -> struct.Struct:
    st = _UNPACKERS.get(count)
    if st is None:
        st = _UNPACKERS[count] = struct.Struct(f">{count}H")
    return st


def read_registers(kind: str, adu: bytes) -> tuple[int, tuple[int, ...], int]:
    """Exactly one read-registers response ADU -> (function code, registers, unit).

    The same answer as ``parse_response`` (tests/agent/test_profile_properties.py checks it on
    random frames); what the direct path does not accept is left to pymodbus."""
    n = len(adu)
    if kind == "modbus_rtu":
        # unit, function, byte count, registers, CRC-16 (little-endian)
        if n >= 5 and adu[1] in _READS and adu[2] + 5 == n and not adu[2] & 1 and \
                crc16_modbus(adu[:-2]) == adu[-2] | adu[-1] << 8:
            return adu[1], _unpacker(adu[2] >> 1).unpack_from(adu, 3), adu[0]
    elif kind == "modbus_tcp":
        # transaction id, protocol id 0, length, unit, function, byte count, registers
        if n >= 9 and adu[7] in _READS and adu[8] + 9 == n and not adu[8] & 1 and \
                adu[4] << 8 | adu[5] == n - 6 and adu[2] == 0 and adu[3] == 0:
            return adu[7], _unpacker(adu[8] >> 1).unpack_from(adu, 9), adu[6]
    pdu = parse_response(kind, adu)
    return pdu.function_code, tuple(pdu.registers), pdu.dev_id
