"""What a partition's holder stores of its sites for the other collectors, and what any
collector answers from it (collector/fleet/snapshots.py: pure, ``now`` passed in)."""

from __future__ import annotations

import json

from collector.fleet.snapshots import LAST_SEEN_STEP_S, SNAPSHOT_S, SnapshotMemo, merge
from collector.tracking.views import DeviceView, SiteView

T0 = 1_800_000_000.0


def site(name: str, state="online", last_seen=T0, **kw) -> SiteView:
    return SiteView("p1", name, state=state, last_seen=last_seen, **kw)


def test_changes_are_due_every_period_and_a_beat_only_when_it_moved_far():
    memo = SnapshotMemo(3, 7)
    a, b = site("a"), site("b")
    rows = memo.due([a, b], T0)
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [("a", 3, 7, "online"),
                                                        ("b", 3, 7, "online")]
    memo.written(rows)
    a.state = "offline"
    assert memo.due([a, b], T0 + 1) == []  # not before the next period
    b.last_seen = T0 + SNAPSHOT_S  # beating on: not news yet
    assert [r[1] for r in memo.due([a, b], T0 + SNAPSHOT_S)] == ["a"]
    b.last_seen = T0 + LAST_SEEN_STEP_S
    b.devices["cam-1"] = DeviceView("fault", "lens", T0 + 2)
    rows = memo.due([a, b], T0 + 2 * SNAPSHOT_S)
    assert [r[1] for r in rows] == ["a", "b"]  # never written, and a device changed
    assert json.loads(rows[1][8]) == [{"device": "cam-1", "state": "fault", "fault": "lens",
                                       "since": T0 + 2}]


def test_a_failed_write_is_due_again():
    memo = SnapshotMemo(0, 1)
    assert memo.due([site("a")], T0)  # not recorded as written: the store failed
    assert memo.due([site("a")], T0 + SNAPSHOT_S)


def row(name: str, state: str, epoch=2, owner="c2", lease_epoch=2, expires=T0 + 5) -> dict:
    return {"project": "p1", "site": name, "partition": 1, "epoch": epoch, "state": state,
            "last_seen": T0 - 3, "boot": 1, "clock_offset_s": 0.1, "devices": "[]",
            "lease_owner": owner, "lease_epoch": lease_epoch, "lease_expires_at": expires}


def test_own_sites_from_memory_others_as_stored_and_unwatched_ones_unknown():
    local = {("p1", "b"): {"project": "p1", "site": "b", "state": "online",
                           "last_seen": T0, "boot": 1, "clock_offset_s": None,
                           "devices": []}}
    out = merge(local, [row("a", "offline"), row("b", "offline"),
                        row("c", "online", expires=T0 - 1),  # its holder's lease ran out
                        row("d", "online", lease_epoch=3),  # a new holder, not written yet
                        row("e", "online", owner=None)], T0)
    assert [(s["site"], s["state"]) for s in out] == [
        ("a", "offline"), ("b", "online"), ("c", "unknown"), ("d", "unknown"),
        ("e", "unknown")]
    assert out[0]["devices"] == [] and out[0]["last_seen"] == T0 - 3
