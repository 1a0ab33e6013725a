"""Per-device state machine: from poll results to state changes. No I/O, time passed in."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reading:
    """A successfully decoded reply: the device is reachable and says this."""

    state: str  # "ok" or "fault"
    fault: str | None = None
    detail: dict | None = None


@dataclass(frozen=True)
class Change:
    device: str
    prev: str
    state: str
    fault: str | None
    since: float


class DeviceMonitor:
    """ok / fault(code) / offline after ``offline_after`` consecutive failed polls.

    A device starts ``unknown``. ``since`` of an offline change is the time of the first
    poll that went unanswered: the silence began between the last answer and then.
    """

    def __init__(self, name: str, offline_after: int = 3):
        if offline_after < 1:
            raise ValueError("offline_after must be at least 1")
        self.name = name
        self.offline_after = offline_after
        self.state = "unknown"
        self.fault: str | None = None
        self.since: float | None = None
        self.failures = 0
        self.first_failure: float | None = None
        self.last_ok: float | None = None

    def observe(self, now: float, reading: Reading | None) -> Change | None:
        if reading is None:
            return self._failed(now)
        self.failures, self.first_failure, self.last_ok = 0, None, now
        if reading.state == self.state and reading.fault == self.fault:
            return None
        return self._become(reading.state, reading.fault, now)

    def _failed(self, now: float) -> Change | None:
        if self.failures == 0:
            self.first_failure = now
        self.failures += 1
        if self.failures >= self.offline_after and self.state != "offline":
            return self._become("offline", None, self.first_failure)
        return None

    def _become(self, state: str, fault: str | None, since: float) -> Change:
        change = Change(self.name, self.state, state, fault, since)
        self.state, self.fault, self.since = state, fault, since
        return change

    def report(self) -> dict:
        return {"state": self.state, "fault": self.fault, "since": self.since}
