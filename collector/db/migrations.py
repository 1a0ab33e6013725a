"""The migration registry: each part of the collector registers its named migrations, and
``migrate`` applies those not yet applied, each in one transaction, in the parts' order.

A part is a module that calls ``register(part, migrations)`` when imported; ``PARTS`` names
them in the order their tables were added (a migration's name is recorded in the
``migrations`` table, so a database migrated before keeps its history). A second backend
implements ``migrate`` for its connection; the parts and their names stay.
"""

from __future__ import annotations

import importlib
import sqlite3

import sqlite_utils

# module -> what its migrations hold, in the order they are applied
PARTS = {
    "collector.db.core_schema": "outages, incidents, runs, sight, site events and clocks",
    "collector.workflow.schema": "the incident workflow (wf_*)",
    "collector.web.store_users": "console users, sessions and API tokens",
    "collector.fleet.store": "the fleet registry: known sites, broker accounts",
    "collector.fleet.store_leases": "partition leases and the collectors holding them",
    "collector.fleet.store_snapshots": "each site as its partition's holder last saw it",
}
_REGISTERED: dict[str, list[tuple[str, str]]] = {}


def register(part: str, migrations: list[tuple[str, str]]) -> None:
    """Called by a part's module at import: its migrations, oldest first."""
    _REGISTERED[part] = migrations


def all_migrations() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for module in PARTS:
        importlib.import_module(module)
        out += _REGISTERED[module]
    return out


def applied(db) -> set[str]:
    """The names of the migrations ``db`` has had (none before its first)."""
    try:
        return {r["name"] for r in db.query("SELECT name FROM migrations")}
    except sqlite3.Error:  # no migrations table yet
        if db.conn.in_transaction:
            db.conn.rollback()
        return set()


def migrate(db: sqlite_utils.Database) -> None:
    if getattr(db, "backend", "sqlite") != "sqlite":  # PostgreSQL: collector/db/postgres.py
        db.migrate(all_migrations())
        return
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    done = {r["name"] for r in db.query("SELECT name FROM migrations")}
    for name, sql in all_migrations():
        if name in done:
            continue
        db.conn.executescript(f"BEGIN; {sql}; "
                              f"INSERT INTO migrations VALUES ('{name}', datetime('now')); "
                              "COMMIT;")
