"""From decoded fields to the device's state, in the same words for every vendor.

A reading is ``fault`` when any fault rule holds (the most severe fault names the state),
else ``occupied`` when a vehicle is on any loop channel, else ``ok``. Intercom buttons held
are reported beside the state; the agent turns their presses into events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.profiles.schema import SEVERITIES, Rule

_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Fault:
    code: str
    severity: str
    channel: str | None = None


@dataclass(frozen=True)
class Reading:
    """A successfully decoded answer: the device is reachable and says this."""

    state: str                     # ok | fault | occupied
    fault: str | None = None       # the most severe fault's code
    severity: str | None = None
    occupied: frozenset = frozenset()   # loop channels with a vehicle (None: the only loop)
    intercom: frozenset = frozenset()   # channels whose call button is pressed
    faults: tuple[Fault, ...] = ()
    fields: Mapping[str, Any] = field(default_factory=dict)

    def channel_of(self, code: str | None) -> str | None:
        return next((f.channel for f in self.faults if f.code == code), None)


def evaluate(rules: tuple[Rule, ...], fields: Mapping[str, Any]) -> Reading:
    faults: list[Fault] = []
    occupied: set = set()
    intercom: set = set()
    get = fields.get
    for rule in rules:
        value = get(rule.field)
        if value is None or not rule.holds(value):
            continue
        if rule.kind == "fault":
            code = rule.code or str(value)
            faults.append(Fault(code, rule.severities.get(code, rule.severity), rule.channel))
        elif rule.kind == "occupied":
            occupied.add(rule.channel)
        else:
            intercom.add(rule.channel)
    if faults:
        worst = min(faults, key=lambda f: _RANK[f.severity])
        return Reading("fault", worst.code, worst.severity, frozenset(occupied),
                       frozenset(intercom), tuple(faults), fields)
    return Reading("occupied" if occupied else "ok", None, None, frozenset(occupied),
                   frozenset(intercom), (), fields)
