"""Business-time arithmetic at the window's edges, over nights, weekends and DST."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.workflow.business_time import (
    BusinessClock,
    add_months,
    month_bounds,
    parse_hhmm,
)

SH = ZoneInfo("Asia/Shanghai")
MIN = 60.0


def ts(text: str, tz=SH) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def local(t: float, tz=SH) -> str:
    return datetime.fromtimestamp(t, tz).strftime("%a %Y-%m-%d %H:%M")


BC = BusinessClock()


def test_the_issue_example_21_55_plus_15_minutes_is_08_10_next_day():
    assert local(BC.add(ts("2026-03-03 21:55"), 15 * MIN)) == "Wed 2026-03-04 08:10"


@pytest.mark.parametrize("start, minutes, due", [
    ("2026-03-03 08:00", 15, "Tue 2026-03-03 08:15"),   # at opening
    ("2026-03-03 21:45", 15, "Tue 2026-03-03 22:00"),   # runs out exactly at closing
    ("2026-03-03 22:00", 15, "Wed 2026-03-04 08:15"),   # closing itself is outside
    ("2026-03-03 23:30", 30, "Wed 2026-03-04 08:30"),   # night: starts at next opening
    ("2026-03-04 03:00", 15, "Wed 2026-03-04 08:15"),   # after midnight: same morning
    ("2026-03-03 21:00", 120, "Wed 2026-03-04 09:00"),  # 1 h tonight, 1 h tomorrow
    ("2026-03-02 08:00", 48 * 60, "Thu 2026-03-05 14:00"),  # 14 h a day: 3 days + 6 h
    ("2026-03-06 21:50", 30, "Sat 2026-03-07 08:20"),   # the window is daily: Saturday counts
    ("2026-12-31 21:55", 15, "Fri 2027-01-01 08:10"),   # over New Year
])
def test_add(start, minutes, due):
    assert local(BC.add(ts(start), minutes * MIN)) == due


def test_a_weekday_only_window_skips_the_weekend():
    weekdays = BusinessClock(days=(1, 2, 3, 4, 5))
    assert local(weekdays.add(ts("2026-03-06 21:50"), 30 * MIN)) == "Mon 2026-03-09 08:20"
    assert weekdays.elapsed(ts("2026-03-06 21:50"), ts("2026-03-09 08:20")) == 30 * MIN
    assert not weekdays.in_window(ts("2026-03-07 12:00"))


def test_in_window_edges():
    assert BC.in_window(ts("2026-03-03 08:00"))
    assert BC.in_window(ts("2026-03-03 21:59:59"))
    assert not BC.in_window(ts("2026-03-03 22:00"))
    assert not BC.in_window(ts("2026-03-03 07:59:59"))


def test_elapsed_and_remaining_pause_overnight():
    a, b = ts("2026-03-03 21:50"), ts("2026-03-04 08:10")
    assert BC.elapsed(a, b) == 20 * MIN
    assert BC.elapsed(b, a) == 0
    due = BC.add(ts("2026-03-03 21:55"), 15 * MIN)
    assert BC.remaining(due, ts("2026-03-03 21:59")) == 11 * MIN
    assert BC.remaining(due, ts("2026-03-04 03:00")) == 10 * MIN  # the clock is paused
    assert BC.remaining(due, ts("2026-03-04 08:40")) == -30 * MIN


def test_a_daylight_saving_zone_keeps_the_window_in_local_time():
    berlin = BusinessClock(tz="Europe/Berlin")
    be = ZoneInfo("Europe/Berlin")
    # 2026-03-29: clocks go 02:00 -> 03:00; the window is still 08:00-22:00 local.
    due = berlin.add(ts("2026-03-28 21:30", be), 60 * MIN)
    assert local(due, be) == "Sun 2026-03-29 08:30"
    assert berlin.elapsed(ts("2026-03-28 00:00", be), ts("2026-03-30 00:00", be)) == 28 * 3600


def test_a_window_to_midnight():
    late = BusinessClock(start=time(8), end=parse_hhmm("24:00"))
    assert local(late.add(ts("2026-03-03 23:50"), 20 * MIN)) == "Wed 2026-03-04 08:10"


@settings(max_examples=200, deadline=None)
@given(start=st.floats(min_value=ts("2025-01-01 00:00"), max_value=ts("2028-01-01 00:00")),
       seconds=st.floats(min_value=1, max_value=5 * 86400))
def test_add_and_elapsed_agree(start, seconds):
    due = BC.add(start, seconds)
    assert BC.elapsed(start, due) == pytest.approx(seconds, abs=1e-3)
    # the due moment is inside a window, or exactly at a closing
    assert BC.in_window(due) or local(due).endswith("22:00")


def test_month_bounds_and_calendar_months():
    start, end = month_bounds("2026-03", "Asia/Shanghai")
    assert local(start) == "Sun 2026-03-01 00:00" and local(end) == "Wed 2026-04-01 00:00"
    assert local(month_bounds("2026-12", "Asia/Shanghai")[1]) == "Fri 2027-01-01 00:00"
    assert local(add_months(ts("2026-01-31 10:00"), 1, "Asia/Shanghai")) == \
        "Sat 2026-02-28 10:00"
    for bad in ("2026-13", "2026-3", "march"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            month_bounds(bad, "Asia/Shanghai")
