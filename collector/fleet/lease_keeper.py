"""The loop that keeps one collector's partition leases: every ``RENEW_S`` it reads the
rows, asks ``leases.plan`` and stores its decisions (releases first; then, in one
transaction, its mark as alive, the renewals and the claims), on its own database
connection.

``step(now)`` is one round (tests call it on a virtual clock, on a ``LeaseStore`` given);
``start()`` runs rounds in a daemon thread on the wall clock, on a store the thread opens
itself (given a function that opens one: a SQLite connection stays in its thread).

``owned(now)`` is what the collector may act for: a lease counts only until the expiry this
collector last stored, so a collector whose rounds stop (frozen, cut from the database)
stops acting when its leases run out, before anyone can claim them. ``on_change(gained,
lost)`` is called (from the round's thread) before a release is stored and after a claim
is, and before ``owned`` tells the change: the collector stops acting for a partition
before it lets it go. A round longer than ``renew_every`` is logged as a warning.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from collector.fleet.leases import RENEW_S, TTL_S, Plan, plan
from collector.fleet.store_leases import LeaseStore

log = logging.getLogger(__name__)

Change = Callable[[set[int], set[int]], None]


class LeaseKeeper:
    def __init__(self, store: LeaseStore | Callable[[], LeaseStore], count: int,
                 ttl: float = TTL_S, renew_every: float = RENEW_S,
                 on_change: Change | None = None, clock: Callable[[], float] = time.time):
        self._open = None if isinstance(store, LeaseStore) else store
        self.store = store if isinstance(store, LeaseStore) else None
        self.count, self.ttl, self.renew_every = count, ttl, renew_every
        self.on_change = on_change or (lambda gained, lost: None)
        self.clock = clock
        self._held: dict[int, tuple[int, float]] = {}  # partition -> (epoch, expires_at)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_plan: Plan | None = None
        self._leave = True
        self._ready = False

    def owned(self, now: float) -> dict[int, int]:
        """partition -> epoch of every lease held and not expired at ``now``."""
        with self._lock:
            return {p: e for p, (e, until) in self._held.items() if until >= now}

    def _set(self, held: dict[int, tuple[int, float]], now: float) -> None:
        before = set(self.owned(now))
        after = {p for p, (_, until) in held.items() if until >= now}
        if before != after:  # told before ``owned`` changes: the collector stops what it
            self.on_change(after - before, before - after)  # lets go as let go, not lost
        with self._lock:
            self._held = held

    def step(self, now: float) -> dict[int, int]:
        """One round at ``now``: the partitions (-> epoch) held after it."""
        if not self._ready:
            self.store.ensure_partitions(self.count)
            self._ready = True
        rows = self.store.leases()
        decided = plan(now, self.store.me, self.store.members(), rows, self.count, self.ttl)
        self.last_plan = decided
        held = {r.partition: (r.epoch, r.expires_at) for r in rows
                if r.held_by(self.store.me, now)}
        if decided.release:  # stop acting first, then let go
            kept = {p: v for p, v in held.items()
                    if p not in {r.partition for r in decided.release}}
            self._set(kept, now)
            for r in decided.release:
                self.store.release(r.partition, r.epoch)
            held = kept
        kept = self.store.keep(socket.gethostname(), os.getpid(), now, self.ttl,
                               [(r.partition, r.epoch) for r in decided.renew],
                               [c.partition for c in decided.claim])
        self._set({p: (epoch, now + self.ttl) for p, epoch in kept.items()}, now)
        return self.owned(now)

    def leave(self) -> None:
        """Stop acting for every partition, then free them for the others at once."""
        self._set({}, self.clock())
        self.store.leave()

    # --- the thread ----------------------------------------------------------------------

    def start(self) -> LeaseKeeper:
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        if self._open is not None:
            self.store = self._open()
        try:
            while not self._stop.is_set():
                t0 = time.monotonic()
                try:
                    self.step(self.clock())
                except Exception:  # the database may be away: the leases then run out
                    log.exception("lease keeper: round failed")
                took = time.monotonic() - t0
                if took > self.renew_every:  # (a lease runs out ttl after its last renewal)
                    log.warning("lease keeper: a round took %.1f s (renew_s %g, ttl_s %g)",
                                took, self.renew_every, self.ttl)
                self._stop.wait(self.renew_every)
            if self._leave:
                self.leave()
        finally:
            if self._open is not None:
                self.store.db.close()

    def stop(self, leave: bool = True) -> None:
        """Stop the rounds; ``leave`` frees the leases at once (False: they run out, as
        a killed collector's do)."""
        self._leave = leave
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        elif leave:
            self.leave()
