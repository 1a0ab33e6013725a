"""The uplink journal: periods the agent could not reach the broker. No I/O; time passed in.

Every input carries both clocks of the gateway: ``wall`` (``time.time()``, which may be
wrong or may be stepped) and ``mono`` (``time.monotonic()``, which only moves forward at
the right speed). Durations come from ``mono``; the wall-clock start of a period is derived
from the wall clock read when the period is known, minus the monotonic time elapsed since
its start, so a clock step during an outage cannot bend the record.

When does a period start?
- the established connection was closed or reset under us (``lost("closed")``): when we
  noticed, which is at once for a broker that stops or a peer that resets;
- keepalive loss (``lost("keepalive")``, a blackhole: nothing came back): at the last
  packet the broker sent us, the last proof that the path worked;
- the agent could not connect at all (after a start): when the first failed attempt began.

It ends when a connection is accepted again (CONNACK). ``cause`` is what kept the link
down: the cause of the last failed attempt, or ``keepalive_loss`` when the first reconnect
succeeded. ``causes`` counts every failure seen during the period.
"""

from __future__ import annotations

import json
import math
from collections import Counter, deque
from dataclasses import dataclass, field

from parkwatch.core.wire import UPLINK_CAUSES

LOSS_KINDS = ("closed", "keepalive")


@dataclass
class UplinkPeriod:
    start: float          # gateway wall clock
    start_mono: float
    end: float | None = None
    end_mono: float | None = None
    cause: str = "unknown"
    lost: str | None = None           # how an established connection ended, if it did
    causes: Counter = field(default_factory=Counter)
    attempts: int = 0
    last_attempt: float | None = None  # wall clock of the last failed attempt

    @property
    def duration_s(self) -> float | None:
        return None if self.end_mono is None else max(0.0, self.end_mono - self.start_mono)

    def detail(self, offset_s: float | None = None) -> dict:
        """The ``detail`` of an ``uplink`` event (docs/wire.md)."""
        d = {"start": round(self.start, 3), "end": round(self.end, 3), "cause": self.cause,
             "duration_s": round(self.duration_s, 3), "start_mono": round(self.start_mono, 3),
             "end_mono": round(self.end_mono, 3), "lost": self.lost, "attempts": self.attempts,
             "causes": dict(self.causes)}
        if offset_s is not None:
            d["offset_s"] = round(offset_s, 3)
        return d

    def snapshot(self) -> dict:
        """What is kept on disk while the period is open (to report it after a crash)."""
        return {"start": self.start, "start_mono": self.start_mono, "cause": self.cause,
                "lost": self.lost, "causes": dict(self.causes), "attempts": self.attempts,
                "last_attempt": self.last_attempt}

    @classmethod
    def interrupted(cls, snap: dict) -> UplinkPeriod:
        """A period that was open when the previous agent process died.

        It is closed at its last failed attempt, the last moment that process knew the link
        was still down; what happened after that is unknown, so it is not claimed.
        """
        end = snap.get("last_attempt") or snap["start"]
        p = cls(start=snap["start"], start_mono=0.0, end=max(end, snap["start"]),
                cause=snap.get("cause", "unknown"), lost=snap.get("lost"),
                causes=Counter(snap.get("causes", {})), attempts=snap.get("attempts", 0))
        p.end_mono = p.end - p.start  # no monotonic clock survives a restart
        return p


def _wall_at(mono: float, wall_now: float, mono_now: float) -> float:
    return wall_now - (mono_now - mono)


class UplinkTracker:
    """Feed it what the MQTT shell sees; it hands back each finished period."""

    def __init__(self):
        self.current: UplinkPeriod | None = None
        self.last_in_mono: float | None = None
        self.up = False

    def heard(self, mono: float) -> None:
        """A packet came from the broker (CONNACK, PUBACK, an echoed message)."""
        if self.last_in_mono is None or mono > self.last_in_mono:
            self.last_in_mono = mono

    def connected(self, wall: float, mono: float) -> UplinkPeriod | None:
        """The broker accepted us; returns the period that ends here, if one was open."""
        self.up = True
        self.heard(mono)
        period, self.current = self.current, None
        if period is not None:
            period.end, period.end_mono = wall, mono
        return period

    def lost(self, wall: float, mono: float, how: str) -> UplinkPeriod:
        """An established connection ended without us asking."""
        if how not in LOSS_KINDS:
            raise ValueError(f"how must be one of {LOSS_KINDS}, got {how!r}")
        self.up = False
        start_mono = mono
        if how == "keepalive" and self.last_in_mono is not None:
            start_mono = min(mono, self.last_in_mono)
        self.current = UplinkPeriod(_wall_at(start_mono, wall, mono), start_mono,
                                    cause="keepalive_loss", lost=how)
        self.current.causes["keepalive_loss"] += 1
        return self.current

    def failed(self, wall: float, mono: float, cause: str,
               attempt_mono: float | None = None) -> UplinkPeriod:
        """A connection attempt (begun at ``attempt_mono``) failed with ``cause``."""
        if cause not in UPLINK_CAUSES:
            cause = "unknown"
        self.up = False
        if self.current is None:
            start_mono = mono if attempt_mono is None else min(mono, attempt_mono)
            self.current = UplinkPeriod(_wall_at(start_mono, wall, mono), start_mono)
        self.current.cause = cause
        self.current.causes[cause] += 1
        self.current.attempts += 1
        self.current.last_attempt = wall
        return self.current


