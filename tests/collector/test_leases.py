"""The lease plan (collector/fleet/leases.py): pure decisions on rows, then collectors
playing rounds against one real SQLite file on a virtual clock (``LeaseKeeper.step``)."""

from __future__ import annotations

import pytest

from collector.db.connection import open_db
from collector.db.migrations import migrate
from collector.fleet.lease_keeper import LeaseKeeper
from collector.fleet.leases import (
    RENEW_S,
    TAKEOVER_BOUND_S,
    TTL_S,
    Claim,
    Lease,
    Release,
    Renew,
    fenced,
    plan,
)
from collector.fleet.store_leases import LeaseStore

P = 8
T0 = 1_800_000_000.0


def rows(owners: dict[int, tuple[str | None, int, float]]) -> list[Lease]:
    return [Lease(p, *owners.get(p, (None, 0, 0.0))) for p in range(P)]


def test_a_lone_collector_claims_every_partition():
    decided = plan(T0, "a", {"a": T0}, rows({}), P)
    assert decided.claim == tuple(Claim(p) for p in range(P))
    assert decided.renew == () and decided.release == () and decided.share == P


def test_it_renews_what_it_holds_and_keeps_its_epochs():
    held = rows({p: ("a", 3, T0 + 5) for p in range(P)})
    decided = plan(T0, "a", {"a": T0}, held, P)
    assert decided.renew == tuple(Renew(p, 3) for p in range(P)) and decided.claim == ()


def test_a_newcomer_makes_the_holder_release_its_extra_half_highest_first():
    held = rows({p: ("a", 1, T0 + 5) for p in range(P)})
    members = {"a": T0, "b": T0}
    a = plan(T0, "a", members, held, P)
    assert a.share == 4
    assert a.release == tuple(Release(p, 1) for p in range(4, 8))
    assert a.renew == tuple(Renew(p, 1) for p in range(4))
    b = plan(T0, "b", members, held, P)  # nothing is free yet: it waits
    assert b.claim == () and b.release == ()


def test_the_holder_keeps_everything_while_the_newcomer_is_not_live():
    held = rows({p: ("a", 1, T0 + 5) for p in range(P)})
    stale = {"a": T0, "b": T0 - TTL_S - 0.1}
    assert plan(T0, "a", stale, held, P).release == ()


def test_no_release_when_nobody_is_short():
    held = rows({p: ("a" if p < 3 else "b" if p < 6 else "c", 1, T0 + 5) for p in range(P)})
    for me in "abc":
        decided = plan(T0, me, {"a": T0, "b": T0, "c": T0}, held, P)
        assert decided.release == () and decided.claim == ()


def test_a_dead_collectors_leases_are_free_only_after_they_expire():
    held = rows({p: ("a", 2, T0 + 5 + TTL_S) if p < 4 else ("b", 2, T0 + TTL_S)
                 for p in range(P)})
    members = {"a": T0 + 5, "b": T0}  # b's last mark and renewal at T0, a's at T0 + 5
    assert plan(T0 + TTL_S, "a", members, held, P).claim == ()
    later = plan(T0 + TTL_S + 0.5, "a", members, held, P)
    assert later.share == P and later.claim == tuple(Claim(p) for p in range(4, 8))


def test_fenced_names_each_way_of_losing_a_lease():
    now = T0
    held = [Lease(0, "a", 5, now + 1), Lease(1, "b", 6, now + 9), Lease(2, "a", 9, now - 1),
            Lease(3, "a", 7, now + 5)]
    owned = {0: 5, 1: 5, 2: 9, 3: 6, 4: 1}
    assert fenced(owned, held, "a", now) == {1, 2, 3, 4}
    assert fenced({0: 5}, held, "a", now) == set()


# --- collectors in rounds on one SQLite file ------------------------------------------------


class Fleet:
    """Collectors, each with its own connection to one database file and a keeper."""

    def __init__(self, path):
        self.path = path
        db = open_db(path)
        migrate(db)
        db.close()
        self.keepers: dict[str, LeaseKeeper] = {}
        self.changes: list[tuple[str, set, set]] = []

    def join(self, name: str) -> LeaseKeeper:
        keeper = LeaseKeeper(LeaseStore(open_db(self.path), name), P,
                             on_change=lambda g, lost: self.changes.append((name, g, lost)))
        self.keepers[name] = keeper
        return keeper

    def round(self, now: float, alive=None) -> dict[str, dict[int, int]]:
        """Every keeper (or those named) takes one round, in turn, at ``now``; then no
        partition may be owned by two of them, by their own account or the database's."""
        for name, k in self.keepers.items():
            if alive is None or name in alive:
                k.step(now)
        views = {name: k.owned(now) for name, k in self.keepers.items()}
        seen: dict[int, str] = {}
        for name, owned in views.items():
            for p in owned:
                assert p not in seen, f"partition {p} owned by {seen[p]} and {name} at {now}"
                seen[p] = name
        return views

    def close(self):
        for k in self.keepers.values():
            k.store.db.close()


