"""Checksums used by raw device protocols. Each takes bytes and returns an unsigned int.

The CRC-16 variants follow the catalogue names (reveng): check values over b"123456789" are
MODBUS 0x4B37, CCITT-FALSE 0x29B1, XMODEM 0x31C3, KERMIT 0x2189.
"""

from __future__ import annotations

from binascii import crc_hqx
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from operator import xor


def xor8(data: bytes) -> int:
    return reduce(xor, data, 0)


def sum8(data: bytes) -> int:
    return sum(data) & 0xFF


def sum8_inverted(data: bytes) -> int:
    """One's complement of the 8-bit sum (``~sum``)."""
    return ~sum(data) & 0xFF


def sum8_negated(data: bytes) -> int:
    """Two's complement of the 8-bit sum: data plus checksum sums to zero (an LRC)."""
    return -sum(data) & 0xFF


def _table(poly: int, reflected: bool) -> list[int]:
    table = []
    for byte in range(256):
        if reflected:
            crc = byte
            for _ in range(8):
                crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        else:
            crc = byte << 8
            for _ in range(8):
                crc = ((crc << 1) ^ poly) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return table


def _reflected_crc(poly: int, init: int) -> Callable[[bytes], int]:
    table = _table(poly, True)

    def crc(data: bytes) -> int:
        value = init
        for b in data:
            value = (value >> 8) ^ table[(value ^ b) & 0xFF]
        return value

    return crc


def _plain_crc(poly: int, init: int) -> Callable[[bytes], int]:
    table = _table(poly, False)

    def crc(data: bytes) -> int:
        value = init
        for b in data:
            value = ((value << 8) & 0xFFFF) ^ table[(value >> 8) ^ b]
        return value

    return crc


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE, in C: binascii's CRC-CCITT with the register preset to FFFF."""
    return crc_hqx(data, 0xFFFF)


def crc16_xmodem(data: bytes) -> int:
    return crc_hqx(data, 0)


crc16_modbus = _reflected_crc(0xA001, 0xFFFF)
crc16_kermit = _reflected_crc(0x8408, 0x0000)
# The table-driven versions of the two above, the reference tests hold them to.
_crc16_ccitt_table, _crc16_xmodem_table = _plain_crc(0x1021, 0xFFFF), _plain_crc(0x1021, 0)


@dataclass(frozen=True)
class Algorithm:
    func: Callable[[bytes], int]
    size: int        # bytes of the binary checksum
    endian: str      # the byte order the protocols that use it send it in


ALGORITHMS: dict[str, Algorithm] = {
    "xor": Algorithm(xor8, 1, "big"),
    "sum8": Algorithm(sum8, 1, "big"),
    "sum8_inverted": Algorithm(sum8_inverted, 1, "big"),
    "sum8_negated": Algorithm(sum8_negated, 1, "big"),
    "crc16_modbus": Algorithm(crc16_modbus, 2, "little"),
    "crc16_ccitt": Algorithm(crc16_ccitt, 2, "big"),
    "crc16_xmodem": Algorithm(crc16_xmodem, 2, "big"),
    "crc16_kermit": Algorithm(crc16_kermit, 2, "little"),
}
