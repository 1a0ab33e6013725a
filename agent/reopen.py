"""When to try again to open a serial port or connect a socket that failed.

Exponential backoff from tenacity (0.5 s, 1 s, 2 s … at most 30 s), reset by a success.
Pure: the caller passes ``now``; polls keep their own rhythm (and keep counting failures
towards offline) while the reopen attempts back off.
"""

from __future__ import annotations

import tenacity


class ReopenGate:
    def __init__(self, initial_s: float = 0.5, max_s: float = 30.0):
        self._wait = tenacity.wait_exponential(multiplier=initial_s, max=max_s)
        self._state = tenacity.RetryCallState(None, None, (), {})
        self.failures = 0
        self.next_at = float("-inf")

    def may_try(self, now: float) -> bool:
        return now >= self.next_at

    def failed(self, now: float) -> float:
        """Record a failed attempt at ``now``; returns the delay before the next one."""
        self.failures += 1
        self._state.attempt_number = self.failures
        delay = self._wait(self._state)
        self.next_at = now + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self.next_at = float("-inf")
