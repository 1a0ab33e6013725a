"""An uplink record revises only outages of its own project and site: forged records for
one project, fed to the real core and store, leave every stored row of another unchanged,
with and without a platform incident between them (issue 11)."""

from __future__ import annotations

import random

import pytest

from collector.config import CollectorConfig
from collector.core import Core
from collector.store import Store
from collector.tracking.platform import PlatformRule
from parkwatch.core import wire
from parkwatch.core.broker import Broker
from tests.helpers import fleet

SITES = [("P1", f"a{i}") for i in range(3)] + [("P2", f"b{i}") for i in range(3)]
T0 = 1_800_000_000.0


def rows(store, project):
    return [tuple(r.values()) for r in store.db.query(
        "SELECT o.*, i.state, i.opened_at, i.closed_at FROM outages o LEFT JOIN incidents i "
        "ON i.outage_id = o.id WHERE o.project = ? ORDER BY o.id", [project])]


@pytest.mark.parametrize("seed", range(12))
def test_forged_records_for_one_project_leave_another_unchanged(tmp_path, seed, new_database):
    rnd = random.Random(seed)
    cfg = CollectorConfig(broker=Broker("127.0.0.1", 1), database=new_database("c"),
                          outage_threshold_s=5.0, projects=fleet(*(f"{p}/{s}" for p, s in SITES)),
                          platform=PlatformRule(0.3, 15.0, 3) if seed % 2 else PlatformRule(
                              1.0, 15.0, 100))
    core = Core(cfg, Store(cfg.database), T0)
    core.link_up(T0)
    now = T0
    for seq in (1, 2):
        now += 1
        for p, s in SITES:
            core.handle(wire.Heartbeat(p, s, 1, seq, now, 1.0, {}), now)
    for p, s in rnd.sample(SITES, rnd.randint(2, 6)):  # Wills: real outages, maybe a platform
        core.handle(wire.Status(p, s, "offline", 1, now, "will"), now + rnd.random())
    for _ in range(40):
        now += 0.5
        core.tick(now)
    before = rows(core.store, "P2")
    assert before
    for seq in range(30):
        start = rnd.uniform(T0 - 50, now)
        detail = {"start": start, "end": start + rnd.uniform(0, 60), "cause": "dns"}
        if rnd.random() < 0.5:
            detail["lost"] = rnd.choice([None, "closed"])
        if rnd.random() < 0.3:
            detail["offset_s"] = rnd.uniform(-30, 30)
        p, s = rnd.choice(SITES[:3])
        core.handle(wire.Event(p, s, rnd.randint(0, 3), 100 + seq, now, "uplink",
                               historical=True, detail=detail), now)
        now += rnd.random() * 5
        core.tick(now)
    assert rows(core.store, "P2") == before
