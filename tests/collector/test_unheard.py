"""A collector that starts again (or takes a partition over) watches the sites an earlier
run knew from the moment it can see: a site that fell silent while nobody watched is down
once its allowance has passed, with its outage starting at that moment (what came before
is unknown time), not never. Core on a real database (both backends); times passed in."""

from __future__ import annotations

import pytest

from collector.config import CollectorConfig
from collector.core import Core, Partition
from collector.fleet.partitions import partition_of
from collector.store import Store, list_outages
from parkwatch.core import wire
from parkwatch.core.broker import Broker
from tests.helpers import fleet

SITES = ("s0", "s1", "s2")
INTERVAL = 2.0  # announced by the heartbeats; silence_factor 3: down after 6 s unheard

pytestmark = pytest.mark.backend


def hb(site: str, seq: int, ts: float, interval: float = INTERVAL) -> wire.Heartbeat:
    return wire.Heartbeat("p", site, 1, seq, ts, interval, {})


def config(database, sites=SITES) -> CollectorConfig:
    return CollectorConfig(broker=Broker("127.0.0.1", 1), database=database,
                           outage_threshold_s=60.0, site_silence_factor=3.0,
                           projects=fleet(*(f"p/{s}" for s in sites)))


def run(database, now: float, sites=SITES, partition=None) -> Core:
    core = Core(config(database, sites), Store(database), now, partition=partition)
    core.link_up(now)
    return core


def first_run(database, heard=SITES, interval: float = INTERVAL) -> None:
    """A run that hears ``heard`` for 10 s, then stops at 10."""
    core = run(database, 0.0)
    for t in range(0, 10, 2):
        for s in heard:
            core.handle(hb(s, t + 1, float(t), interval), float(t))
        core.tick(t + 0.5)
    core.stop(10.0)


def site_outages(database) -> dict[str, dict]:
    db = Store(database).db
    return {o["site"]: o for o in list_outages(db) if o["kind"] == "site_network"}


def test_a_site_silent_from_the_restart_is_down_after_its_allowance(db_target):
    first_run(db_target)
    core = run(db_target, 100.0)  # s0 and s1 beat again; s2 fell silent meanwhile
    for t in (100.0, 102.0, 104.0):
        for s in ("s0", "s1"):
            core.handle(hb(s, int(t), t), t)
        core.tick(t + 1.5)
    assert site_outages(db_target) == {}  # 5.5 s: within s2's allowance of 6 s
    core.handle(hb("s0", 106, 106.0), 106.0)
    core.handle(hb("s1", 106, 106.0), 106.0)
    core.tick(106.5)
    outages = site_outages(db_target)
    assert list(outages) == ["s2"]
    o = outages["s2"]
    assert o["started_at"] == 100.0 and o["start_source"] == "collector_start"
    assert o["detected_at"] == 106.5 and o["last_seen_at"] is None


def test_the_allowance_is_the_interval_the_site_last_announced(db_target):
    first_run(db_target, interval=20.0)  # a site beating every 20 s is down after 60 s
    core = run(db_target, 100.0)
    core.tick(150.0)
    assert site_outages(db_target) == {}
    core.handle(hb("s1", 99, 155.0, 20.0), 155.0)
    core.tick(161.0)
    assert sorted(site_outages(db_target)) == ["s0", "s2"]


def test_a_site_no_longer_in_the_fleet_and_a_site_down_before_are_not_watched_anew(db_target):
    core = run(db_target, 0.0)
    for t in (0.0, 2.0):
        for s in SITES:
            core.handle(hb(s, int(t) + 1, t), t)
    core.tick(2.5)
    core.tick(12.0)  # all three silent: down, from their last heartbeat at 2
    assert {s: o["started_at"] for s, o in site_outages(db_target).items()} == \
        {s: 2.0 for s in SITES}
    core.stop(12.0)
    core = run(db_target, 100.0, sites=("s0", "s1"))
    core.tick(130.0)
    outages = site_outages(db_target)  # the open ones resumed, none new, s2 not watched
    assert {s: (o["started_at"], o["ended_at"]) for s, o in outages.items()} == \
        {s: (2.0, None) for s in SITES}


def test_a_partitions_new_holder_watches_only_its_own_known_sites(db_target):
    first_run(db_target)
    theirs = partition_of("p", "s2", 2)
    core = run(db_target, 100.0, partition=Partition(theirs, 2, epoch=7))
    core.tick(107.0)
    down = sorted(site_outages(db_target))
    assert down == sorted(s for s in SITES if partition_of("p", s, 2) == theirs)
