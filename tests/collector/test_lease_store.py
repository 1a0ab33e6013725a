"""The lease store (collector/fleet/store_leases.py) on a real database (both backends):
collectors on connections of their own race for the same partition, and exactly one wins
each time."""

from __future__ import annotations

import threading
import time

import pytest

from collector.db.connection import columns, open_db
from collector.db.migrations import PARTS, migrate
from collector.fleet.store_leases import LeaseStore

T0 = 1_800_000_000.0
TTL = 10.0


@pytest.fixture
def path(db_target):
    p = db_target
    db = open_db(p)
    migrate(db)
    LeaseStore(db, "setup").ensure_partitions(8)
    db.close()
    return p


@pytest.fixture
def stores(path):
    opened = []

    def store(name: str) -> LeaseStore:
        s = LeaseStore(open_db(path), name)
        opened.append(s)
        return s

    yield store
    for s in opened:
        s.db.close()


def test_the_migration_is_a_registered_part(path):
    assert "collector.fleet.store_leases" in PARTS
    db = open_db(path)
    try:
        assert {"collector_members", "partition_leases"} <= {
            t for t in ("collector_members", "partition_leases") if columns(db, t)}
        assert [r["name"] for r in db.query(
            "SELECT name FROM migrations WHERE name = '120_partition_leases'")]
    finally:
        db.close()


def test_claim_renew_release_and_the_epoch(stores):
    a, b = stores("a"), stores("b")
    assert a.claim(0, T0, TTL) == 1
    assert b.claim(0, T0 + 1, TTL) is None  # held
    assert a.renew(0, 1, T0 + 3, TTL)
    assert b.claim(0, T0 + TTL + 1, TTL) is None  # renewed: not expired yet
    assert a.claim(0, T0 + 4, TTL) == 2  # its own again: a new epoch, the old one fenced
    assert not a.renew(0, 1, T0 + 5, TTL)
    assert a.release(0, 2)
    assert b.claim(0, T0 + 5, TTL) == 3  # released: free at once
    assert not a.renew(0, 2, T0 + 6, TTL) and not a.release(0, 2)
    lease = {x.partition: x for x in a.leases()}[0]
    assert (lease.owner, lease.epoch, lease.expires_at) == ("b", 3, T0 + 5 + TTL)


def test_an_expired_lease_is_taken_and_the_old_owner_is_fenced(stores):
    a, b = stores("a"), stores("b")
    ea = a.claim(2, T0, TTL)
    with a.transaction():
        assert a.check_fence({2: ea}, T0 + 1) == set()
    assert b.claim(2, T0 + TTL - 0.5, TTL) is None
    eb = b.claim(2, T0 + TTL + 0.5, TTL)
    assert eb == ea + 1
    with a.transaction():
        assert a.check_fence({2: ea}, T0 + TTL + 0.6) == {2}
    assert not a.renew(2, ea, T0 + TTL + 0.7, TTL)
    with b.transaction():
        assert b.check_fence({2: eb}, T0 + TTL + 0.7) == set()
        assert b.check_fence({2: eb}, T0 + 2 * TTL + 1) == {2}  # run out: not ours either


