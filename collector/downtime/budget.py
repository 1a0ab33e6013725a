"""A project's yearly network-down budget (domain.md, Targets §3). Pure: no I/O, no clock.

The counting rules, each documented with a worked example in docs/budget.md:

1. Only site-network outages count, and only those that lasted more than the threshold
   (their whole length, start to end, decides; time the collector could not see is not
   part of that length).
2. Only time inside the assessed window (08:00-22:00 in the project's time zone) counts;
   an outage is split at each window edge, at midnight and at New Year.
3. A project's downtime is the union of its sites' outages: two sites down at once count once.
4. Excluded: outages an operator marked customer-caused (all of them), and the part of any
   outage inside a declared planned-maintenance window. ``excluded_minutes`` is what these
   exclusions removed from the union.
5. Not the project's: outages absorbed by a platform incident, and any time the collector
   could not see (not running, or cut off from the broker): unknown is not down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from collector.downtime import intervals as iv
from collector.downtime.intervals import Interval

DEFAULT_TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class NetOutage:
    """One site-network outage as the budget sees it."""

    id: int
    site: str
    start: float
    end: float | None  # None while it is still open
    customer: bool = False  # an operator marked it customer-caused
    platform: bool = False  # part of a platform incident


@dataclass(frozen=True)
class BudgetRules:
    timezone: str = DEFAULT_TIMEZONE
    budget_minutes: float = 60.0
    threshold_s: float = 60.0
    window_start_h: int = 8
    window_end_h: int = 22
    restore_target_minutes: float = 20.0


@lru_cache(maxsize=64)
def year_bounds(year: int, timezone: str) -> tuple[float, float]:
    tz = ZoneInfo(timezone)
    return (datetime(year, 1, 1, tzinfo=tz).timestamp(),
            datetime(year + 1, 1, 1, tzinfo=tz).timestamp())


@lru_cache(maxsize=64)
def windows(year: int, timezone: str, start_h: int = 8, end_h: int = 22) -> tuple[Interval, ...]:
    """Each local day's assessed window of ``year``, as epoch intervals."""
    tz = ZoneInfo(timezone)
    out, day = [], date(year, 1, 1)
    while day.year == year:
        out.append((datetime(day.year, day.month, day.day, start_h, tzinfo=tz).timestamp(),
                    datetime(day.year, day.month, day.day, end_h, tzinfo=tz).timestamp()))
        day += timedelta(days=1)
    return tuple(out)


def _minutes(seconds: float) -> float:
    return round(seconds / 60.0, 2)


def compute(project: str, year: int, outages: list[NetOutage],
            maintenance: list[Interval], sight: list[Interval] | None, as_of: float,
            rules: BudgetRules = BudgetRules()) -> dict:
    """The budget figures of ``project`` for ``year`` as known at ``as_of``.

    ``sight``: the periods the collector could see (running and connected); None means
    always. Time before ``as_of`` outside them is unknown and charged to nobody.
    """
    y0, y1 = year_bounds(year, rules.timezone)
    end = min(max(as_of, y0), y1)
    window = list(windows(year, rules.timezone, rules.window_start_h, rules.window_end_h))
    assessed = [(y0, end)] if sight is None else iv.clip(iv.union(sight), y0, end)
    win_assessed = iv.intersect(window, assessed)

    def span(o: NetOutage) -> Interval:
        return (o.start, o.end if o.end is not None else max(o.start, as_of))

    seen = None if sight is None else iv.union(sight)

    def visible(o: NetOutage) -> float:  # unknown time does not make an outage long
        s = span(o)
        return s[1] - s[0] if seen is None else iv.total(iv.intersect([s], seen))

    qualifying = [o for o in outages if not o.platform and visible(o) > rules.threshold_s]
    charged_outages = [o for o in qualifying if not o.customer]
    maint = iv.union(maintenance)

    def counted(group: list[NetOutage], exclude_maintenance: bool) -> list[Interval]:
        u = iv.union(span(o) for o in group)
        if exclude_maintenance:
            u = iv.subtract(u, maint)
        return iv.intersect(u, assessed)

    charged_all_day = counted(charged_outages, True)
    charged = iv.intersect(charged_all_day, window)
    everything = iv.intersect(counted(qualifying, False), window)
    down_s = iv.total(charged)

    alerts = []
    for o in charged_outages:
        part = iv.intersect(iv.subtract([span(o)], maint), win_assessed)
        if iv.total(part) > 0:
            alerts.append(o)
    restores = [span(o)[1] - o.start for o in alerts]
    target_s = rules.restore_target_minutes * 60.0

    win_s = iv.total(win_assessed)
    all_s = iv.total(assessed)
    return {
        "project": project,
        "year": year,
        "budget_minutes": rules.budget_minutes,
        "down_minutes": _minutes(down_s),
        "remaining_minutes": _minutes(max(0.0, rules.budget_minutes * 60.0 - down_s)),
        "excluded_minutes": _minutes(iv.total(everything) - down_s),
        "alerts_over_threshold": len(alerts),
        "longest_restore_minutes": _minutes(max(restores, default=0.0)),
        "restores_over_target": sum(1 for r in restores if r > target_s),
        "availability_window_pct": _pct(down_s, win_s),
        "availability_24x7_pct": _pct(iv.total(charged_all_day), all_s),
        "forecast": _forecast(down_s, charged, win_s, window, end, y1, rules),
        "outages": _per_outage(qualifying, span, maint, win_assessed),
    }


