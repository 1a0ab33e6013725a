"""The fleet registry: which projects and sites exist, and each site's broker account.

A site is known when the collector config lists it (``[projects.<P>] sites``) or when
``parkwatch site add`` (or the admin API) put it in the ``fleet_sites`` table. Only the
``$7$`` hash of a site's broker password is stored; the password itself is shown once.
A site may also name its devices: reports for any other device are then refused.

The collector refuses every message of a site it does not know (``Fleet.admit``): it
creates no project, outage or incident and never counts toward platform detection. A
running collector notices a change within ``RELOAD_S`` through one counter
(``fleet_state.generation``) that every change bumps, so it reloads only when needed.
The tables and their queries: ``collector.fleet.store``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from collector.fleet import brokerconf
from collector.fleet.cluster import bcrypt_hash
from collector.fleet.store import FleetStore
from parkwatch.core import wire

if TYPE_CHECKING:
    import sqlite_utils

RELOAD_S = 2.0  # how often a live collector looks for registry changes
ConfigSites = Mapping[str, tuple[str, ...]]  # project -> sites, from the collector config


class RegistryError(Exception):
    """A request the registry refuses; ``status`` is the HTTP status the API answers."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def config_sites(cfg) -> dict[str, tuple[str, ...]]:
    """The sites a ``CollectorConfig`` lists, by project."""
    return {name: p.sites for name, p in cfg.projects.items() if p.sites}


def _ids(project: str, site: str) -> tuple[str, str]:
    try:
        return wire.check_id(project, "project"), wire.check_id(site, "site")
    except wire.WireError as e:
        raise RegistryError(422, str(e)) from None


def _devices(devices) -> list[str] | None:
    if devices is None:
        return None
    out = []
    for d in devices:
        try:
            out.append(wire.check_id(d, "device"))
        except wire.WireError as e:
            raise RegistryError(422, str(e)) from None
    if not out:
        raise RegistryError(422, "a device list must name at least one device "
                                 "(leave it out to accept any device)")
    if len(set(out)) != len(out):
        raise RegistryError(422, "the device list names a device twice")
    return out


class Registry:
    """The registry as the CLI and the API change it: every change is audited."""

    def __init__(self, db: sqlite_utils.Database, configured: ConfigSites | None = None):
        self.store = FleetStore(db)
        self.configured = dict(configured or {})

    def _row(self, project: str, site: str) -> dict | None:
        return self.store.site(project, site)

    def _in_config(self, project: str, site: str) -> bool:
        return site in self.configured.get(project, ())

    def _changed(self, now: float, actor: str, action: str, project: str, site: str,
                 detail: dict) -> None:
        self.store.bump_generation()
        self.store.audit(now, actor, action, f"site:{project}/{site}", "", detail)

    def add(self, project: str, site: str, devices, actor: str, now: float) -> str:
        """Register a site with a new broker password; returns the password (shown once)."""
        project, site = _ids(project, site)
        devices = _devices(devices)
        password = brokerconf.new_password()
        with self.store.transaction():
            if self._row(project, site) is not None:
                raise RegistryError(409, f"site {project}/{site} is registered already "
                                         "(parkwatch site passwd gives it a new password)")
            self.store.add_site(project, site, brokerconf.hash_password(password),
                                bcrypt_hash(password), devices, now)
            self._changed(now, actor, "site_add", project, site, {"devices": devices})
        return password

    def remove(self, project: str, site: str, actor: str, now: float) -> bool:
        """Take a site's row (and broker account) out; True when the collector config
        still lists the site, which then stays known to the collector, without an account."""
        project, site = _ids(project, site)
        with self.store.transaction():
            if self._row(project, site) is None:
                if self._in_config(project, site):
                    raise RegistryError(409, f"site {project}/{site} is listed in the "
                                             f"collector config ([projects.{project}] sites); "
                                             "remove it there")
                raise RegistryError(404, f"no site {project}/{site} in the registry")
            self.store.remove_site(project, site)
            self._changed(now, actor, "site_remove", project, site, {})
        return self._in_config(project, site)

    def passwd(self, project: str, site: str, actor: str, now: float) -> str:
        """A new broker password for a site (the old one stops working once the broker's
        password file is written again and mosquitto reloaded)."""
        project, site = _ids(project, site)
        password = brokerconf.new_password()
        hashed, bcrypted = brokerconf.hash_password(password), bcrypt_hash(password)
        with self.store.transaction():
            if self._row(project, site) is not None:
                self.store.set_password_hash(project, site, hashed, bcrypted)
            elif self._in_config(project, site):  # a config site gets its account here
                self.store.add_site(project, site, hashed, bcrypted, None, now)
            else:
                raise RegistryError(404, f"no site {project}/{site} in the registry")
            self._changed(now, actor, "site_passwd", project, site, {})
        return password

    def list(self) -> list[dict]:
        """Every known site: the table's and the config's, with where each comes from."""
        out: dict[tuple[str, str], dict] = {}
        for project, sites in self.configured.items():
            for site in sites:
                out[(project, site)] = {"project": project, "site": site, "devices": None,
                                        "added_at": None, "account": False,
                                        "source": "config"}
        for r in self.store.sites():
            key = (r["project"], r["site"])
            out[key] = {"project": r["project"], "site": r["site"], "devices": r["devices"],
                        "added_at": r["added_at"], "account": r["password_hash"] is not None,
                        "source": "registry+config" if key in out else "registry"}
        return [out[k] for k in sorted(out)]

    def bcrypt_hashes(self) -> dict[tuple[str, str], str | None]:
        """(project, site) -> the bcrypt hash of each site with an account (None: its
        password predates them; ``parkwatch site passwd`` gives it one)."""
        return self.store.bcrypt_hashes()

    def accounts(self) -> list[brokerconf.Account]:
        """The broker account of every site that has one, in a stable order."""
        return [brokerconf.site_account(project, site, hashed)
                for project, site, hashed in self.store.accounts()]


