"""The MQTT contract between agent and collector: topics, payloads, schema version.

This is the only place the contract is written down in code; both halves import it and
docs/wire.md describes it. Payloads are UTF-8 JSON objects. Every payload carries
``v`` (the schema version); a receiver accepts any payload whose ``v`` it knows and ignores
fields it does not know, so adding an optional field is not a version change. Removing or
re-meaning a field is, and bumps ``SCHEMA_VERSION`` together with the topic root.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from parkwatch.core import wirefast
from parkwatch.core.ids import ID as _ID
from parkwatch.core.jsonenc import compact
from parkwatch.core.wirefields import (  # noqa: F401  (limits and WireError are part of the contract)
    MAX_DETAIL_BYTES,
    MAX_DEVICES,
    MAX_INT,
    MAX_INTERVAL_S,
    MAX_OFFSET_S,
    MAX_TEXT,
    MAX_TIME,
    MIN_INTERVAL_S,
    WireError,
    _choice,
    _count,
    _detail,
    _get,
    _text,
    _time,
)

SCHEMA_VERSION = 1
TOPIC_ROOT = "parkwatch/v1"
SUBSCRIPTION = f"{TOPIC_ROOT}/+/+/+"
CLOCK_TOPIC = f"{TOPIC_ROOT}/clock"  # time beacons from the collector (docs/wire.md)
MAX_PAYLOAD_BYTES = 64 * 1024


STATUS, HEARTBEAT, EVENT = "status", "heartbeat", "event"
CHANNELS = (STATUS, HEARTBEAT, EVENT)

# QoS and retain per channel; see docs/wire.md for why.
QOS = {STATUS: 1, HEARTBEAT: 0, EVENT: 1}
RETAIN = {STATUS: True, HEARTBEAT: False, EVENT: False}

DEVICE_STATES = ("ok", "fault", "offline", "occupied", "unknown")
SITE_STATES = ("online", "offline")
# How bad a device fault is, worst first: the fault levels 1-3 of the O&M process (down with
# direct impact / degraded but usable / everything else).
SEVERITIES = ("critical", "major", "minor")
# device_state: a device changed state.          loop_timeout: a car waited too long on a loop.
# intercom: a driver pressed the call button.     software: a watched process went down or up.
# uplink: a period the agent could not reach the broker (sent after it reconnected).
# dropped: records the outbox had to drop while the link was down.
EVENT_KINDS = ("device_state", "loop_timeout", "intercom", "software", "uplink", "dropped")
UPLINK_CAUSES = ("dns", "tcp_connect", "tls", "mqtt_refused", "keepalive_loss", "unknown")



def check_id(value: Any, what: str) -> str:
    """Project, site and device ids: 1-64 of letters, digits, '_', '.', '-'."""
    if not isinstance(value, str) or not _ID.match(value):
        raise WireError(f"{what} must be 1-64 letters, digits, '_', '.' or '-', got {value!r}")
    return value


def topic(project: str, site: str, channel: str) -> str:
    if channel not in CHANNELS:
        raise WireError(f"unknown channel {channel!r}")
    return f"{TOPIC_ROOT}/{check_id(project, 'project')}/{check_id(site, 'site')}/{channel}"


def parse_topic(name: str) -> tuple[str, str, str]:
    parsed = _TOPICS.get(name)
    if parsed is not None:
        return parsed
    parsed = _parse_topic(name)
    if len(_TOPICS) >= MAX_TOPICS:  # made-up topics are endless: start again
        _TOPICS.clear()
    _TOPICS[name] = parsed
    return parsed


_TOPICS: dict[str, tuple[str, str, str]] = {}  # topics parsed already (valid ones only)
MAX_TOPICS = 200_000


def _parse_topic(name: str) -> tuple[str, str, str]:
    prefix = TOPIC_ROOT + "/"
    if not name.startswith(prefix):
        raise WireError(f"topic {name!r} is outside {TOPIC_ROOT}/", "topic")
    parts = name[len(prefix):].split("/")
    if len(parts) != 3 or parts[2] not in CHANNELS:
        raise WireError(f"topic {name!r} is not {TOPIC_ROOT}/<project>/<site>/<channel>",
                        "topic")
    return check_id(parts[0], "project"), check_id(parts[1], "site"), parts[2]


# --- messages -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Status:
    """Retained site status; the agent's Last Will is the same message saying offline."""

    project: str
    site: str
    state: str
    boot: int
    ts: float
    reason: str = ""
    channel = STATUS

    @classmethod
    def from_dict(cls, d: dict) -> Status:
        return cls(project=d["project"], site=d["site"],
                   state=_choice(d, "state", SITE_STATES), boot=_count(d, "boot"),
                   ts=_time(d, "ts"), reason=_text(d, "reason", optional=True) or "")


@dataclass(frozen=True)
class DeviceReport:
    state: str
    fault: str | None = None
    since: float | None = None
    severity: str | None = None

    @classmethod
    def from_dict(cls, name: str, d: Any) -> DeviceReport:
        if not isinstance(d, dict):
            raise WireError(f"device {name!r} must be an object")
        try:
            return cls(state=_choice(d, "state", DEVICE_STATES),
                       fault=_text(d, "fault", optional=True),
                       since=_time(d, "since", optional=True),
                       severity=_choice(d, "severity", SEVERITIES, optional=True))
        except WireError as e:
            raise WireError(f"device {name!r}: {e}", e.reason) from None


