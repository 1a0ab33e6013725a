"""A collector that is one of several sharing a fleet (``[partitions]``, docs/scale.md).

Sites fall into ``count`` partitions (``collector.fleet.partitions``); each partition is a
lease in the shared database (``collector.fleet.leases``, kept by ``LeaseKeeper``). For
every partition whose lease it holds, the collector runs a ``PartitionIngest``: the very
ingest worker of a lone collector, with

- its own persistent MQTT session, ``<client_id>-p<n>``, the same whichever collector holds
  the partition: QoS 1 events queued by the broker while nobody held it (a collector died,
  its lease ran out, another claimed it) go to the next holder, and no event acknowledged
  to an agent is lost in a takeover;
- its topics: under ``part/<n>/`` where the broker maps each site there (NATS, ``mapped``),
  plus the fleet's status topic for Wills (NATS does not map those); or, on a broker that
  maps nothing (mosquitto, ``mapped = false``), every fleet topic, the other partitions'
  sites acknowledged and dropped;
- its own ``Core`` for the partition's sites (collector/core.py ``Partition``): their open
  outages, clocks and sight, and a run of its own, so the time nobody held the partition is
  unknown time for its sites (collector/downtime/report.py ``known_time``);
- a fence: every transaction of its store first checks that the lease still holds this
  collector's epoch (``fence_holds``), so a collector that lost a partition (frozen, cut
  off from the database) cannot write for it, however late it wakes;
- a snapshot of its sites in the shared database every few seconds
  (``collector.fleet.snapshots``), so any collector's ``/api/sites`` shows the whole fleet.

``Partitioned`` is what the API and the process see of all of them (``Ingest``'s face):
it starts a partition's ingest when a lease is gained and drops it, without a last word,
when the lease is lost or runs out.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
from dataclasses import replace

from collector.config import CollectorConfig
from collector.core import Core, Partition
from collector.db.connection import open_db
from collector.fleet.lease_keeper import LeaseKeeper
from collector.fleet.snapshots import SnapshotMemo
from collector.fleet.store_leases import LeaseStore, fence_holds
from collector.fleet.store_snapshots import write_snapshots
from collector.ingest import Ingest
from collector.partition_view import AllConnected, Guards, Sites, merged_lag
from collector.rejections import Rejections
from collector.store import Store
from parkwatch.core import wire

log = logging.getLogger("parkwatch.collector")
RECONCILE_S = 0.2  # how often leases held are compared with partitions run


class FenceLost(sqlite3.OperationalError):
    """The partition's lease is no longer this collector's: nothing more is written. A
    storage failure to the ingest worker, so the message that met it is held, not
    acknowledged, until the partition is let go (its next holder gets it)."""


class PartitionIngest(Ingest):
    def __init__(self, cfg: CollectorConfig, partition: Partition, me: str, clock,
                 rejections: Rejections):
        n = partition.number
        super().__init__(replace(cfg, client_id=f"{cfg.client_id}-p{n}",
                                 clock_beacon_s=cfg.clock_beacon_s if n == 0 else 0.0), clock)
        self.partition, self.me = partition, me
        self.rejections = rejections
        self._prefix = f"part/{n}/".encode()
        self._mine: dict[bytes, bool] = {}
        if cfg.partitions.mapped:
            self.subscriptions = (f"part/{n}/{wire.SUBSCRIPTION}",
                                  f"{wire.TOPIC_ROOT}/+/+/{wire.STATUS}")
        self._route = self._own
        self._snapshots = SnapshotMemo(n, partition.epoch)

    def _own(self, raw: bytes) -> bytes | None:
        """The fleet topic of a message for this partition, None for another's."""
        if raw.startswith(self._prefix):
            return raw[len(self._prefix):]
        site = raw.rpartition(b"/")[0]  # a Will, or (not mapped) any fleet topic
        mine = self._mine.get(site)
        if mine is None:
            parts = site.split(b"/")
            try:
                mine = len(parts) != 4 or self.partition.holds(parts[2].decode(),
                                                              parts[3].decode())
            except UnicodeDecodeError:
                mine = True  # the decoder rejects it, and counts it
            if len(self._mine) > 200_000:
                self._mine.clear()
            self._mine[site] = mine
        return raw if mine else None

    def _handle(self, core: Core, item, now: float) -> None:
        super()._handle(core, item, now)
        if item is None:  # a tick: what the other collectors show of these sites
            rows = self._snapshots.due(core.tracker.sites.values(), now)
            if rows:
                with core.store.transaction():  # fenced, as every write for the partition
                    write_snapshots(core.store.conn, rows)
                self._snapshots.written(rows)

    def _store(self) -> Store:
        store = Store(self.cfg.database)
        p = self.partition

        def fence() -> None:
            if not fence_holds(store.conn, self.me, p.number, p.epoch, self.clock()):
                raise FenceLost(f"partition {p.number}: lease epoch {p.epoch} is no longer "
                                f"{self.me}'s")

        store.fence = fence
        return store

    def _core(self, store: Store, now: float) -> Core:
        return Core(self.cfg, store, now, reject=self.rejections.add, partition=self.partition)

    def abandon(self) -> None:
        """The lease is gone: stop at once, acknowledging nothing more and writing nothing
        (the next holder gets what was not acknowledged from the partition's session)."""
        self.abandoned = True
        self._stop.set()  # first: the worker writes no last word, the link's loss is no news
        self.stop()


