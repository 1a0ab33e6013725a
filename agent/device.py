"""Per-device state machine: from poll results to state changes and operational events.

No I/O and no clock: ``observe(now, reading)`` is given the time of the poll and returns
what happened. The seat agents need three kinds of output:

- ``Change``: ok / fault(code) / occupied / offline after N consecutive failed polls, and
  back; one per change.
- ``LoopTimeout``: a loop stayed occupied longer than ``loop_timeout_s`` (a car waiting at
  the arm and nothing happening); one per occupancy.
- ``IntercomCall``: a driver pressed the call button; one per press (the button going from
  released to pressed between two polls).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.profiles.state import Reading

__all__ = ["Change", "DeviceMonitor", "IntercomCall", "LoopTimeout", "Output", "Reading"]


@dataclass(frozen=True)
class Change:
    device: str
    prev: str
    state: str
    fault: str | None
    since: float
    severity: str | None = None
    channel: str | None = None   # the loop channel of a fault, when the profile says


@dataclass(frozen=True)
class LoopTimeout:
    device: str
    lane: str
    channel: str | None
    since: float          # when the loop was first seen occupied
    at: float             # the poll that found it occupied for too long


@dataclass(frozen=True)
class IntercomCall:
    device: str
    lane: str
    channel: str | None
    at: float


Output = Change | LoopTimeout | IntercomCall


class DeviceMonitor:
    """A device starts ``unknown``. ``since`` of an offline change is the time of the first
    poll that went unanswered: the silence began between the last answer and then."""

    def __init__(self, name: str, offline_after: int = 3, *, lane: str | None = None,
                 loop_timeout_s: float = 60.0):
        if offline_after < 1:
            raise ValueError("offline_after must be at least 1")
        self.name = name
        self.lane = lane or name
        self.offline_after = offline_after
        self.loop_timeout_s = loop_timeout_s
        self.state = "unknown"
        self.fault: str | None = None
        self.severity: str | None = None
        self.since: float | None = None
        self.failures = 0
        self.first_failure: float | None = None
        self.last_ok: float | None = None
        self.occupied_since: dict[str | None, float] = {}
        self._timed_out: set[str | None] = set()
        self._pressed: frozenset = frozenset()

    def observe(self, now: float, reading: Reading | None) -> list[Output]:
        if reading is None:
            return self._failed(now)
        self.failures, self.first_failure, self.last_ok = 0, None, now
        out: list[Output] = []
        if reading.state != self.state or reading.fault != self.fault:
            out.append(self._become(reading.state, reading.fault, now, reading.severity,
                                    reading.channel_of(reading.fault)))
        out += self._loops(now, reading.occupied)
        out += [IntercomCall(self.name, self.lane, ch, now)
                for ch in sorted(reading.intercom - self._pressed, key=str)]
        self._pressed = reading.intercom
        return out

    def _loops(self, now: float, occupied: frozenset) -> list[Output]:
        for ch in [c for c in self.occupied_since if c not in occupied]:
            del self.occupied_since[ch]
            self._timed_out.discard(ch)
        out: list[Output] = []
        for ch in sorted(occupied, key=str):
            since = self.occupied_since.setdefault(ch, now)
            if now - since > self.loop_timeout_s and ch not in self._timed_out:
                self._timed_out.add(ch)
                out.append(LoopTimeout(self.name, self.lane, ch, since, now))
        return out

    def _failed(self, now: float) -> list[Output]:
        if self.failures == 0:
            self.first_failure = now
        self.failures += 1
        if self.failures >= self.offline_after and self.state != "offline":
            # What the device said before it fell silent is no longer known.
            self.occupied_since.clear()
            self._timed_out.clear()
            self._pressed = frozenset()
            return [self._become("offline", None, self.first_failure, None, None)]
        return []

    def _become(self, state: str, fault: str | None, since: float, severity: str | None,
                channel: str | None) -> Change:
        change = Change(self.name, self.state, state, fault, since, severity, channel)
        self.state, self.fault, self.severity, self.since = state, fault, severity, since
        return change

    def report(self) -> dict:
        return {"state": self.state, "fault": self.fault, "since": self.since,
                "severity": self.severity}
