"""What a scenario run (simulators/scenario/) needs of the core's database beyond what a live
collector does: a connection tuned for building the database in batches, the settings the
scenario was played with, the outages its customer-caused events made, and counts for its
summary. A mixin of ``Store`` (collector/store.py); ``stored_setting`` reads a setting back
without opening the database for writing.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from collector.db.connection import is_url, open_db

# One connection builds the scenario's database, and a run that fails is run again into a
# new one: no fsync, the rollback journal in memory, a 64 MiB page cache (half the run's
# time went to the WAL and its checkpoints). ``tune_for_service`` leaves it in WAL mode.
BATCH_PRAGMAS = ("PRAGMA synchronous=OFF", "PRAGMA journal_mode=MEMORY",
                 "PRAGMA cache_size=-65536")
SERVICE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")
# created on first use: a collector's own database has no such table
_SETTINGS = "CREATE TABLE IF NOT EXISTS scenario_settings (key TEXT PRIMARY KEY, value TEXT)"


class ScenarioTables:
    # ``Store`` provides ``db`` and ``conn``.

    def tune_for_batch(self) -> None:
        """Trade durability for speed while one process builds the database."""
        for pragma in BATCH_PRAGMAS:
            self.conn.execute(pragma)

    def tune_for_service(self) -> None:
        """Back to the settings every collector connection has (WAL, synchronous NORMAL)."""
        for pragma in SERVICE_PRAGMAS:
            self.conn.execute(pragma)

    def save_setting(self, key: str, value) -> None:
        """Store (or replace) one of the scenario's settings, as JSON."""
        self.conn.execute(_SETTINGS)
        self.conn.execute("INSERT OR REPLACE INTO scenario_settings (key, value) VALUES (?, ?)",
                          (key, json.dumps(value, default=str)))

    def outages_between(self, project: str, site: str, kind: str, from_at: float,
                        to_at: float, device: str | None = None) -> list[int]:
        """Ids of a site's (or one of its devices') outages of ``kind`` that started by
        ``to_at`` and had not ended before ``from_at``."""
        sql = ("SELECT id FROM outages WHERE project = ? AND site = ? AND kind = ? AND "
               "started_at <= ? AND (ended_at IS NULL OR ended_at >= ?)")
        args = [project, site, kind, to_at, from_at]
        if device is not None:
            sql += " AND device = ?"
            args.append(device)
        return [r[0] for r in self.conn.execute(sql, args)]

    def counts(self) -> dict[str, int]:
        """``outages`` stored, and ``incidents`` not withdrawn."""
        one = lambda sql: self.conn.execute(sql).fetchone()[0]  # noqa: E731
        return {"outages": one("SELECT count(*) FROM outages"),
                "incidents": one("SELECT count(*) FROM incidents WHERE state != 'withdrawn'")}


def stored_setting(database: str | Path, key: str):
    """A setting a scenario run stored in ``database`` (decoded), or None when there is none
    (or the database is not a scenario's). Opens it read-only."""
    if is_url(database):
        return _stored_setting_pg(str(database), key)
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT value FROM scenario_settings WHERE key = ?",
                           (key,)).fetchone()
    except sqlite3.Error:  # not a scenario's database
        return None
    finally:
        conn.close()
    return None if row is None else json.loads(row[0])


def _stored_setting_pg(url: str, key: str):
    db = open_db(url)
    try:
        row = next(iter(db.query("SELECT value FROM scenario_settings WHERE key = ?",
                                 [key])), None)
    except sqlite3.Error:  # no such table: not a scenario's database
        return None
    finally:
        db.close()
    return None if row is None else json.loads(row["value"])
