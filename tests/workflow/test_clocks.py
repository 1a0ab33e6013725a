"""Clocks, pure: due times, breaches once, escalation, reminders, the fault report."""

from collector.workflow.business_time import BusinessClock
from collector.workflow.clocks import ClockSettings, Escalation, describe, evaluate
from collector.workflow.lifecycle import Ticket, step
from collector.workflow.routing import DEFAULT_GROUPS
from tests.workflow.test_business_time import MIN, local, ts

BC = BusinessClock()
S = ClockSettings(escalations=(Escalation(0, ("seat-lead",)), Escalation(30 * MIN, ("boss",))))


def ticket(opened: str, group="remote-ops", assessed=None):
    t0 = ts(opened)
    t = Ticket(id=1, project="P1", opened_at=t0,
               assessed=BC.in_window(t0) if assessed is None else assessed)
    return step(t, "dispatch", t0, "system", groups=DEFAULT_GROUPS, group=group).ticket


def act(t, action, when, **kw):
    return step(t, action, ts(when), "bob", groups=DEFAULT_GROUPS, **kw).ticket


def kinds(events):
    """Breaches and escalations, with their clock (reminders are tested on their own)."""
    return sorted((e.kind, e.detail["clock"], e.detail.get("level")) for e in events
                  if e.kind in ("breach", "escalation"))


def test_a_response_breach_at_21_55_falls_due_next_morning_and_escalates_per_config():
    t = ticket("2026-03-03 21:55")
    assert evaluate(t, BC, S, ts("2026-03-04 08:09")) == []  # paused overnight
    events = evaluate(t, BC, S, ts("2026-03-04 08:10"))
    assert [(e.kind, local(e.at), e.audience) for e in events] == [
        ("breach", "Wed 2026-03-04 08:10", ("remote-ops", "seat")),
        ("escalation", "Wed 2026-03-04 08:10", ("seat-lead",))]
    later = evaluate(t, BC, S, ts("2026-03-04 08:41"))
    assert {e.key for e in events} < {e.key for e in later}  # the same keys again: once
    assert [local(e.at) for e in later if e.kind == "escalation"] == [
        "Wed 2026-03-04 08:10", "Wed 2026-03-04 08:40"]


def test_an_acknowledgement_in_time_means_no_breach_and_a_late_one_is_a_breach_unescalated():
    t = act(ticket("2026-03-03 10:00"), "ack", "2026-03-03 10:15")
    assert kinds(evaluate(t, BC, S, ts("2026-03-03 11:00"))) == []
    t = act(ticket("2026-03-03 10:00"), "ack", "2026-03-03 10:16")
    events = evaluate(t, BC, S, ts("2026-03-03 11:00"))
    assert kinds(events) == [("breach", "response", None)]


def test_the_handling_clock_and_its_breach():
    t = act(ticket("2026-03-03 10:00"), "ack", "2026-03-03 10:05")
    now = ts("2026-03-03 12:00")
    assert kinds(evaluate(t, BC, S, now)) == [("breach", "handling", None),
                                                  ("escalation", "handling", 1)]
    (h,) = [c for c in describe(t, BC, now) if c["clock"] == "handling"]
    assert h["state"] == "breached" and h["remaining_s"] == 0
    t2 = act(t, "resolve", "2026-03-03 11:59")
    assert kinds(evaluate(t2, BC, S, now)) == []
    (h,) = [c for c in describe(t2, BC, now) if c["clock"] == "handling"]
    assert h["state"] == "met"


def test_after_sales_handling_stops_on_arrival():
    t = act(ticket("2026-03-03 10:00", "branch-after-sales"), "ack", "2026-03-03 10:20")
    t = act(t, "arrive", "2026-03-03 11:50")
    assert kinds(evaluate(t, BC, S, ts("2026-03-03 15:00"))) == []


def test_an_incident_opened_outside_the_window_is_not_assessed_but_still_reminded():
    t = ticket("2026-03-03 23:00")
    assert not t.assessed
    events = evaluate(t, BC, S, ts("2026-03-04 09:30"))
    assert [(e.kind, local(e.at)) for e in events] == [("reminder", "Wed 2026-03-04 09:00")]
    assert describe(t, BC, ts("2026-03-04 09:30"))[0]["state"] == "not assessed"


def test_progress_reminders_every_60_business_minutes_reset_by_a_note():
    t = ticket("2026-03-03 09:00")
    t = act(t, "ack", "2026-03-03 09:05")
    (r,) = [e for e in evaluate(t, BC, S, ts("2026-03-03 10:30")) if e.kind == "reminder"]
    assert local(r.at) == "Tue 2026-03-03 10:05" and r.audience == ("remote-ops",)
    # two periods later: the latest moment only, a new key
    (r2,) = [e for e in evaluate(t, BC, S, ts("2026-03-03 12:06")) if e.kind == "reminder"]
    assert local(r2.at) == "Tue 2026-03-03 12:05" and r2.key != r.key
    t = act(t, "note", "2026-03-03 12:30", note="waiting for the vendor")
    assert [e for e in evaluate(t, BC, S, ts("2026-03-03 13:29")) if e.kind == "reminder"] == []
    # overnight the reminder clock pauses too
    t = act(t, "note", "2026-03-03 21:30", note="still on it")
    (r3,) = [e for e in evaluate(t, BC, S, ts("2026-03-04 08:31")) if e.kind == "reminder"]
    assert local(r3.at) == "Wed 2026-03-04 08:30"


def test_fault_report_due_48_hours_after_resolution():
    t = act(act(ticket("2026-03-03 10:00"), "ack", "2026-03-03 10:01"),
            "resolve", "2026-03-03 10:30")
    assert [e for e in evaluate(t, BC, S, ts("2026-03-05 10:29"))
            if e.kind == "report_overdue"] == []
    (e,) = [e for e in evaluate(t, BC, S, ts("2026-03-05 10:30"))
            if e.kind == "report_overdue"]
    assert e.audience == ("remote-ops", "seat")
    t = act(t, "report", "2026-03-05 11:00", report="root cause: power supply")
    assert [e for e in evaluate(t, BC, S, ts("2026-03-06 10:30"))
            if e.kind == "report_overdue"] == []
