"""The fleet registry's tables: ``fleet_sites`` (a row per registered site: its broker
password's hash and its device list) and ``fleet_state`` (the one ``generation`` counter
every change bumps). Their migrations and every query; ``collector.fleet.registry`` decides.

A site comes out as a plain dict: project, site, password_hash (None: no broker account),
devices (a list of device ids, or None: any device), added_at. Every write runs inside
``transaction()``, so that a change, its generation bump and its ``audit_log`` row are
stored together or not at all.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from collector.db.migrations import register

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    import sqlite_utils

MIGRATIONS = [
    ("110_fleet_sites", """
        CREATE TABLE fleet_sites (
            project TEXT NOT NULL, site TEXT NOT NULL, password_hash TEXT,
            devices TEXT, added_at REAL NOT NULL, PRIMARY KEY (project, site)
        ) WITHOUT ROWID;
        CREATE TABLE fleet_state (id INTEGER PRIMARY KEY CHECK (id = 1),
                                  generation INTEGER NOT NULL);
        INSERT INTO fleet_state VALUES (1, 0);
    """),
    # The same password's bcrypt hash, the only kind nats-server reads (collector/fleet/
    # cluster.py); sites whose password predates it get one at their next site passwd.
    ("111_fleet_sites_bcrypt", "ALTER TABLE fleet_sites ADD COLUMN bcrypt_hash TEXT"),
]


def _site(row: dict) -> dict:
    devices = row["devices"]
    return {**row, "devices": None if devices is None else json.loads(devices)}


class FleetStore:
    """The registry's rows in the collector's SQLite database."""

    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def transaction(self) -> AbstractContextManager:
        """A block whose writes commit together at its end, or roll back on an exception."""
        return self.db.conn

    def site(self, project: str, site: str) -> dict | None:
        """The registered site, or None when the table has no row for it."""
        rows = list(self.db.query("SELECT * FROM fleet_sites WHERE project = ? AND site = ?",
                                  [project, site]))
        return _site(rows[0]) if rows else None

    def sites(self) -> list[dict]:
        """Every registered site, by project and site."""
        return [_site(r) for r in self.db.query(
            "SELECT * FROM fleet_sites ORDER BY project, site")]

    def site_devices(self) -> list[tuple[str, str, list[str] | None]]:
        """(project, site, devices or None: any device) of every registered site; lean, for
        the collector core's reload."""
        return [(project, site, None if devices is None else json.loads(devices))
                for project, site, devices in self.db.conn.execute(
                    "SELECT project, site, devices FROM fleet_sites")]

    def accounts(self) -> list[tuple[str, str, str]]:
        """(project, site, password hash) of every site with a broker account, in order."""
        return list(self.db.conn.execute(
            "SELECT project, site, password_hash FROM fleet_sites "
            "WHERE password_hash IS NOT NULL ORDER BY project, site"))

    def add_site(self, project: str, site: str, password_hash: str, bcrypt_hash: str,
                 devices: list[str] | None, now: float) -> None:
        """Insert a site's row (``devices`` None: any device) with both hashes of its
        password (mosquitto's and the bcrypt one nats-server reads)."""
        self.db.conn.execute(
            "INSERT INTO fleet_sites (project, site, password_hash, devices, added_at, "
            "bcrypt_hash) VALUES (?, ?, ?, ?, ?, ?)",
            (project, site, password_hash, None if devices is None else json.dumps(devices),
             now, bcrypt_hash))

    def remove_site(self, project: str, site: str) -> None:
        """Delete a site's row."""
        self.db.conn.execute("DELETE FROM fleet_sites WHERE project = ? AND site = ?",
                             (project, site))

    def set_password_hash(self, project: str, site: str, password_hash: str,
                          bcrypt_hash: str) -> None:
        """Replace a registered site's broker password hashes (both, of one password)."""
        self.db.conn.execute("UPDATE fleet_sites SET password_hash = ?, bcrypt_hash = ? "
                             "WHERE project = ? AND site = ?",
                             (password_hash, bcrypt_hash, project, site))

    def bcrypt_hashes(self) -> dict[tuple[str, str], str | None]:
        """(project, site) -> the bcrypt hash of each site with a broker account (None:
        its password predates them)."""
        return {(project, site): h for project, site, h in self.db.conn.execute(
            "SELECT project, site, bcrypt_hash FROM fleet_sites "
            "WHERE password_hash IS NOT NULL")}

    def generation(self) -> int:
        """The change counter (a reader reloads the registry when it moved)."""
        return self.db.conn.execute("SELECT generation FROM fleet_state").fetchone()[0]

    def bump_generation(self) -> None:
        """Count one more change of the registry."""
        self.db.conn.execute("UPDATE fleet_state SET generation = generation + 1")

    def audit(self, now: float, actor: str, action: str, target: str, reason: str,
              detail: dict) -> None:
        """Append an ``audit_log`` row (``detail`` stored as JSON)."""
        from collector.downtime.marks import _audit

        _audit(self.db, now, actor, action, target, reason, detail)


register(__name__, MIGRATIONS)  # collector/db/migrations.py applies them in order