class Fleet:
    """The collector core's view of the registry: who may report, and which devices."""

    def __init__(self, db: sqlite_utils.Database, configured: ConfigSites | None = None):
        self.store = FleetStore(db)
        self.configured = dict(configured or {})
        self.generation: int | None = None
        self.sites: set[tuple[str, str]] = set()
        self.devices: dict[tuple[str, str], frozenset[str]] = {}
        self.reload()

    def reload(self) -> bool:
        """Read the registry again if it changed since the last read; True if it did."""
        gen = self.store.generation()
        if gen == self.generation:
            return False
        sites = {(p, s) for p, listed in self.configured.items() for s in listed}
        devices = {}
        for project, site, devs in self.store.site_devices():
            sites.add((project, site))
            if devs is not None:
                devices[(project, site)] = frozenset(devs)
        self.sites, self.devices, self.generation = sites, devices, gen
        return True

    def admit(self, msg: wire.Message, reject: Callable[[str, str, str], None]):
        """The message as the core may take it, or None when it is refused. Reports of
        devices the registry does not name for the site are dropped (and counted); the
        rest of the heartbeat still tells that the site is alive."""
        key = (msg.project, msg.site)
        if key not in self.sites:
            source = f"{msg.project}/{msg.site}"
            reject(source, f"unknown site: {source} is not in the fleet registry",
                   "unknown_site")
            return None
        allowed = self.devices.get(key)
        if allowed is None:  # the hot path: a known site, any device
            return msg
        source = f"{msg.project}/{msg.site}"
        if isinstance(msg, wire.Heartbeat):
            extra = [d for d in msg.devices if d not in allowed]
            if extra:
                reject(source, f"unknown device: {source} has no device {extra[0]!r}"
                               f"{f' (and {len(extra) - 1} more)' if len(extra) > 1 else ''}",
                       "unknown_device")
                msg = replace(msg, devices={k: v for k, v in msg.devices.items()
                                            if k in allowed})
        elif isinstance(msg, wire.Event) and msg.device is not None and \
                msg.device not in allowed:
            reject(source, f"unknown device: {source} has no device {msg.device!r}",
                   "unknown_device")
            return None
        return msg

