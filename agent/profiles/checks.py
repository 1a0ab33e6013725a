"""What ``parkwatch profile check`` verifies beyond the file's shape: the rules name real
fields, every sample decodes to a healthy device, and every golden vector decodes as recorded."""

from __future__ import annotations

import math
from typing import Any

from agent.profiles.engine import Codec
from agent.profiles.errors import DecodeError, ProfileError
from agent.profiles.schema import FRAMED, Profile


def _err(profile: Profile, key: str, problem: str) -> ProfileError:
    return ProfileError(profile.path, key, problem)


def check_consistency(profile: Profile) -> None:
    """Raise ProfileError on the first inconsistency; called by the loader."""
    names = {f.name for r in profile.replies.values() for f in r.fields}
    for rule in profile.rules:
        key = f"state.{rule.kind}"
        if rule.field not in names:
            raise _err(profile, f"{key}.field", f"no reply has a field '{rule.field}'")
        spec = profile.field_spec(rule.field)
        if rule.kind == "fault" and rule.code is None and spec.enum is None \
                and spec.type != "str":
            raise _err(profile, f"{key}.code", f"field '{rule.field}' is not enumerated: "
                                               "give the fault a 'code'")
    for name, msg in profile.replies.items():
        for field_name, value in msg.match:
            spec = msg.field(field_name)
            if spec.enum is not None and value not in spec.enum.values():
                raise _err(profile, f"replies.{name}.match.{field_name}",
                           f"{value!r} is not one of the field's names")
    codec = Codec(profile)
    for name, msg in profile.requests.items():
        if profile.kind not in FRAMED:
            continue
        try:
            got, _ = codec.parse_request(msg.sample)
        except DecodeError as e:
            raise _err(profile, f"requests.{name}.sample", f"does not decode: {e}") from None
        if got != name:
            raise _err(profile, f"requests.{name}.sample", f"decodes as request '{got}'; give "
                                                           "the requests distinct 'match'es")
    for name, msg in profile.replies.items():
        try:
            values = codec.baseline(name)
        except DecodeError as e:
            raise _err(profile, f"replies.{name}.sample", f"does not decode: {e}") from None
        reading = codec.reading(values)
        if reading.state != "ok" or reading.intercom:
            raise _err(profile, f"replies.{name}.sample",
                       f"must show a healthy, idle device (the simulator starts from it); "
                       f"it decodes as {reading.state} {reading.fault or ''}".rstrip())
        if profile.kind in FRAMED and msg.format in ("binary", "text"):
            # JSON and XML may re-serialise differently; binary and text must not.
            again = codec.encode_reply(name, values)
            if again != msg.sample:
                raise _err(profile, f"replies.{name}.sample",
                           f"re-encodes as {again.hex(' ').upper()}: check the length and "
                           "checksum settings")
    for i, g in enumerate(profile.golden):
        if g.reply is not None and g.reply not in profile.replies:
            raise _err(profile, f"golden[{i}].reply", f"no reply named {g.reply!r}")
        if profile.kind == "http" and g.reply is None:
            raise _err(profile, f"golden[{i}].reply", "HTTP vectors must name their reply")
        for field_name in g.fields:
            if field_name not in names:
                raise _err(profile, f"golden[{i}].fields.{field_name}", "is not a field")


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, float) or isinstance(got, float):
        try:
            return math.isclose(float(expected), float(got), rel_tol=1e-6, abs_tol=1e-9)
        except (TypeError, ValueError):
            return False
    return expected == got and type(expected) is type(got) or (
        isinstance(expected, int) and isinstance(got, int) and expected == got)


def run_golden(profile: Profile) -> list[str]:
    """One line per golden vector that does not decode as recorded."""
    codec = Codec(profile)
    problems = []
    for i, g in enumerate(profile.golden):
        where = f"golden[{i}] {g.name!r}"
        try:
            decoded = codec.decode(g.data, g.reply)
        except DecodeError as e:
            if g.error is None:
                problems.append(f"{where}: does not decode: {e}")
            elif e.kind != g.error:
                problems.append(f"{where}: expected a {g.error} error, got {e}")
            continue
        if g.error is not None:
            problems.append(f"{where}: expected a {g.error} error, but it decodes")
            continue
        for name, want in g.fields.items():
            got = decoded.fields.get(name)
            if not _same(want, got):
                problems.append(f"{where}: field {name}: expected {want!r}, got {got!r}")
        r = codec.reading(decoded.fields)
        occupied = tuple(sorted(str(c) for c in r.occupied if c is not None))
        checks = [("state", g.state, r.state), ("fault", g.fault, r.fault),
                  ("severity", g.severity, r.severity),
                  ("occupied", g.occupied, None if g.occupied is None else occupied),
                  ("intercom", g.intercom, None if g.intercom is None else bool(r.intercom))]
        for what, want, got in checks:
            if want is not None and (tuple(sorted(want)) if what == "occupied" else want) != got:
                problems.append(f"{where}: {what}: expected {want!r}, got {got!r}")
    return problems
