"""The partition leases' tables and their compare-and-set statements (``collector.fleet.
leases`` decides what to claim, renew and release; this only stores it).

- ``collector_members``: one row per running collector, ``renewed_at`` its last mark;
- ``partition_leases``: one row per partition: ``owner`` (NULL: never claimed), ``epoch``
  (incremented by every claim), ``expires_at``.

Portable SQL (SQLite and PostgreSQL alike): ``?`` placeholders, ``ON CONFLICT (col) DO``,
REAL/TEXT/INTEGER columns, and every time a ``now`` the caller passes (float epoch
seconds, never the database's clock: a virtual clock drives it in tests). Whether a
compare-and-set won is its ``rowcount``. The fence (``fence_holds``) is the one place the
two backends differ: an advisory lock on PostgreSQL, the write lock on SQLite. Claims,
renewals and releases commit themselves, each in a ``transaction()`` (sqlite-utils'
``execute`` commits each statement unless a ``BEGIN`` is open; ``with conn:`` alone opens
none). ``check_fence`` runs inside the
caller's write transaction, on the connection the caller writes on.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from collector.db.migrations import register
from collector.fleet.leases import Lease

if TYPE_CHECKING:
    import sqlite_utils

MIGRATIONS = [
    ("120_partition_leases", """
        CREATE TABLE collector_members (
            collector_id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
            started_at REAL NOT NULL, renewed_at REAL NOT NULL
        );
        CREATE TABLE partition_leases (
            partition INTEGER NOT NULL, owner TEXT, epoch INTEGER NOT NULL,
            expires_at REAL NOT NULL, PRIMARY KEY (partition)
        );
    """),
]
register(__name__, MIGRATIONS)
LEASE_LOCK = 7_352_002  # advisory lock key (with the partition): claims vs fenced writes


class LeaseStore:
    """The lease rows in the shared database, for collector ``me``."""

    def __init__(self, db: sqlite_utils.Database, me: str):
        self.db = db
        self.me = me

    @contextmanager
    def transaction(self):
        """One transaction (plain ``BEGIN``: no global writer lock on PostgreSQL) that
        commits at the block's end, or rolls back on an exception."""
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.conn.rollback()
            raise
        self.db.conn.commit()

    # --- members -------------------------------------------------------------------------

    def mark_alive(self, host: str, pid: int, now: float) -> None:
        """This collector's member row, made at its first mark and renewed at each."""
        with self.transaction():
            self._mark(host, pid, now)

    def _mark(self, host: str, pid: int, now: float) -> None:
        self.db.execute(
            "INSERT INTO collector_members (collector_id, host, pid, started_at, "
            "renewed_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (collector_id) DO UPDATE "
            "SET host = excluded.host, pid = excluded.pid, renewed_at = excluded.renewed_at",
            [self.me, host, pid, now, now])

    def members(self) -> dict[str, float]:
        """Every collector's last mark, live or not (``leases.live_members`` tells)."""
        return {r["collector_id"]: r["renewed_at"] for r in self.db.query(
            "SELECT collector_id, renewed_at FROM collector_members")}

    def leave(self) -> None:
        """A collector stopping cleanly: its leases free at once, its member row gone."""
        with self.transaction():
            self.db.execute("UPDATE partition_leases SET expires_at = 0 WHERE owner = ?",
                            [self.me])
            self.db.execute("DELETE FROM collector_members WHERE collector_id = ?", [self.me])

    # --- leases --------------------------------------------------------------------------

    def ensure_partitions(self, count: int) -> None:
        """A row (never claimed) for each partition 0 .. count-1 that has none."""
        with self.transaction():
            for p in range(count):
                self.db.execute(
                    "INSERT INTO partition_leases (partition, owner, epoch, expires_at) "
                    "VALUES (?, NULL, 0, 0) ON CONFLICT (partition) DO NOTHING", [p])

    def leases(self) -> list[Lease]:
        return [Lease(r["partition"], r["owner"], r["epoch"], r["expires_at"])
                for r in self.db.query("SELECT partition, owner, epoch, expires_at "
                                       "FROM partition_leases ORDER BY partition")]

    def claim(self, partition: int, now: float, ttl: float) -> int | None:
        """Take a free partition (expired or released, or this collector's own): its new
        epoch, or None when another collector holds it (or won the race to it)."""
        with self.transaction():
            _lock_for_claim(self.db, partition)
            won = self.db.execute(
                "UPDATE partition_leases SET owner = ?, epoch = epoch + 1, expires_at = ? "
                "WHERE partition = ? AND (expires_at < ? OR owner = ?)",
                [self.me, now + ttl, partition, now, self.me]).rowcount
            if won != 1:
                return None
            rows = list(self.db.query(
                "SELECT epoch FROM partition_leases WHERE partition = ? AND owner = ?",
                [partition, self.me]))
        return rows[0]["epoch"] if rows else None

    def renew(self, partition: int, epoch: int, now: float, ttl: float) -> bool:
        """Extend a lease still ours (same epoch, not expired): False when it is not."""
        with self.transaction():
            return self.db.execute(
                "UPDATE partition_leases SET expires_at = ? WHERE partition = ? AND owner = ? "
                "AND epoch = ? AND expires_at >= ?",
                [now + ttl, partition, self.me, epoch, now]).rowcount == 1

    def keep(self, host: str, pid: int, now: float, ttl: float,
             renew: list[tuple[int, int]], claim: list[int]) -> dict[int, int]:
        """A round's writes in one transaction: the member mark, the renewals (partition,
        epoch) in one statement, the claims. Its round trips do not grow with the leases
        held, so a collector busy with its partitions' traffic still renews in time.
        Returns partition -> epoch of every lease renewed or won."""
        held: dict[int, int] = {}
        with self.transaction():
            self._mark(host, pid, now)
            if renew:
                pairs = sorted(renew)
                self.db.execute(
                    "UPDATE partition_leases SET expires_at = ? WHERE owner = ? AND "
                    "expires_at >= ? AND (partition, epoch) IN (VALUES "
                    + ", ".join(["(?, ?)"] * len(pairs)) + ")",
                    [now + ttl, self.me, now, *(x for pair in pairs for x in pair)])
                held.update((r["partition"], r["epoch"]) for r in self.db.query(
                    "SELECT partition, epoch FROM partition_leases WHERE owner = ? AND "
                    "expires_at = ?", [self.me, now + ttl]))
            for p in sorted(claim):
                _lock_for_claim(self.db, p)
                if self.db.execute(
                        "UPDATE partition_leases SET owner = ?, epoch = epoch + 1, "
                        "expires_at = ? WHERE partition = ? AND (expires_at < ? OR owner = ?)",
                        [self.me, now + ttl, p, now, self.me]).rowcount == 1:
                    held[p] = next(iter(self.db.query(
                        "SELECT epoch FROM partition_leases WHERE partition = ?", [p])))["epoch"]
        return held

    def release(self, partition: int, epoch: int) -> bool:
        """Let a lease go (free at once for the others); False when it was not ours."""
        with self.transaction():
            return self.db.execute(
                "UPDATE partition_leases SET expires_at = 0 WHERE partition = ? AND owner = ? "
                "AND epoch = ?", [partition, self.me, epoch]).rowcount == 1

    def check_fence(self, owned: dict[int, int], now: float) -> set[int]:
        """Inside the caller's write transaction (``transaction()``, or a ``BEGIN`` of its
        own on this connection): the partitions of ``owned`` (partition -> epoch) whose
        lease is no longer ours (taken, released or expired at ``now``). Each holds until
        the caller's commit, as ``fence_holds`` says."""
        return {p for p, epoch in sorted(owned.items())
                if not fence_holds(self.db.conn, self.me, p, epoch, now)}


