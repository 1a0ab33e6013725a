"""The fast path of ``wire.decode`` for the one message that comes all the time: a plain,
well-formed heartbeat. It accepts only what the full checks (``Heartbeat.from_dict``) accept
and builds the very same object; anything it is not sure of (a missing field, a wrong type,
a value out of range, NaN, a long fault) returns None, and the full checks run and say
what is wrong. docs/wire.md is the contract; this changes nothing in it.

Devices reports without ``since`` are immutable and few (state x fault x severity), so one
object per combination is shared.
"""

from __future__ import annotations

import re

from parkwatch.core.wirefields import (
    MAX_DEVICES,
    MAX_INT,
    MAX_INTERVAL_S,
    MAX_TEXT,
    MAX_TIME,
    MIN_INTERVAL_S,
)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$").match
_NUMBER = (int, float)
_REPORTS: dict = {}  # (state, fault, severity) -> a shared DeviceReport without since
_DEVICE_IDS: set[str] = set()  # device names already checked against _ID
MAX_SHARED = 4096


def heartbeat(d: dict, states: tuple, severities: tuple, report_cls, heartbeat_cls):
    """The Heartbeat ``Heartbeat.from_dict(d)`` would return, or None: then call that."""
    boot, seq, ts, interval = d.get("boot"), d.get("seq"), d.get("ts"), d.get("interval_s")
    devices, health = d.get("devices"), d.get("health")
    if type(boot) is not int or type(seq) is not int or not 0 <= boot <= MAX_INT or \
            not 0 <= seq <= MAX_INT:
        return None
    if type(ts) not in _NUMBER or not 0.0 <= ts <= MAX_TIME:  # NaN fails the range too
        return None
    if type(interval) not in _NUMBER or not MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S:
        return None
    if type(devices) is not dict or len(devices) > MAX_DEVICES or \
            (health is not None and type(health) is not dict):
        return None
    reports = {}
    for name, rep in devices.items():
        if name not in _DEVICE_IDS:
            if type(name) is not str or not _ID(name):
                return None
            if len(_DEVICE_IDS) < MAX_SHARED:
                _DEVICE_IDS.add(name)
        if type(rep) is not dict:
            return None
        state, fault = rep.get("state"), rep.get("fault")
        since, severity = rep.get("since"), rep.get("severity")
        if type(state) is not str or state not in states:
            return None
        if fault is not None and (type(fault) is not str or len(fault) > MAX_TEXT):
            return None
        if severity is not None and (type(severity) is not str or severity not in severities):
            return None
        if since is None:
            key = (state, fault, severity)
            shared = _REPORTS.get(key)
            if shared is None:
                shared = report_cls(state, fault, None, severity)
                if len(_REPORTS) < MAX_SHARED:
                    _REPORTS[key] = shared
            reports[name] = shared
            continue
        if type(since) not in _NUMBER or not 0.0 <= since <= MAX_TIME:
            return None
        reports[name] = report_cls(state, fault, float(since), severity)
    return heartbeat_cls(d["project"], d["site"], boot, seq, float(ts), float(interval),
                         reports, health)
