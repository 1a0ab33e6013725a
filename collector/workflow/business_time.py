"""Business time: the 08:00–22:00 window in a project's time zone. Pure; times passed in.

Seed 000 assesses incidents that occur inside the daily window and runs their clocks only
inside it. ``BusinessClock.add(t, 15 * 60)`` at 21:55 is 08:10 the next day; ``elapsed(a,
b)`` is the window time between two instants. Days follow the calendar of the zone, so a
daylight-saving change moves the window with the wall clock (Asia/Shanghai has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ALL_DAYS = (1, 2, 3, 4, 5, 6, 7)  # ISO weekdays, Monday = 1


def parse_hhmm(text: str) -> time:
    """'08:00' -> time(8, 0); '24:00' is the end of the day. ValueError otherwise."""
    hh, sep, mm = text.partition(":")
    if not sep or not (hh.isdigit() and mm.isdigit()) or len(mm) != 2:
        raise ValueError(f"must look like HH:MM, got {text!r}")
    h, m = int(hh), int(mm)
    if (h, m) == (24, 0):
        return time.max
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"is not a time of day: {text!r}")
    return time(h, m)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"is not a known time zone: {name!r}") from None


@dataclass(frozen=True)
class BusinessClock:
    tz: str = "Asia/Shanghai"
    start: time = time(8, 0)
    end: time = time(22, 0)
    days: tuple[int, ...] = ALL_DAYS
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.start >= self.end:
            raise ValueError(f"window start {self.start} must be before its end {self.end}")
        if not self.days or any(d not in ALL_DAYS for d in self.days):
            raise ValueError(f"days must be ISO weekdays 1..7, got {self.days!r}")
        object.__setattr__(self, "_zone", zone(self.tz))

    # --- the window -------------------------------------------------------------------

    def local_date(self, t: float) -> date:
        return datetime.fromtimestamp(t, self._zone).date()

    def window(self, d: date) -> tuple[float, float] | None:
        """The window of one local day as epoch seconds, or None on a day without one."""
        return _window(self, d)

    def _compute_window(self, d: date) -> tuple[float, float] | None:
        if d.isoweekday() not in self.days:
            return None
        start = datetime.combine(d, self.start, tzinfo=self._zone).timestamp()
        if self.end == time.max:
            end = datetime.combine(d + timedelta(days=1), time(0), tzinfo=self._zone)
        else:
            end = datetime.combine(d, self.end, tzinfo=self._zone)
        return start, end.timestamp()

    def in_window(self, t: float) -> bool:
        w = self.window(self.local_date(t))
        return w is not None and w[0] <= t < w[1]

    # --- arithmetic -------------------------------------------------------------------

    def add(self, t: float, seconds: float) -> float:
        """The instant ``seconds`` of business time after ``t``.

        Time outside the window does not count, so a clock started outside it begins at
        the next opening; a clock that runs out exactly at closing is due at closing.
        """
        if seconds <= 0:
            return t
        d = self.local_date(t)
        for _ in range(3700):  # ten years of days: a guard, never reached by real standards
            w = self.window(d)
            if w is not None and t < w[1]:
                begin = max(t, w[0])
                available = w[1] - begin
                if seconds <= available:
                    return begin + seconds
                seconds -= available
            d += timedelta(days=1)
        raise ValueError("business time addition ran past ten years")

    def elapsed(self, a: float, b: float) -> float:
        """Business seconds between ``a`` and ``b`` (0 when ``b`` is not after ``a``)."""
        if b <= a:
            return 0.0
        total = 0.0
        d, last = self.local_date(a), self.local_date(b)
        while d <= last:
            w = self.window(d)
            if w is not None:
                total += max(0.0, min(b, w[1]) - max(a, w[0]))
            d += timedelta(days=1)
        return total

    def remaining(self, due: float, now: float) -> float:
        """Business seconds left until ``due``; negative once it has passed."""
        if now <= due:
            return self.elapsed(now, due)
        return -self.elapsed(due, now)


@lru_cache(maxsize=16384)
def _window(clock: BusinessClock, d: date) -> tuple[float, float] | None:
    # The clocks of every live incident are recomputed on each worker tick; their days
    # repeat, and converting local times to epoch seconds is most of the cost.
    return clock._compute_window(d)


def month_bounds(month: str, tz: str) -> tuple[float, float]:
    """'2026-03' -> epoch seconds of its first instant and of the next month's, in ``tz``."""
    try:
        y, m = (int(p) for p in month.split("-"))
        first = date(y, m, 1)
    except ValueError:
        raise ValueError(f"month must look like YYYY-MM, got {month!r}") from None
    if len(month) != 7:
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    nxt = date(y + m // 12, m % 12 + 1, 1)
    z = zone(tz)
    return (datetime.combine(first, time(0), tzinfo=z).timestamp(),
            datetime.combine(nxt, time(0), tzinfo=z).timestamp())


def add_months(t: float, months: int, tz: str) -> float:
    """The same local time ``months`` calendar months later (the day clamped to the month)."""
    local = datetime.fromtimestamp(t, zone(tz))
    y, m = divmod(local.month - 1 + months, 12)
    y += local.year
    m += 1
    nxt = date(y + m // 12, m % 12 + 1, 1)
    day = min(local.day, (nxt - timedelta(days=1)).day)
    return local.replace(year=y, month=m, day=day).timestamp()
