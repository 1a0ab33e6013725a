"""Monthly scores against worked examples from the seed's tables (docs/workflow.md)."""

import pytest

from collector.workflow.business_time import BusinessClock
from collector.workflow.lifecycle import Ticket, step
from collector.workflow.routing import DEFAULT_GROUPS
from collector.workflow.scores import (
    DEFAULT_TIERS,
    Problem,
    Tier,
    grade,
    k3,
    monthly,
    percentile,
)
from tests.workflow.test_business_time import MIN, ts

BC = BusinessClock()
G = DEFAULT_GROUPS


def make(tid, opened, group, ack_min=None, done_min=None, milestone_action="resolve"):
    """A ticket dispatched at ``opened``; acknowledged and resolved (or arrived) after the
    given minutes (daytime, so business minutes are wall minutes)."""
    t0 = ts(opened)
    t = Ticket(id=tid, project="P1", opened_at=t0, assessed=BC.in_window(t0))
    t = step(t, "dispatch", t0, "sys", groups=G, group=group).ticket
    if ack_min is not None:
        t = step(t, "ack", t0 + ack_min * MIN, "x", groups=G).ticket
    if done_min is not None:
        t = step(t, milestone_action, t0 + done_min * MIN, "x", groups=G).ticket
    for i, a in enumerate(t.assignments):
        a.id = tid * 10 + i
    return t


def report(tickets, now="2026-04-10 12:00", durations=None, problems=()):
    return monthly("2026-03", tickets, G, lambda p: BC, ts(now),
                   durations=durations or {}, problems=list(problems))


def group(rep, name):
    return next(g for g in rep["groups"] if g["group"] == name)


def test_remote_ops_k1_k2_with_base_50():
    # 10 dispatches: 8 answered within 15 min, 9 handled within 2 h.
    acks = [5, 10, 15, 3, 7, 12, 14, 1, 16, 30]
    dones = [60, 120, 90, 30, 45, 100, 110, 20, 119, 121]
    tickets = [make(i, f"2026-03-{i + 2:02d} 10:00", "remote-ops", a, d)
               for i, (a, d) in enumerate(zip(acks, dones, strict=True))]
    g = group(report(tickets), "remote-ops")
    assert (g["dispatched"], g["responded_on_time"], g["responded_late"]) == (10, 8, 2)
    assert (g["handled_on_time"], g["handled_late"]) == (9, 1)
    assert (g["response_rate"], g["handling_rate"]) == (0.8, 0.9)
    assert (g["k1"], g["k2"], g["k3"], g["score"]) == (40.0, 45.0, None, 85.0)
    # median of 1,3,5,7,10,12,14,15,16,30 is 11; nearest-rank p90 is the 9th value, 16
    assert (g["response_median_min"], g["response_p90_min"]) == (11.0, 16.0)
    assert (g["handling_median_min"], g["handling_p90_min"]) == (95.0, 120.0)


def test_technical_liaison_k1_k2_base_40_and_k3_from_common_problems():
    tickets = [make(1, "2026-03-02 10:00", "technical-liaison", 10, 25),
               make(2, "2026-03-03 10:00", "technical-liaison", 14, 29),
               make(3, "2026-03-04 10:00", "technical-liaison", 15, 45),
               make(4, "2026-03-05 10:00", "technical-liaison", 20, 60)]
    problems = [Problem(1, "device_fault:a/x", ts("2026-03-05 10:00"), ts("2026-03-20 10:00")),
                Problem(2, "software_down", ts("2026-03-10 10:00"), ts("2026-04-15 10:00"))]
    g = group(report(tickets, problems=problems), "technical-liaison")
    assert (g["k1"], g["k2"]) == (30.0, 20.0)  # 3/4 × 40, 2/4 × 40
    assert g["k3"] == 10.0  # 20, less 10 for the problem solved after more than a month
    assert g["score"] == 60.0
    assert [p["deduction"] for p in g["common_problems"]] == [0.0, 10.0]


def test_k3_deductions_one_and_two_months_and_never_below_zero():
    c = ts("2026-03-10 10:00")
    on_time = Problem(1, "a", c, ts("2026-04-10 10:00"))  # exactly one month: in time
    late = Problem(2, "b", c, ts("2026-04-10 10:01"))
    very_late = Problem(3, "c", c, ts("2026-05-10 10:01"))
    assert k3(20, [on_time], "Asia/Shanghai", ts("2026-06-01 00:00"))[0] == 20
    assert k3(20, [late], "Asia/Shanghai", ts("2026-06-01 00:00"))[0] == 10
    assert k3(20, [very_late], "Asia/Shanghai", ts("2026-06-01 00:00"))[0] == 0
    assert k3(20, [late, very_late], "Asia/Shanghai", ts("2026-06-01 00:00"))[0] == 0
    # an unsolved problem is judged at "now"
    still_open = Problem(4, "d", c, None)
    assert k3(20, [still_open], "Asia/Shanghai", ts("2026-04-01 00:00"))[0] == 20
    assert k3(20, [still_open], "Asia/Shanghai", ts("2026-04-11 00:00"))[0] == 10


