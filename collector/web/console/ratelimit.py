"""Login failures counted per username and per client address, in process memory.

After ``per_user`` failed sign-ins for one username (known or not) within ``window_s``, or
``per_address`` from one client address, further attempts are refused (429 with
``Retry-After``) until the oldest counted failure leaves the window. The password is not
even checked while refused, so guessing stops at the limit. A successful sign-in clears the
username's count; the address's count is kept (else one valid account would launder a
password spray across many usernames), and it decays with the window.

The counts live in this process only: a restart forgets them, and two collector processes
would count separately. ``max_keys`` bounds the memory a flood of made-up names can take
(the oldest keys are dropped first). Pure: every method takes ``now``.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque

PER_USER = 5
PER_ADDRESS = 20
WINDOW_S = 300.0
MAX_KEYS = 10_000


class LoginLimiter:
    def __init__(self, per_user: int = PER_USER, per_address: int = PER_ADDRESS,
                 window_s: float = WINDOW_S, max_keys: int = MAX_KEYS):
        self.limits = {"user": per_user, "address": per_address}
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, username: str, address: str, now: float) -> int | None:
        """Seconds until an attempt is allowed again, or None when it is allowed now."""
        with self._lock:
            waits = []
            for key in (("user", username), ("address", address)):
                times = self._live(key, now)
                if times is not None and len(times) >= self.limits[key[0]]:
                    # allowed again once enough failures have left the window
                    oldest = times[len(times) - self.limits[key[0]]]
                    waits.append(oldest + self.window_s - now)
            return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, username: str, address: str, now: float) -> None:
        with self._lock:
            for key in (("user", username), ("address", address)):
                times = self._live(key, now)
                if times is None:
                    times = self._failures[key] = deque()
                times.append(now)
                self._failures.move_to_end(key)
                while len(times) > self.limits[key[0]]:
                    times.popleft()
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, username: str, address: str, now: float) -> None:
        with self._lock:
            self._failures.pop(("user", username), None)

    def _live(self, key: tuple[str, str], now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times
