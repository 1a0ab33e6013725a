"""The lease keeper's thread on the wall clock (TTL scaled down to 1 s, rounds every 0.25 s):
a collector process holding every partition is killed with -9, and the one left takes
them all within ``ttl + renew_every``, each with a new epoch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from collector.db.connection import open_db
from collector.db.migrations import migrate
from collector.fleet.lease_keeper import LeaseKeeper
from collector.fleet.store_leases import LeaseStore
from tests.helpers import wait_for

P, TTL, EVERY = 8, 1.0, 0.25
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = textwrap.dedent("""
    import sys, time
    from collector.db.connection import open_db
    from collector.fleet.lease_keeper import LeaseKeeper
    from collector.fleet.store_leases import LeaseStore
    path, me = sys.argv[1], sys.argv[2]
    k = LeaseKeeper(lambda: LeaseStore(open_db(path), me), 8, ttl=1.0, renew_every=0.25,
                    on_change=lambda g, l: print("gained", sorted(g), flush=True)).start()
    time.sleep(600)
""")


def _db(tmp_path):
    path = tmp_path / "shared.db"
    db = open_db(path)
    migrate(db)
    db.close()
    return path


def test_a_killed_collectors_partitions_are_taken_within_ttl_and_a_round(tmp_path):
    path = _db(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), "doomed"], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    events: list[tuple[float, set, set]] = []
    survivor = LeaseKeeper(lambda: LeaseStore(open_db(path), "survivor"), P, ttl=TTL,
                           renew_every=EVERY,
                           on_change=lambda g, lost: events.append((time.time(), g, lost)))
    try:
        line = child.stdout.readline()
        assert line.split()[0] == "gained" and len(line.split()) == 1 + P, line
        survivor.start()
        # the newcomer is live: the holder lets half go, the survivor takes them
        wait_for(lambda: len(survivor.owned(time.time())) == P // 2, 10, what="4 of 8")
        before = {p: e for p, e in survivor.owned(time.time()).items()}
        child.send_signal(signal.SIGKILL)
        child.wait(5)
        killed_at = time.time()
        wait_for(lambda: len(survivor.owned(time.time())) == P, 10, what="all 8")
        took = max(t for t, gained, _ in events if gained) - killed_at
        print(f"takeover {took:.2f} s after kill -9 (ttl {TTL} s, rounds every {EVERY} s)")
        assert took <= TTL + EVERY + 0.3, f"takeover took {took:.2f} s"
        now = time.time()
        owned = survivor.owned(now)
        assert {p: owned[p] for p in before} == before  # its own half never moved
        store = LeaseStore(open_db(path), "doomed")  # the dead one's view, were it to wake
        try:
            taken = set(owned) - set(before)
            with store.transaction():
                assert store.check_fence({p: owned[p] - 1 for p in taken}, now) == taken
        finally:
            store.db.close()
    finally:
        if child.poll() is None:
            child.kill()
        survivor.stop()
    db = open_db(path)
    try:
        left = LeaseStore(db, "check")
        assert left.members() == {"doomed": left.members()["doomed"]}  # survivor left
        assert all(lease.expires_at == 0 for lease in left.leases())  # and freed its own
    finally:
        db.close()
