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
