"""Field checks and plausibility limits of the wire contract (``parkwatch.core.wire`` re-exports
them; docs/wire.md, "Limits", describes them). Cheap: they run on every heartbeat."""

from __future__ import annotations

import math
from typing import Any

from parkwatch.core.jsonenc import compact

# Plausibility limits (docs/wire.md, "Limits"): cheap checks on every message.
MAX_INT = 2**63 - 1  # boot, seq and counts: what an SQLite INTEGER holds
MAX_TIME = 1e10  # times are epoch seconds in [0, MAX_TIME] (the year 2286) on any clock
MAX_OFFSET_S = MAX_TIME  # |detail.offset_s|: a gateway clock may be off, not off the scale
MIN_INTERVAL_S, MAX_INTERVAL_S = 0.1, 3600.0  # heartbeat_interval_s an agent may announce
MAX_DEVICES = 256  # devices in one heartbeat (and in one agent's config)
MAX_TEXT = 200  # characters of fault, reason and detail.process
MAX_DETAIL_BYTES = 8192  # an event's detail, encoded as JSON


class WireError(ValueError):
    """A message that does not follow the contract; the text says what is wrong and
    ``reason`` is a short code for counting (``malformed`` unless a check names another)."""

    def __init__(self, message: str, reason: str = "malformed"):
        super().__init__(message)
        self.reason = reason


def _get(d: dict, key: str, kinds: type | tuple, *, optional: bool = False) -> Any:
    if key not in d or d[key] is None:
        if optional:
            return None
        raise WireError(f"missing field {key!r}")
    value = d[key]
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise WireError(f"field {key!r} must be {_kind_name(kinds)}, got a boolean")
    if not isinstance(value, kinds):
        raise WireError(f"field {key!r} must be {_kind_name(kinds)}, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise WireError(f"field {key!r} must be a finite number")
    return value


def _kind_name(kinds: type | tuple) -> str:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    names = {int: "an integer", float: "a number", str: "a string", bool: "a boolean",
             dict: "an object", list: "a list"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _time(d: dict, key: str, *, optional: bool = False, low: float = 0.0,
          high: float = MAX_TIME) -> float | None:
    value = _get(d, key, (int, float), optional=optional)
    if value is None:
        return None
    if not low <= value <= high:
        raise WireError(f"field {key!r} must be between {low:g} and {high:g}, got {value!r}",
                        "out_of_range")
    return float(value)


def _count(d: dict, key: str) -> int:
    value = _get(d, key, int)
    if value < 0:
        raise WireError(f"field {key!r} must not be negative")
    if value > MAX_INT:
        raise WireError(f"field {key!r} must be below 2^63, got {value}", "out_of_range")
    return value


def _text(d: dict, key: str, *, optional: bool = False) -> str | None:
    value = _get(d, key, str, optional=optional)
    if value is not None and len(value) > MAX_TEXT:
        raise WireError(f"field {key!r} is longer than {MAX_TEXT} characters", "too_long")
    return value


def _choice(d: dict, key: str, allowed: tuple[str, ...], *, optional: bool = False):
    value = _get(d, key, str, optional=optional)
    if value is not None and value not in allowed:
        raise WireError(f"field {key!r} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _detail(d: dict) -> dict:
    detail = _get(d, "detail", dict, optional=True)
    if not detail:
        return {}
    size = len(compact(detail))
    if size > MAX_DETAIL_BYTES:
        raise WireError(f"field 'detail' is {size} bytes; at most {MAX_DETAIL_BYTES}",
                        "too_long")
    return detail
