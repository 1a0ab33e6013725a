"""The table of sites' snapshots (``collector.fleet.snapshots`` decides what to write):
one row per site, written by its partition's holder inside its fenced transactions, read
by any collector's ``/api/sites``."""

from __future__ import annotations

from collector.db.migrations import register

MIGRATIONS = [
    ("130_site_snapshots", """
        CREATE TABLE site_snapshots (
            project TEXT NOT NULL, site TEXT NOT NULL, partition INTEGER NOT NULL,
            epoch INTEGER NOT NULL, state TEXT NOT NULL, last_seen REAL, boot INTEGER,
            clock_offset_s REAL, devices TEXT NOT NULL, written_at REAL NOT NULL,
            PRIMARY KEY (project, site)
        );
    """),
]
register(__name__, MIGRATIONS)

_ROW = ("INSERT OR REPLACE INTO site_snapshots (project, site, partition, epoch, state, "
        "last_seen, boot, clock_offset_s, devices, written_at) VALUES (?,?,?,?,?,?,?,?,?,?)")


def write_snapshots(conn, rows: list[tuple]) -> None:
    """On a ``Store``'s connection, inside its (fenced) transaction."""
    conn.executemany(_ROW, rows)


def read_snapshots(db) -> list[dict]:
    """Every site's snapshot with its partition's lease as it is now."""
    return list(db.query(
        "SELECT s.project, s.site, s.partition, s.epoch, s.state, s.last_seen, s.boot, "
        "s.clock_offset_s, s.devices, l.owner AS lease_owner, l.epoch AS lease_epoch, "
        "l.expires_at AS lease_expires_at FROM site_snapshots s LEFT JOIN partition_leases l "
        "ON l.partition = s.partition"))