def fence_holds(conn, me: str, partition: int, epoch: int, now: float) -> bool:
    """Whether ``partition``'s lease is still ``me``'s at ``epoch`` (and not expired at
    ``now``), checked inside the transaction of ``conn`` (a ``Store``'s, which this joins,
    opening it when none is open) and true until its commit: no claim can slip in between
    the check and the caller's writes.

    - PostgreSQL: the check holds the partition's lease lock shared (a transaction-scoped
      advisory lock, ``LEASE_LOCK``), which every claim takes exclusively before it
      changes the row. Renewals take neither, so a holder renews its leases however long
      its own writing transactions run (a row lock here made every renewal queue behind
      them, and an overloaded collector lost its leases to itself).
    - SQLite: a no-op UPDATE of the lease row takes the database's write lock (one writer
      at a time there anyway); best as the transaction's first statement, as SQLite cannot
      turn a transaction that read an older snapshot into a writer."""
    if getattr(conn, "backend", "sqlite") == "postgresql":  # one round trip for all three
        begin = [] if conn.in_transaction else [("BEGIN", None)]
        conn.in_transaction = True
        return bool(conn.raw_together([
            *begin, ("SELECT pg_advisory_xact_lock_shared(%s, %s)", [LEASE_LOCK, partition]),
            ("SELECT 1 FROM partition_leases WHERE partition = %s AND owner = %s AND "
             "epoch = %s AND expires_at >= %s", [partition, me, epoch, now])]))
    return conn.execute(
        "UPDATE partition_leases SET epoch = epoch WHERE partition = ? AND owner = ? "
        "AND epoch = ? AND expires_at >= ?", (partition, me, epoch, now)).rowcount == 1


def _lock_for_claim(db, partition: int) -> None:
    """Before a claim changes a lease row (PostgreSQL): wait for every transaction still
    writing under the partition's old epoch (``fence_holds``), so none commits after it."""
    if getattr(db, "backend", "sqlite") == "postgresql":
        db.execute("SELECT pg_advisory_xact_lock(?, ?)", [LEASE_LOCK, partition])
