"""The lifecycle state machine, pure: every transition and every illegal one."""

import pytest

from collector.workflow.lifecycle import (
    ACTIONS,
    ALLOWED,
    STATES,
    Conflict,
    Invalid,
    Limits,
    Ticket,
    step,
)
from collector.workflow.routing import DEFAULT_GROUPS

G = DEFAULT_GROUPS


def go(t, action, now, **kw):
    kw.setdefault("who", "alice")
    return step(t, action, now, groups=G, **kw)


def fresh():
    return Ticket(id=7, project="P1", opened_at=0.0, assessed=True)


def test_the_whole_way_with_a_transfer_a_plan_and_a_failed_verification():
    t = fresh()
    s = go(t, "dispatch", 10, group="remote-ops", note="routing table")
    assert t.state == "open"  # the input is not changed
    t = s.ticket
    assert (t.state, t.group, len(t.assignments)) == ("dispatched", "remote-ops", 1)
    assert s.audit.who == "alice" and s.audit.note == "routing table"
    assert [e.kind for e in s.events] == ["dispatched"]
    assert s.events[0].audience == ("remote-ops",)
    t = go(t, "ack", 20).ticket
    assert t.state == "acknowledged" and t.assignments[0].acked_at == 20
    t = go(t, "transfer", 30, group="branch-after-sales", note="needs a site visit").ticket
    assert (t.state, t.group, t.transfers) == ("dispatched", "branch-after-sales", 1)
    first = t.assignments[0]
    assert (first.ended_at, first.end_reason, first.handled_at) == (30, "transferred", 30)
    t = go(t, "ack", 40).ticket
    t = go(t, "arrive", 50).ticket
    assert t.assignments[1].arrived_at == 50 and t.assignments[1].handled_at == 50
    t = go(t, "plan", 55, plan="replace the limit switch", plan_date="2026-03-04").ticket
    t = go(t, "plan", 56, plan="replace the controller").ticket
    assert t.plan_changes == 1
    s = go(t, "resolve", 60)
    t = s.ticket
    assert (t.state, t.resolved_group, t.resolved_at) == ("resolved", "branch-after-sales", 60)
    assert [(e.kind, e.audience) for e in s.events] == [("resolved", ("seat",))]
    s = go(t, "reopen", 70, who="seat-bob", note="the arm still sticks")
    t = s.ticket
    assert (t.state, t.group, t.resolved_at) == ("acknowledged", "branch-after-sales", None)
    assert t.assignments[1].reopened == 1 and t.assignments[1].ended_at is None
    assert s.events[0].kind == "reopened" and s.events[0].audience == ("branch-after-sales",)
    t = go(t, "resolve", 80).ticket
    assert t.assignments[1].resolved_at == 80
    t = go(t, "verify", 90, who="seat-bob").ticket
    t = go(t, "report", 95, report="limit switch worn; replaced controller").ticket
    t = go(t, "close", 100, who="seat-bob").ticket
    assert (t.state, t.closed_at, t.fault_report_at) == ("closed", 100, 95)
    assert t.version == 13


def test_the_seat_group_may_close_what_it_solved_itself():
    t = go(fresh(), "close", 5, note="opened the arm remotely").ticket
    assert t.state == "closed" and t.assignments == []


# Every (state, action) pair the table does not allow is a Conflict and changes nothing.
def _reach(state):
    t = fresh()
    path = {"open": [], "dispatched": ["dispatch"], "acknowledged": ["dispatch", "ack"],
            "resolved": ["dispatch", "ack", "resolve"],
            "verified": ["dispatch", "ack", "resolve", "verify"],
            "closed": ["dispatch", "ack", "resolve", "verify", "close"]}[state]
    for i, action in enumerate(path):
        t = go(t, action, i, group="remote-ops").ticket
    return t


ILLEGAL = [(s, a) for s in STATES for a in ACTIONS if s not in ALLOWED[a][0]]


@pytest.mark.parametrize("state, action", ILLEGAL)
def test_illegal_transition_is_a_conflict(state, action):
    t = _reach(state)
    before = repr(t)
    with pytest.raises(Conflict, match=f"cannot {action} incident 7: it is {state}"):
        go(t, action, 99, group="technical-liaison", plan="x", report="x")
    assert repr(t) == before


def test_bad_arguments_are_invalid_not_conflicts():
    t = fresh()
    with pytest.raises(Invalid, match="'group' is required"):
        go(t, "dispatch", 1)
    with pytest.raises(Invalid, match="unknown group 'nobody'"):
        go(t, "dispatch", 1, group="nobody")
    with pytest.raises(Invalid, match="'who' is required"):
        go(t, "dispatch", 1, group="remote-ops", who=" ")
    with pytest.raises(Invalid, match="unknown action"):
        go(t, "explode", 1)
    t = go(t, "dispatch", 1, group="remote-ops").ticket
    with pytest.raises(Invalid, match="already with remote-ops"):
        go(t, "transfer", 2, group="remote-ops")


def test_transfers_and_plan_changes_over_the_standard_are_counted_and_flagged():
    t = go(fresh(), "dispatch", 0, group="remote-ops").ticket
    hops = ["technical-liaison", "remote-ops"] * 3
    flagged = []
    for i, g in enumerate(hops, 1):
        s = go(t, "transfer", i, group=g)
        t = s.ticket
        flagged += [e.detail["count"] for e in s.events if e.kind == "limit"]
    assert t.transfers == 6 and flagged == [6]
    t = go(t, "ack", 10).ticket
    counts = []
    for i in range(4):
        s = go(t, "plan", 20 + i, plan=f"plan {i}")
        t = s.ticket
        counts += [e.detail["count"] for e in s.events if e.kind == "limit"]
    assert t.plan_changes == 3 and counts == [3]
    # a stricter standard from the config
    s = step(go(fresh(), "dispatch", 0, group="remote-ops").ticket, "transfer", 1, "a",
             groups=G, limits=Limits(transfers=0), group="site-patrol")
    assert [e.kind for e in s.events] == ["limit", "dispatched"]


def test_the_standards_in_force_at_dispatch_are_frozen_on_the_assignment():
    t = go(fresh(), "dispatch", 0, group="branch-after-sales").ticket
    a = t.assignments[0]
    assert (a.respond_s, a.handle_s, a.milestone) == (1800, 7200, "arrive")
    t = go(fresh(), "dispatch", 0, group="site-patrol").ticket
    assert (t.assignments[0].respond_s, t.assignments[0].handle_s) == (None, 1200)
