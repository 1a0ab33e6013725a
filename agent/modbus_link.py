"""Modbus RTU and Modbus TCP through pymodbus' synchronous clients.

Devices on one RS485 bus share one client (pymodbus serialises requests with its own lock).
pymodbus opens the port / connection itself; the gate only spaces out the attempts after a
failure, so a pulled adapter is retried on a backoff schedule without restarting the agent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.framer import FramerType

from agent.links import LinkDown, LinkTimeout
from agent.profiles import DecodeError
from agent.profiles import modbus as _modbus  # noqa: F401  (quietens pymodbus' logger)
from agent.reopen import ReopenGate

_clients: dict[str, ModbusLink] = {}
_clients_lock = threading.Lock()


def acquire(key: str, factory: Callable[[], ModbusLink]) -> ModbusLink:
    with _clients_lock:
        link = _clients.get(key)
        if link is None:
            link = _clients[key] = factory()
        link.users += 1
        return link


def release(link: ModbusLink) -> None:
    with _clients_lock:
        link.users -= 1
        if link.users <= 0:
            _clients.pop(link.key, None)
            link.close()


class ModbusLink:
    def __init__(self, key: str, client, clock: Callable[[], float] = time.monotonic):
        self.key, self.client, self.clock = key, client, clock
        self.gate = ReopenGate()
        self.lock = threading.Lock()
        self.users = 0

    @classmethod
    def rtu(cls, port: str, baud: int, parity: str, stop_bits: int, data_bits: int,
            timeout_s: float) -> ModbusLink:
        return cls(port, ModbusSerialClient(port, framer=FramerType.RTU, baudrate=baud,
                                            parity=parity, stopbits=stop_bits,
                                            bytesize=data_bits, timeout=timeout_s, retries=0))

    @classmethod
    def tcp(cls, host: str, port: int, timeout_s: float) -> ModbusLink:
        return cls(f"{host}:{port}", ModbusTcpClient(host, port=port, timeout=timeout_s,
                                                     retries=0))

    def read(self, function: str, address: int, count: int, unit: int) -> list[int]:
        with self.lock:
            if not self.client.connected:
                now = self.clock()
                if not self.gate.may_try(now):
                    raise LinkDown(f"{self.key}: not reopened yet")
                if not self.client.connect():
                    self.gate.failed(now)
                    raise LinkDown(f"{self.key}: cannot open")
                self.gate.succeeded()
            try:
                response = getattr(self.client, function)(address, count=count, device_id=unit)
            except ConnectionException as e:
                self.client.close()
                self.gate.failed(self.clock())
                raise LinkDown(f"{self.key}: {e}") from None
            except ModbusException as e:  # no (acceptable) answer in time
                raise LinkTimeout(f"{self.key} unit {unit}: {e}") from None
            except OSError as e:
                self.client.close()
                self.gate.failed(self.clock())
                raise LinkDown(f"{self.key}: {e}") from None
        if response.isError():
            raise DecodeError("modbus", f"unit {unit} answered Modbus exception "
                                        f"{getattr(response, 'exception_code', '?')}")
        if len(response.registers) != count:
            raise DecodeError("modbus", f"asked {count} registers, got "
                                        f"{len(response.registers)}")
        return list(response.registers)

    def close(self) -> None:
        self.client.close()
