"""The wait between reconnect attempts (the MQTT link's; see agent.mqtt_link)."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Decorrelated jitter: each wait is uniform between ``min_s`` and three times the last
    one, capped at ``max_s``. Gateways that lost the broker together spread out at once
    and stay spread (they do not line up on the powers of two of plain doubling)."""

    def __init__(self, min_s: float, max_s: float, rng: Callable[[], float] = random.random):
        if not 0 < min_s <= max_s:
            raise ValueError("need 0 < min_s <= max_s")
        self.min_s, self.max_s, self.rng = min_s, max_s, rng
        self._last = min_s

    def next(self) -> float:
        hi = min(self.max_s, self._last * 3)
        self._last = self.min_s + (hi - self.min_s) * self.rng()
        return self._last

    def reset(self) -> None:
        self._last = self.min_s
