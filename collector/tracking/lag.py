"""Is the collector behind what it has been sent? Pure: no I/O; times passed in.

A collector offered more than it drains falls behind: messages wait in its inbox (received,
not handled), and once its socket is full they wait at the broker, which in the end drops
them. A site's silence is only evidence once the collector has read everything up to it,
so silence is judged at ``read_to``, the receive time of the oldest message not handled
yet (now when none waits), never at the wall clock. And while the collector is behind by
more than a bound, it cannot know what it has not read (nor what the broker dropped for
it): that time is the collector's unknown time, recorded as time without the broker is
(``Core.tick``), and no site goes down for a silence in it.

Behind: the oldest unhandled message was received more than ``bound_s`` ago, or more than
``unread_bound`` bytes wait unread in the collector's socket (the broker queues, then
drops, once that is full), or messages went missing on the way: each agent numbers its
messages (``seq``, per boot), and a gap in a site's numbers that no heartbeat shed by the
inbox explains is a message the broker dropped (a broker short of CPU drops without the
collector's socket ever filling). ``LOSS_SHARE`` of the last ``WINDOW_S`` missing (and at
least ``LOSS_MIN`` messages) is behind. Caught up again: lag and unread bytes under a
quarter of their bound, and a window with no more than a tenth of that share missing.
"""

from __future__ import annotations

LAG_BOUND_S = 10.0  # behind by more than this: unknown time
UNREAD_BOUND = 4 * 2**20  # bytes waiting unread in the socket: seconds of messages

LOSS_SHARE = 0.02  # of the messages of a window missing: the broker dropped some
LOSS_MIN = 20  # missing in a window at least (a site's short blip is no overload)
WINDOW_S = 1.0  # the loss is judged over the last two windows
MAX_GAP = 100  # a gap counts at most this much,
LOSS_SITES = 5  # and gaps of this many sites at least: a few sites cannot blind it

BEHIND, CAUGHT_UP = "behind", "caught_up"


class LagRule:
    def __init__(self, bound_s: float = LAG_BOUND_S, unread_bound: int = UNREAD_BOUND):
        self.bound_s = bound_s
        self.unread_bound = unread_bound
        self.behind = False
        self.lag_s = 0.0  # now minus read_to at the last check
        self.max_lag_s = 0.0
        self.unread = 0
        self.times_behind = 0  # how often it fell behind
        self._last: dict = {}  # site -> (boot, seq) of its latest message handled
        self._got = [0, 0]  # messages handled: previous window, this one
        self._missing = [0, 0]  # and missing
        self._gapped: list[set] = [set(), set()]  # sites with a gap
        self._window_end: float | None = None
        self.missing = 0  # in all

    def heard(self, key, boot: int, seq: int, shed: int = 0) -> None:
        """A live message of site ``key`` handled; ``shed`` of its heartbeats right before
        it were replaced by it in the inbox (received, not missing)."""
        last = self._last.get(key)
        self._got[1] += 1 + shed
        if last is None or last[0] != boot:
            self._last[key] = (boot, seq)
            return
        if seq <= last[1]:
            return  # an event resent, or one the agent made before a heartbeat
        self._last[key] = (boot, seq)
        gap = min(MAX_GAP, seq - last[1] - 1 - shed)
        if gap > 0:
            self._missing[1] += gap
            self.missing += gap
            self._gapped[1].add(key)

    def _lossy(self, now: float, limit: float) -> bool:
        if self._window_end is None:
            self._window_end = now + WINDOW_S
        if now >= self._window_end:  # a new window
            self._got = [self._got[1], 0]
            self._missing = [self._missing[1], 0]
            self._gapped = [self._gapped[1], set()]
            self._window_end = now + WINDOW_S
        missing = self._missing[0] + self._missing[1]
        total = missing + self._got[0] + self._got[1]
        share = limit / LOSS_SHARE
        return missing > limit * total and missing >= LOSS_MIN * share and \
            len(self._gapped[0] | self._gapped[1]) >= LOSS_SITES * share

    def check(self, now: float, read_to: float, unread: int = 0) -> str | None:
        """Every turn: ``read_to`` is the time up to which everything received has been
        handled, ``unread`` the bytes waiting in the socket. Returns ``BEHIND`` when the
        collector just fell behind (from ``read_to`` on, time is unknown), ``CAUGHT_UP``
        when it just caught up (seen again from ``read_to``), None otherwise."""
        lag = max(0.0, now - read_to)
        self.lag_s, self.unread = lag, unread
        self.max_lag_s = max(self.max_lag_s, lag)
        if not self.behind:
            if lag > self.bound_s or unread > self.unread_bound or \
                    self._lossy(now, LOSS_SHARE):
                self.behind = True
                self.times_behind += 1
                return BEHIND
            return None
        if lag <= self.bound_s / 4 and unread <= self.unread_bound / 4 and \
                not self._lossy(now, LOSS_SHARE / 10):
            self.behind = False
            return CAUGHT_UP
        return None

    def reset(self) -> None:
        """A new connection to the broker: what was behind is behind the link's gap (and
        what went missing meanwhile is the link's, not the broker's)."""
        self.behind = False
        self._last.clear()
        self._got, self._missing = [0, 0], [0, 0]
        self._gapped = [set(), set()]
