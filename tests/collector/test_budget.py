"""The budget's counting rules, pure: the worked examples of issue 5 and docs/budget.md."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.downtime import intervals as iv
from collector.downtime.budget import BudgetRules, NetOutage, compute, windows

SH = ZoneInfo("Asia/Shanghai")
YEAR_END = datetime(2027, 1, 1, tzinfo=SH).timestamp()


def t(s, tz=SH):
    """'2026-03-03 21:50' in the project's time zone, as epoch seconds."""
    return datetime.fromisoformat(s).replace(tzinfo=tz).timestamp()


_ids = iter(range(1, 10**6))


def out(start, end, site="S01", **kw):
    return NetOutage(next(_ids), site, t(start), None if end is None else t(end), **kw)


def figures(outages, maintenance=(), sight=None, as_of=YEAR_END, year=2026, **rules):
    return compute("P001", year, list(outages), list(maintenance), sight, as_of,
                   BudgetRules(**rules))


def test_outage_from_2150_to_2240_counts_10_minutes():
    f = figures([out("2026-03-03 21:50", "2026-03-03 22:40")])
    assert f["down_minutes"] == 10.0
    assert f["remaining_minutes"] == 50.0
    assert f["alerts_over_threshold"] == 1
    assert f["longest_restore_minutes"] == 50.0 and f["restores_over_target"] == 1


def test_outage_from_0730_to_0815_counts_15_minutes():
    assert figures([out("2026-03-03 07:30", "2026-03-03 08:15")])["down_minutes"] == 15.0


def test_two_sites_down_at_once_count_once():
    f = figures([out("2026-05-01 10:00", "2026-05-01 10:30", "S01"),
                 out("2026-05-01 10:10", "2026-05-01 10:40", "S02")])
    assert f["down_minutes"] == 40.0
    assert f["alerts_over_threshold"] == 2  # two outages, each an alert


def test_outside_the_window_counts_nothing_and_is_no_alert():
    f = figures([out("2026-05-01 22:00", "2026-05-02 07:59")])
    assert f["down_minutes"] == 0.0 and f["alerts_over_threshold"] == 0
    assert f["availability_24x7_pct"] < 100.0


def test_overnight_outage_is_split_at_midnight():
    f = figures([out("2026-05-01 21:30", "2026-05-02 09:00")])
    assert f["down_minutes"] == 30.0 + 60.0


def test_new_year_splits_between_the_two_years():
    o = [out("2026-12-31 21:30", "2027-01-01 09:00")]
    assert figures(o)["down_minutes"] == 30.0
    next_year = figures(o, year=2027, as_of=t("2027-06-01 00:00"))
    assert next_year["down_minutes"] == 60.0 and next_year["alerts_over_threshold"] == 1


@pytest.mark.parametrize("seconds,counts", [(60, 0.0), (59, 0.0), (61, 61 / 60)])
def test_threshold_is_more_than_60_seconds(seconds, counts):
    o = NetOutage(1, "S01", t("2026-05-01 10:00"), t("2026-05-01 10:00") + seconds)
    f = figures([o])
    assert f["down_minutes"] == round(counts, 2)
    assert f["alerts_over_threshold"] == (1 if counts else 0)


def test_threshold_is_judged_on_the_whole_outage_not_its_part_in_the_window():
    f = figures([out("2026-05-01 07:59:30", "2026-05-01 08:00:30")])  # 60 s: not over
    assert f["down_minutes"] == 0.0
    f = figures([out("2026-05-01 07:58", "2026-05-01 08:00:30")])  # 150 s, 30 s inside
    assert f["down_minutes"] == 0.5 and f["alerts_over_threshold"] == 1


def test_customer_caused_outage_is_excluded_entirely():
    f = figures([out("2026-05-01 10:00", "2026-05-01 10:30", customer=True)])
    assert f["down_minutes"] == 0.0 and f["excluded_minutes"] == 30.0
    assert f["alerts_over_threshold"] == 0


def test_exclusion_removes_only_what_no_other_outage_covers():
    f = figures([out("2026-05-01 10:00", "2026-05-01 10:30", "S01", customer=True),
                 out("2026-05-01 10:20", "2026-05-01 10:40", "S02")])
    assert f["down_minutes"] == 20.0 and f["excluded_minutes"] == 20.0


def test_maintenance_window_excludes_the_overlapping_part():
    f = figures([out("2026-05-10 08:30", "2026-05-10 10:00")],
                maintenance=[(t("2026-05-10 09:00"), t("2026-05-10 11:00"))])
    assert f["down_minutes"] == 30.0 and f["excluded_minutes"] == 60.0
    assert f["alerts_over_threshold"] == 1


def test_outage_wholly_inside_maintenance_is_no_alert():
    f = figures([out("2026-05-10 09:10", "2026-05-10 09:40")],
                maintenance=[(t("2026-05-10 09:00"), t("2026-05-10 11:00"))])
    assert f["down_minutes"] == 0.0 and f["alerts_over_threshold"] == 0


