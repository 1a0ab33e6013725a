"""Monthly scores per group (seed 000 §五.3). Pure: tickets, problems and ``now`` in.

An incident belongs to the month in which it was opened, in its project's time zone, and
only assessed incidents (opened inside the business window) are scored. Each dispatch to a
group is one item of that group's K1/K2: on time when its clock stopped by the due time.
docs/workflow.md gives every formula with a worked example.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from collector.workflow.business_time import BusinessClock, add_months
from collector.workflow.clocks import clocks
from collector.workflow.lifecycle import Ticket
from collector.workflow.routing import Group

GRADES = ("I", "II", "III", "IV")


def grade(duration_s: float) -> str:
    """Duration grade of domain.md: I X > 30, II 15 < X ≤ 30, III 5 < X ≤ 15, IV X ≤ 5 (min)."""
    x = duration_s / 60.0
    return "I" if x > 30 else "II" if x > 15 else "III" if x > 5 else "IV"


@dataclass(frozen=True)
class Tier:
    """A reward/penalty tier: matches when every ``at_most`` count holds and, if it has
    any, at least one ``at_least`` count holds. Tiers are tried in order; first wins."""
    name: str
    amount: float
    at_most: dict[str, int] = field(default_factory=dict)
    at_least: dict[str, int] = field(default_factory=dict)

    def matches(self, counts: dict[str, int]) -> bool:
        if any(counts[g] > n for g, n in self.at_most.items()):
            return False
        return not self.at_least or any(counts[g] >= n for g, n in self.at_least.items())


# domain.md's reading of the garbled table, penalties first: a month that meets any penalty
# condition is not rewarded. With these numbers "reward 2" can never be reached (every month
# that escapes both penalties meets "reward 1"); the report lists every tier that matched.
DEFAULT_TIERS: tuple[Tier, ...] = (
    Tier("penalty 1", -500, at_least={"I": 1, "II": 2, "III": 4, "IV": 6}),
    Tier("penalty 2", -200, at_least={"II": 1, "III": 2, "IV": 4}),
    Tier("reward 1", 600, at_most={"I": 0, "II": 0, "III": 3}),
    Tier("reward 2", 300, at_most={"I": 0, "II": 0, "III": 1, "IV": 4}),
)


@dataclass(frozen=True)
class Problem:
    """A confirmed common problem, for K3."""
    id: int
    signature: str
    confirmed_at: float
    solved_at: float | None = None


def k3(points: float, problems: list[Problem], tz: str, now: float) -> tuple[float, list]:
    """20 points, less 10 for each problem solved (or still open) more than one month after
    it was confirmed and 20 for more than two months; never below 0."""
    rows, lost = [], 0.0
    for p in problems:
        end = p.solved_at if p.solved_at is not None else now
        if end > add_months(p.confirmed_at, 2, tz):
            deduction = points
        elif end > add_months(p.confirmed_at, 1, tz):
            deduction = points / 2
        else:
            deduction = 0.0
        lost += deduction
        rows.append({"id": p.id, "signature": p.signature, "confirmed_at": p.confirmed_at,
                     "solved_at": p.solved_at, "deduction": deduction,
                     "status": "solved" if p.solved_at is not None else "open"})
    return max(0.0, points - lost), rows


def percentile(values: list[float], q: float) -> float | None:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _minutes(v: float | None) -> float | None:
    return None if v is None else round(v / 60.0, 2)


def _rate(ok: int, total: int) -> float | None:
    return None if total == 0 else round(ok / total, 4)


@dataclass
class _Tally:
    on_time: int = 0
    late: int = 0
    missing: int = 0  # no answer and past due
    pending: int = 0  # no answer, not yet due
    times: list[float] = field(default_factory=list)

    def add(self, done_at, due, start, bc: BusinessClock, now: float) -> str:
        if done_at is not None:
            self.times.append(bc.elapsed(start, done_at))
            if done_at <= due:
                self.on_time += 1
                return "on time"
            self.late += 1
            return "late"
        if now >= due:
            self.missing += 1
            return "missing"
        self.pending += 1
        return "pending"


def monthly(month: str, tickets: list[Ticket], groups: dict[str, Group],
            clock_for: Callable[[str], BusinessClock], now: float, *,
            durations: dict[int, float], tiers: tuple[Tier, ...] = DEFAULT_TIERS,
            problems: list[Problem] = (), default_tz: str = "Asia/Shanghai",
            limits: tuple[int, int] = (5, 2)) -> dict:
    """The month's report. ``tickets`` are those opened in the month; ``durations`` gives
    each ticket's fault duration (seconds) for its grade; ``problems`` those confirmed in
    the month."""
    per_group: dict[str, dict] = {name: {"tickets": set(), "dispatched": 0, "assessed": 0,
                                         "resp": _Tally(), "hand": _Tally(),
                                         "grades": dict.fromkeys(GRADES, 0),
                                         "severity": {"1": 0, "2": 0, "3": 0},
                                         "penalties": []} for name in groups}
    over_transfers, over_plans, not_assessed = [], [], 0
    for t in tickets:
        if t.transfers > limits[0]:
            over_transfers.append(t.id)
        if t.plan_changes > limits[1]:
            over_plans.append(t.id)
        if not t.assessed:
            not_assessed += 1
        bc = clock_for(t.project)
        seen: set[str] = set()
        for a in t.assignments:
            g = per_group.get(a.group)
            if g is None:
                continue
            g["tickets"].add(t.id)
            g["dispatched"] += 1
            if not t.assessed:
                continue
            g["assessed"] += 1
            if a.group not in seen:  # an incident is graded once per group
                seen.add(a.group)
                g["grades"][grade(durations.get(t.id, 0.0))] += 1
                g["severity"][str(t.severity)] += 1
            for c in clocks(a, bc):
                tally = g["resp"] if c.name == "response" else g["hand"]
                outcome = tally.add(c.done_at, c.due, a.dispatched_at, bc, now)
                if outcome in ("late", "missing"):
                    what = "late response" if c.name == "response" else (
                        "late arrival" if a.milestone == "arrive" else "late handling")
                    g["penalties"].append({"incident": t.id, "assignment": a.id, "item": what,
                                           "due": c.due, "done_at": c.done_at})
    out_groups = []
    for name, g in per_group.items():
        out_groups.append(_group_report(groups[name], g, problems, default_tz, tiers, now))
    return {"month": month, "timezone": default_tz, "generated_at": now,
            "incidents": len(tickets), "not_assessed": not_assessed,
            "incidents_over_transfer_limit": over_transfers,
            "incidents_over_plan_change_limit": over_plans,
            "groups": out_groups}


def _group_report(group: Group, g: dict, problems, tz: str, tiers, now: float) -> dict:
    resp, hand = g["resp"], g["hand"]
    has_resp, has_hand = group.respond_s is not None, group.handle_s is not None
    n = g["assessed"]
    r = {"group": group.name, "score_kind": group.score, "incidents": len(g["tickets"]),
         "dispatched": g["dispatched"], "assessed": n,
         "respond_within_min": _minutes(group.respond_s),
         "handle_within_min": _minutes(group.handle_s),
         "responded_on_time": resp.on_time if has_resp else None,
         "responded_late": resp.late + resp.missing if has_resp else None,
         "response_pending": resp.pending if has_resp else None,
         "handled_on_time": hand.on_time if has_hand else None,
         "handled_late": hand.late + hand.missing if has_hand else None,
         "handling_pending": hand.pending if has_hand else None,
         "response_rate": _rate(resp.on_time, n) if has_resp else None,
         "handling_rate": _rate(hand.on_time, n) if has_hand else None,
         "response_median_min": _minutes(statistics.median(resp.times)) if resp.times else None,
         "response_p90_min": _minutes(percentile(resp.times, 0.9)),
         "handling_median_min": _minutes(statistics.median(hand.times)) if hand.times else None,
         "handling_p90_min": _minutes(percentile(hand.times, 0.9)),
         "grades": g["grades"], "severity": g["severity"],
         "k1": None, "k2": None, "k3": None, "score": None}
    if group.score == "k":
        # No dispatches in the month: nothing was late, full marks.
        r["k1"] = round(group.base * (1.0 if r["response_rate"] is None
                                      else r["response_rate"]), 2)
        r["k2"] = round(group.base * (1.0 if r["handling_rate"] is None
                                      else r["handling_rate"]), 2)
        r["score"] = r["k1"] + r["k2"]
        if group.k3 is not None:
            r["k3"], r["common_problems"] = k3(group.k3, list(problems), tz, now)
            r["score"] = round(r["score"] + r["k3"], 2)
    elif group.score == "tiers":
        matched = [t for t in tiers if t.matches(g["grades"])]
        chosen = matched[0] if matched else None
        r["tier"] = None if chosen is None else {"name": chosen.name, "amount": chosen.amount}
        r["tiers_matched"] = [t.name for t in matched]
        r["score"] = 0 if chosen is None else chosen.amount
    elif group.score == "penalties":
        items = [{**p, "amount": group.penalty} for p in g["penalties"]
                 if p["item"] in ("late response", "late arrival")]
        r["late_responses"] = sum(p["item"] == "late response" for p in items)
        r["late_arrivals"] = sum(p["item"] == "late arrival" for p in items)
        r["penalty_items"] = items
        r["penalty_total"] = sum(p["amount"] for p in items)
        r["score"] = -r["penalty_total"]
    return r
