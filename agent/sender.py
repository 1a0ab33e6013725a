"""The send window (pure): which outbox records to publish next, and which to delete.

No I/O: the outbox thread in ``agent/service.py`` reads the outbox, publishes and deletes;
``SendWindow`` only decides. At most ``WINDOW`` events are in flight (published, not yet
acknowledged) on one connection; a new connection (or none) starts again from the oldest
record, since the broker forgets the unacknowledged publishes of a connection it lost.
A record is sent as it was stored when it belongs to the live connection's boot, else it
is marked historical (stored before this connection, so a replay).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable

from agent.outbox import Row
from parkwatch.core.jsonenc import compact

WINDOW = 50          # events in flight (published, not yet acknowledged) at once


def mark_historical(payload: bytes) -> bytes:
    body = json.loads(payload)
    body["historical"] = True
    return compact(body)


@dataclasses.dataclass(frozen=True)
class Publish:
    """Publish ``payload`` (QoS 1) for outbox record ``row_id``."""
    row_id: int
    payload: bytes


class SendWindow:
    def __init__(self, window: int = WINDOW):
        self.window = window
        self.gen: int | None = None      # the connection the window is for (None: no link)
        self.cursor = 0                  # the last outbox id handed out on ``gen``
        self.inflight: dict[int, int] = {}   # mid -> outbox id, for connection ``gen``

    def acked(self, acks: Iterable[tuple[int, int]]) -> list[int]:
        """The outbox ids that ``acks`` (gen, mid) confirm; acks of another connection are
        not ours to trust (that connection's mids are reused) and are ignored."""
        done = []
        for g, mid in acks:
            if g == self.gen and mid in self.inflight:
                done.append(self.inflight.pop(mid))
        return done

    def link(self, live: int | None) -> None:
        """The link's state: the live connection's generation, or None when down."""
        if live != self.gen:  # a new connection (or none): start again from the oldest
            self.gen, self.cursor = live, 0
            self.inflight.clear()

    def room(self) -> int:
        """How many more records to fetch after ``cursor`` (0: nothing to send now)."""
        if self.gen is None:
            return 0
        return max(0, self.window - len(self.inflight))

    def plan(self, rows: list[Row], live_boot: int | None) -> list[Publish]:
        """What to publish for ``rows``, in order."""
        out = []
        for row in rows:
            live = row.live_boot is not None and row.live_boot == live_boot
            out.append(Publish(row.id, row.payload if live else mark_historical(row.payload)))
        return out

    def published(self, row_id: int, mid: int) -> None:
        self.inflight[mid] = row_id

    def batch_done(self, rows: list[Row]) -> None:
        """Every one of ``rows`` was published: the next fetch starts after them."""
        self.cursor = rows[-1].id
