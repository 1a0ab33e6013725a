"""One SQLite connection as every part of the collector opens it (WAL, busy timeout)."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils


def open_db(path: str | Path) -> sqlite_utils.Database:
    db = sqlite_utils.Database(path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
    except BaseException:  # no connection left open behind a failure (storage_guard.py)
        db.close()
        raise
    return db
