"""The collector's TOML config, validated once, here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.conf import ConfigError, load_toml
from agent.config import Broker, parse_broker_url


@dataclass(frozen=True)
class CollectorConfig:
    broker: Broker
    database: Path
    outage_threshold_s: float = 60.0
    site_silence_factor: float = 3.0
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    anonymous_read: bool = False


def load(path: str | Path) -> CollectorConfig:
    top = load_toml(path)
    api = top.table("api", optional=True)
    cfg = CollectorConfig(
        broker=parse_broker_url(top, "broker"),
        database=Path(top.str("database")),
        outage_threshold_s=top.number("outage_threshold_s", 60.0, positive=True),
        site_silence_factor=top.number("site_silence_factor", 3.0, minimum=1.5),
        api_host=api.str("host", "127.0.0.1"),
        api_port=api.int("port", 8080, minimum=0),
        anonymous_read=api.bool("anonymous_read", False))
    if cfg.api_port > 65535:
        raise api.error("port", f"must be at most 65535, got {cfg.api_port}")
    api.done()
    top.done()
    return cfg


__all__ = ["CollectorConfig", "ConfigError", "load"]