def test_platform_outages_and_unknown_time_are_charged_to_nobody():
    f = figures([out("2026-05-01 10:00", "2026-05-01 10:30", platform=True)])
    assert f["down_minutes"] == 0.0 and f["excluded_minutes"] == 0.0
    # The collector could not see from 10:10 to 10:20: that part is unknown, not down.
    sight = [(t("2026-01-01 00:00"), t("2026-05-01 10:10")),
             (t("2026-05-01 10:20"), YEAR_END)]
    f = figures([out("2026-05-01 10:00", "2026-05-01 10:30")], sight=sight)
    assert f["down_minutes"] == 20.0


def test_open_outage_runs_to_as_of():
    f = figures([out("2026-05-01 10:00", None)], as_of=t("2026-05-01 10:45"))
    assert f["down_minutes"] == 45.0 and f["longest_restore_minutes"] == 45.0


def test_over_budget_remaining_is_zero_and_the_day_it_ran_out_is_given():
    f = figures([out("2026-02-01 10:00", "2026-02-01 10:40"),
                 out("2026-03-05 10:00", "2026-03-05 10:40")])
    assert f["down_minutes"] == 80.0 and f["remaining_minutes"] == 0.0
    assert f["forecast"]["runs_out_on"] == "2026-03-05"


def test_forecast_at_the_year_to_date_rate():
    # 10 minutes down in the first 100 days: 36.5 minutes by year end, budget holds.
    as_of = t("2026-04-11 00:00")
    f = figures([out("2026-02-01 10:00", "2026-02-01 10:10")], as_of=as_of)
    assert f["forecast"]["projected_year_end_minutes"] == 36.5
    assert f["forecast"]["runs_out_on"] is None
    # 30 minutes in 100 days: 109.5 by year end; the remaining 30 last 100 more days.
    f = figures([out("2026-02-01 10:00", "2026-02-01 10:30")], as_of=as_of)
    assert f["forecast"]["projected_year_end_minutes"] == 109.5
    assert f["forecast"]["runs_out_on"] == "2026-07-19"


def test_availability_figures():
    f = figures([out("2026-05-01 10:00", "2026-05-01 10:42")])
    window_minutes = 365 * 14 * 60
    assert f["availability_window_pct"] == round(100 * (1 - 42 / window_minutes), 4)
    assert f["availability_24x7_pct"] == round(100 * (1 - 42 / (365 * 1440)), 4)


def test_project_time_zone_decides_the_window():
    utc = ZoneInfo("UTC")
    o = [NetOutage(1, "S01", t("2026-05-01 07:30", utc), t("2026-05-01 08:15", utc))]
    assert figures(o, timezone="UTC")["down_minutes"] == 15.0
    assert figures(o)["down_minutes"] == 45.0  # 15:30-16:15 in Shanghai: all inside


def test_windows_follow_daylight_saving_time():
    days = windows(2026, "Europe/Berlin")
    lengths = {round(e - s) for s, e in days}
    assert lengths == {14 * 3600}  # 08:00-22:00 local is 14 h even on the change days
    assert len(days) == 365


spans = st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)).map(
    lambda p: (float(min(p)), float(max(p)))), max_size=8)


@given(spans, spans)
def test_interval_arithmetic_agrees_with_counting_points(a, b):
    ua, ub = iv.union(a), iv.union(b)
    inside = lambda x, s: any(lo <= x < hi for lo, hi in s)  # noqa: E731
    points = [x + 0.5 for x in range(0, 1000)]
    assert iv.total(iv.subtract(ua, ub)) == sum(inside(p, ua) and not inside(p, ub)
                                                for p in points)
    assert iv.total(iv.intersect(ua, ub)) == sum(inside(p, ua) and inside(p, ub)
                                                 for p in points)
    assert iv.total(ua) == sum(inside(p, ua) for p in points)


def test_each_counted_outage_says_what_it_charged_and_the_charges_add_up():
    tz = ZoneInfo("Asia/Shanghai")

    def t(h, m):
        return datetime(2026, 5, 1, h, m, tzinfo=tz).timestamp()

    outages = [NetOutage(1, "S1", t(10, 0), t(10, 30)), NetOutage(2, "S2", t(10, 20), t(10, 50)),
               NetOutage(3, "S1", t(21, 50), t(22, 40)),
               NetOutage(4, "S3", t(12, 0), t(12, 30), customer=True)]
    r = compute("P", 2026, outages, [], None, t(23, 0))
    charges = {o["id"]: o["charged_minutes"] for o in r["outages"]}
    assert charges == {1: 30.0, 2: 20.0, 3: 10.0, 4: 0.0}
    assert sum(charges.values()) == r["down_minutes"] == 60.0


def test_no_forecast_from_a_few_hours_of_data():
    # A fresh database: 5 minutes down in the first morning would project to thousands.
    as_of = t("2026-01-01 12:00")
    f = figures([out("2026-01-01 10:00", "2026-01-01 10:05")], as_of=as_of)
    assert f["forecast"]["enough_data"] is False
    assert f["forecast"]["projected_year_end_minutes"] is None
    assert f["forecast"]["runs_out_on"] is None
    assert f["forecast"]["basis_hours"] == 4.0
    assert f["down_minutes"] == 5.0
