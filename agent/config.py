"""The agent's TOML config, validated once, here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from parkwatch.core import wire
from parkwatch.core.broker import (
    Broker,
    MqttOptions,
    Secret,
    mqtt_options,
    parse_broker_url,
    parse_broker_urls,
)
from parkwatch.core.conf import ConfigError, Section, load_toml
from parkwatch.core.wire import WireError, check_id

DEFAULT_PROFILE = "bg-5b-xor"  # the walking skeleton's barrier: configs from before profiles


@dataclass(frozen=True)
class DeviceConfig:
    """One ``[[devices]]`` table. Settings left as None come from the device's profile."""

    name: str
    port: str = ""                    # serial device path (serial, modbus_rtu)
    baud: int | None = None
    poll_interval_s: float | None = None
    timeout_s: float | None = None
    offline_after: int | None = None
    profile: str = DEFAULT_PROFILE    # a shipped profile's name or a path to a .toml file
    address: int | None = None        # bus address / Modbus unit id
    host: str = ""                    # tcp, modbus_tcp: "host" or "host:port"
    url: str = ""                     # http: base URL of the device
    retries: int | None = None
    lane: str = ""                    # the lane in events; default: the device name
    loop_timeout_s: float = 60.0      # a loop occupied longer than this is a loop_timeout
    username: str = ""                # http digest auth
    password: str = ""
    parity: str | None = None         # N, E or O; overrides the profile (DIP switches differ)

    def load_profile(self):
        from agent.profiles import load_named

        return load_named(self.profile)

    def resolved(self, profile=None) -> DeviceConfig:
        """This device with every unset setting taken from its profile."""
        from dataclasses import replace

        p = profile or self.load_profile()
        b, t = p.behaviour, p.transport
        multi = t.multidrop or p.kind.startswith("modbus")
        return replace(
            self, baud=self.baud or t.baud, parity=self.parity or t.parity,
            poll_interval_s=self.poll_interval_s or b.poll_interval_s,
            timeout_s=self.timeout_s or b.timeout_s,
            offline_after=self.offline_after or b.offline_after,
            retries=b.retries if self.retries is None else self.retries,
            address=self.address if self.address is not None else (1 if multi else None),
            lane=self.lane or self.name)


@dataclass(frozen=True)
class ProcessConfig:
    """One ``[[processes]]`` entry: a process of the site's parking software to watch."""

    name: str
    process: str | None = None   # the process name exactly (as ``ps -o comm`` shows it)
    cmdline: str | None = None   # a substring of its command line


@dataclass(frozen=True)
class AgentConfig:
    project: str
    site: str
    broker: Broker
    state_dir: Path
    heartbeat_interval_s: float = 10.0
    devices: tuple[DeviceConfig, ...] = field(default_factory=tuple)
    mqtt: MqttOptions = field(default_factory=MqttOptions)
    outbox_max_mb: float = 64.0
    processes: tuple[ProcessConfig, ...] = field(default_factory=tuple)
    process_check_s: float = 2.0
    more_brokers: tuple[Broker, ...] = ()  # the rest of a ``broker = [...]`` list

    @property
    def brokers(self) -> tuple[Broker, ...]:
        """Every broker the agent may use, in the order it tries them."""
        return (self.broker, *self.more_brokers)


def _id(section: Section, key: str, default=None) -> str:
    value = section.str(key) if default is None else section.str(key, default)
    try:
        return check_id(value, key)
    except WireError as e:
        raise section.error(key, str(e)) from None


_PARITY = {"none": "N", "even": "E", "odd": "O"}


def _device(d: Section) -> DeviceConfig:
    from agent.profiles import UnknownProfile, load_named

    ref = d.str("profile", DEFAULT_PROFILE)
    try:
        profile = load_named(ref, d.file.parent)  # a ProfileError names the profile's file
    except UnknownProfile as e:
        raise d.error("profile", e.problem) from None
    if ref.endswith(".toml") or "/" in ref:
        ref = str(profile.path)
    kind = profile.kind
    need = {"serial": "port", "modbus_rtu": "port", "tcp": "host", "modbus_tcp": "host",
            "http": "url"}[kind]
    address = d.int("address", None, minimum=0)
    if address is not None and address > (247 if kind.startswith("modbus") else 255):
        raise d.error("address", f"must be at most {247 if kind.startswith('modbus') else 255}")
    dev = DeviceConfig(
        name=_id(d, "name"), port=d.str("port", ""), baud=d.int("baud", None, minimum=300),
        poll_interval_s=d.number("poll_interval_s", None, positive=True),
        timeout_s=d.number("timeout_s", None, positive=True),
        offline_after=d.int("offline_after", None, minimum=1), profile=ref, address=address,
        host=d.str("host", ""), url=d.str("url", ""), retries=d.int("retries", None, minimum=0),
        lane=d.str("lane", ""), loop_timeout_s=d.number("loop_timeout_s", 60.0, positive=True),
        username=d.str("username", ""), password=d.str("password", ""),
        parity=_PARITY.get(d.choice("parity", tuple(_PARITY), None)))
    if not getattr(dev, need):
        raise d.error(need, f"is missing (profile {profile.id} talks {kind})")
    if dev.url and not dev.url.startswith(("http://", "https://")):
        raise d.error("url", f"must start with http:// or https://, got {dev.url!r}")
    d.done()
    return dev.resolved(profile)


