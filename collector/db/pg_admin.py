"""Whole-database chores on PostgreSQL: the tables of a URL's schema, and dropping them
all (``sim scenario --replace``)."""

from __future__ import annotations

from collector.db.postgres import PgDatabase


def table_names(url: str) -> list[str]:
    """The tables of the URL's schema."""
    db = PgDatabase(url)
    try:
        return [r[0] for r in db.conn.raw(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            "current_schema() ORDER BY table_name").fetchall()]
    finally:
        db.close()


def wipe(url: str) -> None:
    """Drop every table of the URL's schema (``sim scenario --replace``)."""
    names = table_names(url)
    db = PgDatabase(url)
    try:
        if names:
            db.conn.raw("DROP TABLE " + ", ".join(f'"{n}"' for n in names) + " CASCADE")
    finally:
        db.close()
