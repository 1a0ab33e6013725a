"""From decoded fields to the device's state, in the same words for every vendor.

A reading is ``fault`` when any fault rule holds (the most severe fault names the state),
else ``occupied`` when a vehicle is on any loop channel, else ``ok``. Intercom buttons held
are reported beside the state; the agent turns their presses into events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
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


def compile_rules(rules: tuple[Rule, ...]):
    """``evaluate`` for these rules, with each rule's test prepared once."""
    prepared = []
    for rule in rules:
        if rule.within is not None:
            test = frozenset(rule.within).__contains__
        elif rule.not_within is not None:
            excluded = frozenset(rule.not_within)
            test = excluded.__contains__
        else:
            test = partial(_equals, rule.equals)
        negate = rule.within is None and rule.not_within is not None
        prepared.append((rule.kind, rule.field, test, negate, rule.code, rule.severity,
                         rule.severities, rule.channel))
    prepared = tuple(prepared)
    names = tuple(dict.fromkeys(rule.field for rule in rules))
    verdicts: dict[tuple, dict[str, Any]] = {}

    def evaluate(fields: Mapping[str, Any]) -> Reading:
        """The verdict of a set of rule-field values is remembered: a device repeats the
        same few states, so most frames cost a lookup and one ``Reading``."""
        values = tuple(map(fields.get, names))
        types = tuple(map(type, values))
        if _CACHEABLE.issuperset(types):  # equal values of these types print the same
            key = values + types          # (1, True and 1.0 are equal but print apart)
            verdict = verdicts.get(key)
            if verdict is None:
                if len(verdicts) >= _CACHE_SIZE:
                    verdicts.clear()
                verdict = verdicts[key] = _verdict(evaluate_fully(fields))
            return _with_fields(verdict, fields)
        return evaluate_fully(fields)

    def evaluate_fully(fields: Mapping[str, Any]) -> Reading:
        faults: list[Fault] = []
        occupied: set = set()
        intercom: set = set()
        get = fields.get
        for kind, field_name, test, negate, code, severity, severities, channel in prepared:
            value = get(field_name)
            if value is None:
                continue
            try:
                hit = test(value)
            except TypeError:  # an unhashable value (a JSON list, say) matches no rule
                hit = False
            if hit == negate:
                continue
            if kind == "fault":
                code = code or str(value)
                faults.append(Fault(code, severities.get(code, severity), channel))
            elif kind == "occupied":
                occupied.add(channel)
            else:
                intercom.add(channel)
        return _reading(faults, occupied, intercom, fields)

    evaluate.fully = evaluate_fully  # the reference, for tests
    return evaluate


_CACHEABLE = frozenset((str, int, bool, type(None)))
_CACHE_SIZE = 256
_new = object.__new__


def _verdict(reading: Reading) -> dict[str, Any]:
    verdict = dict(vars(reading))
    del verdict["fields"]
    return verdict


def _with_fields(verdict: dict[str, Any], fields: Mapping[str, Any]) -> Reading:
    """A ``Reading`` with the remembered verdict: its frozen ``__init__`` (seven guarded
    attribute writes) is the slow part of a reading, so the attributes are filled in at once."""
    reading = _new(Reading)
    attrs = vars(reading)
    attrs.update(verdict)
    attrs["fields"] = fields
    return reading


def _equals(expected: Any, value: Any) -> bool:
    return value == expected


def _reading(faults: list[Fault], occupied: set, intercom: set,
             fields: Mapping[str, Any]) -> Reading:
    if faults:
        worst = faults[0] if len(faults) == 1 else min(faults, key=lambda f: _RANK[f.severity])
        return Reading("fault", worst.code, worst.severity, frozenset(occupied),
                       frozenset(intercom), tuple(faults), fields)
    return Reading("occupied" if occupied else "ok", None, None, frozenset(occupied),
                   frozenset(intercom), (), fields)
