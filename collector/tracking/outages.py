"""What the tracker decides about: outages, their evidence, and the decisions it returns.

An outage has three times the operator asks for: ``last_seen_at`` (the last time the thing
was known to be fine), ``detected_at`` (when the collector learned it was down) and
``declared_at`` (when it became an incident, if it did). Its start and end are the best
evidence so far, each with the source it came from; a better source replaces a worse one
(an agent's uplink record replaces the collector's estimate from silence).
"""

from __future__ import annotations

from dataclasses import dataclass

SITE_NETWORK = "site_network"
DEVICE_OFFLINE = "device_offline"
DEVICE_FAULT = "device_fault"
SOFTWARE_DOWN = "software_down"
PLATFORM = "platform"
OUTAGE_KINDS = (SITE_NETWORK, DEVICE_OFFLINE, DEVICE_FAULT, SOFTWARE_DOWN, PLATFORM)

# The platform's own incident is not a site's: it lives under these reserved names, which
# can never be a real project or site id (ids start with a letter or digit).
PLATFORM_PROJECT = PLATFORM_SITE = "*"

# Sources of a start or end time, best last. An uplink record is the agent's own journal of
# when it could not reach the broker; it wins over anything the collector inferred.
SOURCES = ("collector_start", "last_message", "message", "device_event", "uplink_record")
_RANK = {s: i for i, s in enumerate(SOURCES)}


def better(new: str, old: str | None) -> bool:
    """Does evidence from ``new`` replace evidence from ``old``?"""
    return old is None or _RANK[new] >= _RANK[old]


def grade(duration_s: float) -> str:
    """Duration grade of an incident (domain.md, operations centre): I > 30 min,
    II 15 < X <= 30, III 5 < X <= 15, IV X <= 5."""
    minutes = duration_s / 60.0
    if minutes > 30:
        return "I"
    if minutes > 15:
        return "II"
    if minutes > 5:
        return "III"
    return "IV"


GRADE_EDGES_S = (5 * 60.0, 15 * 60.0, 30 * 60.0)


@dataclass(frozen=True)
class OutageKey:
    kind: str
    project: str
    site: str
    device: str | None = None


@dataclass
class Outage:
    key: OutageKey
    started_at: float
    detected_at: float
    fault: str | None = None
    ended_at: float | None = None
    incident: bool = False
    id: int | None = None  # set by the store
    last_seen_at: float | None = None
    start_source: str = "last_message"
    detected_by: str | None = None  # silence, will, device_event, uplink_record
    end_source: str | None = None
    declared_at: float | None = None
    grade: str | None = None
    absorbed_by: int | None = None  # id of the site outage (or platform outage) it is part of
    platform_id: int | None = None  # id of the platform outage it belongs to
    absorbed: bool = False  # in memory: absorbed by an outage not yet stored
    withdrawn: bool = False  # its incident was withdrawn (better evidence made it short)
    end_boot: int | None = None  # the agent boot of the message that ended it
    # An absorbed device or software outage that outlasted its site outage: the site came
    # back at this time, and only what follows is its own (docs/architecture.md, Absorption)
    released_at: float | None = None

    def own_start(self) -> float:
        """Where the time that is the outage's own begins (an incident counts from there;
        the incident is still dated from ``started_at``)."""
        if self.released_at is None:
            return self.started_at
        return max(self.started_at, self.released_at)

    def duration(self, now: float) -> float:
        end = self.ended_at if self.ended_at is not None else now
        return max(0.0, end - self.started_at)


# --- decisions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class OutageStarted:
    outage: Outage


@dataclass(frozen=True)
class OutageEnded:
    outage: Outage


@dataclass(frozen=True)
class IncidentDeclared:
    outage: Outage
    declared_at: float


@dataclass(frozen=True)
class OutageRevised:
    """Better evidence moved an outage's start or end (an uplink record arrived)."""

    outage: Outage


@dataclass(frozen=True)
class IncidentWithdrawn:
    """Better evidence shows the outage was not longer than the threshold after all."""

    outage: Outage
    at: float


@dataclass(frozen=True)
class GradeChanged:
    outage: Outage
    grade: str


@dataclass(frozen=True)
class Absorbed:
    """``outage`` is part of ``into`` (a site outage, or the platform's): no incident of its
    own, no charge of its own."""

    outage: Outage
    into: Outage


@dataclass(frozen=True)
class SiteEvent:
    """Something that happened at a site and is kept as it is (loop timeout, intercom call,
    dropped records, the raw uplink record)."""

    project: str
    site: str
    kind: str
    at: float
    device: str | None
    detail: dict


@dataclass(frozen=True)
class SiteClock:
    """A site's clock offset (collector clock minus gateway clock) or its heartbeat interval
    moved: stored, so that a restarted collector places the events it gets before the first
    heartbeat right, and knows how long a silence makes the site down before it hears it."""

    project: str
    site: str
    offset: float
    interval_s: float | None = None
    step: bool = False  # the clock jumped (clocks.is_step): stored at once


Decision = (OutageStarted | OutageEnded | IncidentDeclared | OutageRevised | IncidentWithdrawn
            | GradeChanged | Absorbed | SiteEvent | SiteClock)
