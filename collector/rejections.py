"""Messages the collector refused, counted by reason and code for ``/healthz``."""

from __future__ import annotations

import logging
import threading
from collections import Counter

log = logging.getLogger("parkwatch.collector")


class Rejections:
    """Counts rejected messages; logs the first problem of each source only."""

    def __init__(self):
        self.by_reason: Counter[str] = Counter()
        self.by_code: Counter[str] = Counter()  # short codes, ready to be metric labels
        self._logged: set[str] = set()
        self.total = 0
        self._lock = threading.Lock()  # paho's thread and the workers (one per partition)

    def add(self, source: str, problem: str, code: str = "wire_malformed") -> None:
        with self._lock:
            self._add(source, problem, code)

    def _add(self, source: str, problem: str, code: str) -> None:
        self.total += 1
        self.by_reason[problem.split(":")[0][:80]] += 1
        self.by_code[code] += 1
        if source not in self._logged and len(self._logged) < 1000:  # made-up ids are endless
            self._logged.add(source)
            log.warning("rejected message on %s: %s (further ones from it are counted only)",
                        source, problem)
