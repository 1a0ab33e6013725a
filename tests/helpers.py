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


def admin_headers(database, username: str = "admin", role: str = "admin",
                  group: str | None = None) -> dict:
    """Add a user to a collector database and return headers carrying its API token."""
    from collector.auth import Users
    from collector.store import Store

    users = Users(Store(database).db)
    if username not in {u["username"] for u in users.list()}:
        users.add(username, "not-a-real-password", role, group)
    return {"Authorization": f"Bearer {users.new_api_token(username, 'tests', time.time())}"}
