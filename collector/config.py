"""The collector's TOML config, validated once, here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.db.connection import BadTarget, target
from collector.downtime.budget import DEFAULT_TIMEZONE
from collector.tracking.platform import PlatformRule
from collector.tracking.plausible import Rules as PlausibilityRules
from collector.tracking.plausible import rules_from as plausibility_rules
from collector.workflow.config import WorkflowConfig, from_section
from parkwatch.core.broker import Broker, MqttOptions, mqtt_options, parse_broker_urls
from parkwatch.core.conf import ConfigError, Section, load_toml
from parkwatch.core.wire import WireError, check_id


@dataclass(frozen=True)
class ProjectConfig:
    timezone: str = DEFAULT_TIMEZONE
    budget_minutes: float = 60.0
    sites: tuple[str, ...] = ()  # registered here, besides the registry table


@dataclass(frozen=True)
class PartitionSettings:
    """``[partitions]``: this collector is one of several sharing the fleet
    (collector/partitioned.py, docs/scale.md)."""

    count: int  # the fleet's partitions; every collector of it must say the same
    member: str | None = None  # this collector's name among them (default host-pid)
    ttl_s: float = 10.0  # a lease not renewed for this long is free for another
    renew_s: float = 3.0  # how often leases are renewed and free ones looked for
    mapped: bool = True  # the broker puts each site under part/<n>/ (NATS mapping)


@dataclass(frozen=True)
class CollectorConfig:
    broker: Broker  # the first of ``brokers``
    database: Path | str  # a SQLite file, or a postgresql:// URL (collector/db/connection.py)
    mqtt: MqttOptions = field(default_factory=MqttOptions)  # account and TLS files
    outage_threshold_s: float = 60.0
    site_silence_factor: float = 3.0
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    clock_beacon_s: float = 5.0  # publish the time for agents' clock estimates; 0: off
    anonymous_read: bool = False  # let API reads through without a user (loopback setups)
    # every node of a cluster, tried in turn when one is out of reach (empty: ``broker``)
    brokers: tuple[Broker, ...] = ()
    timezone: str = DEFAULT_TIMEZONE  # projects without their own
    budget_minutes: float = 60.0
    platform: PlatformRule = field(default_factory=PlatformRule)
    client_id: str = "parkwatch-collector"
    alive_interval_s: float = 1.0  # how often the collector records that it is running
    storage_grace_s: float = 30.0  # a store failing this long makes the process exit
    projects: dict[str, ProjectConfig] = field(default_factory=dict)
    workflow: WorkflowConfig = field(default_factory=WorkflowConfig)
    plausibility: PlausibilityRules = field(default_factory=PlausibilityRules)
    partitions: PartitionSettings | None = None  # None: one collector for the whole fleet

    def project(self, project: str) -> ProjectConfig:
        return self.projects.get(project) or ProjectConfig(self.timezone, self.budget_minutes)


def timezone(section: Section, key: str, default: str) -> str:
    name = section.str(key, default)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise section.error(key, f"is not a known time zone: {name!r} "
                                 "(use an IANA name such as 'Asia/Shanghai')") from None
    return name


def load(path: str | Path) -> CollectorConfig:
    top = load_toml(path)
    api = top.table("api", optional=True)
    plat = top.table("platform", optional=True)
    tz = timezone(top, "timezone", DEFAULT_TIMEZONE)
    budget = top.number("budget_minutes", 60.0, positive=True)
    share = plat.number("share", 0.3, positive=True)
    if share > 1:
        raise plat.error("share", f"must be a fraction between 0 and 1, got {share!r}")
    projects = {}
    proj_tables = top.table("projects", optional=True)
    for name in list(proj_tables.data):
        try:
            check_id(name, "project")
        except WireError as e:
            raise proj_tables.error(name, str(e)) from None
        p = proj_tables.table(name)
        projects[name] = ProjectConfig(timezone(p, "timezone", tz),
                                       p.number("budget_minutes", budget, positive=True),
                                       _sites(p))
        p.done()
    brokers = parse_broker_urls(top, "broker")
    broker = brokers[0]
    cfg = CollectorConfig(
        broker=broker,
        brokers=brokers,
        mqtt=mqtt_options(top, broker.tls, agent_keys=False),
        database=_database(top),
        outage_threshold_s=top.number("outage_threshold_s", 60.0, positive=True),
        site_silence_factor=top.number("site_silence_factor", 3.0, minimum=1.5),
        api_host=api.str("host", "127.0.0.1"),
        api_port=api.int("port", 8080, minimum=0),
        anonymous_read=api.bool("anonymous_read", False),
        timezone=tz, budget_minutes=budget,
        platform=PlatformRule(share=share,
                              window_s=plat.number("window_s", 15.0, positive=True),
                              min_sites=plat.int("min_sites", 3, minimum=1)),
        client_id=top.str("client_id", "parkwatch-collector"),
        clock_beacon_s=top.number("clock_beacon_s", 5.0, minimum=0),
        storage_grace_s=top.number("storage_grace_s", 30.0, minimum=0),
        projects=projects,
        workflow=_workflow(top, tz, projects),
        plausibility=plausibility_rules(top.table("plausibility", optional=True)),
        partitions=_partitions(top))
    if not math.isfinite(cfg.storage_grace_s):
        raise top.error("storage_grace_s", f"must be a finite number, got {cfg.storage_grace_s}")
    if cfg.api_port > 65535:
        raise api.error("port", f"must be at most 65535, got {cfg.api_port}")
    for section in (api, plat, proj_tables, top):
        section.done()
    return cfg


def _partitions(top: Section) -> PartitionSettings | None:
    if "partitions" not in top.data:
        return None
    t = top.table("partitions")
    count = t.int("count", minimum=1)
    if count > 1024:
        raise t.error("count", f"must be at most 1024, got {count}")
    ttl = t.number("ttl_s", 10.0, positive=True)
    renew = t.number("renew_s", 3.0, positive=True)
    if not (math.isfinite(ttl) and renew * 2 <= ttl):
        raise t.error("renew_s", f"must be at most half of ttl_s ({ttl:g}), got {renew:g}")
    member = t.str("member", "") or None
    if member is not None:
        try:
            check_id(member, "member")
        except WireError as e:
            raise t.error("member", str(e)) from None
    out = PartitionSettings(count, member, ttl, renew, t.bool("mapped", True))
    t.done()
    return out


def _database(top: Section) -> Path | str:
    """``database = "PATH or URL"``, or a ``[database]`` table with ``url = "..."``."""
    if isinstance(top.data.get("database"), dict):
        table = top.table("database")
        value, section, key = table.str("url"), table, "url"
        table.done()
    else:
        value, section, key = top.str("database"), top, "database"
    try:
        return target(value)
    except BadTarget as e:
        raise section.error(key, str(e)) from None


def _sites(p: Section) -> tuple[str, ...]:
    sites = p.strs("sites", [])
    for site in sites:
        try:
            check_id(site, "site")
        except WireError as e:
            raise p.error("sites", str(e)) from None
    if len(set(sites)) != len(sites):
        raise p.error("sites", "names a site twice")
    return tuple(sites)


def _workflow(top: Section, tz: str, projects: dict[str, ProjectConfig]) -> WorkflowConfig:
    """The [workflow] table; project time zones come from [projects] unless it overrides."""
    w = top.table("workflow", optional=True)
    explicit_tz = "timezone" in w.data
    cfg = from_section(w)
    zones = {name: p.timezone for name, p in projects.items()}
    zones.update(cfg.project_timezones)
    return replace(cfg, timezone=cfg.timezone if explicit_tz else tz, project_timezones=zones)


__all__ = ["CollectorConfig", "ConfigError", "ProjectConfig", "load"]