def _per_outage(qualifying: list[NetOutage], span, maint: list[Interval],
                win_assessed: list[Interval]) -> list[dict]:
    """Each counted outage and the minutes it charged. Where two sites were down at once the
    overlap is charged to the outage that began first, so the charges add up to the total."""
    out, taken = [], []
    for o in sorted(qualifying, key=lambda o: (o.start, o.id)):
        own = iv.intersect(iv.subtract([span(o)], maint), win_assessed)
        charge = [] if o.customer else iv.subtract(own, taken)
        taken = iv.union(taken + charge)
        out.append({"id": o.id, "site": o.site, "started_at": o.start, "ended_at": o.end,
                    "customer": o.customer, "charged_minutes": _minutes(iv.total(charge))})
    return out


def _pct(down_s: float, of_s: float) -> float | None:
    if of_s <= 0:
        return None
    return round(100.0 * (1.0 - down_s / of_s), 4)


FORECAST_BASIS_S = 7 * 14 * 3600.0  # a week of assessed 08:00-22:00 time at least


def _forecast(down_s: float, charged: list[Interval], win_s: float, window: list[Interval],
              end: float, y1: float, rules: BudgetRules) -> dict:
    """Year-end minutes at the year-to-date rate, and the day the budget runs out.

    A rate needs time behind it: on less than ``FORECAST_BASIS_S`` of assessed window a
    few minutes would project to thousands, so there is no projection then (``None``,
    and ``enough_data`` false). A budget already spent has its day all the same.
    """
    rest = iv.clip(window, end, y1)
    enough = win_s >= FORECAST_BASIS_S
    rate = down_s / win_s if enough else 0.0  # down seconds per assessed window second
    budget_s = rules.budget_minutes * 60.0
    when = None
    if down_s >= budget_s:  # already spent: the moment it actually ran out
        when = _moment(charged, budget_s)
    elif rate > 0:
        when = _moment(rest, (budget_s - down_s) / rate)
    return {"projected_year_end_minutes":
            _minutes(down_s + rate * iv.total(rest)) if enough else None,
            "runs_out_on": None if when is None else
            datetime.fromtimestamp(when, ZoneInfo(rules.timezone)).date().isoformat(),
            "enough_data": enough,
            "basis_hours": round(win_s / 3600.0, 1)}


def _moment(spans: list[Interval], seconds: float) -> float | None:
    """When a clock running only inside ``spans`` has counted ``seconds``."""
    for start, end in spans:
        if end - start >= seconds:
            return start + seconds
        seconds -= end - start
    return None
