"""The collector's database as every part of it opens it: a SQLite file (WAL, busy
timeout), the embedded default, or a PostgreSQL database named by a ``postgresql://`` URL
(collector/db/postgres.py), for a fleet past one machine. ``target`` reads what a config
file or a ``--db`` flag gives, so that a URL is never taken for a file name."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

URL_SCHEMES = ("postgresql://", "postgres://")


class BadTarget(ValueError):
    """A database location that is neither a file path nor a PostgreSQL URL."""


def is_url(target) -> bool:
    return isinstance(target, str) and target.startswith(URL_SCHEMES)


def target(value: str | Path) -> str | Path:
    """A ``postgresql://`` URL as given, anything else a file path; a URL of another
    scheme (``mysql://``, ``sqlite://``) is refused by name rather than made a folder."""
    if isinstance(value, Path):
        return value
    text = str(value).strip()
    if is_url(text):
        return text
    if "://" in text:
        raise BadTarget(f"database {text.split('://')[0]}://... is not supported: give a "
                        "SQLite file path or a postgresql:// URL")
    return Path(text)


def backend(db) -> str:
    """``sqlite`` or ``postgresql``: which kind of database ``db`` is."""
    return getattr(db, "backend", "sqlite")


def open_db(path: str | Path):
    """A connection to ``path``: a ``postgresql://`` URL or a SQLite file."""
    if is_url(path):
        from collector.db.postgres import PgDatabase  # psycopg only where it is used

        return PgDatabase(str(path))
    db = sqlite_utils.Database(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
    except BaseException:  # no connection left open behind a failure (storage_guard.py)
        db.close()
        raise
    return db


def request_db(path: str | Path):
    """A connection for one HTTP request: on SQLite a new one, as ``open_db``; on PostgreSQL
    one kept from an earlier request (collector/db/pg_pool.py), given back when closed or
    dropped, with no transaction open either way."""
    if is_url(path):
        from collector.db.pg_pool import borrow  # psycopg only where it is used

        return borrow(str(path))
    return open_db(path)


def columns(db, table: str) -> list[str]:
    """The table's column names (empty when there is no such table)."""
    if backend(db) == "sqlite":
        return list(db[table].columns_dict)
    return db.columns(table)


def existing(value: str | Path, hint: str = "give the collector's database") -> str | Path:
    """``target(value)`` for a command that reads a database someone made: a file that is
    not there is an error naming it (a URL's database is checked when connected to)."""
    where = target(value)
    if isinstance(where, Path) and not where.is_file():
        what = "not a database file" if where.exists() else "no such database"
        raise BadTarget(f"{where}: {what} ({hint})")
    if not isinstance(where, Path):
        from collector.db.pg_admin import table_names  # psycopg only where it is used

        if "migrations" not in table_names(where):
            raise BadTarget(f"{where}: no such database: it holds no collector tables "
                            f"({hint})")
    return where
