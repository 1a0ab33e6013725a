"""``parkwatch sim site``: every device of a site's agent config, simulated from its profile.

Serial devices get a pseudo-terminal per bus (devices sharing a port share the pty, each
answering its own address); TCP, Modbus TCP and HTTP devices get a port on 127.0.0.1. The
site can write a copy of the agent config pointing at the simulators, so
``parkwatch agent run`` can poll them as they are.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from agent.config import AgentConfig, DeviceConfig
from parkwatch.core.conf import load_toml
from simulators.control import ControlServer
from simulators.device import SimDevice
from simulators.net_sim import HttpSim, TcpSim
from simulators.serial_sim import SerialSim


class SimSite:
    def __init__(self, cfg: AgentConfig, link_dir: Path | None = None, control_port: int = 0):
        self.cfg = cfg
        self.devices: dict[str, SimDevice] = {}
        self.engines: list = []
        self.endpoints: dict[str, dict[str, str]] = {}  # device -> the keys the agent needs
        buses: dict[str, list[tuple[DeviceConfig, SimDevice]]] = {}
        hosts: dict[str, list[tuple[DeviceConfig, SimDevice]]] = {}
        for dev in cfg.devices:
            profile = dev.load_profile()
            dev = dev.resolved(profile)
            sim = SimDevice(profile, dev.name, dev.address)
            self.devices[dev.name] = sim
            if profile.kind in ("serial", "modbus_rtu"):
                buses.setdefault(dev.port, []).append((dev, sim))
            elif profile.kind == "http":
                engine = HttpSim(sim)
                self.engines.append(engine)
                self.endpoints[dev.name] = {"url": engine.url}
            else:
                hosts.setdefault(dev.host, []).append((dev, sim))
        self.plugs = {}
        self.ttys: dict[str, SerialSim] = {}
        for port, members in buses.items():
            link = link_dir / Path(port).name if link_dir else None
            engine = SerialSim([sim for _, sim in members], link)
            self.engines.append(engine)
            for dev, _ in members:
                self.endpoints[dev.name] = {"port": engine.path}
                self.plugs[dev.name] = self._plug(engine)
                self.ttys[dev.name] = engine
        for members in hosts.values():
            engine = TcpSim([sim for _, sim in members])
            self.engines.append(engine)
            for dev, _ in members:
                self.endpoints[dev.name] = {"host": engine.address}
        self.control = ControlServer(self.devices, port=control_port, plugs=self.plugs)

    @staticmethod
    def _plug(engine: SerialSim):
        def plug(plugged: bool) -> None:
            if plugged:
                engine.replug()
            else:
                engine.unplug()
        return plug

    def start(self) -> SimSite:
        for engine in self.engines:
            engine.start()
        self.control.start()
        return self

    def stop(self) -> None:
        self.control.stop()
        for engine in self.engines:
            engine.stop()

    def describe(self) -> str:
        lines = []
        for dev in self.cfg.devices:
            sim = self.devices[dev.name]
            where = ", ".join(f"{k} {v}" for k, v in self.endpoints[dev.name].items())
            engine = self.ttys.get(dev.name)
            if engine is not None and engine.link is not None:
                where += f" -> {engine.tty}"  # the pty behind the stable path
            addr = f" address {sim.address}" if sim.address is not None else ""
            lines.append(f"  {dev.name:<16} {sim.profile.id:<16} {sim.profile.kind:<10} "
                         f"{where}{addr}")
        return "\n".join(lines)

    def write_agent_config(self, source: Path, target: Path) -> None:
        """The agent config ``source`` with every device pointed at its simulator."""
        data = dict(load_toml(source).data)
        devices = []
        for d in data.get("devices", []):
            d = {k: v for k, v in d.items() if k not in ("port", "host", "url")}
            d.update(self.endpoints[d["name"]])
            devices.append(d)
        data["devices"] = devices
        target.write_text(to_toml(data))


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {v!r} as TOML")


def to_toml(data: dict) -> str:
    """Enough TOML for an agent config: scalars, inline tables, arrays of tables."""
    out = [f"{k} = {_value(v)}" for k, v in data.items()
           if not (isinstance(v, list) and v and all(isinstance(x, dict) for x in v))
           and not isinstance(v, dict)]
    for k, v in data.items():
        if isinstance(v, dict):
            out += ["", f"[{k}]"] + [f"{kk} = {_value(vv)}" for kk, vv in v.items()]
    for k, v in data.items():
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for table in v:
                out += ["", f"[[{k}]]"] + [f"{kk} = {_value(vv)}" for kk, vv in table.items()]
    return "\n".join(out) + "\n"


def run(config: str, control_port: int = 0, write_config: str | None = None,
        link_dir: str | None = None, duration_s: float | None = None) -> int:
    from agent import config as agent_config

    cfg = agent_config.load(config)
    site = SimSite(cfg, Path(link_dir) if link_dir else None, control_port).start()
    try:
        print(f"simulating {len(site.devices)} devices of {cfg.project}/{cfg.site}:\n"
              f"{site.describe()}\ncontrol: {site.control.url}/devices  (see docs/profiles.md)",
              flush=True)
        if write_config:
            site.write_agent_config(Path(config), Path(write_config))
            print(f"agent config for these simulators: {write_config}", flush=True)
        threading.Event().wait(duration_s)
    except KeyboardInterrupt:
        pass
    finally:
        site.stop()
    sys.stdout.flush()
    return 0
