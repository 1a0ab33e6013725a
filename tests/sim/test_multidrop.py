"""RS485 multi-drop: several devices on one line, each answering only its own address; a
request to an address nobody has gets silence, for raw frames and for Modbus RTU alike."""

from __future__ import annotations

import threading
import time

import pytest
import serial
from pymodbus.client import ModbusSerialClient
from pymodbus.exceptions import ModbusIOException

from agent.config import DeviceConfig
from agent.poller import DevicePoller
from agent.profiles import Codec, load_named
from simulators.device import SimDevice
from simulators.serial_sim import SerialSim
from tests.helpers import wait_for


def read_for(port: serial.Serial, seconds: float) -> bytes:
    deadline, out = time.monotonic() + seconds, b""
    while time.monotonic() < deadline:
        out += port.read(64)
    return out


def test_raw_bus_answers_known_addresses_and_is_silent_for_others():
    profile = load_named("bg-7e7f-invsum")
    a, b = SimDevice(profile, "a", 1), SimDevice(profile, "b", 2)
    b.set_fault("encoder")
    bus = SerialSim([a, b]).start()
    codec = Codec(profile)
    try:
        with serial.Serial(bus.path, 19200, timeout=0.05) as port:
            for address, fault in ((1, "none"), (2, "encoder")):
                port.write(codec.request("status", address))
                reply = codec.decode(read_for(port, 0.3))
                assert (reply.address, reply.fields["fault"]) == (address, fault)
            port.write(codec.request("status", 9))
            assert read_for(port, 0.4) == b""
            port.write(b"\x7e\x01\x50garbage")  # a damaged request: a real device ignores it
            assert read_for(port, 0.2) == b""
        assert (a.requests, b.requests) == (1, 1)
    finally:
        bus.stop()


def test_modbus_rtu_unknown_unit_is_silence_not_an_exception_response():
    profile = load_named("bg-modbus-rtu")
    bus = SerialSim([SimDevice(profile, "a", 1), SimDevice(profile, "b", 2)]).start()
    client = ModbusSerialClient(bus.path, baudrate=9600, timeout=0.3, retries=0)
    try:
        assert client.read_holding_registers(0, count=10, device_id=2).registers[0] == 0
        with pytest.raises(ModbusIOException, match="No response"):
            client.read_holding_registers(0, count=10, device_id=3)
        # A unit that exists answers a read it does not support with a Modbus exception.
        wrong = client.read_holding_registers(100, count=2, device_id=1)
        assert wrong.isError() and wrong.exception_code == 2
    finally:
        client.close()
        bus.stop()


@pytest.mark.parametrize("name", ["bg-5b-xor", "bg-modbus-rtu"])
def test_two_pollers_share_one_bus_and_each_sees_its_own_device(name):
    profile = load_named(name)
    a, b = SimDevice(profile, "a", 1), SimDevice(profile, "b", 2)
    b.set_fault(profile.fault_codes()[0])
    bus = SerialSim([a, b]).start()
    stop = threading.Event()
    pollers = [DevicePoller(DeviceConfig(n, bus.path, profile=name, address=addr,
                                         poll_interval_s=0.05, timeout_s=0.3),
                            lambda out: None) for n, addr in (("a", 1), ("b", 2))]
    threads = [threading.Thread(target=p.run, args=(stop,), daemon=True) for p in pollers]
    try:
        for t in threads:
            t.start()
        wait_for(lambda: all(p.stats["ok"] >= 5 for p in pollers), 10, what="both polled")
        assert [p.monitor.state for p in pollers] == ["ok", "fault"]
        assert sum(p.stats["timeout"] for p in pollers) == 0  # turns taken, no collisions
    finally:
        stop.set()
        for t in threads:
            t.join(5)
        bus.stop()
