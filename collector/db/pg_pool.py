"""PostgreSQL connections kept for reuse by the HTTP API, which opens one per request.

On SQLite a connection is a file handle and costs microseconds; on PostgreSQL each is a new
server process (a fork, authentication, the catalogue read again: several milliseconds),
and the API opened one or two per request. ``borrow(url)`` hands out a ``PgDatabase`` on a
connection kept from an earlier request, or a new one; closing it (``db.close()`` or
``db.conn.close()``, as the stores do), or dropping it, gives the connection back.

What a borrower gets is what ``open_db`` gives: a ``PgConnection`` with the sqlite3-like
rules and no transaction open. A connection comes back with any transaction its last
borrower left open rolled back, so nothing it did half-way is ever committed by the next.
A connection idle for a while is checked with one round trip before it is lent (a server
restarted meanwhile made it a dead socket; a failed check marks it broken, and its first
statement opens a new one, as ``PgConnection`` does after any loss). The translation and
catalogue caches go with the connection, and so does the note that the migrations were
applied (a request's ``WorkflowStore`` migrates on open: once per connection, not per
request). At most ``KEEP`` idle connections per URL are kept; the rest are closed.
"""

from __future__ import annotations

import sqlite3
import threading
import time

from collector.db.postgres import PgConnection, PgDatabase

KEEP = 16  # idle connections kept per URL (the API's worker threads are 40 at most)
CHECK_AFTER_S = 2.0  # idle longer than this: one round trip before it is lent again

_lock = threading.Lock()
_idle: dict[str, list[tuple[float, PooledConnection]]] = {}


class PooledConnection(PgConnection):
    """A ``PgConnection`` whose ``close`` gives it back to the pool (rolled back)."""

    def __init__(self, url: str):
        super().__init__(url)
        self.lease = 0  # which borrow holds it; 0 when idle
        self.migrated: tuple[str, ...] | None = None

    def close(self) -> None:
        give_back(self, self.lease)

    def discard(self) -> None:
        super().close()


class PooledDatabase(PgDatabase):
    """One borrow of a pooled connection: a ``PgDatabase`` that gives it back on close."""

    def __init__(self, url: str, conn: PooledConnection):  # no super(): no new connection
        self.url, self.conn, self._lease = url, conn, conn.lease

    def migrate(self, migrations: list[tuple[str, str]]) -> None:
        names = tuple(name for name, _ in migrations)
        if self.conn.migrated == names:  # this connection applied them all already
            return
        super().migrate(migrations)
        self.conn.migrated = names

    def close(self) -> None:
        give_back(self.conn, self._lease)

    def __del__(self):  # a borrower that never closed (the API's handlers drop theirs)
        try:
            self.close()
        except Exception:  # noqa: BLE001 -- at interpreter exit the pool may be gone
            pass


_leases = iter(range(1, 1 << 62))


def borrow(url: str) -> PooledDatabase:
    """A database on a kept connection to ``url`` (or a new one), no transaction open."""
    conn = None
    with _lock:
        idle = _idle.get(url)
        if idle:
            since, conn = idle.pop()
    if conn is None:
        conn = PooledConnection(url)
    elif time.monotonic() - since > CHECK_AFTER_S:
        try:
            conn.raw("SELECT 1")
        except sqlite3.Error:  # broken now: its next statement connects again
            pass
    with _lock:
        conn.lease = next(_leases)
    return PooledDatabase(url, conn)


def give_back(conn: PooledConnection, lease: int) -> None:
    """The end of borrow ``lease`` of ``conn`` (a later or earlier one's close is ignored)."""
    with _lock:
        if lease == 0 or conn.lease != lease:
            return
        conn.lease = 0
    conn.rollback()  # what a borrower left open is not the next one's
    broken = conn._conn is None or conn._conn.closed or conn._conn.broken
    with _lock:
        idle = _idle.setdefault(conn.url, [])
        if not broken and len(idle) < KEEP:
            idle.append((time.monotonic(), conn))
            return
    conn.discard()


def idle_count(url: str) -> int:
    """How many connections to ``url`` are kept idle now."""
    with _lock:
        return len(_idle.get(url, ()))


def close_idle(url: str | None = None) -> None:
    """Close the kept connections (to ``url``, or all): before a database is dropped."""
    with _lock:
        urls = [url] if url is not None else list(_idle)
        gone = [c for u in urls for _, c in _idle.pop(u, [])]
    for conn in gone:
        conn.discard()
