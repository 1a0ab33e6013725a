"""Common problems (共性问题): the same fault signature at many projects. Pure; ``now`` in.

A signature is what makes two incidents the same problem: the device profile and fault
code of a device fault, or the failure of the front-end software (``signature_of``). When
one signature shows up at ``min_projects`` or more projects within the window (30 days),
``propose`` proposes a common problem; the technical liaison confirms it with a plan date,
and K3's clock starts at that confirmation. A signature with a problem still proposed or
confirmed is not proposed again; after it is solved or rejected, only incidents opened
later count towards a new proposal.
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.workflow.routing import DEVICE_FAULT, SOFTWARE


def signature_of(kind: str, fault: str | None, profile: str | None = None) -> str | None:
    """The signature of an automatic incident, or None when it has none."""
    if kind == DEVICE_FAULT and fault:
        return f"{DEVICE_FAULT}:{profile}/{fault}" if profile else f"{DEVICE_FAULT}:{fault}"
    if kind in (SOFTWARE, "software"):
        return f"{SOFTWARE}:{fault}" if fault else SOFTWARE
    return None


@dataclass(frozen=True)
class Sighting:
    ticket_id: int
    project: str
    signature: str
    opened_at: float


@dataclass(frozen=True)
class Proposal:
    signature: str
    projects: tuple[str, ...]
    tickets: tuple[int, ...]
    first_seen: float


def propose(sightings: list[Sighting], now: float, window_s: float, min_projects: int,
            live: set[str], counted_after: dict[str, float]) -> list[Proposal]:
    """Signatures seen at ``min_projects`` projects within ``window_s`` before ``now``.

    ``live``: signatures that have a proposed or confirmed problem; ``counted_after``: for
    signatures whose last problem was solved or rejected, when that happened.
    """
    by_sig: dict[str, list[Sighting]] = {}
    for s in sightings:
        if now - window_s < s.opened_at <= now and s.signature not in live and \
                s.opened_at > counted_after.get(s.signature, float("-inf")):
            by_sig.setdefault(s.signature, []).append(s)
    out = []
    for sig, seen in sorted(by_sig.items()):
        projects = sorted({s.project for s in seen})
        if len(projects) >= min_projects:
            out.append(Proposal(sig, tuple(projects), tuple(sorted(s.ticket_id for s in seen)),
                                min(s.opened_at for s in seen)))
    return out
