"""``parkwatch profile check`` and ``parkwatch profile decode``: output for people."""

from __future__ import annotations

import sys
from pathlib import Path

from agent.profiles import Codec, DecodeError, ProfileError, available, load, load_named
from agent.profiles.checks import run_golden
from agent.profiles.loader import profile_dirs


def check(files: list[str]) -> int:
    """Validate each profile and run its golden vectors; one line per problem."""
    paths = [Path(f) for f in files] or [d / f"{n}.toml" for d in profile_dirs()
                                         for n in available()]
    failed = 0
    for path in paths:
        try:
            profile = load(path)
        except ProfileError as e:
            print(f"FAIL {e}", file=sys.stderr)
            failed += 1
            continue
        problems = run_golden(profile)
        for problem in problems:
            print(f"FAIL {path}: {problem}", file=sys.stderr)
        failed += bool(problems)
        if not problems:
            ident = profile.identity
            print(f"ok   {path}: {ident.id} ({ident.device_class}, {profile.kind}, "
                  f"{ident.source}), {len(profile.golden)} golden vectors")
    return 1 if failed else 0


def _frame(arg: str, text: bool) -> bytes:
    path = Path(arg)
    if path.is_file():
        return path.read_bytes()
    if text:
        return arg.encode("utf-8").decode("unicode_escape").encode("latin-1")
    cleaned = arg.replace(":", " ").replace("0x", "").replace(",", " ")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ProfileError(arg, "", "is neither a file nor hex bytes (use --text for an "
                                    "ASCII line)") from None


def decode(profile_ref: str, frame_arg: str, reply: str | None = None,
           text: bool = False) -> int:
    profile = load_named(profile_ref)
    codec = Codec(profile)
    data = _frame(frame_arg, text)
    if reply is not None and reply not in profile.replies:
        raise ProfileError(profile.path, "replies", f"has no reply {reply!r}; it has "
                                                    f"{', '.join(profile.replies)}")
    print(f"profile   {profile.id} ({profile.identity.vendor} {profile.identity.model})")
    print(f"frame     {len(data)} bytes: {data[:64].hex(' ').upper()}"
          f"{' …' if len(data) > 64 else ''}")
    try:
        decoded = codec.decode(data, reply)
    except DecodeError as e:
        print(f"error     {e.kind}: {str(e).split(': ', 1)[1]}")
        print("state     none: nothing in a frame that does not decode is believed")
        return 1
    reading = codec.reading(decoded.fields)
    address = f"   address {decoded.address}" if decoded.address is not None else ""
    print(f"reply     {decoded.reply}{address}")
    width = max((len(k) for k in decoded.fields), default=0)
    for name, value in decoded.fields.items():
        print(f"  {name:<{width}}  {value!r}")
    fault = f"  {reading.fault} ({reading.severity})" if reading.fault else ""
    print(f"state     {reading.state}{fault}")
    for f in reading.faults[1:]:
        print(f"          also {f.code} ({f.severity})"
              + (f" on channel {f.channel}" if f.channel else ""))
    if reading.occupied:
        print(f"occupied  {', '.join(sorted(str(c) for c in reading.occupied))}")
    if reading.intercom:
        print("intercom  pressed")
    return 0