def test_collectors_racing_for_each_partition_one_wins(path):
    """Three collectors, each on its own connection in its own thread, claim the same
    (expired) partition at the same instant, round after round."""
    rounds, names = 60, ("c0", "c1", "c2")
    go = threading.Barrier(len(names))
    results: dict[str, list[int | None]] = {}
    errors: list[BaseException] = []

    def racer(name: str):
        store = LeaseStore(open_db(path), name)
        try:
            got = results.setdefault(name, [])
            for n in range(rounds):
                go.wait(10)
                got.append(store.claim(n % 8, T0 + n * (TTL + 1), TTL))  # all run out
        except BaseException as e:  # shown below
            errors.append(e)
            go.abort()
        finally:
            store.db.close()

    threads = [threading.Thread(target=racer, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    wins = {}
    for n in range(rounds):
        won = [(name, results[name][n]) for name in names if results[name][n] is not None]
        assert len(won) == 1, f"round {n}: {[results[x][n] for x in names]}"
        wins.setdefault(n % 8, []).append(won[0])
    for w in wins.values():  # each win one increment of the epoch, in order
        assert [e for _, e in w] == list(range(1, len(w) + 1))
    assert len({name for w in wins.values() for name, _ in w}) > 1  # a real race


def test_a_claim_waits_for_the_fenced_write_transaction(stores, path):
    """The fence check holds the row until the writer commits: the claim of the next
    owner comes after the old owner's write, never between its check and its commit."""
    a = stores("a")
    ea = a.claim(5, T0, TTL)
    order: list[str] = []
    claimed: list[int | None] = []

    def claim_as_b():
        b = LeaseStore(open_db(path), "b")
        try:
            claimed.append(b.claim(5, T0 + TTL + 0.1, TTL))
            order.append("claim")
        finally:
            b.db.close()

    with a.transaction():
        assert a.check_fence({5: ea}, T0 + TTL) == set()  # the last instant it is ours
        t = threading.Thread(target=claim_as_b)
        t.start()
        time.sleep(0.5)  # b is waiting on the lock meanwhile
        order.append("write")
        assert claimed == []
    t.join(10)
    assert order == ["write", "claim"] and claimed == [ea + 1]


def test_a_renewal_does_not_wait_for_the_holders_open_writes(stores, path):
    """PostgreSQL: the holder's partitions write on connections of their own, each
    transaction fenced; the holder's renewal completes while they are open. (Renewals once
    queued behind those transactions' row locks, and a collector busy writing lost its
    leases to itself.) SQLite has one writer at a time: there the renewal waits its turn."""
    if not str(path).startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time")
    keeper, writer = stores("a"), stores("a")  # one collector, two connections
    ea = keeper.claim(3, T0, TTL)
    renewed: list[dict] = []
    with writer.transaction():
        assert writer.check_fence({3: ea}, T0 + 1) == set()
        t = threading.Thread(target=lambda: renewed.append(
            keeper.keep("h", 1, T0 + 2, TTL, renew=[(3, ea)], claim=[])))
        t.start()
        t.join(10)  # done while the writer's transaction is still open
        assert renewed == [{3: ea}]
        assert writer.check_fence({3: ea}, T0 + TTL + 1) == set()  # the renewed expiry


def test_members_mark_alive_and_leave(stores):
    a, b = stores("a"), stores("b")
    a.mark_alive("h1", 11, T0)
    b.mark_alive("h2", 12, T0 + 1)
    a.mark_alive("h1", 11, T0 + 3)
    assert a.members() == {"a": T0 + 3, "b": T0 + 1}
    assert a.claim(1, T0 + 3, TTL) == 1
    a.leave()
    assert b.members() == {"b": T0 + 1}
    assert b.claim(1, T0 + 4, TTL) == 2  # a left: its lease is free at once


def test_a_round_renews_what_is_still_ours_and_claims_in_one_transaction(stores):
    a, b = stores("a"), stores("b")
    assert a.claim(0, T0, TTL) == 1 and a.claim(1, T0, TTL) == 1
    assert b.claim(2, T0, TTL) == 1
    a.release(1, 1)
    kept = a.keep("h1", 11, T0 + 3, TTL, renew=[(0, 1), (1, 1), (2, 1)], claim=[3, 2])
    assert kept == {0: 1, 3: 1}  # 1 was let go, 2 is b's: neither renewed nor taken
    rows = {x.partition: x for x in a.leases()}
    assert rows[0].expires_at == rows[3].expires_at == T0 + 3 + TTL
    assert (rows[1].expires_at, rows[2].owner, rows[2].expires_at) == (0, "b", T0 + TTL)
    assert a.members() == {"a": T0 + 3}
    assert a.keep("h1", 11, T0 + 4, TTL, renew=[(0, 7)], claim=[]) == {}  # a stale epoch
