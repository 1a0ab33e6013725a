"""The site outages of the last platform window, kept so that each new drop costs
O(log n), not a pass over every earlier drop (100,000 made-up sites dropping at once).
Pure: no I/O.

It keeps exactly what the platform detector kept before as a list, filtered at each new
drop: the outages still open whose start lies within ``window_s`` of every later drop's
start. Two heaps (earliest and latest start) drop the ones a new start leaves behind; an
outage that ended is discarded when its site comes back (``discard``), and ``open_count``
checks the rest before a platform incident is declared on the count.
"""

from __future__ import annotations

import heapq

from collector.tracking.outages import Outage


class RecentDrops:
    def __init__(self, window_s: float):
        self.window_s = window_s
        self._live: dict[int, Outage] = {}  # id(outage) -> outage, in arrival order
        self._lo: list = []  # (started_at, n, outage): the earliest start on top
        self._hi: list = []  # (-started_at, n, outage): the latest start on top
        self._n = 0

    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self):
        return iter(list(self._live.values()))

    def add(self, outage: Outage) -> None:
        """A new drop: first forget those it is too far from, then keep it."""
        s, w = outage.started_at, self.window_s
        self._prune(self._lo, 1.0, lambda start: start < s - w)
        self._prune(self._hi, -1.0, lambda start: start > s + w)
        self._live[id(outage)] = outage
        self._push(outage)

    def discard(self, outage: Outage) -> None:
        if self._live.get(id(outage)) is outage:
            del self._live[id(outage)]

    def revised(self, outage: Outage) -> None:
        """Its start moved (an uplink record)."""
        if self._live.get(id(outage)) is outage:
            self._push(outage)

    def open_count(self) -> int:
        """Forget the ones that ended unnoticed; how many are left."""
        for key, o in list(self._live.items()):
            if o.ended_at is not None:
                del self._live[key]
        return len(self._live)

    def earliest(self) -> float:
        self._prune(self._lo, 1.0, lambda start: False)
        return self._lo[0][0]

    def clear(self) -> None:
        self._live.clear()
        self._lo, self._hi = [], []

    def _push(self, outage: Outage) -> None:
        self._n += 1
        heapq.heappush(self._lo, (outage.started_at, self._n, outage))
        heapq.heappush(self._hi, (-outage.started_at, self._n, outage))

    def _prune(self, heap: list, sign: float, gone) -> None:
        """Pop the top while it is stale (left, or its start moved) or ``gone``."""
        while heap:
            key, _, o = heap[0]
            start = key * sign
            live = self._live.get(id(o)) is o
            if live and o.started_at == start and not gone(start):
                return
            heapq.heappop(heap)
            if not live:
                continue
            if o.started_at != start:  # look at it again as it is now
                self._n += 1
                heapq.heappush(heap, (o.started_at * sign, self._n, o))
            else:
                del self._live[id(o)]