def _check_shared_ports(top: Section, devices: list[DeviceConfig]) -> None:
    """Devices on one RS485 bus share the line: same speed, same protocol family, and
    distinct addresses."""
    by_port: dict[str, list[DeviceConfig]] = {}
    for dev in devices:
        if dev.port:
            by_port.setdefault(dev.port, []).append(dev)
    for port, devs in by_port.items():
        if len(devs) < 2:
            continue
        first, profiles = devs[0], [d.load_profile() for d in devs]
        for dev, profile in zip(devs[1:], profiles[1:], strict=True):
            if dev.baud != first.baud:
                raise top.error("devices", f"{first.name} and {dev.name} share {port} at "
                                           f"different baud rates")
            if (profile.kind == "modbus_rtu") != (profiles[0].kind == "modbus_rtu"):
                raise top.error("devices", f"{first.name} and {dev.name} share {port} but "
                                           "only one of them speaks Modbus")
        addresses = [d.address for d in devs]
        for dev in devs:
            if not dev.load_profile().transport.multidrop and \
                    not dev.load_profile().kind.startswith("modbus"):
                raise top.error("devices", f"{dev.name} shares {port} but its profile is not "
                                           "multi-drop")
            if addresses.count(dev.address) > 1:
                raise top.error("devices", f"two devices on {port} have address {dev.address}")


def load(path: str | Path) -> AgentConfig:
    top = load_toml(path)
    brokers = [Broker(b.host, b.port, b.tls, top.int("keepalive_s", 30, minimum=5))
               for b in parse_broker_urls(top, "broker")]
    broker = brokers[0]
    devices = [_device(d) for d in top.tables("devices", optional=True)]
    names = [d.name for d in devices]
    if len(devices) > wire.MAX_DEVICES:  # the collector would reject every heartbeat
        raise top.error("devices", f"{len(devices)} devices; at most {wire.MAX_DEVICES} "
                                   "per agent (docs/wire.md, Limits)")
    for name in names:
        if names.count(name) > 1:
            raise top.error("devices", f"device name {name!r} is used twice")
    _check_shared_ports(top, devices)
    cfg = AgentConfig(
        project=_id(top, "project"), site=_id(top, "site"),
        broker=broker, more_brokers=tuple(brokers[1:]),
        state_dir=Path(top.str("state_dir", "/var/lib/parkwatch")),
        heartbeat_interval_s=_heartbeat_interval(top),
        devices=tuple(devices),
        mqtt=mqtt_options(top, broker.tls),
        outbox_max_mb=_outbox(top),
        processes=_processes(top),
        process_check_s=top.number("process_check_s", 2.0, minimum=0.1))
    top.done()
    return cfg


def _outbox(top: Section) -> float:
    o = top.table("outbox", optional=True)
    max_mb = o.number("max_mb", 64.0, minimum=0.001)
    o.done()
    return max_mb


def _heartbeat_interval(top: Section) -> float:
    """Within what the collector accepts on the wire (docs/wire.md, Limits)."""
    value = top.number("heartbeat_interval_s", 10.0, positive=True)
    if not wire.MIN_INTERVAL_S <= value <= wire.MAX_INTERVAL_S:
        raise top.error("heartbeat_interval_s", f"must be between {wire.MIN_INTERVAL_S:g} and "
                                                f"{wire.MAX_INTERVAL_S:g} s, got {value!r}")
    return value


def _processes(top: Section) -> tuple[ProcessConfig, ...]:
    out = []
    for p in top.tables("processes", optional=True):
        entry = ProcessConfig(name=_id(p, "name"), process=p.str("process", None),
                              cmdline=p.str("cmdline", None))
        if not entry.process and not entry.cmdline:
            raise p.error("process", "give process (its name) or cmdline (a part of its "
                          "command line), or both")
        p.done()
        out.append(entry)
    names = [e.name for e in out]
    for name in names:
        if names.count(name) > 1:
            raise top.error("processes", f"process name {name!r} is used twice")
    return tuple(out)


__all__ = ["AgentConfig", "Broker", "ConfigError", "DeviceConfig", "MqttOptions", "ProcessConfig",
           "Secret", "load", "mqtt_options", "parse_broker_url", "parse_broker_urls"]