# A beacon's time must be a plausible "now": after 2020-01-01 and before 2100-01-01 (UTC).
BEACON_MIN_TS = 1_577_836_800.0
BEACON_MAX_TS = 4_102_444_800.0
BEACON_MAX_BYTES = 200


class ClockOffset:
    """True time minus the gateway clock, from time beacons seen through the broker.

    A beacon carries the sender's (true) time when it was sent; it reaches us a network
    delay later, so each sample ``reference - local`` is the offset minus that delay, and
    the largest recent sample is the best. The estimate is the largest of the last
    ``window`` samples (so a slowly drifting clock is followed).

    Only the collector may publish beacons (the broker's ACL); in case a stranger gets one
    through anyway, one beacon can do little:

    - the estimate stays within ``step_s`` of an *anchor*, which follows the estimate no
      faster than ``max_drift`` (1 ms a second, 3.6 s an hour: ten times a cheap crystal's
      drift). A burst of beacons moves the estimate at most ``step_s``; a steady stream of
      them moves it at most 3.6 s an hour;
    - a sample farther than ``step_s`` from the anchor (someone set the clock, or a forged
      time) is only a *candidate*: it is adopted, and the window starts afresh from it,
      once ``confirm_n`` samples agreeing with it (within ``step_s``) came over at least
      ``confirm_s`` seconds with no sample agreeing with the anchor in between. The
      collector's own beacons (every 5 s) keep cancelling a forged one.

    ``mono`` times the samples (the monotonic clock; without it the gateway's clock is used).
    """

    def __init__(self, window: int = 30, step_s: float = 5.0, confirm_n: int = 3,
                 confirm_s: float = 30.0, max_drift: float = 1e-3):
        self.step_s, self.confirm_n, self.confirm_s = step_s, confirm_n, confirm_s
        self.max_drift = max_drift
        self._recent: deque[float] = deque(maxlen=window)
        self._anchor: float | None = None
        self._anchor_t = 0.0
        self._candidate: deque[float] = deque(maxlen=window)
        self._candidate_since = 0.0
        self.samples = 0
        self.held = 0  # samples kept out of the estimate (a step not yet confirmed)

    @property
    def value(self) -> float | None:
        return max(self._recent) if self._recent else None

    def sample(self, reference: float, local: float, mono: float | None = None) -> float | None:
        s = reference - local
        t = local if mono is None else mono
        self.samples += 1
        if not math.isfinite(s):
            self.held += 1
            return self.value
        if self._anchor is None:
            self._adopt([s], t)
        elif abs(s - self._anchor) <= self.step_s:
            self._candidate.clear()  # what we know is confirmed: a claimed step is not
            self._recent.append(s)
            self._follow(t)
        else:
            if self._candidate and abs(s - self._candidate[0]) > self.step_s:
                self._candidate.clear()  # a different step: start counting again
            if not self._candidate:
                self._candidate_since = t
            self._candidate.append(s)
            if (len(self._candidate) >= self.confirm_n
                    and t - self._candidate_since >= self.confirm_s):
                self._adopt(list(self._candidate), t)
            else:
                self.held += 1
        return self.value

    def _adopt(self, samples: list[float], t: float) -> None:
        self._recent.clear()
        self._recent.extend(samples)
        self._candidate.clear()
        self._anchor, self._anchor_t = self.value, t

    def _follow(self, t: float) -> None:
        room = self.max_drift * max(0.0, t - self._anchor_t)
        self._anchor += max(-room, min(room, self.value - self._anchor))
        self._anchor_t = max(self._anchor_t, t)


def parse_beacon(payload: bytes) -> float | None:
    """A time beacon is seconds since the epoch, as a bare number or ``{"ts": n}``.

    Anything else is None: a payload over ``BEACON_MAX_BYTES``, not JSON, not a finite
    number, or a time outside 2020-2100 (``BEACON_MIN_TS``, ``BEACON_MAX_TS``)."""
    if len(payload) > BEACON_MAX_BYTES:
        return None
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(body, dict):
        body = body.get("ts")
    if isinstance(body, bool) or not isinstance(body, (int, float)):
        return None
    body = float(body)
    if not math.isfinite(body) or not BEACON_MIN_TS <= body < BEACON_MAX_TS:
        return None
    return body


def use_beacon(offset: ClockOffset, payload: bytes, wall: float, mono: float) -> str | None:
    """Feed one time beacon to ``offset``: None when it was used, else why it was not."""
    reference = parse_beacon(payload)
    if reference is None:
        return "not a time between 2020 and 2100"
    held = offset.held
    offset.sample(reference, wall, mono)
    if offset.held > held:
        return (f"it says the clock is off by {reference - wall:+.1f} s, the estimate is "
                f"{offset.value:+.1f} s; held until confirmed")
    return None
