"""Who gets an incident, and the standards they are held to. Pure data and lookups.

The defaults are domain.md's Dispatch and Service-standards tables; ``[workflow]`` in the
collector's config replaces or extends them (collector/workflow/config.py reads it).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

# Incident kinds. The first three are the collector core's outage kinds.
SITE_NETWORK = "site_network"
DEVICE_OFFLINE = "device_offline"
DEVICE_FAULT = "device_fault"
SOFTWARE = "software_down"
PLATFORM = "platform"
OPERATIONAL = "operational"
UNKNOWN = "unknown"
KINDS = (SITE_NETWORK, DEVICE_OFFLINE, DEVICE_FAULT, SOFTWARE, PLATFORM, OPERATIONAL, UNKNOWN)

SEAT = "seat"  # the seat group: dispatches, verifies and closes; not itself clocked
SCORE_KINDS = ("k", "tiers", "penalties", "none")
MILESTONES = ("resolve", "arrive")


@dataclass(frozen=True)
class Group:
    name: str
    respond_s: float | None = None  # None: the group has no response standard
    handle_s: float | None = None
    handle_milestone: str = "resolve"  # "arrive": the handling clock stops on arrival on site
    score: str = "none"  # k | tiers | penalties | none
    base: float = 0.0  # K1 and K2 weight for score = "k"
    k3: float | None = None  # common-problem points (the technical liaison's 20)
    penalty: float = 0.0  # per late response / late arrival for score = "penalties"


@dataclass(frozen=True)
class Rule:
    """One row of the routing table; the first row that matches an incident wins."""
    kind: str
    group: str
    severity: int
    device_class: str | None = None  # None matches every class

    def matches(self, kind: str, device_class: str | None) -> bool:
        return self.kind == kind and self.device_class in (None, device_class)


MIN = 60.0
DEFAULT_GROUPS: dict[str, Group] = {g.name: g for g in (
    Group("remote-ops", 15 * MIN, 120 * MIN, score="k", base=50),
    Group("branch-after-sales", 30 * MIN, 120 * MIN, handle_milestone="arrive",
          score="penalties", penalty=50),
    Group("technical-liaison", 15 * MIN, 30 * MIN, score="k", base=40, k3=20),
    Group("operations-centre", 15 * MIN, 60 * MIN, score="tiers"),
    Group("site-patrol", None, 20 * MIN),
)}

# Severity is seed 001's fault level: 1 system down with direct impact, 2 unstable or
# degraded but usable, 3 everything else.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(SITE_NETWORK, "site-patrol", 1),
    Rule(SOFTWARE, "technical-liaison", 1),
    Rule(PLATFORM, "operations-centre", 1),
    Rule(DEVICE_OFFLINE, "remote-ops", 2),
    Rule(DEVICE_FAULT, "branch-after-sales", 2, "barrier"),
    Rule(DEVICE_FAULT, "branch-after-sales", 2, "camera"),
    Rule(DEVICE_FAULT, "branch-after-sales", 2, "loop"),
    Rule(DEVICE_FAULT, "remote-ops", 2),
    Rule(OPERATIONAL, "remote-ops", 3),
    Rule(UNKNOWN, "remote-ops", 3),
)

DEFAULT_DEVICE_CLASSES: dict[str, tuple[str, ...]] = {
    "barrier": ("gate*", "barrier*", "arm*"),
    "camera": ("cam*", "lpr*", "camera*"),
    "loop": ("loop*",),
}

FALLBACK = Rule(UNKNOWN, "remote-ops", 3)  # anything unclassified: remote-ops verify it


def device_class(device: str | None, classes: dict[str, tuple[str, ...]]) -> str | None:
    """The class of a device by its name's glob patterns (first class that matches)."""
    if not device:
        return None
    for name, patterns in classes.items():
        if any(fnmatchcase(device.lower(), p.lower()) for p in patterns):
            return name
    return None


def route(rules: tuple[Rule, ...], kind: str, dev_class: str | None) -> Rule:
    """The routing-table row for an incident; the ``unknown`` row when nothing matches."""
    for rule in rules:
        if rule.matches(kind, dev_class):
            return rule
    for rule in rules:
        if rule.kind == UNKNOWN:
            return rule
    return FALLBACK


LEVELS = ("low", "medium", "high")


def severity_of(impact: str, urgency: str) -> int:
    """Seed 002's impact and urgency as seed 001's level: both high is 1, either high or
    both medium is 2, anything less is 3."""
    i, u = LEVELS.index(impact), LEVELS.index(urgency)
    if i == 2 and u == 2:
        return 1
    if 2 in (i, u) or (i, u) == (1, 1):
        return 2
    return 3
