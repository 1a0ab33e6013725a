"""When the collector heard a site's live heartbeats: an uplink record cannot be right
about that time. Pure: no I/O; times on the collector's clock, passed in.

Consecutive live heartbeats of one connection (one ``boot``) at most ``gap`` apart make one
span: the site reached the broker throughout it. An agent's uplink record says when it
could not; the part of the record inside a heard span is contradicted by what the collector
saw itself, and is cut off (``clip``). A record left with nothing changes nothing. Spans are
kept compact: one per connection, the last ``MAX_SPANS`` of them, in memory only (after a
collector restart, the time before it has no spans).
"""

from __future__ import annotations

MAX_SPANS = 64


class HeardSpans:
    __slots__ = ("spans",)

    def __init__(self):
        self.spans: list[list] = []  # [boot, from, to], oldest first

    def add(self, boot: int, now: float, gap: float) -> None:
        """A live heartbeat of connection ``boot`` heard at ``now``."""
        spans = self.spans
        if spans:
            last = spans[-1]
            if last[0] == boot and 0 <= now - last[2] <= gap:
                last[2] = now
                return
        spans.append([boot, now, now])
        if len(spans) > MAX_SPANS:
            del spans[0]

    def clip(self, start: float, end: float) -> tuple[float, float] | None:
        """The longest part of ``[start, end]`` outside every heard span (the earliest of
        equals), or None when the spans cover all of it."""
        if end <= start:
            return start, end
        pieces = [(start, end)]
        for _, a, b in self.spans:
            if b <= a or b <= start or a >= end:
                continue
            cut = []
            for s, e in pieces:
                if b <= s or a >= e:
                    cut.append((s, e))
                    continue
                if a > s:
                    cut.append((s, a))
                if b < e:
                    cut.append((b, e))
            pieces = cut
        pieces = [p for p in pieces if p[1] > p[0]]
        if not pieces:
            return None
        return max(pieces, key=lambda p: (p[1] - p[0], -p[0]))
