"""The agent's Modbus polling against an independent peer: pymodbus' own TCP server, not
the project's simulator (which only borrows pymodbus' framing). What the agent reads is
what the server's registers hold, decoded by the loop-modbus-4ch profile. (The datastore
classes used are pymodbus 3.16's, deprecated for 4.0; the extra pins the minor release.)"""

from __future__ import annotations

import asyncio
import threading

import pytest

from agent.config import DeviceConfig
from agent.poller import DevicePoller, open_link

HEALTHY = [0, 0, 0, 0, 0, 0, 0, 0, 0x1194, 0x120C, 0x1392, 0x0F8C]  # the profile's sample


@pytest.fixture
def pymodbus_server():
    """pymodbus' ModbusTcpServer on a port the kernel picks, in a thread of its own."""
    from pymodbus.datastore import (
        ModbusDeviceContext,
        ModbusSequentialDataBlock,
        ModbusServerContext,
    )
    from pymodbus.server import ModbusTcpServer

    vehicles, broken = list(HEALTHY), list(HEALTHY)
    vehicles[0] = vehicles[3] = 1  # cars on channels 1 and 4
    broken[5] = 1  # channel 2: loop open
    context = ModbusServerContext(devices={  # one detector per unit id on the bus
        unit: ModbusDeviceContext(ir=ModbusSequentialDataBlock(1, regs))  # counted from 1
        for unit, regs in ((1, HEALTHY), (2, vehicles), (3, broken))}, single=False)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start():
        server = ModbusTcpServer(context, address=("127.0.0.1", 0))  # needs its loop
        await server.serve_forever(background=True)
        return server, server.transport.sockets[0].getsockname()[1]

    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    yield port
    asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_the_agent_reads_what_pymodbus_own_server_holds(pymodbus_server):
    def read(unit):
        dev = DeviceConfig(name=f"loops-{unit}", profile="loop-modbus-4ch",
                           host=f"127.0.0.1:{pymodbus_server}", address=unit, timeout_s=1.0,
                           retries=0, poll_interval_s=0.1)
        poller = DevicePoller(dev, lambda out: None)
        link = open_link(poller.dev, poller.profile)
        try:
            return poller.poll_once(link)
        finally:
            link.close()

    assert read(1).state == "ok"
    vehicles = read(2)
    assert vehicles.state == "occupied" and sorted(vehicles.occupied) == ["1", "4"]
    broken = read(3)
    assert (broken.state, broken.fault) == ("fault", "loop_open")
