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
drops, once that is full). Caught up again: both under a quarter of their bound.
"""

from __future__ import annotations

LAG_BOUND_S = 10.0  # behind by more than this: unknown time
UNREAD_BOUND = 512 * 1024  # bytes waiting in the socket: the broker is about to queue

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

    def check(self, now: float, read_to: float, unread: int = 0) -> str | None:
        """Every turn: ``read_to`` is the time up to which everything received has been
        handled, ``unread`` the bytes waiting in the socket. Returns ``BEHIND`` when the
        collector just fell behind (from ``read_to`` on, time is unknown), ``CAUGHT_UP``
        when it just caught up (seen again from ``read_to``), None otherwise."""
        lag = max(0.0, now - read_to)
        self.lag_s, self.unread = lag, unread
        self.max_lag_s = max(self.max_lag_s, lag)
        if not self.behind:
            if lag > self.bound_s or unread > self.unread_bound:
                self.behind = True
                self.times_behind += 1
                return BEHIND
            return None
        if lag <= self.bound_s / 4 and unread <= self.unread_bound / 4:
            self.behind = False
            return CAUGHT_UP
        return None

    def reset(self) -> None:
        """A new connection to the broker: what was behind is behind the link's gap."""
        self.behind = False
