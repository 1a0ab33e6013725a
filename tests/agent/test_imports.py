"""``parkwatch agent run`` loads what the agent polls and publishes with, and nothing of the
product's other commands: no collector or simulator module, no pymodbus unless a Modbus
device is configured, no httpx unless an HTTP device is, and on a plain (non-TLS) broker
connection not the ssl, hashlib and urllib.request that paho imports (docs/agent.md,
"Footprint"). Each agent here runs in its own process, polls, connects, is stopped with
SIGTERM, and writes the names in its ``sys.modules`` on the way out."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from simulators.barrier import BarrierSim
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]

# ``parkwatch`` is ``parkwatch.cli:main``; this runs the same, and lists sys.modules at exit.
RUN_AND_LIST = """\
import atexit, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
from parkwatch.cli import main
sys.exit(main(sys.argv[2:]))
"""

NOT_FOR_THE_AGENT = ("collector", "simulators", "fastapi", "uvicorn", "sqlite_utils")
PLAIN_MQTT_DEFERS = ("ssl", "_ssl", "hashlib", "_hashlib", "urllib.request", "http.client",
                     "email.message")


def agent_modules(tmp_path: Path, mosquitto, devices: str, ready: tuple[str, ...]) -> set[str]:
    """Run an agent with ``devices`` until its log shows each of ``ready``; its modules."""
    config = tmp_path / "agent.toml"
    config.write_text(f'project = "p1"\nsite = "lot-1"\nbroker = "{mosquitto.url}"\n'
                      f'state_dir = "{tmp_path / "state"}"\nheartbeat_interval_s = 1\n'
                      f'[mqtt]\n{mosquitto.mqtt_toml("p1", "lot-1")}{devices}')
    listing, log = tmp_path / "modules.txt", tmp_path / "agent.log"
    proc = subprocess.Popen([sys.executable, "-c", RUN_AND_LIST, str(listing), "agent", "run",
                             "--config", str(config)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=open(log, "w"))
    try:
        wait_for(lambda: all(r in log.read_text() for r in ready) or proc.poll() is not None,
                 30, what=f"the agent's log to show {ready}")
        assert proc.poll() is None, log.read_text()
    finally:
        proc.terminate()
        proc.wait(15)
    assert proc.returncode == 0, log.read_text()
    return set(listing.read_text().split())


def under(modules: set[str], *roots: str) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in roots or m in roots)


def test_agent_run_with_a_serial_device_loads_no_collector_simulator_modbus_or_tls(
        tmp_path, mosquitto):
    gate = BarrierSim().start()
    try:
        modules = agent_modules(
            tmp_path, mosquitto,
            f'\n[[devices]]\nname = "gate"\nport = "{gate.path}"\npoll_interval_s = 0.2\n',
            ready=("accepted us", "device gate: unknown -> ok"))
    finally:
        gate.stop()
    # The listing is the agent's: it connected and polled over its serial link.
    assert {"agent.service", "agent.serial_link", "serial", "paho.mqtt.client"} <= modules
    assert under(modules, *NOT_FOR_THE_AGENT) == []
    assert under(modules, "pymodbus", "agent.modbus_link", "agent.profiles.modbus") == []
    assert under(modules, "httpx", "httpcore", "agent.http_limits") == []
    assert under(modules, *PLAIN_MQTT_DEFERS) == []


def test_a_modbus_device_is_what_brings_pymodbus_in(tmp_path, mosquitto):
    """The other side of the check above: configure a Modbus device and pymodbus is there
    (its polls fail here: the port is bound but nothing listens)."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        modules = agent_modules(
            tmp_path, mosquitto,
            f'\n[[devices]]\nname = "loops"\nprofile = "loop-modbus-4ch"\n'
            f'host = "127.0.0.1:{port}"\naddress = 1\npoll_interval_s = 0.2\n',
            ready=("accepted us", "device loops: poll failed"))
    assert "pymodbus" in modules and "agent.modbus_link" in modules
    assert under(modules, *NOT_FOR_THE_AGENT) == []


DEFERRING = """\
import sys
sys.path.insert(0, sys.argv[1])
from agent.deferred import NeverRaised, import_deferring

lib = import_deferring("lib", {"colorsys": {"ONE_THIRD": NeverRaised}, "fractions": {}})
assert "colorsys" not in sys.modules and "fractions" not in sys.modules, "loaded early"
assert lib.colorsys.ONE_THIRD is NeverRaised  # nobody has imported colorsys yet
assert lib.half() == 0.5 and "fractions" in sys.modules  # first use: the real module
import colorsys, fractions
assert lib.fractions.Fraction is fractions.Fraction  # one module, not a copy
assert lib.colorsys.ONE_THIRD == colorsys.ONE_THIRD == 1 / 3  # imported now: the real one
print("ok")
"""


def test_a_deferred_module_loads_on_first_use_and_is_the_real_one(tmp_path):
    (tmp_path / "lib.py").write_text("import colorsys\nimport fractions\n\n\n"
                                     "def half():\n    return float(fractions.Fraction(1, 2))\n")
    done = subprocess.run([sys.executable, "-c", DEFERRING, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == "ok\n", done.stderr
