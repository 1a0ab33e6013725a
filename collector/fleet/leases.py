"""Who acts for which partition: the lease plan of one collector (pure, ``now`` passed in).

Each partition (``collector.fleet.partitions``) has one lease row: owner, epoch, expires_at.
A collector owns a partition while the row names it and has not expired; only it acts for
the partition's sites, and every write it makes for them checks (in its own transaction,
``LeaseStore.check_fence``) that the row still holds its epoch. Every change of owner
increments the epoch, so a collector that lost a partition while frozen finds its writes
refused however late it wakes up.

Every ``RENEW_S`` seconds each collector marks itself alive (``collector_members``) and asks
``plan`` what to do with the rows it reads:

- **renew** every lease it holds (expiry ``now + ttl``), unless it must release it;
- **claim** free partitions (no owner, expired, or released) up to its fair share,
  ``ceil(count / live collectors)``, lowest partition first; a claim is a compare-and-set:
  of two collectors claiming the same partition, one wins, the other sees it taken next time;
- **release** what it holds beyond its fair share, highest partition first, once a live
  collector holds less than its share (a newcomer counts once it has marked itself alive).
  A released lease is free at once; the newcomer claims it at its next round (the partition
  is unwatched for at most ``RENEW_S``). Two collectors never hold one partition: a release
  is stored before anyone can claim it, and a lease is claimed only once free.

A collector is live while its last mark is at most ``ttl`` old. A lease not renewed is
free ``ttl`` after its last renewal, and the others look every ``RENEW_S``: a collector that
dies has its partitions taken within ``ttl + RENEW_S`` (13 s with the defaults, ≤ 15 s).
That time nobody watched is unknown time (the new owner's sight starts at its claim).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TTL_S = 10.0
RENEW_S = 3.0
TAKEOVER_BOUND_S = TTL_S + RENEW_S  # a dead collector's partitions are claimed by then


@dataclass(frozen=True)
class Lease:
    """One row of ``partition_leases``: ``owner`` None for a partition never claimed."""

    partition: int
    owner: str | None
    epoch: int
    expires_at: float

    def held(self, now: float) -> bool:
        return self.owner is not None and self.expires_at >= now

    def held_by(self, collector: str, now: float) -> bool:
        return self.owner == collector and self.held(now)


@dataclass(frozen=True)
class Claim:
    partition: int


@dataclass(frozen=True)
class Renew:
    partition: int
    epoch: int


@dataclass(frozen=True)
class Release:
    partition: int
    epoch: int


@dataclass(frozen=True)
class Plan:
    claim: tuple[Claim, ...] = ()
    renew: tuple[Renew, ...] = ()
    release: tuple[Release, ...] = ()
    share: int = 0
    live: tuple[str, ...] = ()


def live_members(members: Mapping[str, float], now: float, ttl: float = TTL_S) -> list[str]:
    """The collectors marked alive within ``ttl`` (by id), sorted."""
    return sorted(c for c, renewed_at in members.items() if renewed_at + ttl >= now)


def fair_share(count: int, live: int) -> int:
    return math.ceil(count / max(1, live))


def plan(now: float, me: str, members: Mapping[str, float], leases: Iterable[Lease],
         count: int, ttl: float = TTL_S) -> Plan:
    """What collector ``me`` does now: ``members`` maps each collector to its last mark,
    ``leases`` are the rows of partitions 0 .. count-1 (a missing one is free)."""
    live = live_members(members, now, ttl)
    if me not in live:  # it is marking itself alive in this very round
        live = sorted([*live, me])
    share = fair_share(count, len(live))
    rows = {lease.partition: lease for lease in leases if 0 <= lease.partition < count}
    mine = sorted(p for p, lease in rows.items() if lease.held_by(me, now))
    free = [p for p in range(count) if p not in rows or not rows[p].held(now)]
    held_by: dict[str, int] = {c: 0 for c in live}
    for lease in rows.values():
        if lease.held(now) and lease.owner in held_by:
            held_by[lease.owner] += 1
    someone_short = any(n < share for c, n in held_by.items() if c != me)

    release: list[Release] = []
    if len(mine) > share and someone_short:
        for p in mine[share:][::-1]:
            release.append(Release(p, rows[p].epoch))
    let_go = {r.partition for r in release}
    renew = tuple(Renew(p, rows[p].epoch) for p in mine if p not in let_go)
    wanted = max(0, share - len(mine))
    claim = tuple(Claim(p) for p in free[:wanted])
    return Plan(claim, renew, tuple(sorted(release, key=lambda r: r.partition)), share,
                tuple(live))


def fenced(owned: Mapping[int, int], leases: Iterable[Lease], me: str,
           now: float) -> set[int]:
    """The partitions of ``owned`` (partition -> epoch) whose lease is no longer ours at
    ``now``: taken (another owner or epoch), released or expired."""
    rows = {lease.partition: lease for lease in leases}
    return {p for p, epoch in owned.items()
            if p not in rows or not rows[p].held_by(me, now) or rows[p].epoch != epoch}
