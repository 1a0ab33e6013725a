"""Storage fails closed: what the ingest worker does when the database will not take a write.

A QoS 1 message is acknowledged only after what it changed has committed. When a write
fails for a reason of the storage (disk full, read-only, locked beyond the busy timeout,
I/O error, a damaged file) the worker stops: the message that failed and every later one
stay unacknowledged, in order, and the worker retries the store. ``StorageGuard`` keeps
that state for ``/healthz`` and for the process's watchdog, which exits non-zero once the
failure has lasted ``storage_grace_s`` (the broker's persistent session then hands the
unacknowledged messages to the restarted collector).

Any other exception while handling a message is a fault of that one message (a poison
record): it is logged and the message is consumed, so it cannot block the ones after it.
Every method that needs the time takes it as an argument.
"""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger("parkwatch.collector")
RETRY_S = 1.0  # how often a failed store is tried again


def is_storage_error(e: BaseException) -> bool:
    """True for failures of the storage itself, which another try may get past; False for
    faults of the data (a constraint, a bug), which the same message would hit again."""
    if isinstance(e, (sqlite3.OperationalError, OSError)):
        return True  # full, read-only, locked, I/O error, cannot open
    return type(e) in (sqlite3.DatabaseError, sqlite3.InternalError)  # e.g. malformed image


def close_quietly(db) -> None:
    """Close a connection that may already be broken."""
    try:
        db.close()
    except Exception:
        log.debug("closing a failed connection", exc_info=True)


def describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:300]


class StorageGuard:
    """Whether the store takes writes; ``failed_at`` is on the monotonic clock, ``since``
    on the wall clock (for people)."""

    def __init__(self, grace_s: float):
        self.grace_s = grace_s
        self.failed_at: float | None = None
        self.since: float | None = None
        self.error: str | None = None
        self.suspended = False  # the worker holds messages until the store is back
        self.failures = 0  # failed writes since the process started (retries included)

    @property
    def ok(self) -> bool:
        return self.failed_at is None

    def fail(self, e: BaseException, mono: float, wall: float) -> None:
        self.failures += 1
        self.suspended = True
        self.error = describe(e)
        if self.failed_at is None:
            self.failed_at, self.since = mono, wall
            log.error("storage failed (%s): holding every message unacknowledged; retrying "
                      "every %.0f s, exiting after %.0f s", self.error, RETRY_S, self.grace_s)

    def resumed(self) -> None:
        """The store opened again: messages flow, the failure stands until a write commits."""
        self.suspended = False

    def committed(self) -> None:
        if self.failed_at is not None and not self.suspended:
            log.warning("storage works again (after: %s)", self.error)
            self.failed_at = self.since = self.error = None

    def expired(self, mono: float) -> bool:
        return self.failed_at is not None and mono - self.failed_at >= self.grace_s

    def report(self, mono: float) -> dict:
        """For ``/healthz``."""
        if self.failed_at is None:
            return {"ok": True, "failures": self.failures}
        return {"ok": False, "error": self.error, "since": self.since,
                "exit_in_s": round(max(0.0, self.grace_s - (mono - self.failed_at)), 1),
                "failures": self.failures}


TIME_LIMIT_S = 1e11  # |t| beyond this (about year 5100) is no time any clock gave


def sound_time(t) -> bool:
    """A stored time the collector's arithmetic and calendars can take."""
    return isinstance(t, (int, float)) and not isinstance(t, bool) and \
        -TIME_LIMIT_S < t < TIME_LIMIT_S  # NaN and infinities fail this too


def sound_outage(outage) -> bool:
    """An outage read back from the database whose times are all sound (None allowed
    where the column is optional): a poison one is left out of the tracker, not resumed."""
    optional = (outage.ended_at, outage.last_seen_at, outage.declared_at)
    return sound_time(outage.started_at) and sound_time(outage.detected_at) and \
        all(t is None or sound_time(t) for t in optional)