@pytest.mark.parametrize("minutes, expected", [
    (0.5, "IV"), (5, "IV"), (5.01, "III"), (15, "III"), (15.5, "II"), (30, "II"), (31, "I")])
def test_duration_grades(minutes, expected):
    assert grade(minutes * MIN) == expected


@pytest.mark.parametrize("counts, tier, matched", [
    ({"I": 0, "II": 0, "III": 0, "IV": 0}, "reward 1", ["reward 1", "reward 2"]),
    ({"I": 0, "II": 0, "III": 1, "IV": 3}, "reward 1", ["reward 1", "reward 2"]),
    ({"I": 0, "II": 0, "III": 2, "IV": 0}, "penalty 2", ["penalty 2", "reward 1"]),
    ({"I": 0, "II": 0, "III": 0, "IV": 4}, "penalty 2", ["penalty 2", "reward 1", "reward 2"]),
    ({"I": 1, "II": 0, "III": 0, "IV": 0}, "penalty 1", ["penalty 1"]),
    ({"I": 0, "II": 1, "III": 0, "IV": 0}, "penalty 2", ["penalty 2"]),
    ({"I": 0, "II": 0, "III": 4, "IV": 6}, "penalty 1", ["penalty 1", "penalty 2"]),
])
def test_operations_centre_tiers_in_their_documented_order(counts, tier, matched):
    hits = [t.name for t in DEFAULT_TIERS if t.matches(counts)]
    assert hits == matched and hits[0] == tier


def test_operations_centre_grades_its_month_and_picks_the_first_matching_tier():
    tickets = [make(i, f"2026-03-{i + 2:02d} 10:00", "operations-centre", 5, 20)
               for i in range(4)]
    durations = {0: 3 * MIN, 1: 10 * MIN, 2: 12 * MIN, 3: 4 * MIN}  # IV, III, III, IV
    g = group(report(tickets, durations=durations), "operations-centre")
    assert g["grades"] == {"I": 0, "II": 0, "III": 2, "IV": 2}
    assert g["tier"] == {"name": "penalty 2", "amount": -200}
    assert g["tiers_matched"] == ["penalty 2", "reward 1"]
    custom = (Tier("great", 1000, at_most={"I": 0, "II": 0}),)
    rep = monthly("2026-03", tickets, G, lambda p: BC, ts("2026-04-10 12:00"),
                  durations=durations, tiers=custom)
    assert group(rep, "operations-centre")["tier"] == {"name": "great", "amount": 1000}


def test_branch_after_sales_penalty_items_for_late_response_and_late_arrival():
    tickets = [make(1, "2026-03-02 10:00", "branch-after-sales", 35, 110, "arrive"),
               make(2, "2026-03-03 10:00", "branch-after-sales", 10, 130, "arrive"),
               make(3, "2026-03-04 10:00", "branch-after-sales", 30, 120, "arrive"),
               make(4, "2026-03-05 10:00", "branch-after-sales")]  # never answered
    g = group(report(tickets), "branch-after-sales")
    assert (g["late_responses"], g["late_arrivals"]) == (2, 2)
    assert [(p["incident"], p["item"]) for p in g["penalty_items"]] == [
        (1, "late response"), (2, "late arrival"), (4, "late response"), (4, "late arrival")]
    assert g["penalty_total"] == 200 and g["score"] == -200


def test_unassessed_and_pending_incidents():
    night = make(1, "2026-03-02 23:00", "remote-ops", 5, 30)
    pending = make(2, "2026-03-31 21:50", "remote-ops")  # response due 08:05 on April 1st
    rep = report([night, pending], now="2026-03-31 21:55")
    g = group(rep, "remote-ops")
    assert rep["not_assessed"] == 1
    assert (g["dispatched"], g["assessed"], g["response_pending"]) == (2, 1, 1)
    assert g["k1"] == 0.0  # the one assessed dispatch has no answer yet
    empty = group(report([]), "remote-ops")
    assert (empty["response_rate"], empty["k1"], empty["k2"]) == (None, 50.0, 50.0)


def test_percentile_is_nearest_rank():
    assert percentile([], 0.9) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile(list(range(1, 11)), 0.9) == 9
    assert percentile(list(range(1, 12)), 0.9) == 10
