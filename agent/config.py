"""The agent's TOML config, validated once, here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from agent.conf import ConfigError, Section, load_toml
from agent.wire import WireError, check_id


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool = False
    keepalive_s: int = 30


@dataclass(frozen=True)
class DeviceConfig:
    name: str
    port: str
    baud: int = 9600
    poll_interval_s: float = 1.0
    timeout_s: float = 0.5
    offline_after: int = 3


@dataclass(frozen=True)
class AgentConfig:
    project: str
    site: str
    broker: Broker
    state_dir: Path
    heartbeat_interval_s: float = 10.0
    devices: tuple[DeviceConfig, ...] = field(default_factory=tuple)


def parse_broker_url(section: Section, key: str) -> Broker:
    url = section.str(key)
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise section.error(
            key, f"must look like mqtt://host:port or mqtts://host:port, got {url!r}")
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError:
        raise section.error(key, f"has an invalid port: {url!r}") from None
    return Broker(host=parts.hostname, port=port, tls=parts.scheme == "mqtts")


def _id(section: Section, key: str, default=None) -> str:
    value = section.str(key) if default is None else section.str(key, default)
    try:
        return check_id(value, key)
    except WireError as e:
        raise section.error(key, str(e)) from None


def load(path: str | Path) -> AgentConfig:
    top = load_toml(path)
    broker = parse_broker_url(top, "broker")
    keepalive = top.int("keepalive_s", 30, minimum=5)
    devices = []
    for d in top.tables("devices", optional=True):
        devices.append(DeviceConfig(
            name=_id(d, "name"), port=d.str("port"), baud=d.int("baud", 9600, minimum=300),
            poll_interval_s=d.number("poll_interval_s", 1.0, positive=True),
            timeout_s=d.number("timeout_s", 0.5, positive=True),
            offline_after=d.int("offline_after", 3, minimum=1)))
        d.done()
    names = [d.name for d in devices]
    for name in names:
        if names.count(name) > 1:
            raise top.error("devices", f"device name {name!r} is used twice")
    cfg = AgentConfig(
        project=_id(top, "project"), site=_id(top, "site"),
        broker=Broker(broker.host, broker.port, broker.tls, keepalive),
        state_dir=Path(top.str("state_dir", "/var/lib/parkwatch")),
        heartbeat_interval_s=top.number("heartbeat_interval_s", 10.0, positive=True),
        devices=tuple(devices))
    top.done()
    return cfg


__all__ = ["AgentConfig", "Broker", "ConfigError", "DeviceConfig", "load", "parse_broker_url"]