class Partitioned:
    """The partitions held, as one ingest for the API (``/healthz``, ``/api/sites``) and for
    the process's watchdog."""

    def __init__(self, cfg: CollectorConfig, clock=time.time):
        self.cfg, self.clock = cfg, clock
        settings = cfg.partitions
        self.me = settings.member or f"{socket.gethostname()}-{os.getpid()}"
        self.rejections = Rejections()
        self.parts: dict[int, PartitionIngest] = {}
        # the API's reads hold it while asking for the parts (re-entered); each partition's
        # worker has its own
        self.lock = threading.RLock()
        self.keeper = LeaseKeeper(lambda: LeaseStore(open_db(cfg.database), self.me),
                                  settings.count, settings.ttl_s, settings.renew_s,
                                  on_change=self._changed, clock=clock)
        self.connected = AllConnected(self)
        self.storage = Guards(self, cfg.storage_grace_s)
        self.ready = threading.Event()
        self.core = None  # no one core: ``live_runs`` tells the budget which runs see now
        self._gone = {"received": 0, "duplicates": 0}  # counted by partitions let go
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None

    # --- holding partitions ----------------------------------------------------------------

    def start(self) -> None:
        self.keeper.start()
        self._worker = threading.Thread(target=self._run, name="partitions", daemon=True)
        self._worker.start()
        self.ready.set()

    def _run(self) -> None:
        while not self._stop.wait(RECONCILE_S):
            self.reconcile(self.clock())
            dead = [n for n, p in self.parts.items()
                    if p._worker is not None and not p._worker.is_alive()]
            if dead:  # a bug killed a worker: the process exits (EXIT_THREAD) and restarts
                log.critical("the ingest thread of partition %s died", dead[0])
                return

    def _changed(self, gained: set[int], lost: set[int]) -> None:
        """From the keeper, before it stores a release: stop acting for what it lets go
        (a lease that ran out is found by ``reconcile``). Gains start in ``reconcile``."""
        self._drop(lost, "letting it go (rebalancing)")

    def _drop(self, numbers, why: str) -> None:
        # All taken out at once: the keeper's thread and the reconciling one may both see
        # a partition go; the one that takes it out stops it and says why.
        with self.lock:
            parts = [(n, self.parts.pop(n)) for n in sorted(numbers) if n in self.parts]
        for n, part in parts:
            log.info("partition %d: %s", n, why)
            part.abandon()
            self._count(part)

    def reconcile(self, now: float) -> None:
        """Run exactly the partitions whose lease is held at ``now``, each under its epoch."""
        owned = self.keeper.owned(now)
        self._drop([n for n, part in list(self.parts.items())
                    if owned.get(n) != part.partition.epoch],
                   "lease lost or run out; its ingest stopped")
        for n, epoch in sorted(owned.items()):
            # (asked again: the keeper may have let it go since, from its own thread)
            if n not in self.parts and not self._stop.is_set() and \
                    self.keeper.owned(self.clock()).get(n) == epoch:
                log.info("partition %d: lease held (epoch %d); starting its ingest", n, epoch)
                part = PartitionIngest(self.cfg, Partition(n, self.cfg.partitions.count, epoch),
                                       self.me, self.clock, self.rejections)
                part.start()
                with self.lock:
                    self.parts[n] = part

    def _count(self, part: PartitionIngest) -> None:
        """What a partition let go had handled still counts."""
        self._gone["received"] += part.received
        self._gone["duplicates"] += part.duplicates

    def stop(self) -> None:
        """A clean stop: each partition records its last word, then the leases are freed."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(5)
        with self.lock:  # (a reconciling thread still running may have dropped some)
            parts, self.parts = list(self.parts.values()), {}
        for part in parts:
            part.stop()
            self._count(part)
        self.keeper.stop(leave=True)

    # --- what the API reads ----------------------------------------------------------------

    def _each(self) -> list[PartitionIngest]:
        with self.lock:
            return list(self.parts.values())

    def owned(self) -> list[int]:
        return sorted(p.partition.number for p in self._each())

    @property
    def broker_problem(self) -> str | None:
        return next((p.broker_problem for p in self._each() if p.broker_problem), None)

    @property
    def received(self) -> int:
        return self._gone["received"] + sum(p.received for p in self._each())

    @property
    def duplicates(self) -> int:
        return self._gone["duplicates"] + sum(p.duplicates for p in self._each())

    @property
    def backlog(self) -> int:
        return sum(p.backlog for p in self._each())

    @property
    def shed(self) -> int:
        return sum(p.shed for p in self._each())

    def lag(self) -> dict:
        return merged_lag([p.lag() for p in self._each()])

    @property
    def tracker(self) -> Sites:
        return Sites(self._each())

    def live_runs(self) -> set[int]:
        return {run for p in self._each() for run in p.live_runs()}