@dataclass(frozen=True)
class Heartbeat:
    project: str
    site: str
    boot: int
    seq: int
    ts: float
    interval_s: float
    devices: dict[str, DeviceReport] = field(default_factory=dict)
    health: dict | None = None  # optional: gateway health (docs/wire.md)
    channel = HEARTBEAT

    @classmethod
    def from_dict(cls, d: dict) -> Heartbeat:
        interval = _get(d, "interval_s", (int, float))
        if interval <= 0:
            raise WireError("field 'interval_s' must be positive")
        if not MIN_INTERVAL_S <= interval <= MAX_INTERVAL_S:
            raise WireError(f"field 'interval_s' must be between {MIN_INTERVAL_S:g} and "
                            f"{MAX_INTERVAL_S:g} s, got {interval!r}", "out_of_range")
        devices = _get(d, "devices", dict)
        if len(devices) > MAX_DEVICES:
            raise WireError(f"{len(devices)} devices in one heartbeat; at most {MAX_DEVICES}",
                            "too_many_devices")
        return cls(project=d["project"], site=d["site"], boot=_count(d, "boot"),
                   seq=_count(d, "seq"), ts=_time(d, "ts"), interval_s=float(interval),
                   devices={check_id(k, "device"): DeviceReport.from_dict(k, v)
                            for k, v in devices.items()},
                   health=_get(d, "health", dict, optional=True))


@dataclass(frozen=True)
class Event:
    """Something that happened at the site, sent once (QoS 1) when it happened.

    ``since`` is when the new state began by the agent's clock (for a device gone silent:
    the first poll it did not answer), ``ts`` when the message was made. ``historical`` is
    set on messages replayed after the link came back.
    """

    project: str
    site: str
    boot: int
    seq: int
    ts: float
    kind: str
    device: str | None = None
    state: str | None = None
    prev: str | None = None
    fault: str | None = None
    since: float | None = None
    historical: bool = False
    detail: dict = field(default_factory=dict)
    severity: str | None = None
    channel = EVENT

    @classmethod
    def from_dict(cls, d: dict) -> Event:
        kind = _choice(d, "kind", EVENT_KINDS)
        device = _get(d, "device", str, optional=True)
        if device is not None:
            check_id(device, "device")
        ev = cls(project=d["project"], site=d["site"], boot=_count(d, "boot"),
                 seq=_count(d, "seq"), ts=_time(d, "ts"), kind=kind, device=device,
                 state=_choice(d, "state", DEVICE_STATES, optional=True),
                 prev=_choice(d, "prev", DEVICE_STATES, optional=True),
                 fault=_text(d, "fault", optional=True),
                 since=_time(d, "since", optional=True),
                 historical=bool(_get(d, "historical", bool, optional=True)),
                 detail=_detail(d),
                 severity=_choice(d, "severity", SEVERITIES, optional=True))
        _check_kind(ev)
        return ev


def _check_kind(ev: Event) -> None:
    """Per-kind required fields; see docs/wire.md for each kind's payload."""
    if ev.kind in ("device_state", "loop_timeout", "intercom") and ev.device is None:
        raise WireError(f"a {ev.kind} event needs 'device'")
    if ev.kind in ("device_state", "software") and ev.state is None:
        raise WireError(f"a {ev.kind} event needs 'state'")
    if ev.kind == "software":
        _text(ev.detail, "process")
    elif ev.kind == "uplink":
        start, end = _time(ev.detail, "start"), _time(ev.detail, "end")
        if end < start:
            raise WireError("uplink record ends before it starts")
        _choice(ev.detail, "cause", UPLINK_CAUSES)
        _time(ev.detail, "offset_s", optional=True, low=-MAX_OFFSET_S, high=MAX_OFFSET_S)
    elif ev.kind == "dropped":
        _count(ev.detail, "count")


Message = Status | Heartbeat | Event
_MODELS = {STATUS: Status, HEARTBEAT: Heartbeat, EVENT: Event}


def encode(msg: Message) -> bytes:
    body = {"v": SCHEMA_VERSION, **asdict(msg)}
    return compact(body)


def decode(topic_name: str, payload: bytes) -> Message:
    """Parse and validate one MQTT message, or raise WireError saying what is wrong.

    The project and site inside the payload must match the topic: a gateway publishing
    under another site's topic is rejected, not believed.
    """
    project, site, channel = parse_topic(topic_name)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise WireError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}",
                        "too_large")
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as e:
        raise WireError(f"payload is not JSON: {e}", "not_json") from None
    if not isinstance(body, dict):
        raise WireError("payload is not a JSON object", "not_json")
    version = body.get("v")
    if version != SCHEMA_VERSION:
        raise WireError(f"schema version {version!r} is not supported (want {SCHEMA_VERSION})",
                        "version")
    for key, expected in (("project", project), ("site", site)):
        if body.get(key) != expected:
            raise WireError(f"payload {key} {body.get(key)!r} does not match topic {expected!r}",
                            "topic_mismatch")
    if channel == HEARTBEAT:  # the hot path: a plain heartbeat, or None and the full checks
        msg = wirefast.heartbeat(body, DEVICE_STATES, SEVERITIES, DeviceReport, Heartbeat)
        if msg is not None:
            return msg
    return _MODELS[channel].from_dict(body)