@pytest.fixture
def fleet(tmp_path):
    f = Fleet(tmp_path / "leases.db")
    yield f
    f.close()


def test_one_collector_takes_all_then_a_second_joins_and_they_share_four_four(fleet):
    a = fleet.join("a")
    views = fleet.round(T0)
    assert sorted(views["a"]) == list(range(P)) and set(views["a"].values()) == {1}
    fleet.join("b")
    now, history = T0, []
    for _ in range(4):
        now += RENEW_S
        history.append({n: sorted(o) for n, o in fleet.round(now).items()})
    assert history[-1] == {"a": [0, 1, 2, 3], "b": [4, 5, 6, 7]}
    assert history[-2] == history[-1]  # settled: no more moves
    epochs = {**a.owned(now), **fleet.keepers["b"].owned(now)}
    assert {p: epochs[p] for p in range(4, 8)} == {p: 2 for p in range(4, 8)}  # one move
    assert {p: epochs[p] for p in range(4)} == {p: 1 for p in range(4)}  # never moved
    assert ("a", set(), {4, 5, 6, 7}) in fleet.changes
    assert ("b", {4, 5, 6, 7}, set()) in fleet.changes


def test_a_release_is_announced_while_the_keeper_still_counts_it_as_held(fleet):
    """The collector stops a partition it lets go from ``on_change`` (\"letting it go\");
    had ``owned`` dropped it first, its reconciling thread could find it gone and stop it
    as a lease lost."""
    a = fleet.join("a")
    seen: list[tuple[set, dict]] = []
    a.on_change = lambda gained, lost: seen.append((lost, a.owned(now)))
    now = T0
    fleet.round(now)
    fleet.join("b")
    for _ in range(3):
        now += RENEW_S
        fleet.round(now)
    lost, owned_then = next((lost, o) for lost, o in seen if lost)
    assert lost == {4, 5, 6, 7} and lost <= set(owned_then)
    assert set(a.owned(now)) == {0, 1, 2, 3}


def test_three_collectors_share_eight_as_three_three_two(fleet):
    for name in "abc":
        fleet.join(name)
    now = T0
    for _ in range(6):
        now += RENEW_S
        views = fleet.round(now)
    assert sorted(len(o) for o in views.values()) == [2, 3, 3]
    assert set().union(*views.values()) == set(range(P))


def test_a_dead_collectors_partitions_are_taken_within_the_bound(fleet):
    fleet.join("a")
    fleet.join("b")
    now = T0
    for _ in range(4):
        now += RENEW_S
        fleet.round(now)
    b_had = fleet.keepers["b"].owned(now)
    died_at = now + 0.01  # b dies just after renewing: the worst case
    while sorted(fleet.round(now, alive={"a"})["a"]) != list(range(P)):
        now += RENEW_S
        assert now - died_at <= TAKEOVER_BOUND_S, "takeover too late"
    taken = fleet.keepers["a"].owned(now)
    assert now - died_at > TTL_S - RENEW_S  # not before b's leases ran out
    assert all(taken[p] == b_had[p] + 1 for p in b_had)  # each takeover a new epoch
    # b wakes up (frozen, not dead): its own view has run out, and the fence refuses it
    b = fleet.keepers["b"]
    assert b.owned(now) == {}
    with b.store.transaction():
        assert b.store.check_fence(b_had, now) == set(b_had)


def test_epochs_increase_on_every_change_of_owner(fleet):
    fleet.join("a")
    now = T0
    epochs: dict[int, list[int]] = {p: [] for p in range(P)}
    owners: dict[int, list[str]] = {p: [] for p in range(P)}
    plan_ = [("a",), ("a", "b"), ("a", "b"), ("a", "b"), ("b",), ("b",), ("b",), ("b",),
             ("b",), ("b",), ("a", "b"), ("a", "b"), ("a", "b")]
    for alive in plan_:
        if "b" in alive and "b" not in fleet.keepers:
            fleet.join("b")
        now += RENEW_S
        views = fleet.round(now, alive=set(alive))
        for name, owned in views.items():
            for p, e in owned.items():
                if not owners[p] or owners[p][-1] != name or epochs[p][-1] != e:
                    owners[p].append(name)
                    epochs[p].append(e)
    for p in range(P):
        assert epochs[p] == sorted(set(epochs[p])), f"partition {p}: epochs {epochs[p]}"
        assert len(owners[p]) >= 2  # every partition changed hands at least once
