"""Small helpers shared by the tests."""

from __future__ import annotations

import time


def wait_for(condition, timeout: float = 10.0, interval: float = 0.05, what: str = ""):
    """Poll ``condition()`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(interval)


def rows(database, sql: str, params=()) -> list[dict]:
    """Rows of a query on a collector database as an auditor reads it: a SQLite file
    through a read-only connection (a live WAL database), a PostgreSQL URL through the
    store's own connection."""
    import sqlite3

    from collector.db.connection import is_url, open_db

    if is_url(database):
        db = open_db(database)
        try:
            return list(db.query(sql, params))
        finally:
            db.close()
    ro = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    ro.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in ro.execute(sql, params)]
    finally:
        ro.close()


def admin_headers(database, username: str = "admin", role: str = "admin",
                  group: str | None = None) -> dict:
    """Add a user to a collector database and return headers carrying its API token."""
    from collector.store import Store
    from collector.web.auth import Users

    store = Store(database)
    try:  # closed here: an unclosed sqlite3 connection lives until the garbage collector runs
        users = Users(store.db)
        if username not in {u["username"] for u in users.list()}:
            users.add(username, "not-a-real-password", role, group)
        return {"Authorization": f"Bearer {users.new_api_token(username, 'tests', time.time())}"}
    finally:
        store.conn.close()


def _sites(sites) -> dict[str, list[str]]:
    """``{"p1": ["lot-1"]}`` (the default), or ``"project/site"`` strings, or both."""
    by_project: dict[str, list[str]] = {}
    for item in sites or ({"p1": ["lot-1"]},):
        pairs = [k.split("/") for k in [item]] if isinstance(item, str) else \
            [(p, s) for p, ss in item.items() for s in ss]
        for project, site in pairs:
            by_project.setdefault(project, []).append(site)
    return by_project


def fleet(*sites, **project) -> dict:
    """``CollectorConfig.projects`` registering the sites a test's collector hears from
    (collector/fleet/registry.py: a collector hears only the sites it knows); ``project`` are
    other ``ProjectConfig`` fields."""
    from collector.config import ProjectConfig

    return {p: ProjectConfig(sites=tuple(s), **project) for p, s in _sites(sites).items()}


def fleet_toml(*sites) -> str:
    """The same as ``[projects.<P>] sites = [...]`` tables of a collector's TOML (put them
    last)."""
    import json

    return "".join(f"\n[projects.{p}]\nsites = {json.dumps(s)}\n"
                   for p, s in _sites(sites).items())
